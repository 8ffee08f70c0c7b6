/** Per-connection state that commands read and change. */
export interface Session {
  readonly id: number;
  readonly addr: string;
  readonly createdAt: number;
  name?: string;
  libName?: string;
  libVer?: string;
  authenticated: boolean;
  /** Sent `RAFTAUTH` with the cluster secret: may send internal Raft commands and membership changes. */
  peer: boolean;
  /**
   * Connected from a non-loopback address to a node in protected mode with no password:
   * nothing but `RAFTAUTH` is answered (anything else gets `-DENIED …` and the connection closes).
   */
  protectedOnly: boolean;
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
  /**
   * Between MULTI and EXEC/DISCARD: the commands queued (copies of their arguments), and
   * whether one was refused while queuing (EXEC then discards the transaction).
   */
  multi?: { commands: Buffer[][]; failed: boolean };
  /** Keys under WATCH, each with the digest it had then (see `kv/watch.ts`), until EXEC, DISCARD or UNWATCH. */
  watched?: Buffer[];
}

/** A fresh session; `authenticated` when no password is required, `protectedOnly` as given. */
export function newSession(id: number, addr: string, now: number, passwordRequired: boolean, protectedOnly = false): Session {
  return { id, addr, createdAt: now, authenticated: !passwordRequired, peer: false, protectedOnly, closeAfterReplies: false, commands: 0, lastCommand: 'NULL', forwarded: false };
}
