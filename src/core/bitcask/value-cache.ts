/** Bytes charged per cached entry on top of its value: the Buffer object and its bookkeeping. */
export const ENTRY_OVERHEAD = 96;
/** An entry larger than this fraction of the capacity is never cached. */
const LARGEST_ENTRY_SHARE = 256;

/**
 * A bounded cache of values by keydir slot, so a hot key is served without a disk read.
 *
 * Keyed by slot, not by location: a merge moves a record but not its value, so entries
 * stay valid across merges. The owner must `drop` a slot whenever its value changes or
 * the slot is freed (a freed slot is reused by another key).
 *
 * Values sit in an array indexed by slot (a lookup is one array read, no hashing), and
 * eviction is CLOCK: a hand sweeps the slots, sparing once each value read since the
 * hand last passed. Each entry is charged its length plus `ENTRY_OVERHEAD`; entries
 * larger than 1/256 of the capacity are not kept, so one big value cannot flush the
 * cache. A capacity of 0 disables it. Cached buffers are shared: callers must not
 * modify them.
 */
export class ValueCache {
  private readonly values: (Buffer | undefined)[] = [];
  private referenced = new Uint8Array(1024);
  private hand = 0;
  private count = 0;
  private used = 0;
  private readonly largest: number;

  /** `capacity` is in bytes. */
  constructor(readonly capacity: number) {
    this.largest = Math.floor(capacity / LARGEST_ENTRY_SHARE);
  }

  /** Number of cached values. */
  get size(): number {
    return this.count;
  }

  /** Bytes charged for the cached values, at most `capacity`. */
  get bytes(): number {
    return this.used;
  }

  /** The cached value of `slot`, or undefined. */
  get(slot: number): Buffer | undefined {
    const value = this.values[slot];
    if (value !== undefined) this.referenced[slot] = 1;
    return value;
  }

  /** Caches `value` as the value of `slot` (replacing any), evicting entries to fit. */
  set(slot: number, value: Buffer): void {
    this.drop(slot);
    const cost = value.length + ENTRY_OVERHEAD;
    if (cost > this.largest) return;
    while (this.used + cost > this.capacity) this.evictOne();
    this.grow(slot);
    this.values[slot] = value;
    this.referenced[slot] = 0;
    this.count++;
    this.used += cost;
  }

  /** Forgets the value of `slot`, if cached. */
  drop(slot: number): void {
    const value = this.values[slot];
    if (value === undefined) return;
    this.values[slot] = undefined;
    this.count--;
    this.used -= value.length + ENTRY_OVERHEAD;
  }

  /** Forgets everything. */
  clear(): void {
    this.values.length = 0;
    this.referenced.fill(0);
    this.hand = 0;
    this.count = 0;
    this.used = 0;
  }

  /** Evicts the first unreferenced value after the hand. Only called while something is cached. */
  private evictOne(): void {
    for (;;) {
      if (this.hand >= this.values.length) this.hand = 0;
      const slot = this.hand++;
      if (this.values[slot] === undefined) continue;
      if (this.referenced[slot] === 1) {
        this.referenced[slot] = 0;
        continue;
      }
      this.drop(slot);
      return;
    }
  }

  /** Extends the arrays to hold `slot`, densely (a sparse JS array would turn into a slow dictionary). */
  private grow(slot: number): void {
    while (this.values.length <= slot) this.values.push(undefined);
    if (slot < this.referenced.length) return;
    const next = new Uint8Array(Math.max(slot + 1, this.referenced.length * 2));
    next.set(this.referenced);
    this.referenced = next;
  }
}
