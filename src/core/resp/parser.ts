import { parseInteger } from './integer.js';
import { ProtocolError } from './protocol-error.js';
import { StreamParser } from './stream-parser.js';
import { splitArgs } from './split-args.js';
import type { Command } from './types.js';
import { ASCII } from './ascii.js';

const { CR, LF, STAR, DOLLAR } = ASCII;

/** Longest `*<count>` or `$<length>` header line, as Redis's PROTO_INLINE_MAX_SIZE. */
export const MAX_HEADER_LENGTH = 64 * 1024;

/**
 * Limits of a RequestParser; an absent or undefined field takes its default. Every limit
 * is checked before anything is allocated for it.
 */
export interface RequestParserOptions {
  /** Largest accepted bulk argument, in bytes. Default 512 MiB (Redis proto-max-bulk-len). */
  maxBulkLength?: number;
  /** Most arguments in one multibulk request. Default 1,048,576. */
  maxMultibulkLength?: number;
  /** Longest inline-command line, in bytes before its '\n'. Default 64 KiB. */
  maxInlineLength?: number;
  /** Most bytes of arguments one multibulk request may add up to. Default 1 GiB (Redis client-query-buffer-limit). */
  maxQueryBuffer?: number;
}

/**
 * Redis's limits for a client that has not authenticated yet (CVE-2021-32675): at most 10
 * arguments of at most 16 KiB, so a few bytes from a stranger never make the node
 * allocate or wait for much.
 */
export const UNAUTHENTICATED_LIMITS = Object.freeze({ maxMultibulkLength: 10, maxBulkLength: 16 * 1024 });

/** The defaults of RequestParserOptions. */
export const DEFAULT_REQUEST_LIMITS: Readonly<Required<RequestParserOptions>> = Object.freeze({
  maxBulkLength: 512 * 1024 * 1024,
  maxMultibulkLength: 1024 * 1024,
  maxInlineLength: 64 * 1024,
  maxQueryBuffer: 1024 * 1024 * 1024,
});

