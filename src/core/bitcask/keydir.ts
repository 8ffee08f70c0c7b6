import sortedBtree from 'sorted-btree';
import { bulkLoad } from 'sorted-btree/extended/bulkLoad.js';

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

const INITIAL_SLOTS = 1024;
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
 * A `Map` answers point lookups. The ordered index, a B+tree of the keys, is built only
 * when the first ordered walk asks for it (one sort and a bulk load), so loading and
 * writing a store that is never walked in order pay nothing for it. Once built, new keys
 * reach it in sorted batches (before a walk, or every 65,536 inserts). Locations live in
 * typed arrays indexed by a slot number, so a key costs its string plus a few dozen bytes.
 */
export class KeyDir {
  private readonly slots = new Map<KeyString, number>();
  private tree: Tree | undefined;
  /** Bumped whenever the tree changes, so walks know their leaf cursor went stale. */
  private treeVersion = 0;
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

  /** Adds a key that is absent (check with `slot` first) and returns its slot. */
  insert(key: KeyString, file: number, offset: number, size: number): number {
    const slot = this.freeSlots.pop() ?? this.allocSlot();
    this.update(slot, file, offset, size);
    this.slots.set(key, slot);
    if (this.tree) {
      this.pending.push(key);
      if (this.pending.length >= PENDING_LIMIT) this.flushPending();
    }
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
    // A freed slot points at no file, so a merge holding its number sees it moved on.
    this.files[slot] = NO_FILE;
    this.freeSlots.push(slot);
    if (this.tree?.delete(key)) this.treeVersion++;
    return true;
  }

  /** Removes every key. */
  clear(): void {
    this.slots.clear();
    this.files.fill(NO_FILE);
    this.tree = undefined;
    this.treeVersion++;
    this.pending = [];
    this.freeSlots = [];
    this.nextSlot = 0;
  }

  /**
   * A copy of the location of every slot now (8 bytes a slot, no copy of the keys):
   * `files[slot]` is `NO_FILE` for a free slot, else the slot's key is live and its
   * newest record starts at `offsets[slot]` of that file. The records it points at are
   * the keydir's contents at this moment, as long as their files are kept.
   */
  snapshotLocations(): LocationSnapshot {
    const n = this.nextSlot;
    return { files: this.files.slice(0, n), offsets: this.offsets.slice(0, n), size: this.slots.size };
  }

  /** Every key with its slot, in no particular order. */
  entries(): IterableIterator<[KeyString, number]> {
    return this.slots.entries();
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

  /** The ordered index, built on first use and brought up to date with pending inserts. */
  private orderedIndex(): Tree {
    if (!this.tree) {
      const keys = [...this.slots.keys()].sort();
      this.tree = bulkLoad<KeyString, undefined>(keys, new Array<undefined>(keys.length), NODE_SIZE, compareKeys);
      this.treeVersion++;
    }
    this.flushPending();
    return this.tree;
  }

  private flushPending(): void {
    if (this.pending.length === 0 || !this.tree) return;
    const batch = this.pending;
    this.pending = [];
    batch.sort();
    for (const key of batch) if (this.slots.has(key)) this.tree.set(key, undefined);
    this.treeVersion++;
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
