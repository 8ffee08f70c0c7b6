/** Largest arena: key offsets are stored as 32-bit integers. */
export const MAX_ARENA_BYTES = 2 ** 32 - 1;
const INITIAL_BYTES = 16 << 10;
/** Keys up to this long are copied byte by byte: cheaper than a native call. */
const SHORT_KEY = 32;

/**
 * The bytes of many keys, appended one after another into one growable buffer, so the
 * keys cost no JS object each. A key is known by its offset and length, which the owner
 * keeps. Removing a key only counts its bytes as garbage (`release`); the owner rebuilds
 * the arena (`compactInto` a fresh one, remapping its offsets) once `wasteful` says so.
 */
export class KeyArena {
  /** The backing buffer; `bytes[0..used)` is written. Replaced (not resized) when it grows. */
  bytes: Buffer;
  /** Bytes appended so far. */
  used = 0;
  /** Bytes of released keys within `used`. */
  garbage = 0;

  /**
   * `capacity`: initial buffer size; `maxBytes`: the most `used` may reach (tests lower
   * it); `minCompactBytes`: garbage below this never makes the arena `wasteful`.
   */
  constructor(
    capacity = INITIAL_BYTES,
    readonly maxBytes = MAX_ARENA_BYTES,
    readonly minCompactBytes = 1 << 20,
  ) {
    this.bytes = Buffer.allocUnsafe(Math.min(capacity, maxBytes));
  }

  /**
   * Appends `src[start..end)` and returns its offset. Grows the buffer (doubling) when
   * needed; throws `RangeError` when the arena would exceed `maxBytes`, leaving it unchanged.
   */
  append(src: Uint8Array, start: number, end: number): number {
    const len = end - start;
    const at = this.used;
    if (at + len > this.bytes.length) this.grow(at + len);
    const dst = this.bytes;
    if (len <= SHORT_KEY) {
      for (let i = 0; i < len; i++) dst[at + i] = src[start + i]!;
    } else {
      dst.set(src.subarray(start, end), at);
    }
    this.used = at + len;
    return at;
  }

  /**
   * Makes the buffer at least `bytes` long (capped at `maxBytes`), so appends up to that
   * total do not grow it.
   */
  reserve(bytes: number): void {
    if (bytes > this.bytes.length) this.resize(Math.min(bytes, this.maxBytes));
  }

  /** Counts `length` bytes of a removed key as garbage. */
  release(length: number): void {
    this.garbage += length;
  }

  /** Whether garbage is over half the bytes used (and at least `minCompactBytes`): time to compact. */
  get wasteful(): boolean {
    return this.garbage >= this.minCompactBytes && this.garbage * 2 > this.used;
  }

  /**
   * A fresh, empty arena with the same limits, sized for `liveBytes` of keys plus half
   * again: append the live keys to it and drop this one.
   */
  compactInto(liveBytes: number): KeyArena {
    return new KeyArena(Math.max(INITIAL_BYTES, liveBytes + (liveBytes >>> 1)), this.maxBytes, this.minCompactBytes);
  }

  /** Whether `bytes[offset..offset + len)` equals `key[start..start + len)`. */
  equals(offset: number, key: Uint8Array, start: number, len: number): boolean {
    const b = this.bytes;
    if (len <= SHORT_KEY) {
      for (let i = 0; i < len; i++) if (b[offset + i] !== key[start + i]) return false;
      return true;
    }
    return b.compare(key, start, start + len, offset, offset + len) === 0;
  }

  private grow(need: number): void {
    if (need > this.maxBytes) throw new RangeError(`the key arena would exceed ${this.maxBytes} bytes`);
    this.resize(Math.min(this.maxBytes, Math.max(need, this.bytes.length * 2)));
  }

  private resize(size: number): void {
    const next = Buffer.allocUnsafe(size);
    this.bytes.copy(next, 0, 0, this.used);
    this.bytes = next;
  }
}
