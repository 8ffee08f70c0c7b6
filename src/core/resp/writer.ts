import { INT64_MAX, INT64_MIN } from './integer.js';
import type { ArrayReply, Reply } from './types.js';

const EMPTY = Buffer.alloc(0);
const CRLF_RE = /[\r\n]/g;
/** 2^63: larger magnitudes are not RESP integers (and would print in exponent form past 1e21). */
const INT64_LIMIT = 2 ** 63;
/** INT64_MAX (2^63 − 1), which rounds to 2^63 as a double: how `int(2 ** 63)` is written. */
const INT64_MAX_TEXT = '9223372036854775807';

/**
 * Append-style RESP2 reply encoder into one growable Buffer, so a whole pipelined batch
 * of replies goes out with a single `socket.write(writer.take())`.
 *
 * Methods append and return `this`. Bulk strings are written as UTF-8 and bulk lengths
 * are byte lengths (`Buffer.byteLength`). Simple strings and error texts are binary
 * strings — one char per byte, as latin1 — so an error can quote a client's bytes
 * exactly (see `binaryString` for text). Simple strings and error texts cannot carry CR or
 * LF on the wire, so each one becomes a space. Passing a non-integer (or one beyond
 * the signed 64-bit range) to `int`, or a
 * negative or fractional count to `arrayHeader`, is a programming mistake: TypeError.
 */
export class ReplyWriter {
  private buf: Buffer = EMPTY;
  private len = 0;
  private readonly initialCapacity: number;

  /** `initialCapacity` is the size of the buffer allocated after each `take`. */
  constructor(initialCapacity = 4096) {
    this.initialCapacity = Math.max(16, initialCapacity);
  }

  /** Bytes written since the last `take`. */
  get length(): number {
    return this.len;
  }

  /** `+<s>\r\n`. */
  simple(s: string): this {
    return this.line('+', s.replace(CRLF_RE, ' '));
  }

  /** `+OK\r\n`. */
  ok(): this {
    return this.line('+', 'OK');
  }

  /** `-<text>\r\n`; `text` is the full error line such as `ERR unknown command 'foo'`. */
  error(text: string): this {
    return this.line('-', text.replace(CRLF_RE, ' '));
  }

  /**
   * `:<n>\r\n`; `n` must be an integer within the signed 64-bit range (beyond 2^53 it is
   * already rounded). 2^63 stands for INT64_MAX, the double it rounds to (as a parsed
   * `:9223372036854775807` gives), and is written as 9223372036854775807, so every
   * integer a ReplyParser returns is written back as a valid RESP integer.
   */
  int(n: number | bigint): this {
    if (typeof n === 'bigint') {
      if (n < INT64_MIN || n > INT64_MAX) throw new TypeError(`integer reply needs a 64-bit integer, got ${n}`);
      return this.line(':', n.toString());
    }
    if (!Number.isInteger(n) || Math.abs(n) > INT64_LIMIT) throw new TypeError(`integer reply needs a 64-bit integer, got ${n}`);
    return this.line(':', Number.isSafeInteger(n) ? String(n) : n === INT64_LIMIT ? INT64_MAX_TEXT : BigInt(n).toString());
  }

  /** `$<byte length>\r\n<bytes>\r\n`; a string is written as UTF-8. */
  bulk(value: Buffer | string): this {
    if (typeof value === 'string') {
      const size = Buffer.byteLength(value, 'utf8');
      this.line('$', String(size));
      this.reserve(size + 2);
      this.len += this.buf.write(value, this.len, size, 'utf8');
    } else {
      this.line('$', String(value.length));
      this.reserve(value.length + 2);
      this.len += value.copy(this.buf, this.len);
    }
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  /** `$-1\r\n`, the null bulk string. */
  nullBulk(): this {
    return this.line('$', '-1');
  }

  /** `*<n>\r\n`; the caller then writes exactly `n` replies. */
  arrayHeader(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`array length must be a non-negative integer, got ${n}`);
    return this.line('*', String(n));
  }

  /** `*-1\r\n`, the null array. */
  nullArray(): this {
    return this.line('*', '-1');
  }

  /**
   * Appends any Reply. Arrays are walked without recursion, so a reply nested however
   * deep (a ReplyParser accepts any depth, e.g. from a peer whose reply is relayed) is
   * written, never a stack overflow.
   */
  reply(r: Reply): this {
    if (r.type !== 'array') return this.scalar(r);
    this.arrayHeader(r.items.length);
    const open: { items: readonly Reply[]; next: number }[] = [{ items: r.items, next: 0 }];
    while (open.length > 0) {
      const top = open[open.length - 1]!;
      if (top.next === top.items.length) {
        open.pop();
        continue;
      }
      const item = top.items[top.next++]!;
      if (item.type === 'array') {
        this.arrayHeader(item.items.length);
        open.push({ items: item.items, next: 0 });
      } else this.scalar(item);
    }
    return this;
  }

  /** Appends a Reply that is not an array. */
  private scalar(r: Exclude<Reply, ArrayReply>): this {
    switch (r.type) {
      case 'simple':
        return this.simple(r.value);
      case 'error':
        return this.error(r.text);
      case 'integer':
        return this.int(r.value);
      case 'bulk':
        return this.bulk(r.value);
      case 'null-bulk':
        return this.nullBulk();
      case 'null-array':
        return this.nullArray();
    }
  }

  /**
   * Returns everything written since the last `take` and starts afresh. The returned
   * Buffer is handed over: the writer never touches its memory again, so it is safe to
   * pass to `socket.write` and keep writing. With nothing written it is empty.
   */
  take(): Buffer {
    if (this.len === 0) return EMPTY;
    const out = this.buf.subarray(0, this.len);
    this.buf = EMPTY;
    this.len = 0;
    return out;
  }

  /** Writes `<prefix><body>\r\n`; `body` is a binary string (one char per byte, as latin1). */
  private line(prefix: string, body: string): this {
    const size = 1 + body.length + 2;
    this.reserve(size);
    this.buf[this.len++] = prefix.charCodeAt(0);
    this.len += this.buf.write(body, this.len, 'latin1');
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, this.initialCapacity));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}
