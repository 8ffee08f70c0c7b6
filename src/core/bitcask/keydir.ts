import sortedBtree from 'sorted-btree';
import { bulkLoad } from 'sorted-btree/extended/bulkLoad.js';
import { KeyTable, type KeyTableOptions } from './key-table.js';
import { SortedKeysBuild } from './sorted-keys-build.js';

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

/** Where the records of a keydir's live keys were at one moment (`KeyDir.snapshotLocations`). */
export interface LocationSnapshot {
  /** File number by slot; `NO_FILE` for a slot without a key. */
  files: Uint32Array;
  /** Record offset by slot. */
  offsets: Uint32Array;
  /** Number of live keys. */
  size: number;
}

/** The file number of a free slot; no real file gets it. */
export const NO_FILE = 0xffffffff;
const PENDING_LIMIT = 65536;
const NODE_SIZE = 64;

/** Byte order of latin1 key strings (plain code-unit order, without sorted-btree's type checks). */
const compareKeys = (a: KeyString, b: KeyString): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The in-memory key directory: `key → (file, offset, size)` of the newest record of
 * every live key.
 *
 * A `KeyTable` answers point lookups straight from key bytes (no JS string or object per
 * key) and gives each key a slot number; locations live in typed arrays indexed by slot.
 * Methods take a key as `bytes[start..end)`, so loading passes keys straight out of a
 * hint or data file buffer.
 *
 * The ordered index, a B+tree of the keys as latin1 strings, is built only when the
 * first ordered walk asks for it, so loading and writing a store that is never walked in
 * order pay nothing for it. A caller that must stay responsive builds it beforehand in
 * bounded steps (`buildOrdered`), writes going on in between; a walk without it builds
 * it at once. Once built, new keys reach it in sorted batches (before a walk, or every
 * 65,536 inserts).
 */
export class KeyDir {
  private readonly table: KeyTable;
  private tree: Tree | undefined;
  /** Bumped whenever the tree changes, so walks know their leaf cursor went stale. */
  private treeVersion = 0;
  /** Slots inserted since the tree was last brought up to date (a slot may repeat, or be freed since). */
  private pending: number[] = [];
  /** The sort under way while the tree is built in steps. */
  private build: SortedKeysBuild | undefined;
  /** Then the tree being filled from the sorted keys, a step at a time. */
  private loading: { keys: KeyString[]; next: number; tree: Tree } | undefined;
  /** Keys deleted while the tree is built in steps: the sort may have read them already. */
  private deletedDuringBuild = new Set<KeyString>();
  private files: Uint32Array;
  private offsets: Uint32Array;
  private sizes: Uint32Array;

  /** `opts` sizes the key table (tests shrink it). */
  constructor(opts: KeyTableOptions = {}) {
    this.table = new KeyTable(opts);
    const n = this.table.slotCapacity;
    this.files = new Uint32Array(n);
    this.offsets = new Uint32Array(n);
    this.sizes = new Uint32Array(n);
  }

  /** Expiry (ms since the epoch) by slot, for the keys that expire: usually few, so a sparse map. */
  private readonly expiries = new Map<number, number>();

  /** Number of live keys. */
  get size(): number {
    return this.table.size;
  }

  /** Number of live keys that expire. */
  get expiringCount(): number {
    return this.expiries.size;
  }

  /** Expiry of the key in a live `slot` (ms since the epoch), or 0 when it never expires. */
  expiryOf(slot: number): number {
    return this.expiries.get(slot) ?? 0;
  }

  /** Sets the expiry of the key in a live `slot`; 0 makes it never expire. */
  setExpiry(slot: number, expiresAt: number): void {
    if (expiresAt > 0) this.expiries.set(slot, expiresAt);
    else this.expiries.delete(slot);
  }

  /**
   * `[slot, expiresAt]` of every key that expires, in the order their expiry was set. The
   * iterator is live: it sees expiries set after it was made, and skips those removed.
   */
  expiring(): IterableIterator<[number, number]> {
    return this.expiries.entries();
  }

  /**
   * Makes room for `keys` live keys of `keyBytes` bytes in all (counting those already
   * here), so inserting up to that many grows nothing.
   */
  reserve(keys: number, keyBytes: number): void {
    this.table.reserve(keys, keyBytes);
    if (this.table.slotCapacity > this.files.length) this.growLocations();
  }

  /** The slot of the key `bytes[start..end)`, or -1 if absent. A slot stays valid until the key is deleted. */
  slot(bytes: Uint8Array, start = 0, end = bytes.length): number {
    return this.table.find(bytes, start, end);
  }

  /** File number of the record in `slot`; `NO_FILE` once the slot was freed. */
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

  /**
   * Adds the key `bytes[start..end)`, which must be absent (check with `slot` first),
   * copying its bytes; returns its slot.
   */
  insert(bytes: Uint8Array, start: number, end: number, file: number, offset: number, size: number): number {
    const slot = this.table.add(bytes, start, end);
    if (slot >= this.files.length) this.growLocations();
    this.update(slot, file, offset, size);
    if (this.tree) {
      this.pending.push(slot);
      if (this.pending.length >= PENDING_LIMIT) this.flushPending();
    } else if (this.building) this.pending.push(slot);
    return slot;
  }

  /** Removes the key `bytes[start..end)`; returns whether it was present. */
  delete(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
    const slot = this.table.remove(bytes, start, end);
    if (slot < 0) return false;
    // A freed slot points at no file, so a merge holding its number sees it moved on.
    this.files[slot] = NO_FILE;
    this.expiries.delete(slot);
    if (this.tree) {
      if (this.tree.delete(keyToString(bytes.subarray(start, end)))) this.treeVersion++;
    } else if (this.building) this.deletedDuringBuild.add(keyToString(bytes.subarray(start, end)));
    return true;
  }

