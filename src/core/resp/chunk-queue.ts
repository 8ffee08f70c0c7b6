import { ASCII } from './ascii.js';

const { CR, LF, MINUS, ZERO, NINE } = ASCII;
const EMPTY = Buffer.alloc(0);
/** Digits the fast path accepts: every such number is exact in a double. */
const FAST_DIGITS = 15;

/**
 * The unconsumed input of a streaming decoder, kept as the list of received chunks so
 * that nothing is re-concatenated while a large value is still arriving. Offsets are
 * relative to the first unconsumed byte. Every operation is O(1) amortised per chunk
 * pushed, except `take`, which copies once when the requested bytes span chunks.
 *
 * `scan` remembers how far it has already searched for its byte, so a line that arrives
 * one byte at a time is searched once in total, not once per chunk. The memory is
 * cleared whenever bytes are consumed.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  private size = 0;
  private scanned = 0;
  private scannedFor = -1;

  /** Unconsumed bytes. */
  get length(): number {
    return this.size;
  }

  /** Appends a chunk (kept by reference, never copied). Empty chunks are ignored. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The byte at offset `i`; `i` must be below `length`. */
  byteAt(i: number): number {
    let pos = i + this.offset;
    for (const c of this.chunks) {
      if (pos < c.length) return c[pos]!;
      pos -= c.length;
    }
    throw new RangeError(`offset ${i} is beyond the ${this.size} queued bytes`);
  }

  /**
   * The offset of the first `byte`, or -1 when none is queued yet. Searching again for
   * the same byte without consuming resumes where the previous search stopped.
   */
  scan(byte: number): number {
    if (this.scannedFor !== byte) {
      this.scannedFor = byte;
      this.scanned = 0;
    }
    // Walk back from the newest chunk to the one holding offset `scanned`.
    let j = this.chunks.length - 1;
    let start = this.size;
    while (j >= 0) {
      const len = this.chunks[j]!.length - (j === 0 ? this.offset : 0);
      if (start - len <= this.scanned) {
        start -= len;
        break;
      }
      start -= len;
      j--;
    }
    for (let from = this.scanned - start; j >= 0 && j < this.chunks.length; j++, from = 0) {
      const c = this.chunks[j]!;
      const base = j === 0 ? this.offset : 0;
      const at = c.indexOf(byte, base + from);
      if (at >= 0) {
        this.scanned = start + at - base;
        return this.scanned;
      }
      start += c.length - base;
    }
    this.scanned = this.size;
    return -1;
  }

  /**
   * Removes and returns the next `n` bytes (`n <= length`): a zero-copy subarray when
   * they lie in one chunk, otherwise one new Buffer joined in a single copy.
   */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    const out = first.length - this.offset >= n ? first.subarray(this.offset, this.offset + n) : this.join(n);
    this.skip(n);
    return out;
  }

  /**
   * The fast path for a RESP header line (`*12\r\n`, `$-1\r\n`): when the first chunk
   * holds one prefix byte, a canonical integer of at most 15 digits (optional '-', no
   * leading zero, not "-0") and CRLF, consumes the line and returns the integer.
   * Otherwise consumes nothing and returns undefined, leaving every other case (split
   * lines, long numbers, malformed text) to the caller's general path. The queue must
   * hold at least the prefix byte.
   */
  takeIntLine(): number | undefined {
    const c = this.chunks[0]!;
    let i = this.offset + 1;
    const neg = c[i] === MINUS;
    if (neg) i++;
    const first = i;
    const stop = Math.min(c.length, first + FAST_DIGITS + 1);
    let value = 0;
    for (; i < stop; i++) {
      const b = c[i]!;
      if (b < ZERO || b > NINE) break;
      value = value * 10 + (b - ZERO);
    }
    const digits = i - first;
    if (digits === 0 || digits > FAST_DIGITS || c[i] !== CR || c[i + 1] !== LF) return undefined;
    if (c[first] === ZERO && (digits > 1 || neg)) return undefined;
    this.skip(i + 2 - this.offset);
    return neg ? -value : value;
  }

  /** Discards the next `n` bytes (`n <= length`). */
  skip(n: number): void {
    this.size -= n;
    this.scanned = 0;
    this.scannedFor = -1;
    let drop = 0;
    let rest = n + this.offset;
    while (drop < this.chunks.length && rest >= this.chunks[drop]!.length) {
      rest -= this.chunks[drop]!.length;
      drop++;
    }
    if (drop > 0) this.chunks.splice(0, drop);
    this.offset = rest;
  }

  private join(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let from = this.offset;
    for (const c of this.chunks) {
      filled += c.copy(out, filled, from, Math.min(c.length, from + n - filled));
      from = 0;
      if (filled === n) break;
    }
    return out;
  }
}
