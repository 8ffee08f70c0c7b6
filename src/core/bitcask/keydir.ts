import sortedBtree from 'sorted-btree';

// sorted-btree is CommonJS: its class is the `default` property of the module object.
const BTree = sortedBtree.default;
type Tree = InstanceType<typeof BTree<string, undefined>>;

/** Keys are kept as latin1 strings: one char per byte, so string order is byte order. */
export type KeyString = string;

/** Converts a binary key to its keydir form. */
export function keyToString(key: Uint8Array): KeyString {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** Converts a keydir key back to bytes. */
export function keyFromString(key: KeyString): Buffer {
  return Buffer.from(key, 'latin1');
}

/** Options of an ordered walk. */
export interface KeyRange {
  /** Where to start; the first (or, reversed, the last) key when omitted. */
  from?: KeyString;
  /** Whether a key equal to `from` is included (default true). */
  inclusive?: boolean;
  /** Walk in descending byte order. */
  reverse?: boolean;
}

const INITIAL_SLOTS = 1024;
const PENDING_LIMIT = 65536;
const NODE_SIZE = 64;

/**
 * The in-memory key directory: `key → (file, offset, size)` of the newest record of
 * every live key.
 *
 * A `Map` answers point lookups; a B+tree keeps the keys in byte order for walks from
 * any key in either direction. New keys reach the tree in sorted batches (before any
 * walk, or every 65,536 inserts), which keeps inserts cheap. Locations live in typed
 * arrays indexed by a slot number, so a key costs its string plus a few dozen bytes.
 */
export class KeyDir {
  private readonly slots = new Map<KeyString, number>();
  private readonly tree: Tree = new BTree<string, undefined>(undefined, undefined, NODE_SIZE);
  private pending: KeyString[] = [];
  private files: Uint32Array = new Uint32Array(INITIAL_SLOTS);
  private offsets: Uint32Array = new Uint32Array(INITIAL_SLOTS);
  private sizes: Uint32Array = new Uint32Array(INITIAL_SLOTS);
  private freeSlots: number[] = [];
  private nextSlot = 0;

  /** Number of live keys. */
  get size(): number {
    return this.slots.size;
  }

  /** The slot of `key`, or -1 if absent. A slot stays valid until the key is deleted. */
  slot(key: KeyString): number {
    return this.slots.get(key) ?? -1;
  }

  /** File number of the record in `slot`. */
  fileOf(slot: number): number {
    return this.files[slot]!;
  }

  /** Byte offset of the record in `slot`. */
  offsetOf(slot: number): number {
    return this.offsets[slot]!;
  }

  /** Encoded size of the record in `slot`. */
  sizeOf(slot: number): number {
    return this.sizes[slot]!;
  }

  /** Points `slot` at a new record. */
  update(slot: number, file: number, offset: number, size: number): void {
    this.files[slot] = file;
    this.offsets[slot] = offset;
    this.sizes[slot] = size;
  }

  /** Adds a key that is absent (check with `slot` first) and returns its slot. */
  insert(key: KeyString, file: number, offset: number, size: number): number {
    const slot = this.freeSlots.pop() ?? this.allocSlot();
    this.update(slot, file, offset, size);
    this.slots.set(key, slot);
    this.pending.push(key);
    if (this.pending.length >= PENDING_LIMIT) this.flushPending();
    return slot;
  }

  /** Sets `key` whether or not it exists; returns the slot. */
  set(key: KeyString, file: number, offset: number, size: number): number {
    const slot = this.slot(key);
    if (slot < 0) return this.insert(key, file, offset, size);
    this.update(slot, file, offset, size);
    return slot;
  }

  /** Removes `key`; returns whether it was present. */
  delete(key: KeyString): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.freeSlots.push(slot);
    this.tree.delete(key);
    return true;
  }

  /** Removes every key. */
  clear(): void {
    this.slots.clear();
    this.tree.clear();
    this.pending = [];
    this.freeSlots = [];
    this.nextSlot = 0;
  }

  /** Every key with its slot, in no particular order. */
  entries(): IterableIterator<[KeyString, number]> {
    return this.slots.entries();
  }

  /**
   * Keys in byte order (or reversed) starting at `range.from`. The walk reflects the
   * keydir at each step: keys deleted during it are skipped; keys added may or may not appear.
   */
  *keys(range: KeyRange = {}): Generator<KeyString> {
    this.flushPending();
    const { from, reverse = false } = range;
    const inclusive = range.inclusive ?? true;
    if (reverse) {
      let k = from === undefined ? this.tree.maxKey() : inclusive && this.tree.has(from) ? from : this.tree.nextLowerKey(from);
      while (k !== undefined) {
        yield k;
        this.flushPending();
        k = this.tree.nextLowerKey(k);
      }
    } else {
      let k = from === undefined ? this.tree.minKey() : inclusive && this.tree.has(from) ? from : this.tree.nextHigherKey(from);
      while (k !== undefined) {
        yield k;
        this.flushPending();
        k = this.tree.nextHigherKey(k);
      }
    }
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    batch.sort();
    for (const key of batch) if (this.slots.has(key)) this.tree.set(key, undefined);
  }

  private allocSlot(): number {
    if (this.nextSlot === this.files.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.files = grow(this.files);
      this.offsets = grow(this.offsets);
      this.sizes = grow(this.sizes);
    }
    return this.nextSlot++;
  }
}
