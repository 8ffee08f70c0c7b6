import type net from 'node:net';
import { ProtocolError, ReplyWriter, RequestParser, errorReply } from '../resp/index.js';
import type { CommandTally } from '../metrics/index.js';
import type { Command, Reply } from '../resp/types.js';
import type { ServerContext } from './context.js';
import { dispatch } from './dispatch.js';
import { NO_REPLY } from './no-reply.js';
import { replyForError } from './reply-errors.js';
import type { Session } from './session.js';

/** Replies not yet written; reading pauses above this many. */
const MAX_PENDING_REPLIES = 4096;
const NOTHING = Buffer.alloc(0);

interface Pending {
  reply: Reply | undefined;
}

/**
 * One client connection: parses each chunk into commands, dispatches them in order,
 * and writes their replies in request order — every reply that is ready leaves in one
 * socket write per batch. A reply that waits (a durable write) holds back the replies
 * after it, never reorders them. A protocol error is answered with
 * `-ERR Protocol error: …` and the connection is closed; other clients are unaffected.
 *
 * Until the client authenticates (when a password is required), its requests are parsed
 * under Redis's unauthenticated limits (10 arguments, 16 KiB each), one command at a
 * time, so the requests after a successful AUTH in the same chunk get the full limits.
 */
export class Connection {
  readonly session: Session;
  private readonly socket: net.Socket;
  private readonly ctx: ServerContext;
  private readonly parser = new RequestParser();
  private readonly writer = new ReplyWriter();
  private queue: Pending[] = [];
  private head = 0;
  private closed = false;
  private paused = false;
  private flushScheduled = false;

  constructor(socket: net.Socket, ctx: ServerContext, session: Session) {
    this.socket = socket;
    this.ctx = ctx;
    this.session = session;
    this.parser.authenticated = session.authenticated;
    this.parser.onePerPush = !session.authenticated;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
  }

  /** Ends the connection once every reply owed is written (used on shutdown); reads no more commands. */
  end(): void {
    this.session.closeAfterReplies = true;
    // Keep reading (and dropping) input, so the peer's FIN is seen and the socket closes.
    this.paused = false;
    this.socket.resume();
    this.flush();
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.session.closeAfterReplies) return;
    const parser = this.parser;
    const tallies = this.ctx.commands;
    let protocolError: ProtocolError | undefined;
    for (let input = chunk; ; input = NOTHING) {
      let commands: readonly Command[];
      try {
        commands = parser.push(input);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        // Commands completed before the bad bytes run first, as in Redis.
        commands = err.parsed as readonly Command[];
        protocolError = err;
      }
      // With --metrics: one clock read per command, as the end of one command is the start of the next.
      let clock = tallies ? performance.now() : 0;
      for (const cmd of commands) {
        if (looksLikeHttp(cmd.args[0]!)) {
          // As Redis: a browser tricked into talking to us gets nothing, not even earlier replies.
          this.ctx.logger.warn(`possible security attack: client ${this.session.addr} sent an HTTP request; connection closed`);
          this.closed = true;
          this.socket.destroy();
          return;
        }
        const started = clock;
        const result = dispatch(this.ctx, this.session, cmd.args);
        if (tallies) clock = performance.now();
        // dispatch names the command it ran in lastCommand (a forwarded one by its own name).
        this.enqueue(result, tallies?.of(this.session.lastCommand), started, clock);
        if (this.session.closeAfterReplies) break;
      }
      if (protocolError || this.session.closeAfterReplies || !parser.onePerPush) break;
      if (this.session.authenticated) {
        // AUTH succeeded: the rest of the input is parsed with the full limits, all at once.
        parser.authenticated = true;
        parser.onePerPush = false;
      } else if (commands.length === 0) {
        break;
      }
    }
    if (protocolError && !this.session.closeAfterReplies) {
      this.enqueue(errorReply(`ERR Protocol error: ${protocolError.message}`));
      this.session.closeAfterReplies = true;
      this.socket.pause();
    }
    this.flush();
  }

  /**
   * Queues a command's reply (or a protocol error's). `tally` counts the command, which
   * started at `started` (performance.now()), once its reply is ready: `returned` (when
   * dispatch returned) for a reply given at once, else when the promise settles.
   */
  private enqueue(result: Reply | Promise<Reply>, tally?: CommandTally, started = 0, returned = 0): void {
    if (!(result instanceof Promise)) {
      tally?.record((returned - started) / 1000, result.type === 'error');
      this.queue.push({ reply: result });
      return;
    }
    const slot: Pending = { reply: undefined };
    this.queue.push(slot);
    result.then(
      (reply) => {
        slot.reply = counted(reply, tally, started);
        this.scheduleFlush();
      },
      (err: unknown) => {
        slot.reply = counted(replyForError(err), tally, started);
        this.scheduleFlush();
      },
    );
  }

  /**
   * Replies released together (a group fsync resolves many at once) leave in one write:
   * the flush runs once, after the promise callbacks already queued.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.head < this.queue.length) {
      const reply = this.queue[this.head]!.reply;
      if (reply === undefined) break;
      if (reply !== NO_REPLY) this.writer.reply(reply);
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (this.writer.length > 0 && !this.socket.destroyed) {
      this.socket.write(this.writer.take());
      const limit = this.ctx.config.maxOutputBuffer;
      if (limit > 0 && this.socket.writableLength > limit) {
        this.ctx.logger.warn(`client ${this.session.addr}: ${this.socket.writableLength} bytes of replies unread, over --max-output-buffer ${limit}; disconnected`);
        this.closed = true;
        this.socket.destroy();
        return;
      }
    }
    const waiting = this.queue.length - this.head;
    if (this.session.closeAfterReplies && waiting === 0) {
      this.closed = true;
      this.socket.end();
      // A peer that never closes its side must not hold a shutdown up.
      const timer = setTimeout(() => this.socket.destroy(), 2000);
      this.socket.once('close', () => clearTimeout(timer));
      return;
    }
    if (!this.paused && (waiting > MAX_PENDING_REPLIES || this.socket.writableNeedDrain)) {
      this.paused = true;
      this.socket.pause();
    } else {
      this.maybeResume();
    }
  }

  private maybeResume(): void {
    if (!this.paused || this.socket.writableNeedDrain || this.queue.length - this.head > MAX_PENDING_REPLIES / 2) return;
    this.paused = false;
    if (!this.session.closeAfterReplies) this.socket.resume();
  }
}

/** Records in `tally` (if any) a command that started at `started` and answered `reply`; returns `reply`. */
function counted(reply: Reply, tally: CommandTally | undefined, started: number): Reply {
  tally?.record((performance.now() - started) / 1000, reply.type === 'error');
  return reply;
}

/** `POST …` or `Host: …` as a command name: an HTTP request, never a Redis client. */
function looksLikeHttp(name: Buffer): boolean {
  const n = name.toString('latin1').toLowerCase();
  return n === 'post' || n === 'host:';
}
