/**
 * A minimal Redis-protocol client for the benchmark's own probes (the cluster suite's
 * admin queries and its write trickle): one socket, commands sent as RESP arrays of bulk
 * strings, replies matched to commands in order. Deliberately independent of the
 * product's RESP code, so that a bug there cannot hide in the measurement.
 */
import net from 'node:net';
import { HOST } from './procs.js';

/** An error reply (`-ERR ...`), kept as a value rather than thrown. */
export class ReplyError {
  constructor(readonly message: string) {}
}

/** A decoded reply. Bulk and simple strings are both strings; a null bulk or array is null. */
export type Reply = string | number | null | ReplyError | Reply[];

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Decodes one reply starting at `pos`; undefined when the buffer holds only part of it. */
export function decodeReply(buf: Buffer, pos: number): { value: Reply; next: number } | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new ReplyError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: after };
      if (buf.length < after + len + 2) return undefined;
      return { value: buf.toString('utf8', after, after + len), next: after + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items: Reply[] = [];
      let at = after;
      for (let i = 0; i < count; i++) {
        const item = decodeReply(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('utf8', pos, Math.min(buf.length, pos + 80)))}`);
  }
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

/**
 * One connection to 127.0.0.1:port. Commands may be sent before the connection is up
 * (the socket buffers them) and may be pipelined; each resolves with its reply, or
 * rejects when the connection fails or is closed before the reply arrives.
 */
export class RespConnection {
  private readonly socket: net.Socket;
  private readonly pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;

  constructor(readonly port: number) {
    this.socket = net.connect({ host: HOST, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error(`connection to port ${port} closed`)));
  }

  /** Replies still awaited. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Whether the connection has failed or been closed. */
  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Sends a command; resolves with its reply (error replies included, as ReplyError). */
  send(args: readonly string[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  /** Closes the connection at once; replies still awaited reject. */
  destroy(): void {
    this.fail(new Error(`connection to port ${this.port} closed by the client`));
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let pos = 0;
    try {
      for (;;) {
        const r = decodeReply(this.buffer, pos);
        if (!r) break;
        pos = r.next;
        const p = this.pending.shift();
        if (!p) throw new Error(`reply without a command on port ${this.port}`);
        p.resolve(r.value);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.buffer = pos === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(pos);
  }

  private fail(err: Error): void {
    if (this.failure === undefined) this.failure = err;
    this.socket.destroy();
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

/** Sends one command on a new connection and closes it; rejects after `timeoutMs`. */
export async function command(port: number, args: readonly string[], timeoutMs = 5000): Promise<Reply> {
  const conn = new RespConnection(port);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      conn.send(args),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${args[0]} on port ${port}: no reply within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    conn.destroy();
  }
}
