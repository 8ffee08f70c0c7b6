import { parseExactInteger, parseInteger } from './integer.js';
import { StreamParser } from './stream-parser.js';
import type { Reply } from './types.js';
import { ASCII } from './ascii.js';

const { CR, LF } = ASCII;

/** The RESP2 type bytes: + - : $ *. */
const TYPE_BYTES = new Set([0x2b, 0x2d, 0x3a, 0x24, 0x2a]);

/** Limits of a ReplyParser. */
export interface ReplyParserOptions {
  /** Largest accepted bulk reply, in bytes. Default 512 MiB. */
  maxBulkLength?: number;
  /** Longest type line (`+…`, `-…`, `:…`, `$n`, `*n`), in bytes before its '\r'. Default 64 KiB. */
  maxLineLength?: number;
}

interface OpenArray {
  items: Reply[];
  remaining: number;
}

/**
 * Incremental, chunk-agnostic RESP2 reply decoder for clients and tests: `push(chunk)`
 * returns every reply completed so far, in order, and keeps partial input. Handles
 * `+ - : $ *`, the null bulk `$-1`, the null array `*-1` and nested arrays (no array is
 * preallocated from its announced length). Bulk values are zero-copy subarrays of the
 * received chunk when they lie in one. Integers beyond 2^53 lose precision.
 *
 * Malformed input throws ProtocolError (its `parsed` holds the replies this push
 * completed first); an unknown type byte fails as soon as it arrives. After that every
 * push throws a ProtocolError with the same message and an empty `parsed`. Messages:
 * `unexpected reply type 'X'`, `invalid integer reply`, `invalid bulk length`,
 * `invalid multibulk length`, `too big reply line`, `invalid line ending`.
 */
export class ReplyParser extends StreamParser<Reply> {
  private readonly maxBulkLength: number;
  private readonly maxLineLength: number;
  private readonly stack: OpenArray[] = [];
  /** Length of the bulk whose data is awaited, or -1 while a type line is awaited. */
  private bulkLength = -1;

  constructor(options: ReplyParserOptions = {}) {
    super();
    this.maxBulkLength = options.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxLineLength = options.maxLineLength ?? 64 * 1024;
  }

  /** Decodes one line or one bulk body; returns false when more input is needed. */
  protected step(out: Reply[]): boolean {
    const q = this.queue;
    if (this.bulkLength >= 0) {
      const n = this.bulkLength;
      if (q.length < n + 2) {
        if (q.length > n && q.byteAt(n) !== CR) this.fail('invalid bulk length');
        return false;
      }
      const value = q.take(n);
      if (q.byteAt(0) !== CR || q.byteAt(1) !== LF) this.fail('invalid bulk length');
      q.skip(2);
      this.bulkLength = -1;
      this.complete({ type: 'bulk', value }, out);
      return true;
    }
    if (q.length === 0) return false;
    const type = q.byteAt(0);
    if (!TYPE_BYTES.has(type)) this.fail(`unexpected reply type '${String.fromCharCode(type)}'`);
    const cr = q.scan(CR);
    if ((cr < 0 ? q.length : cr) > this.maxLineLength) this.fail('too big reply line');
    if (cr < 0 || q.length < cr + 2) return false;
    if (q.byteAt(cr + 1) !== LF) this.fail('invalid line ending');
    const line = q.take(cr);
    q.skip(2);
    const body = line.subarray(1);
    switch (type) {
      case 0x2b: // '+'
        this.complete({ type: 'simple', value: body.toString('latin1') }, out);
        break;
      case 0x2d: // '-'
        this.complete({ type: 'error', text: body.toString('latin1') }, out);
        break;
      case 0x3a: {
        // ':'
        const value = parseExactInteger(body);
        if (value === undefined) this.fail('invalid integer reply');
        this.complete({ type: 'integer', value }, out);
        break;
      }
      case 0x24: {
        // '$'
        const n = parseInteger(body);
        if (n === -1) this.complete({ type: 'null-bulk' }, out);
        else if (n === undefined || n < 0 || n > this.maxBulkLength) this.fail('invalid bulk length');
        else this.bulkLength = n;
        break;
      }
      default: {
        // '*', the only type byte left
        const n = parseInteger(body);
        if (n === -1) this.complete({ type: 'null-array' }, out);
        else if (n === undefined || n < 0 || !Number.isSafeInteger(n)) this.fail('invalid multibulk length');
        else if (n === 0) this.complete({ type: 'array', items: [] }, out);
        else this.stack.push({ items: [], remaining: n });
      }
    }
    return true;
  }

  /** Adds a finished reply to the innermost open array, closing arrays that fill up. */
  private complete(reply: Reply, out: Reply[]): void {
    let r = reply;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        out.push(r);
        return;
      }
      top.items.push(r);
      if (--top.remaining > 0) return;
      this.stack.pop();
      r = { type: 'array', items: top.items };
    }
  }
}
