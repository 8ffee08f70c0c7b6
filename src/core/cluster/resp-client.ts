import net from 'node:net';
import tls from 'node:tls';
import { ReplyParser, encodeCommand, type ProtocolError } from '../resp/index.js';
import type { Reply } from '../resp/types.js';
import { systemClock, type Clock } from '../support/clock.js';
import { BitraftError } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';
import { handshakeOf, type NodeCredentials } from './credentials.js';

/** Where a RespClient connects and how it behaves; every field but host and port has a default. */
export interface RespClientOptions {
  /** The peer's host name or IP address. */
  host: string;
  /** 1–65535; anything else makes the constructor throw INVALID_ARGUMENT. */
  port: number;
  /**
   * How to authenticate and whether to use TLS. With a password or cluster secret, its
   * handshake (`handshakeOf`: `AUTH` or `RAFTAUTH`) is sent first on every new connection
   * and other commands wait until it succeeds. An error reply to it is logged (warn), the
   * connection is closed, and the client backs off like after any failed connection
   * attempt. With `tls`, connections are TLS, the server's certificate checked as
   * `tls.connect` does with those options (a failed check is a failed connection).
   */
  credentials?: NodeCredentials;
  /** How long establishing a connection (TCP connect, TLS handshake, authentication) may take. Default 2000. */
  connectTimeoutMs?: number;
  /** How long a reply may take when `call` is given no timeout, and for every `send`. Default 10000. */
  replyTimeoutMs?: number;
  /**
   * Back-off after a connection ends (failed attempt, AUTH refused, drop, timeout, bad
   * reply): no connection is attempted for `minBackoffMs` (default 50), doubling after
   * each loss up to `maxBackoffMs` (default 2000); reset once a connection is ready.
   */
  minBackoffMs?: number;
  /** The back-off's cap; see `minBackoffMs`. */
  maxBackoffMs?: number;
  /** Bytes waiting to be written (client buffer plus socket buffer) above which `send` drops. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Receives connection failures (warn, each distinct reason once until a connection is ready again), recoveries (info) and rate-limited error replies to `send`s (warn). Default silent. */
  logger?: Logger;
  /** Names the peer in log lines and error messages, e.g. 'peer 127.0.0.1:4921'. Default `host:port`. */
  name?: string;
  /** Time source for deadlines, back-off and log rate limiting (tests inject a manual clock). Default the system clock. */
  clock?: Clock;
}

/** Who waits for a reply: a `call`'s promise or the AUTH handshake. */
interface Waiter {
  resolve(reply: Reply): void;
  reject(err: BitraftError): void;
}

/** One reply the peer owes, in request order. */
interface Expected {
  /** Clock time after which the connection is given up; Infinity for AUTH (the connect timeout covers it). */
  readonly deadline: number;
  /** Undefined for a `send`, whose reply is dropped. */
  readonly waiter: Waiter | undefined;
}

/** One TCP connection and its reply decoder. */
interface Conn {
  readonly socket: net.Socket;
  readonly parser: ReplyParser;
  /** Connected and authenticated: queued commands may be written. */
  ready: boolean;
  /** A microtask will write the outbox. */
  flushScheduled: boolean;
  /** The last socket error, reported when the socket closes. */
  error: string | undefined;
  connectTimer: NodeJS.Timeout | undefined;
}

/** Error replies to `send`s are logged at most this often. */
const REPLY_WARN_INTERVAL_MS = 10_000;
/** The FIFO array is compacted once this many answered slots lead it. */
const COMPACT_AT = 1024;

/** A shared handler for AUTH's rejection: the connection failure it reports is handled by `drop`. */
const ignore = (): void => {};

/**
 * `UNAVAILABLE` from a `RespClient`: the peer could not be reached or the connection
 * broke. `unsent` tells that the command never left this process (no connection could
 * be made, or it broke before it was ready), so retrying it elsewhere cannot run it twice.
 */
export class UnavailableError extends BitraftError {
  readonly unsent: boolean;

