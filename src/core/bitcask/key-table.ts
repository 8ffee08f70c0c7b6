import { KeyArena, MAX_ARENA_BYTES } from './key-arena.js';
import { hashKey, randomHashSeed, type HashSeed } from './key-hash.js';

/** Sizes of a `KeyTable` (tests shrink them to force collisions, growth and compaction). */
export interface KeyTableOptions {
  /** Initial number of slots (default 1024); grows by doubling. */
  slots?: number;
  /** Initial number of hash buckets, a power of two (default 2048); doubles past 60 % load. */
  buckets?: number;
  /** Initial arena size in bytes. */
  arenaBytes?: number;
  /** Most bytes of keys the arena may hold (default 4 GiB - 1). */
  maxArenaBytes?: number;
  /** Garbage below this many bytes never triggers a compaction of the arena (default 1 MiB). */
  minCompactBytes?: number;
  /** The secret seed of the key hash (default: a random one, so clients cannot pick colliding keys); tests fix it. */
  hashSeed?: HashSeed;
}

/**
 * A set of byte-string keys, each with a small integer slot number that stays its own
 * until it is removed (a removed key's slot is reused by a later `add`). The owner keeps
 * per-key data in arrays indexed by slot.
 *
 * No JS object per key: key bytes live in one `KeyArena`, and per slot three typed
 * arrays hold the key's arena offset, length and hash (keyed with a secret seed, so
 * clients cannot choose keys that collide and turn probes into scans). The hash table is an `Int32Array`
 * of `slot + 1` (0 for an empty bucket), open addressing with linear probing at most
 * 60 % full; removal shifts the following entries back, so there are no tombstones. A
 * probe compares the stored hash and length before any byte. Keys are any bytes, the
 * empty key included; every method takes a key as `bytes[start..end)`, so a caller can
 * pass a key straight out of a larger buffer without copying it.
 */
export class KeyTable {
  private buckets: Int32Array;
  private mask: number;
  private count = 0;
  private keyOffsets: Uint32Array;
  private keyLengths: Uint32Array;
  private hashes: Int32Array;
  private freeSlots: number[] = [];
  private nextSlot = 0;
  private arena: KeyArena;
  private readonly seed: HashSeed;

  constructor(opts: KeyTableOptions = {}) {
    const slots = Math.max(1, opts.slots ?? 1024);
    const buckets = opts.buckets ?? 2048;
    if (buckets < 2 || (buckets & (buckets - 1)) !== 0) throw new RangeError(`buckets must be a power of two ≥ 2, got ${buckets}`);
    this.buckets = new Int32Array(buckets);
    this.mask = buckets - 1;
    this.keyOffsets = new Uint32Array(slots);
    this.keyLengths = new Uint32Array(slots);
    this.hashes = new Int32Array(slots);
    this.arena = new KeyArena(opts.arenaBytes, opts.maxArenaBytes ?? MAX_ARENA_BYTES, opts.minCompactBytes);
    this.seed = opts.hashSeed ?? randomHashSeed();
  }

  /** Number of keys. */
  get size(): number {
    return this.count;
  }

  /** One more than the highest slot number ever handed out (slots are below it). */
  get slotLimit(): number {
    return this.nextSlot;
  }

  /** Length of the per-slot arrays: every slot handed out so far is below it. Grows by doubling. */
  get slotCapacity(): number {
    return this.keyOffsets.length;
  }

  /** Bytes of the arena in use, garbage included (for tests and statistics). */
  get arenaUsed(): number {
    return this.arena.used;
  }

  /**
   * Makes room for `keys` keys of `keyBytes` bytes in all (counting those already
   * here), so that adding up to that many grows nothing: loading a file whose entry
   * count is known then allocates every array once, at its final size.
   */
  reserve(keys: number, keyBytes: number): void {
    let buckets = this.buckets.length;
    while (keys * 5 > buckets * 3) buckets *= 2;
    if (buckets > this.buckets.length) this.rehash(buckets);
    if (keys > this.keyOffsets.length) this.resizeSlots(keys);
    this.arena.reserve(keyBytes);
  }

  /** The slot of the key `bytes[start..end)`, or -1 when absent. */
  find(bytes: Uint8Array, start = 0, end = bytes.length): number {
    const at = this.bucketOf(bytes, start, end, hashKey(bytes, start, end, this.seed));
    return at < 0 ? -1 : this.buckets[at]! - 1;
  }