/** Decoder states. Start: between requests, where the next byte chooses multibulk ('*') or inline. */
const State = { Start: 0, Inline: 1, Count: 2, BulkHeader: 3, BulkData: 4 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Incremental, chunk-agnostic RESP request decoder, one per connection.
 *
 * `push(chunk)` returns every command completed so far (pipelining) and keeps a
 * partial request for the next push. Splitting the same bytes differently never changes
 * the commands returned nor the error raised. Both RESP multibulk requests and inline
 * commands (telnet style, '\n' or '\r\n' terminated, see `splitArgs`) are accepted;
 * `*0`, `*-1` (any count <= 0) and blank inline lines yield no command, as in Redis.
 *
 * Bad input throws a ProtocolError carrying Redis's exact text and, in `parsed`, the
 * commands this push completed before the bad bytes. From then on the parser is
 * unusable: every later push throws a ProtocolError with the same message and an empty
 * `parsed`, so no command is ever delivered twice. The server closes the connection.
 *
 * Memory: announced sizes are checked against the limits before anything is allocated,
 * a bulk argument is joined once when all its bytes are present, and args lying inside
 * one received chunk are zero-copy subarrays of it.
 */
export class RequestParser extends StreamParser<Command> {
  private readonly limits: Required<RequestParserOptions>;
  private state: State = State.Start;
  private args: Buffer[] = [];
  private remaining = 0;
  private bulkLength = 0;
  /** Bytes of the arguments of the current multibulk request so far. */
  private argBytes = 0;
  /**
   * False while the client has not authenticated: `UNAUTHENTICATED_LIMITS` apply to the
   * requests parsed from then on, with Redis's `unauthenticated multibulk length` and
   * `unauthenticated bulk length` errors. Set it back to true once AUTH succeeds.
   */
  authenticated = true;
  /**
   * When set, `push` stops after each command (leaving later bytes pending; `push` an
   * empty Buffer for the next one), so the caller can run a command — such as AUTH —
   * before the next one is parsed under limits it changes.
   */
  onePerPush = false;

  constructor(options: RequestParserOptions = {}) {
    super();
    const d = DEFAULT_REQUEST_LIMITS;
    this.limits = {
      maxBulkLength: options.maxBulkLength ?? d.maxBulkLength,
      maxMultibulkLength: options.maxMultibulkLength ?? d.maxMultibulkLength,
      maxInlineLength: options.maxInlineLength ?? d.maxInlineLength,
      maxQueryBuffer: options.maxQueryBuffer ?? d.maxQueryBuffer,
    };
  }

  /**
   * True while a request is partly received: bytes are pending, or a multibulk request
   * has consumed its header or some of its arguments. False between requests.
   */
  get midRequest(): boolean {
    return this.pendingBytes > 0 || this.state !== State.Start;
  }

  /** Advances by one state; returns false when more input is needed. */
  protected step(out: Command[]): boolean {
    const q = this.queue;
    switch (this.state) {
      case State.Start:
        if (q.length === 0 || (this.onePerPush && out.length > 0)) return false;
        this.state = q.byteAt(0) === STAR ? State.Count : State.Inline;
        return true;
      case State.Inline: {
        const nl = this.findLine(LF, this.limits.maxInlineLength, 'too big inline request');
        if (nl < 0) return false;
        const line = q.take(nl);
        q.skip(1);
        this.state = State.Start;
        const args = splitArgs(nl > 0 && line[nl - 1] === CR ? line.subarray(0, nl - 1) : line);
        if (!args) this.fail('unbalanced quotes in request');
        if (args.length > 0) out.push({ args });
        return true;
      }
      case State.Count: {
        const n = this.readHeader('too big mbulk count string', 'invalid multibulk length');
        if (n === undefined) return false;
        if (!this.authenticated && n > UNAUTHENTICATED_LIMITS.maxMultibulkLength) this.fail('unauthenticated multibulk length');
        if (n > this.limits.maxMultibulkLength) this.fail('invalid multibulk length');
        if (n <= 0) {
          this.state = State.Start;
        } else {
          this.remaining = n;
          this.argBytes = 0;
          this.state = State.BulkHeader;
        }
        return true;
      }
      case State.BulkHeader: {
        if (q.length === 0) return false;
        const first = q.byteAt(0);
        if (first !== DOLLAR) this.fail(`expected '$', got '${String.fromCharCode(first)}'`);
        const n = this.readHeader('too big bulk count string', 'invalid bulk length');
        if (n === undefined) return false;
        if (!this.authenticated && n > UNAUTHENTICATED_LIMITS.maxBulkLength) this.fail('unauthenticated bulk length');
        if (n < 0 || n > this.limits.maxBulkLength) this.fail('invalid bulk length');
        this.argBytes += n;
        if (this.argBytes > this.limits.maxQueryBuffer) this.fail('query buffer limit reached');
        this.bulkLength = n;
        this.state = State.BulkData;
        return true;
      }
      case State.BulkData: {
        const n = this.bulkLength;
        if (q.length < n + 2) {
          // Fail as soon as the byte after the data is visibly not '\r'.
          if (q.length > n && q.byteAt(n) !== CR) this.fail('invalid bulk length');
          return false;
        }
        const arg = q.take(n);
        if (q.byteAt(0) !== CR || q.byteAt(1) !== LF) this.fail('invalid bulk length');
        q.skip(2);
        this.args.push(arg);
        if (--this.remaining > 0) {
          this.state = State.BulkHeader;
        } else {
          out.push({ args: this.args });
          this.args = [];
          this.state = State.Start;
        }
        return true;
      }
    }
  }

  /**
   * Offset of the `byte` ending the current line, or -1 while it has not arrived. A line
   * longer than `max` fails the same way whether or not its end has arrived, which keeps
   * the outcome independent of how the input was split.
   */
  private findLine(byte: number, max: number, tooBig: string): number {
    const at = this.queue.scan(byte);
    if ((at < 0 ? this.queue.length : at) > max) this.fail(tooBig);
    return at;
  }

  /** Reads a `*<n>\r\n` or `$<n>\r\n` line; undefined while it is incomplete. */
  private readHeader(tooBig: string, invalid: string): number | undefined {
    const q = this.queue;
    const fast = q.takeIntLine();
    if (fast !== undefined) return fast;
    const cr = this.findLine(CR, MAX_HEADER_LENGTH, tooBig);
    if (cr < 0 || q.length < cr + 2) return undefined;
    if (q.byteAt(cr + 1) !== LF) this.fail(invalid);
    const line = q.take(cr);
    q.skip(2);
    const n = parseInteger(line.subarray(1));
    if (n === undefined) this.fail(invalid);
    return n;
  }
}

/**
 * Parses exactly one complete command from `raw` (e.g. a replicated log entry made by
 * `encodeCommand`). Throws ProtocolError when `raw` is malformed before the end of its
 * first command (the parser's message), holds no command (`no command`; blank lines and
 * `*0` alone are none), ends inside one (`incomplete command`), or holds any byte after
 * the first command, even one that forms no command (`trailing bytes after the command`).
 */
export function parseOne(raw: Buffer, options?: RequestParserOptions): Command {
  const parser = new RequestParser(options);
  parser.onePerPush = true;
  const commands = parser.push(raw);
  if (commands.length === 1 && parser.pendingBytes === 0) return commands[0]!;
  const what = commands.length === 1 ? 'trailing bytes after the command' : parser.midRequest ? 'incomplete command' : 'no command';
  throw new ProtocolError<Command>(what);
}

/**
 * Encodes `args` as one RESP multibulk request (`*N\r\n$len\r\n<bytes>\r\n…`) in a single
 * allocation. Strings are UTF-8. `parseOne(encodeCommand(a))` gives back `a` as Buffers.
 */
export function encodeCommand(args: readonly (Buffer | string)[]): Buffer {
  const parts = args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'utf8') : a));
  let size = `*${parts.length}\r\n`.length;
  for (const p of parts) size += `$${p.length}\r\n`.length + p.length + 2;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(`*${parts.length}\r\n`, 0, 'latin1');
  for (const p of parts) {
    at += out.write(`$${p.length}\r\n`, at, 'latin1');
    at += p.copy(out, at);
    at += out.write('\r\n', at, 'latin1');
  }
  return out;
}
