/** An entry larger than this fraction of the capacity is never cached. */
const LARGEST_ENTRY_SHARE = 256;
/** A hit on an entry this close (as a fraction of the capacity) to being overwritten is written again at the head. */
const REFRESH_SHARE = 0.25;
const INITIAL_SLOTS = 1024;

/**
 * A bounded cache of values by keydir slot, so a hot key is served without a disk read.
 *
 * Keyed by slot, not by location: a merge moves a record but not its value, so entries
 * stay valid across merges. The owner must `drop` a slot whenever its value changes or
 * the slot is freed (a freed slot is reused by another key).
 *
 * Values are copied into one ring buffer of `capacity` bytes, written in order; a new
 * value overwrites the oldest ones, so memory is exactly the ring plus 12 bytes per
 * slot, with no per-value objects for the garbage collector. A value read when it is
 * close to being overwritten is written again at the head, so hot values stay. Values
 * larger than 1/256 of the capacity are not kept; a capacity of 0 disables the cache.
 * `get` returns a fresh copy, which the caller owns.
 */
export class ValueCache {
  private ring: Buffer | undefined;
  /** Bytes ever written to the ring: the next value goes at `head % capacity`. */
  private head = 0;
  /** Where each slot's value starts, in the same unbounded byte count as `head`; -1 for none. */
  private positions: Float64Array = new Float64Array(INITIAL_SLOTS).fill(-1);
  private lengths: Int32Array = new Int32Array(INITIAL_SLOTS);
  private readonly largest: number;

  /** `capacity` is in bytes. */
  constructor(readonly capacity: number) {
    this.largest = Math.floor(capacity / LARGEST_ENTRY_SHARE);
  }

  /** Number of values cached (counts the slots; meant for statistics). */
  get size(): number {
    let n = 0;
    for (let slot = 0; slot < this.positions.length; slot++) if (this.live(slot)) n++;
    return n;
  }

  /** Bytes of the ring in use: the values cached and the holes left by replaced ones. */
  get bytes(): number {
    return Math.min(this.head, this.capacity);
  }

  /** A copy of the cached value of `slot`, or undefined. */
  get(slot: number): Buffer | undefined {
    if (!this.live(slot)) return undefined;
    const start = this.positions[slot]! % this.capacity;
    const view = this.ring!.subarray(start, start + this.lengths[slot]!);
    const value = Buffer.from(view);
    if (this.positions[slot]! < this.head - this.capacity * (1 - REFRESH_SHARE)) this.set(slot, view);
    return value;
  }

  /** Caches a copy of `value` as the value of `slot` (replacing any), overwriting the oldest values. */
  set(slot: number, value: Uint8Array): void {
    this.drop(slot);
    const n = value.length;
    if (n > this.largest || this.capacity === 0) return;
    this.ring ??= Buffer.allocUnsafeSlow(this.capacity);
    // A value never wraps around the end of the ring: skip the tail instead.
    if ((this.head % this.capacity) + n > this.capacity) this.head += this.capacity - (this.head % this.capacity);
    this.grow(slot);
    // `value` may be a view of the ring itself (a refresh): TypedArray#set copies overlapping sources correctly.
    this.ring.set(value, this.head % this.capacity);
    this.positions[slot] = this.head;
    this.lengths[slot] = n;
    this.head += n;
  }

  /** Forgets the value of `slot`, if cached. */
  drop(slot: number): void {
    if (slot < this.positions.length) this.positions[slot] = -1;
  }

  /** Forgets everything. */
  clear(): void {
    this.positions.fill(-1);
  }

  /** Whether `slot` holds a value that was not overwritten since. */
  private live(slot: number): boolean {
    if (slot >= this.positions.length) return false;
    const at = this.positions[slot]!;
    return at >= 0 && at >= this.head - this.capacity;
  }

  private grow(slot: number): void {
    if (slot < this.positions.length) return;
    const size = Math.max(slot + 1, this.positions.length * 2);
    const positions = new Float64Array(size).fill(-1);
    positions.set(this.positions);
    const lengths = new Int32Array(size);
    lengths.set(this.lengths);
    this.positions = positions;
    this.lengths = lengths;
  }
}