  constructor(message: string, unsent: boolean) {
    super('UNAVAILABLE', message);
    this.unsent = unsent;
  }
}

/**
 * A pipelining Redis-protocol client to one peer over one lazily opened TCP connection
 * (no Nagle). Replies are matched to requests in FIFO order; `call`s and fire-and-forget
 * `send`s share that FIFO. Commands issued in one event-loop turn leave in one socket
 * write. While a connection is being established, commands wait for it; after a
 * connection ends the client backs off and refuses work at once (it never queues behind
 * a dead peer); the next use after the back-off reconnects.
 *
 * One timer per client enforces reply deadlines. As replies are FIFO, an overdue reply
 * makes the connection useless: the overdue calls reject with TIMEOUT, every other
 * outstanding call with UNAVAILABLE, and the connection is destroyed. A malformed or
 * unexpected reply does the same (with UNAVAILABLE). No socket error ever escapes as an
 * exception, and no timer keeps the process alive.
 */
export class RespClient {
  private readonly host: string;
  private readonly port: number;
  private readonly handshake: readonly string[] | undefined;
  private readonly tls: tls.ConnectionOptions | undefined;
  private readonly connectTimeoutMs: number;
  private readonly replyTimeoutMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxQueuedBytes: number;
  private readonly logger: Logger;
  private readonly name: string;
  private readonly clock: Clock;

  private conn: Conn | undefined;
  private closed = false;
  /** Replies owed by the current connection, from `head` on. Empty whenever `conn` is undefined. */
  private fifo: (Expected | undefined)[] = [];
  private head = 0;
  /** Encoded commands not yet written to the current connection. */
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When `timer` fires; Infinity when none is armed. */
  private timerAt = Infinity;
  private backoffMs: number;
  /** No connection is attempted before this clock time. */
  private retryAt = -Infinity;
  /** Why the last connection ended, until one is ready again; repeats are not logged. */
  private lastFailure: string | undefined;
  private replyWarnAt = -Infinity;
  private suppressedReplyWarns = 0;