  /**
   * The slot of a live key picked at random by `random` (uniform in [0, 1)), or -1 when
   * there is none. Slots are reused, so most are live: a few random probes find one; after
   * 64 misses it walks on from a random slot to the next live one (O(slots) at worst).
   */
  randomSlot(random: () => number): number {
    const limit = this.table.slotLimit;
    if (this.table.size === 0) return -1;
    for (let i = 0; i < 64; i++) {
      const slot = Math.floor(random() * limit);
      if (this.files[slot] !== NO_FILE) return slot;
    }
    let slot = Math.floor(random() * limit);
    while (this.files[slot] === NO_FILE) slot = (slot + 1) % limit;
    return slot;
  }

  /** Calls `fn` with the slot of every live key, in no particular order; `fn` must not change the keydir. */
  forEachSlot(fn: (slot: number) => void): void {
    this.table.forEachSlot(fn);
  }

  /** A copy of the key in a live `slot`. */
  keyOf(slot: number): Buffer {
    return this.table.keyBytes(slot);
  }

  /**
   * A copy of the location of every slot now (8 bytes a slot, no copy of the keys):
   * `files[slot]` is `NO_FILE` for a free slot, else the slot's key is live and its
   * newest record starts at `offsets[slot]` of that file. The records it points at are
   * the keydir's contents at this moment, as long as their files are kept.
   */
  snapshotLocations(): LocationSnapshot {
    const n = this.table.slotLimit;
    return { files: this.files.slice(0, n), offsets: this.offsets.slice(0, n), size: this.table.size };
  }

  /**
   * Keys in byte order (or reversed) starting at `range.from`. The walk reflects the
   * keydir at each step: keys deleted during it are skipped; keys added may or may not
   * appear. It follows the tree's leaves, and finds its place again from the last key it
   * gave whenever the tree changed in between.
   */
  *keys(range: KeyRange = {}): Generator<KeyString> {
    const { from, reverse = false } = range;
    let inclusive = range.inclusive ?? true;
    let last = from;
    for (;;) {
      const tree = this.orderedIndex();
      const version = this.treeVersion;
      const it = reverse ? tree.entriesReversed(last, undefined, !inclusive) : tree.keys(last);
      let skipFirst = !reverse && !inclusive && last !== undefined;
      for (;;) {
        const step = it.next();
        if (step.done) return;
        const key = reverse ? (step.value as [KeyString, undefined])[0] : (step.value as KeyString);
        if (skipFirst) {
          skipFirst = false;
          if (key === last) continue;
        }
        skipFirst = false;
        last = key;
        yield key;
        if (version !== this.treeVersion || this.pending.length > 0) break;
      }
      inclusive = false;
    }
  }

  /** Whether the ordered index is built, so an ordered walk starts without sorting every key. */
  get ordered(): boolean {
    return this.tree !== undefined;
  }

  /**
   * Does up to about `budget` keys' worth of the work of building the ordered index and
   * returns whether it is built. The keys are sorted in steps (`SortedKeysBuild`), then
   * inserted into the tree in order, `budget` a step; without a budget (`Infinity`) the
   * tree is bulk-loaded at once instead. The keydir may change between calls.
   */
  buildOrdered(budget: number): boolean {
    if (this.tree) return true;
    if (!this.loading) {
      this.build ??= new SortedKeysBuild(this.table.slotLimit, (slot) => (this.files[slot] === NO_FILE ? undefined : this.table.keyString(slot)));
      const keys = this.build.step(budget);
      if (!keys) return false;
      this.build = undefined;
      if (budget === Infinity) {
        this.finishBuild(bulkLoad<KeyString, undefined>(keys, new Array<undefined>(keys.length), NODE_SIZE, compareKeys));
        return true;
      }
      this.loading = { keys, next: 0, tree: new BTree<KeyString, undefined>(undefined, compareKeys, NODE_SIZE) };
      return false;
    }
    const { keys, tree } = this.loading;
    const end = Math.min(keys.length, this.loading.next + Math.max(1, budget));
    for (let i = this.loading.next; i < end; i++) tree.set(keys[i]!, undefined);
    this.loading.next = end;
    if (end < keys.length) return false;
    this.loading = undefined;
    this.finishBuild(tree);
    return true;
  }

  private get building(): boolean {
    return this.build !== undefined || this.loading !== undefined;
  }

  private finishBuild(tree: Tree): void {
    // A key deleted after the build read it is gone; one added again since is pending.
    for (const key of this.deletedDuringBuild) tree.delete(key);
    this.tree = tree;
    this.deletedDuringBuild = new Set();
    this.treeVersion++;
  }

  /** The ordered index, built (or its build finished) on first use and brought up to date with pending inserts. */
  private orderedIndex(): Tree {
    // Without a budget each call finishes a phase: reading, one merge, the bulk load.
    while (!this.buildOrdered(Infinity));
    this.flushPending();
    return this.tree!;
  }

  private flushPending(): void {
    if (this.pending.length === 0 || !this.tree) return;
    const batch: KeyString[] = [];
    // A slot freed since holds no key; one reused since holds a key inserted since, so also pending.
    for (const slot of this.pending) if (this.files[slot] !== NO_FILE) batch.push(this.table.keyString(slot));
    this.pending = [];
    batch.sort();
    for (const key of batch) this.tree.set(key, undefined);
    this.treeVersion++;
  }

  private growLocations(): void {
    const n = this.table.slotCapacity;
    const grow = (a: Uint32Array): Uint32Array => {
      const b = new Uint32Array(n);
      b.set(a);
      return b;
    };
    this.files = grow(this.files);
    this.offsets = grow(this.offsets);
    this.sizes = grow(this.sizes);
  }
}