  /**
   * Adds the key `bytes[start..end)`, which must be absent (check with `find`), copying
   * its bytes into the arena; returns its slot. Throws `RangeError` (nothing changed)
   * when the arena is full.
   */
  add(bytes: Uint8Array, start = 0, end = bytes.length): number {
    const hash = hashKey(bytes, start, end, this.seed);
    const offset = this.arena.append(bytes, start, end);
    if ((this.count + 1) * 5 > this.buckets.length * 3) this.rehash(this.buckets.length * 2);
    const slot = this.freeSlots.pop() ?? this.newSlot();
    this.keyOffsets[slot] = offset;
    this.keyLengths[slot] = end - start;
    this.hashes[slot] = hash;
    const buckets = this.buckets;
    const mask = this.mask;
    let i = hash & mask;
    while (buckets[i] !== 0) i = (i + 1) & mask;
    buckets[i] = slot + 1;
    this.count++;
    return slot;
  }

  /** Removes the key `bytes[start..end)`; returns the slot it had (now free), or -1 when absent. */
  remove(bytes: Uint8Array, start = 0, end = bytes.length): number {
    let hole = this.bucketOf(bytes, start, end, hashKey(bytes, start, end, this.seed));
    if (hole < 0) return -1;
    const buckets = this.buckets;
    const hashes = this.hashes;
    const mask = this.mask;
    const slot = buckets[hole]! - 1;
    // Backward shift: move up every later entry of the run whose home is not in (hole, j].
    for (let j = (hole + 1) & mask; buckets[j] !== 0; j = (j + 1) & mask) {
      const home = hashes[buckets[j]! - 1]! & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      buckets[hole] = buckets[j]!;
      hole = j;
    }
    buckets[hole] = 0;
    this.count--;
    this.freeSlots.push(slot);
    this.arena.release(this.keyLengths[slot]!);
    if (this.arena.wasteful) this.compact();
    return slot;
  }

  /** The key of a live `slot` as a latin1 string: one char per byte, so string order is byte order. */
  keyString(slot: number): string {
    const at = this.keyOffsets[slot]!;
    return this.arena.bytes.toString('latin1', at, at + this.keyLengths[slot]!);
  }

  /** A copy of the key of a live `slot`. */
  keyBytes(slot: number): Buffer {
    const at = this.keyOffsets[slot]!;
    return Buffer.from(this.arena.bytes.subarray(at, at + this.keyLengths[slot]!));
  }

  /** Calls `fn` with the slot of every key, in no particular order; `fn` must not change the table. */
  forEachSlot(fn: (slot: number) => void): void {
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) if (buckets[i] !== 0) fn(buckets[i]! - 1);
  }

  /** The bucket holding the key, or -1. */
  private bucketOf(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const buckets = this.buckets;
    const hashes = this.hashes;
    const lengths = this.keyLengths;
    const mask = this.mask;
    const len = end - start;
    let i = hash & mask;
    for (let entry = buckets[i]!; entry !== 0; i = (i + 1) & mask, entry = buckets[i]!) {
      const s = entry - 1;
      if (hashes[s] === hash && lengths[s] === len && this.arena.equals(this.keyOffsets[s]!, bytes, start, len)) return i;
    }
    return -1;
  }

  private rehash(size: number): void {
    const old = this.buckets;
    const buckets = new Int32Array(size);
    const mask = size - 1;
    const hashes = this.hashes;
    for (let b = 0; b < old.length; b++) {
      const entry = old[b]!;
      if (entry === 0) continue;
      let i = hashes[entry - 1]! & mask;
      while (buckets[i] !== 0) i = (i + 1) & mask;
      buckets[i] = entry;
    }
    this.buckets = buckets;
    this.mask = mask;
  }

  private newSlot(): number {
    if (this.nextSlot === this.keyOffsets.length) this.resizeSlots(this.keyOffsets.length * 2);
    return this.nextSlot++;
  }

  private resizeSlots(n: number): void {
    const offsets = new Uint32Array(n);
    const lengths = new Uint32Array(n);
    const hashes = new Int32Array(n);
    offsets.set(this.keyOffsets);
    lengths.set(this.keyLengths);
    hashes.set(this.hashes);
    this.keyOffsets = offsets;
    this.keyLengths = lengths;
    this.hashes = hashes;
  }

  /** Copies the live keys into a fresh arena, leaving the garbage behind. */
  private compact(): void {
    const old = this.arena;
    const fresh = old.compactInto(old.used - old.garbage);
    this.forEachSlot((slot) => {
      const at = this.keyOffsets[slot]!;
      this.keyOffsets[slot] = fresh.append(old.bytes, at, at + this.keyLengths[slot]!);
    });
    this.arena = fresh;
  }
}
