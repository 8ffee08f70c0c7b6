/** Per-connection state that commands read and change. */
export interface Session {
  readonly id: number;
  readonly addr: string;
  readonly createdAt: number;
  name?: string;
  libName?: string;
  libVer?: string;
  authenticated: boolean;
  /** Set by QUIT (or a protocol error): close once the pending replies are written. */
  closeAfterReplies: boolean;
  /** Commands of this connection so far. */
  commands: number;
  lastCommand: string;
  /**
   * Set once the connection sent `RAFTFWD`: it is another node forwarding its clients'
   * commands, so what it sends is answered here and never forwarded again.
   */
  forwarded: boolean;
  /**
   * The connection's latest write not answered yet: a read sent after it waits for it,
   * so a pipeline sees its own writes in order, as in Redis.
   */
  pendingWrite?: Promise<unknown>;
}

/** A fresh session; `authenticated` when no password is required. */
export function newSession(id: number, addr: string, now: number, passwordRequired: boolean): Session {
  return { id, addr, createdAt: now, authenticated: !passwordRequired, closeAfterReplies: false, commands: 0, lastCommand: 'NULL', forwarded: false };
}