  /** Validates the options; connects only on first use. */
  constructor(opts: RespClientOptions) {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
      throw new BitraftError('INVALID_ARGUMENT', `invalid port ${opts.port}`);
    }
    this.host = opts.host;
    this.port = opts.port;
    this.handshake = handshakeOf(opts.credentials);
    this.tls = opts.credentials?.tls;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 10_000;
    this.minBackoffMs = opts.minBackoffMs ?? 50;
    this.maxBackoffMs = opts.maxBackoffMs ?? 2000;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.logger = opts.logger ?? silentLogger;
    this.name = opts.name ?? `${opts.host}:${opts.port}`;
    this.clock = opts.clock ?? systemClock;
    this.backoffMs = this.minBackoffMs;
  }

  /** Connected and authenticated. */
  get connected(): boolean {
    return this.conn?.ready === true;
  }

  /**
   * Sends a command (strings are UTF-8) and resolves with its reply; an error reply
   * resolves as an ErrorReply (it is data, not a failure). Rejects with BitraftError
   * 'UNAVAILABLE' when no connection can be made (at once while backing off) or the
   * connection ends before the reply, 'TIMEOUT' when no reply came within `timeoutMs`
   * (default `replyTimeoutMs`), 'CLOSED' after `close()`, 'INVALID_ARGUMENT' for empty
   * `args`. Many calls may be outstanding; they resolve in order.
   */
  call(args: readonly (Buffer | string)[], timeoutMs = this.replyTimeoutMs): Promise<Reply> {
    if (this.closed) return Promise.reject(new BitraftError('CLOSED', `${this.name}: client closed`));
    if (args.length === 0) return Promise.reject(new BitraftError('INVALID_ARGUMENT', 'empty command'));
    const conn = this.connection();
    if (!conn) return Promise.reject(this.backingOff());
    return new Promise<Reply>((resolve, reject) => {
      this.enqueue(conn, encodeCommand(args), { deadline: this.clock.now() + timeoutMs, waiter: { resolve, reject } });
    });
  }

  /**
   * Fire and forget: queues the command (connecting on first use; while connecting it
   * waits for the connection) and returns true. Returns false, dropping it, when closed,
   * backing off, or when more than `maxQueuedBytes` already wait to be written. Its reply
   * is read and dropped; error replies are logged (warn) at most once per 10 s. Throws
   * INVALID_ARGUMENT for empty `args`.
   */
  send(args: readonly (Buffer | string)[]): boolean {
    if (args.length === 0) throw new BitraftError('INVALID_ARGUMENT', 'empty command');
    if (this.closed) return false;
    const conn = this.connection();
    if (!conn || this.outboxBytes + conn.socket.writableLength > this.maxQueuedBytes) return false;
    this.enqueue(conn, encodeCommand(args), { deadline: this.clock.now() + this.replyTimeoutMs, waiter: undefined });
    return true;
  }

  /** Destroys the connection and rejects everything outstanding with CLOSED; later calls reject with CLOSED, sends return false. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const conn = this.conn;
    if (!conn) return;
    const err = new BitraftError('CLOSED', `${this.name}: client closed`);
    for (const e of this.detach(conn)) e.waiter?.reject(err);
  }

  /** The current connection, a new one when allowed, or undefined while backing off. */
  private connection(): Conn | undefined {
    if (this.conn) return this.conn;
    if (this.clock.now() < this.retryAt) return undefined;
    return this.connect();
  }

  private backingOff(): BitraftError {
    return new UnavailableError(`${this.name}: unavailable, in back-off after: ${this.lastFailure}`, true);
  }

  private connect(): Conn {
    const socket = this.tls ? tls.connect({ ...this.tls, host: this.host, port: this.port }) : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const conn: Conn = { socket, parser: new ReplyParser(), ready: false, flushScheduled: false, error: undefined, connectTimer: undefined };
    this.conn = conn;
    conn.connectTimer = setTimeout(() => this.drop(conn, `connect timed out after ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
    conn.connectTimer.unref();
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => {
      conn.error = err.message;
    });
    socket.on('close', () => this.drop(conn, conn.error ?? 'connection closed'));
    if (this.handshake === undefined) {
      socket.once(this.tls ? 'secureConnect' : 'connect', () => this.markReady(conn));
    } else {
      // The socket buffers this until connected; other commands wait in the outbox.
      socket.write(encodeCommand(this.handshake));
      this.fifo.push({ deadline: Infinity, waiter: { resolve: (reply) => this.onAuthReply(conn, reply), reject: ignore } });
    }
    return conn;
  }

  private onAuthReply(conn: Conn, reply: Reply): void {
    if (reply.type === 'error') this.drop(conn, `${this.handshake![0]} refused: ${reply.text}`);
    else this.markReady(conn);
  }

  private markReady(conn: Conn): void {
    conn.ready = true;
    clearTimeout(conn.connectTimer);
    this.backoffMs = this.minBackoffMs;
    if (this.lastFailure !== undefined) this.logger.info(`${this.name}: connected`);
    this.lastFailure = undefined;
    // A connection is only opened for a command, so the outbox holds at least one.
    this.writeOutbox(conn);
  }

  private enqueue(conn: Conn, bytes: Buffer, expected: Expected): void {
    this.outbox.push(bytes);
    this.outboxBytes += bytes.length;
    this.fifo.push(expected);
    this.armTimer(expected.deadline);
    if (conn.ready && !conn.flushScheduled) {
      conn.flushScheduled = true;
      queueMicrotask(() => {
        // Every command of this turn is in the outbox unless the connection ended meanwhile.
        if (this.conn === conn) this.writeOutbox(conn);
      });
    }
  }

  private writeOutbox(conn: Conn): void {
    conn.flushScheduled = false;
    const data = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox, this.outboxBytes);
    this.outbox = [];
    this.outboxBytes = 0;
    conn.socket.write(data);
  }

  private onData(conn: Conn, chunk: Buffer): void {
    let replies: readonly Reply[];
    let malformed: ProtocolError<Reply> | undefined;
    try {
      replies = conn.parser.push(chunk);
    } catch (err) {
      // ReplyParser throws only ProtocolError; the replies before the bad bytes still count.
      malformed = err as ProtocolError<Reply>;
      replies = malformed.parsed;
    }
    for (const reply of replies) {
      // A reply (a refused AUTH, an unexpected one) may have ended the connection.
      if (this.conn !== conn) return;
      this.deliver(conn, reply);
    }
    if (malformed) this.drop(conn, `malformed reply: ${malformed.message}`);
  }

  private deliver(conn: Conn, reply: Reply): void {
    const expected = this.fifo[this.head];
    if (!expected) {
      this.drop(conn, `unexpected reply of type ${reply.type}`);
      return;
    }
    this.fifo[this.head++] = undefined;
    if (this.head === this.fifo.length) {
      this.fifo = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
    if (expected.waiter) expected.waiter.resolve(reply);
    else if (reply.type === 'error') this.warnReplyError(reply.text);
  }

  private warnReplyError(text: string): void {
    const now = this.clock.now();
    if (now < this.replyWarnAt) {
      this.suppressedReplyWarns++;
      return;
    }
    const more = this.suppressedReplyWarns > 0 ? ` (${this.suppressedReplyWarns} more since the last report)` : '';
    this.replyWarnAt = now + REPLY_WARN_INTERVAL_MS;
    this.suppressedReplyWarns = 0;
    this.logger.warn(`${this.name}: error reply to a sent command: ${text}${more}`);
  }

  /** Makes the one timer fire by `deadline`; a timer due earlier already covers it. */
  private armTimer(deadline: number): void {
    if (deadline >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.onTimer(), deadline - this.clock.now());
    this.timer.unref();
  }

  /** Ends the connection when a reply is overdue, else re-arms for the earliest deadline left. */
  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (let i = this.head; i < this.fifo.length; i++) {
      const deadline = this.fifo[i]!.deadline;
      if (deadline <= now) {
        // Entries exist only while a connection does.
        this.drop(this.conn!, 'no reply in time', now);
        return;
      }
      next = Math.min(next, deadline);
    }
    if (next < Infinity) this.armTimer(next);
  }

  /**
   * Ends `conn` if it is still current: destroys it, starts the back-off, logs a reason
   * not logged since the last ready connection, and rejects what it owed — with TIMEOUT
   * for entries due by `timedOutAt`, UNAVAILABLE for the rest.
   */
  private drop(conn: Conn, reason: string, timedOutAt = -Infinity): void {
    if (this.conn !== conn) return;
    const ready = conn.ready;
    const owed = this.detach(conn);
    const delay = this.backoffMs;
    this.retryAt = this.clock.now() + delay;
    this.backoffMs = Math.min(delay * 2, this.maxBackoffMs);
    if (reason !== this.lastFailure) this.logger.warn(`${this.name}: ${reason}; backing off ${delay} ms`);
    this.lastFailure = reason;
    // Before the connection was ready nothing but AUTH was written: the commands never left.
    const unavailable = new UnavailableError(`${this.name}: ${reason}`, !ready);
    const timeout = new BitraftError('TIMEOUT', `${this.name}: no reply in time`);
    for (const e of owed) e.waiter?.reject(e.deadline <= timedOutAt ? timeout : unavailable);
  }

  /** Forgets and destroys `conn`; returns the replies it owed, in order. */
  private detach(conn: Conn): Expected[] {
    this.conn = undefined;
    clearTimeout(conn.connectTimer);
    conn.socket.destroy();
    this.outbox = [];
    this.outboxBytes = 0;
    const owed = this.fifo.slice(this.head) as Expected[];
    this.fifo = [];
    this.head = 0;
    return owed;
  }
}
