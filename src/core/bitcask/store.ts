import fs from 'node:fs';
import path from 'node:path';
import { BitraftError, CorruptionError, LimitError, type ErrorCode } from '../support/errors.js';
import { DataFile, findValidRecord, readFully, scanRecords, writeFully, type ScanProblem } from './datafile.js';
import { compareFileIds, dataFileName, fileBaseName, hintFileName, parseDataFileName, TEMP_SUFFIX, type FileId } from './file-id.js';
import { fsyncDir, mkdirDurable, readIfExists } from './fs-util.js';
import { checkHint, forEachHintRaw, HintWriter, type HintState } from './hint.js';
import { KeyDir, keyFromString, keyToString, type KeyString } from './keydir.js';
import { acquireLock, type DirLock } from './lock.js';
import { runMerge, type MergeOptions, type MergeResult } from './merge.js';
import { resolveOptions, type BitcaskOptions, type ResolvedOptions } from './options.js';
import { decodeRecord, recordSize } from './record.js';
import { runReplace, type Adopted, type Replacement, type ReplaceOptions, type ReplaceRecord } from './replace.js';
import { markerKeeps, readReplaceMarker, settleReplaceMarker } from './replace-marker.js';
import { rollBackTo } from './roll-back.js';
import { StoreView } from './store-view.js';
import { ValueCache } from './value-cache.js';

/** A data file of the store with the bytes and keys of it that are still live. */
export interface FileSlot {
  file: DataFile;
  liveBytes: number;
  liveKeys: number;
}

/** Where an ordered walk starts and which way it goes. */
export interface ScanRange {
  /** First key (last, when reversed); omitted means the start (end) of the keyspace. */
  from?: Uint8Array;
  /** Whether a key equal to `from` is included (default true). */
  inclusive?: boolean;
  reverse?: boolean;
}

/** Counters of a store's files. */
export interface StoreStats {
  dataFiles: number;
  dataBytes: number;
  liveKeys: number;
  liveBytes: number;
  /** Bytes of superseded records and tombstones, in all files. */
  deadBytes: number;
  /** Dead bytes in immutable files: what `merge` would reclaim now. */
  reclaimableBytes: number;
  /** Values held by the value cache. */
  cachedValues: number;
  /** Bytes of the value cache's ring in use (at most its capacity). */
  cacheBytes: number;
}

/** Why writes are refused: a replace is writing (BUSY), or a failed one left files behind (IO). */
interface WriteBlock {
  code: ErrorCode;
  message: string;
  cause?: unknown;
}

/**
 * Where the store's writes were known to be on stable storage: its active data file then,
 * and how many bytes of it had been fsynced. Older files are sealed, hence wholly durable.
 */
export interface DurablePosition {
  /** The data file's name in the store's directory, such as `0000000003.data`. */
  readonly file: string;
  /** Bytes of it on stable storage. */
  readonly size: number;
}

/** What `Bitcask.open` found in the active (newest) data file, and what it cut off. */
export interface OpenReport {
  /** Path of the active data file. */
  readonly file: string;
  /** Its size on disk before the open. */
  readonly size: number;
  /** Bytes kept: where its last whole, valid record ends. The open cut everything after it. */
  readonly kept: number;
  /**
   * Why bytes were cut: the last record was cut short (`torn`), or failed its checksum
   * with no valid record after it (`corrupt`). Absent when nothing was cut.
   */
  readonly cut?: { readonly kind: 'torn' | 'corrupt'; readonly reason: string };
  /**
   * The size an intact hint of the file describes, when that is more than the file holds:
   * the file was closed cleanly at that size (all of it fsynced) and has lost bytes since.
   */
  readonly hinted?: number;
}

/** Bytes the store had made durable that are gone (see `Bitcask.lostSince`). */
export interface DurableLoss {
  /** Path of the data file that lost them. */
  readonly file: string;
  /** Where the loss starts in it. */
  readonly offset: number;
  /** How many durable bytes are gone. */
  readonly bytes: number;
  /** What was found there: a checksum failure, a record cut short, a short or missing file. */
  readonly reason: string;
}

/** Keys' worth of work per turn while building the ordered index (a few ms each). */
const ORDERED_BUILD_STEP = 32_768;

interface SyncWaiter {
  target: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A Bitcask store over one directory: append-only data files, a hint file per sealed
 * file, and an in-memory keydir of every live key. Keys and values are any bytes.
 *
 * Writes (`put`, `delete`) are synchronous and visible to reads at once; when they
 * reach the disk follows the sync mode, and `sync()` resolves once every earlier write
 * is on stable storage. Only one process opens a directory for writing (a lock file).
 */
export class Bitcask {
  readonly dir: string;
  readonly options: ResolvedOptions;
  /** @internal files by ordinal; merged-away files leave `undefined` holes. */
  readonly files: (FileSlot | undefined)[] = [];
  /** @internal Replaced as a whole by `replaceAll`. */
  keydir = new KeyDir();
  private readonly cache: ValueCache;
  private active: FileSlot | undefined;
  private activeOrdinal = -1;
  private activeHint: HintWriter | undefined;
  private readonly lock: DirLock | undefined;
  private closed = false;
  private closeRequested = false;
  private appended = 0;
  private durable = 0;
  /** Bytes of the active file known to be on stable storage. */
  private durableSize = 0;
  private report: OpenReport | undefined;
  private syncInFlight: Promise<void> | undefined;
  private waiters: SyncWaiter[] = [];
  private turnScheduled = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private merging: Promise<MergeResult> | undefined;
  private replacing: Promise<number> | undefined;
  private writeBlock: WriteBlock | undefined;
  private readonly views = new Set<StoreView>();
  /** Merges take only files before this one (see `protectFrom`); undefined: every sealed file. */
  mergeBefore: FileId | undefined;
  private closeDone: Promise<void> | undefined;
  private ordering: Promise<void> | undefined;

  private constructor(dir: string, options: ResolvedOptions, lock: DirLock | undefined) {
    this.dir = dir;
    this.options = options;
    this.lock = lock;
    this.cache = new ValueCache(options.cacheSize);
    if (options.sync === 'interval' && !options.readOnly) {
      this.timer = setInterval(() => {
        this.sync().catch((err: unknown) => options.logger.warn(`interval sync failed: ${String(err)}`));
      }, options.syncIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Opens (creating if needed) the store in `dir`. Loads every file in order, from its
   * hint when the hint is intact, else by scanning it. The newest file's last record, if
   * it is cut short or fails its checksum with no valid record after it (a write torn by
   * a crash), is cut off with a log line, a corrupt one kept aside in a `.corrupt` file;
   * `openReport` says what was cut, and `lostSince` whether that was durable. A bad
   * record followed by valid ones, anywhere, and any damage to an older file — also a
   * file shorter than its intact hint says — raise `CorruptionError` naming the file and
   * offset, and change nothing. The newest file is then fsynced, so what was loaded is
   * durable.
   */
  static async open(dir: string, opts: BitcaskOptions = {}): Promise<Bitcask> {
    const options = resolveOptions(opts);
    if (!options.readOnly) mkdirDurable(dir);
    const lock = options.readOnly ? undefined : acquireLock(dir, options.logger);
    const store = new Bitcask(dir, options, lock);
    try {
      store.load();
    } catch (err) {
      if (store.timer) clearInterval(store.timer);
      store.closeFiles();
      lock?.release();
      throw err;
    }
    return store;
  }

  /** Number of live keys. */
  get size(): number {
    return this.keydir.size;
  }

  /** Whether some write is not yet known to be on stable storage. */
  get hasUnsyncedWrites(): boolean {
    return this.appended > this.durable;
  }

  /** Whether `close` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether a replace (`replaceAll`) is running, or waiting for a running merge to end first. */
  get isReplacing(): boolean {
    return this.replacing !== undefined;
  }

  /**
   * What the open found in the active file and cut off (undefined for a read-only store).
   * Describes the open only: later writes and replaces do not change it.
   */
  get openReport(): OpenReport | undefined {
    return this.report;
  }

  /**
   * The active data file and how many of its bytes are on stable storage: as of the last
   * fsync that completed (a `sync`, a rotation, a replace, the open), so it moves only
   * forward within a file and never claims bytes that were not fsynced. Save it with what
   * those bytes hold (the applied-index checkpoint does) and hand it to `lostSince` after
   * the next open. Undefined for a read-only or closed store.
   */
  durablePosition(): DurablePosition | undefined {
    if (this.closed || !this.active || this.options.readOnly) return undefined;
    return { file: dataFileName(this.active.file.id), size: this.durableSize };
  }

  /**
   * Where the store's appends have reached: the active data file and its size, written
   * or buffered. A mark to roll back to (see `rollBackTo`): take it together with what
   * the bytes before it hold, and `sync` before relying on them. Undefined for a
   * read-only or closed store.
   */
  appendedPosition(): DurablePosition | undefined {
    if (this.closed || !this.active || this.options.readOnly) return undefined;
    return { file: dataFileName(this.active.file.id), size: this.active.file.size };
  }

  /**
   * Keeps merges to the files before `mark`'s file, so that a later `rollBackTo(mark)`
   * finds the bytes after it where they were written. A Raft node sets it to the mark it
   * saved with its applied index.
   */
  protectFrom(mark: DurablePosition): void {
    this.mergeBefore = parseDataFileName(mark.file);
  }

  /**
   * Whether the open found fewer bytes than were once durable: the active file's intact
   * hint described more than was kept, or `position` (from `durablePosition` before a
   * restart) names a file that is now shorter than its recorded size, that the open cut
   * below it, or that is missing though no merge or replace took its place (a merge's
   * outputs `(M, n)` with M at least its major, or a replace's files all numbered after
   * it). Returns the first such loss, or undefined. Compares with what the open found:
   * call it before writing. Undefined for a read-only store.
   */
  lostSince(position?: DurablePosition): DurableLoss | undefined {
    const r = this.report;
    if (!r) return undefined;
    const lost = (file: string, offset: number, durable: number, reason: string): DurableLoss | undefined =>
      durable > offset ? { file, offset, bytes: durable - offset, reason } : undefined;
    const cutReason = (size: number): string => r.cut?.reason ?? `the file holds only ${size} bytes`;
    const hinted = r.hinted === undefined ? undefined : lost(r.file, r.kept, r.hinted, cutReason(r.size));
    if (hinted || !position) return hinted;
    const id = parseDataFileName(position.file);
    if (!id) return undefined;
    const file = path.join(this.dir, position.file);
    if (file === r.file) return lost(file, r.kept, position.size, cutReason(r.size));
    const slot = this.files.find((s) => s !== undefined && compareFileIds(s.file.id, id) === 0);
    if (slot) return lost(file, slot.file.size, position.size, cutReason(slot.file.size));
    const present = this.files.filter((s): s is FileSlot => s !== undefined).map((s) => s.file.id);
    const merged = present.some((f) => f.minor > 0 && f.major >= id.major);
    const replaced = present.every((f) => f.major > id.major);
    return merged || replaced ? undefined : lost(file, 0, position.size, 'the file is missing');
  }

  /**
   * The value of `key`, or undefined. With `now` (ms since the epoch), a key whose expiry
   * is at or before it reads as absent (it stays stored). Throws `CorruptionError` if its
   * record fails its checksum. The buffer may be shared with the value cache: do not modify it.
   */
  get(key: Uint8Array, now = 0): Buffer | undefined {
    this.checkOpen();
    const slot = this.keydir.slot(key);
    return this.readSlot(this.expiredAt(slot, now) ? -1 : slot, true);
  }

  /** Whether `key` is live (and, when `now` is given, not expired by then; see `get`). */
  has(key: Uint8Array, now = 0): boolean {
    this.checkOpen();
    const slot = this.keydir.slot(key);
    return slot >= 0 && !this.expiredAt(slot, now);
  }

  /** Whether the key in `slot` (a live one, or -1) has an expiry at or before `now` (ms; 0: never true). */
  private expiredAt(slot: number, now: number): boolean {
    if (now <= 0 || slot < 0 || this.keydir.expiringCount === 0) return false;
    const at = this.keydir.expiryOf(slot);
    return at > 0 && at <= now;
  }

  /**
   * When `key` expires (ms since the epoch): 0 when it never does, -1 when it is absent.
   * The store itself never expires a key: its owner decides when an expired key goes
   * (and deletes it).
   */
  expiryOf(key: Uint8Array): number {
    this.checkOpen();
    const slot = this.keydir.slot(key);
    return slot < 0 ? -1 : this.keydir.expiryOf(slot);
  }

  /**
   * A live key picked at random (`random`: uniform in [0, 1), default `Math.random`), or
   * undefined when the store is empty; O(1) but for a store that had many more keys than
   * it has now. A copy.
   */
  randomKey(random: () => number = Math.random): Buffer | undefined {
    this.checkOpen();
    const slot = this.keydir.randomSlot(random);
    return slot < 0 ? undefined : this.keydir.keyOf(slot);
  }

  /** Number of live keys that have an expiry. */
  get expiringCount(): number {
    return this.keydir.expiringCount;
  }

  /**
   * Every live key that expires, with its expiry, in the order the expiries were set. The
   * walk is live (it sees later writes, skips keys deleted meanwhile), costs nothing up
   * front, and may be stopped at any point; keys are copies.
   */
  *expiring(): Generator<{ key: Buffer; expiresAt: number }> {
    this.checkOpen();
    for (const [slot, expiresAt] of this.keydir.expiring()) yield { key: this.keydir.keyOf(slot), expiresAt };
  }

  /**
   * Stores `value` under `key`, expiring at `expiresAt` (ms since the epoch, a safe
   * integer; 0: never). Throws `LimitError` when either is too large, and the write error
   * when the disk refuses it; in both cases nothing changed.
   */
  put(key: Uint8Array, value: Uint8Array, expiresAt = 0): void {
    this.checkWritable();
    if (key.length > this.options.maxKeySize) throw new LimitError('KEY_TOO_LARGE', key.length, this.options.maxKeySize);
    if (value.length > this.options.maxValueSize) throw new LimitError('VALUE_TOO_LARGE', value.length, this.options.maxValueSize);
    const size = recordSize(key.length, value.length, expiresAt);
    const offset = this.append(key, value, false, size, expiresAt);
    let slot = this.keydir.slot(key);
    if (slot >= 0) {
      this.forget(slot);
      this.keydir.update(slot, this.activeOrdinal, offset, size);
    } else {
      slot = this.keydir.insert(key, 0, key.length, this.activeOrdinal, offset, size);
    }
    this.keydir.setExpiry(slot, expiresAt);
    // Recently written values are the likeliest to be read next (the cache keeps a copy).
    this.cache.set(slot, value);
    this.active!.liveBytes += size;
    this.active!.liveKeys++;
  }

  /** Deletes `key` (a tombstone is written only if it existed). Returns whether it existed. */
  delete(key: Uint8Array): boolean {
    this.checkWritable();
    const slot = this.keydir.slot(key);
    if (slot < 0) return false;
    this.append(key, EMPTY, true, recordSize(key.length, 0));
    this.forget(slot);
    this.cache.drop(slot);
    this.keydir.delete(key);
    return true;
  }

  /** Live keys in byte order (or reversed) from `range.from`. Reflects writes made during the walk. */
  *keys(range: ScanRange = {}): Generator<Buffer> {
    this.checkOpen();
    for (const k of this.keydir.keys(this.toKeyRange(range))) yield keyFromString(k);
  }

  /** Whether an ordered walk (`keys`, `entries`) starts at once, without first sorting every key. */
  get ordered(): boolean {
    return this.keydir.ordered;
  }

  /**
   * Builds the ordered index that walks need, `step` keys' worth of work per turn of the
   * event loop, so the process goes on serving (and writing) meanwhile; resolves once it
   * is built, at once if it is, or when the store closes. Calls during a build share it.
   */
  prepareOrdered(step = ORDERED_BUILD_STEP): Promise<void> {
    this.ordering ??= new Promise<void>((resolve) => {
      const work = (): void => {
        // `keydir` is read each turn: a replace installs a new one, whose build starts over.
        if (this.closed || this.keydir.buildOrdered(step)) {
          this.ordering = undefined;
          resolve();
        } else setImmediate(work);
      };
      setImmediate(work);
    });
    return this.ordering;
  }

  /** Live `[key, value]` pairs in byte order (or reversed) from `range.from`. */
  *entries(range: ScanRange = {}): Generator<[Buffer, Buffer]> {
    this.checkOpen();
    for (const k of this.keydir.keys(this.toKeyRange(range))) {
      const key = keyFromString(k);
      // A full walk would only flush the hot values out of the cache.
      const value = this.readSlot(this.keydir.slot(key), false);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Calls `fn` with every live key and value in byte order and returns the final accumulator. */
  fold<A>(fn: (acc: A, key: Buffer, value: Buffer) => A, initial: A): A {
    let acc = initial;
    for (const [k, v] of this.entries()) acc = fn(acc, k, v);
    return acc;
  }

  /** Hands buffered writes to the OS now (no fsync). */
  flush(): void {
    this.checkOpen();
    this.active?.file.flush();
  }

  /**
   * Resolves once every write made before the call is on stable storage. Calls made in
   * the same event-loop turn as writes share one fsync at the end of that turn, and calls
   * made while an fsync runs share the next one (group commit). Rejects with the I/O error.
   */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const target = this.appended;
    // Already durable (a rotation fsyncs at once) — but an fsync started before may still run
    // on a sealed file's descriptor: a merge must not close that file under it.
    if (this.durable >= target) return this.syncInFlight ?? Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      // Writes of this turn are still coming: the turn-end fsync covers them all at once.
      if (!this.turnScheduled) this.kickSync();
    });
  }

  /** Seals the active file (fsync, hint file) and starts a new one. A no-op when it is empty. */
  rotate(): void {
    this.checkWritable();
    const active = this.active!;
    if (active.file.size === 0) return;
    active.file.syncNow();
    this.finishActiveHint();
    active.file.seal();
    this.durable = this.appended;
    this.openNewActive({ major: active.file.id.major + 1, minor: 0 });
    this.durableSize = 0;
    this.releaseWaiters();
  }

  /**
   * Compacts every immutable file into new data and hint files holding only live
   * records, while reads and writes go on. Crash-safe at every step: see `merge.ts`.
   */
  async merge(opts: MergeOptions = {}): Promise<MergeResult> {
    this.checkWritable();
    if (this.closeRequested) throw closedError();
    if (this.merging) throw new BitraftError('BUSY', 'a merge is already running');
    const run = runMerge(this, opts).finally(() => {
      this.merging = undefined;
    });
    this.merging = run;
    return run;
  }

  /**
   * A point-in-time view of the store: every key live now with its value now, readable
   * in batches while writes, rotations and merges go on (see `StoreView`). Costs a copy
   * of the keydir's file and offset arrays (8 bytes a slot), not of the keys. While a
   * view is open, a merge keeps its input files until the views opened before its switch
   * are closed, and so does a replace with the old files: close views when done.
   */
  openView(): StoreView {
    this.checkOpen();
    if (this.closeRequested) throw closedError();
    const expiring = [...this.keydir.expiring()].map(([slot, expiresAt]) => ({ key: this.keydir.keyOf(slot), expiresAt }));
    const view = new StoreView(
      this.keydir.snapshotLocations(),
      this.files.map((slot) => slot?.file),
      (v) => this.views.delete(v),
      expiring,
    );
    this.views.add(view);
    return view;
  }

  /**
   * Replaces the whole contents of the store with the records of `batches` (for a Raft
   * follower installing a snapshot): no key survives that the input lacks; of duplicate
   * keys the last wins. Resolves with the number of live keys once the new contents are
   * durable and the old files are gone. A crash at any point leaves the complete old or
   * the complete new contents (see `replace.ts`).
   *
   * A key or value over the limits rejects with `LimitError`, an I/O error or a failing
   * input with that error, a close during the writing with `CLOSED`: the old contents
   * then stand. Waits for a running merge first. Reads see the old contents until the
   * switch; `put`, `delete`, `rotate` and `merge` throw `BUSY` until then, and a second
   * replace throws `BUSY` until the first resolves. Views opened before the switch keep
   * reading the old contents: the replace resolves only once they are closed (the old
   * files are deleted then). The caller should write nothing that the replace should
   * keep: it is replaced.
   */
  async replaceAll(batches: AsyncIterable<ReplaceRecord[]>, opts: ReplaceOptions = {}): Promise<number> {
    this.checkWritable();
    if (this.closeRequested) throw closedError();
    if (this.replacing) throw new BitraftError('BUSY', 'a replace is already running');
    this.writeBlock = { code: 'BUSY', message: 'the store is being replaced' };
    const run = (async () => {
      if (this.merging) await this.merging.catch(() => undefined);
      if (this.closeRequested) throw closedError();
      return runReplace(this, batches, opts);
    })();
    this.replacing = run;
    try {
      return await run;
    } finally {
      this.replacing = undefined;
      if (this.writeBlock?.code === 'BUSY') this.writeBlock = undefined;
    }
  }

  /** Counters over the files and keys. */
  stats(): StoreStats {
    let dataFiles = 0;
    let dataBytes = 0;
    let liveBytes = 0;
    let reclaimableBytes = 0;
    for (const slot of this.files) {
      if (!slot) continue;
      dataFiles++;
      dataBytes += slot.file.size;
      liveBytes += slot.liveBytes;
      if (slot !== this.active) reclaimableBytes += slot.file.size - slot.liveBytes;
    }
    return {
      dataFiles,
      dataBytes,
      liveKeys: this.keydir.size,
      liveBytes,
      deadBytes: dataBytes - liveBytes,
      reclaimableBytes,
      cachedValues: this.cache.size,
      cacheBytes: this.cache.bytes,
    };
  }

  /**
   * Flushes, fsyncs, writes the active file's hint, closes every file and releases the
   * lock. Closes the open views (their walks fail with `CLOSED`), then waits for a
   * running merge or replace to stop (a replace still reading its input stops after the
   * batch it waits for). Syncs waiting for writes that the final fsync covers resolve.
   * Idempotent: every call settles once the store is closed, with the outcome of the
   * first.
   */
  close(): Promise<void> {
    this.closeDone ??= this.closeOnce();
    return this.closeDone;
  }

  // ---- internals shared with merge.ts ----

  /** @internal The ordinal of the active file, which merges never touch. */
  get activeFileOrdinal(): number {
    return this.activeOrdinal;
  }

  /** @internal Whether close was requested; a running merge stops at its next step. */
  get closing(): boolean {
    return this.closeRequested;
  }

  /** @internal Id of the active file (a writable store always has one). */
  get activeFileId(): FileId {
    return this.active!.file.id;
  }

  /** @internal Resolves once every view open now is closed. */
  whenViewsClosed(): Promise<void> {
    return Promise.all([...this.views].map((v) => v.closed)).then(() => undefined);
  }

  /**
   * @internal Switches to the contents a replace wrote (its last file is the new active
   * one) and accepts writes again. Syncs waiting on old writes resolve: the new contents
   * are durable.
   */
  adoptReplacement(r: Replacement): Adopted {
    const oldFiles = this.files.filter((slot): slot is FileSlot => slot !== undefined).map((slot) => slot.file);
    const oldHint = this.activeHint;
    const idle = Promise.all([this.whenViewsClosed(), this.syncInFlight]).then(() => undefined);
    this.files.length = 0;
    this.files.push(...r.files);
    this.keydir = r.keydir;
    this.cache.clear();
    this.activeOrdinal = this.files.length - 1;
    this.active = this.files[this.activeOrdinal];
    this.activeHint = undefined;
    this.startActiveHint(this.active!.file.id);
    this.durable = this.appended;
    this.durableSize = this.active!.file.size;
    this.releaseWaiters();
    this.writeBlock = undefined;
    const closeOld = (): void => {
      try {
        // The old active file's unfinished hint goes with it.
        oldHint?.abort();
      } catch (err) {
        this.options.logger.warn(`removing the hint of a replaced file failed: ${String(err)}`);
      }
      for (const file of oldFiles) this.closeQuietly(file);
    };
    return { idle, closeOld };
  }

  /** @internal A failed replace could not remove its files: writes fail until the store is reopened. */
  refuseWrites(cause: unknown): void {
    this.writeBlock = { code: 'IO', message: `a failed replace could not remove its files (${String(cause)}); reopen the store`, cause };
  }

  /** @internal Adds a file to the table and returns its ordinal. */
  addFile(file: DataFile): number {
    this.files.push({ file, liveBytes: 0, liveKeys: 0 });
    return this.files.length - 1;
  }

  /** @internal Removes a key's bytes from the live counters of the file holding it. */
  forget(slot: number): void {
    const f = this.files[this.keydir.fileOf(slot)]!;
    f.liveBytes -= this.keydir.sizeOf(slot);
    f.liveKeys--;
  }

  // ---- private ----

  private async closeOnce(): Promise<void> {
    this.closeRequested = true;
    for (const view of [...this.views]) view.closeWith(closedError());
    if (this.merging) await this.merging.catch(() => undefined);
    if (this.replacing) await this.replacing.catch(() => undefined);
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncInFlight?.catch(() => undefined);
    let failure: unknown;
    try {
      if (this.active && !this.options.readOnly) {
        this.active.file.syncNow();
        this.finishActiveHint();
        this.durable = this.appended;
        this.durableSize = this.active.file.size;
      }
    } catch (err) {
      failure = err;
    }
    this.releaseWaiters();
    this.releaseWaiters(failure ?? closedError());
    this.closeFiles();
    this.lock?.release();
    if (failure) throw failure;
  }

  private readSlot(slot: number, fill: boolean): Buffer | undefined {
    if (slot < 0) return undefined;
    const cached = this.cache.get(slot);
    if (cached !== undefined) return cached;
    const f = this.files[this.keydir.fileOf(slot)]!.file;
    const offset = this.keydir.offsetOf(slot);
    const raw = f.read(offset, this.keydir.sizeOf(slot));
    const rec = decodeRecord(raw, 0);
    if (rec.kind !== 'ok') throw new CorruptionError(f.path, offset, rec.kind === 'corrupt' ? rec.reason : 'record cut short');
    const value = raw.subarray(rec.valueStart, rec.end);
    if (fill) this.cache.set(slot, value);
    return value;
  }

  private append(key: Uint8Array, value: Uint8Array, tombstone: boolean, size: number, expiresAt = 0): number {
    let active = this.active!;
    if (active.file.size > 0 && active.file.size + size > this.options.maxFileSize) {
      this.rotate();
      active = this.active!;
    }
    const tstamp = Math.floor(this.options.clock.now() / 1000);
    const offset = active.file.appendRecord(key, value, tombstone, tstamp, expiresAt);
    this.appended += size;
    this.addToActiveHint(tombstone, tstamp, key, offset, size, expiresAt);
    this.scheduleTurnEnd();
    return offset;
  }

  private scheduleTurnEnd(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      if (this.closed) return;
      if (this.options.sync === 'always' || this.waiters.length > 0) {
        this.kickSync();
        return;
      }
      try {
        this.active?.file.flush();
      } catch (err) {
        this.options.logger.warn(`write failed, will retry: ${String(err)}`);
      }
    });
  }

  private kickSync(): void {
    if (this.syncInFlight || this.closed) return;
    const target = this.appended;
    if (this.durable >= target) {
      this.releaseWaiters();
      return;
    }
    const file = this.active!.file;
    try {
      file.flush();
    } catch (err) {
      this.releaseWaiters(err);
      return;
    }
    const size = file.size;
    const started = performance.now();
    this.syncInFlight = new Promise<void>((done) => {
      fs.fdatasync(file.fd, (err) => {
        this.syncInFlight = undefined;
        done();
        if (err) {
          this.releaseWaiters(err);
          return;
        }
        this.options.onSync((performance.now() - started) / 1000);
        this.durable = Math.max(this.durable, target);
        // A rotation or replace meanwhile made another file the active one, durably.
        if (this.active?.file === file) this.durableSize = Math.max(this.durableSize, size);
        this.releaseWaiters();
        if (this.waiters.length > 0) this.kickSync();
      });
    });
  }

  /** Resolves waiters covered by `durable`; with `err`, rejects every waiter instead. */
  private releaseWaiters(err?: unknown): void {
    if (this.waiters.length === 0) return;
    const still: SyncWaiter[] = [];
    for (const w of this.waiters) {
      if (err !== undefined) w.reject(err);
      else if (w.target <= this.durable) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.options.readOnly) throw new BitraftError('INVALID_ARGUMENT', `${this.dir} is open read-only`);
    const block = this.writeBlock;
    if (block) throw new BitraftError(block.code, block.message, { cause: block.cause });
  }

  private toKeyRange(range: ScanRange): { from?: KeyString; inclusive?: boolean; reverse?: boolean } {
    return {
      from: range.from === undefined ? undefined : keyToString(range.from),
      inclusive: range.inclusive,
      reverse: range.reverse,
    };
  }

  private load(): void {
    // An interrupted replace: a writable open finishes it; a read-only one reads what it left standing.
    const marker = readReplaceMarker(this.dir);
    if (marker && !this.options.readOnly) settleReplaceMarker(this.dir, marker);
    if (this.options.rollBackTo && !marker && !this.options.readOnly) rollBackTo(this.dir, this.options.rollBackTo, this.options.logger);
    const names = fs.readdirSync(this.dir);
    const ids = names
      .map(parseDataFileName)
      .filter((id): id is FileId => id !== undefined && (!marker || markerKeeps(marker, id)))
      .sort(compareFileIds);
    if (!this.options.readOnly) {
      // Unfinished writes of a crashed process, and hints whose data file a merge removed.
      const hints = new Set(ids.map(hintFileName));
      for (const name of names) {
        if (name.endsWith(TEMP_SUFFIX) || (name.endsWith('.hint') && !hints.has(name))) fs.rmSync(path.join(this.dir, name), { force: true });
      }
    }
    ids.forEach((id, i) => {
      const last = i === ids.length - 1;
      if (last && id.minor === 0 && !this.options.readOnly) this.loadActive(id);
      else this.loadFile(DataFile.openReadOnly(id, path.join(this.dir, dataFileName(id))), last);
    });
    if (!this.active && !this.options.readOnly) {
      const lastId = ids.at(-1);
      this.openNewActive({ major: (lastId?.major ?? 0) + 1, minor: 0 });
      this.report = { file: this.active!.file.path, size: 0, kept: 0 };
    }
  }

  /**
   * Loads a sealed file (or, read-only, any file) from its hint or by scanning. Damage
   * raises `CorruptionError`; with `tolerateTail` (a read-only open's newest file, which
   * a running writer may be appending to) a torn last record is only reported.
   */
  private loadFile(file: DataFile, tolerateTail: boolean): void {
    const ordinal = this.addFile(file);
    const hint = this.readHint(ordinal);
    if (hint && 'state' in hint) {
      this.applyHint(ordinal, hint.data, hint.state);
      return;
    }
    const seen: SeenRecords | undefined = hint && { offsets: [], sizes: [] };
    const scanned = this.scanInto(ordinal, seen).problem;
    const longer = hint && hintListsRecords(hint.data, seen!) ? hint.describes : undefined;
    const problem = scanned ?? (longer === undefined ? undefined : shorterThanHint(file.size, longer));
    if (!problem) return;
    this.refuseMidFileDamage(file, problem);
    // A file shorter than its intact hint was durable at that length: never a torn write.
    if (!tolerateTail || longer !== undefined) throw new CorruptionError(file.path, problem.offset, problem.reason);
    this.options.logger.warn(`ignoring ${file.size - problem.offset} bytes after offset ${problem.offset} of ${file.path}: ${problem.reason}`);
  }

  /** Throws `CorruptionError` when a record that fails its checksum is followed by a valid one: damage, not a torn write. */
  private refuseMidFileDamage(file: DataFile, problem: ScanProblem): void {
    if (problem.kind !== 'corrupt') return;
    const next = findValidRecord(file.fd, problem.offset, file.size);
    if (next !== undefined) throw new CorruptionError(file.path, problem.offset, `${problem.reason}, followed by a valid record at offset ${next}`);
  }

  /**
   * Loads the newest file and reopens it for appends, cutting a torn last record (one cut
   * short, or failing its checksum with no valid record after it) and recording what it
   * found in `openReport`; a bad record followed by valid ones raises `CorruptionError`
   * before anything changes. Appends would make its hint stale, so the hint becomes the
   * active file's unfinished one: an intact hint (the file was closed cleanly) is moved
   * aside and extended, else a new one is built while scanning. Ends with an fsync of the
   * file, so that everything kept is durable (see `durablePosition`).
   */
  private loadActive(id: FileId): void {
    const filePath = path.join(this.dir, dataFileName(id));
    const probe = DataFile.openReadOnly(id, filePath);
    const ordinal = this.addFile(probe);
    const hint = this.readHint(ordinal);
    let problem: ScanProblem | undefined;
    let longer: number | undefined;
    if (hint && 'state' in hint) {
      this.applyHint(ordinal, hint.data, hint.state);
      this.startActiveHint(id, hint.state);
    } else {
      this.startActiveHint(id);
      const seen: SeenRecords | undefined = hint && { offsets: [], sizes: [] };
      problem = scanRecords(probe.fd, probe.size, ({ offset, record, buf }) => {
        this.applyRecord(ordinal, buf, record.keyStart, record.keyEnd, offset, record.size, record.tombstone, record.expiresAt);
        this.addToActiveHint(record.tombstone, record.tstamp, buf.subarray(record.keyStart, record.keyEnd), offset, record.size, record.expiresAt);
        seen?.offsets.push(offset);
        seen?.sizes.push(record.size);
      }).problem;
      if (problem) this.refuseMidFileDamage(probe, problem);
      if (hint && hintListsRecords(hint.data, seen!)) longer = hint.describes;
    }
    probe.close();
    if (problem) this.cutTail(filePath, probe.size, problem);
    const kept = problem ? problem.offset : probe.size;
    this.report = {
      file: filePath,
      size: probe.size,
      kept,
      ...(problem && { cut: { kind: problem.kind === 'corrupt' ? 'corrupt' : 'torn', reason: problem.reason } }),
      ...(longer !== undefined && { hinted: longer }),
    };
    const slot = this.files[ordinal]!;
    slot.file = DataFile.openAppendable(id, filePath, kept);
    this.active = slot;
    this.activeOrdinal = ordinal;
    fs.rmSync(path.join(this.dir, hintFileName(id)), { force: true });
    fs.fdatasyncSync(slot.file.fd);
    this.durableSize = kept;
  }

  private cutTail(filePath: string, size: number, problem: ScanProblem): void {
    const lost = size - problem.offset;
    if (problem.kind === 'corrupt') {
      const aside = `${filePath}.${problem.offset}.corrupt`;
      const bytes = Buffer.allocUnsafe(lost);
      const fd = fs.openSync(filePath, 'r');
      try {
        readFully(fd, bytes, lost, problem.offset);
      } finally {
        fs.closeSync(fd);
      }
      // The cut bytes may hold acknowledged writes after the bad record: they must be on
      // disk, under their name, before the cut that drops them from the data file.
      const out = fs.openSync(aside, 'w', 0o644);
      try {
        writeFully(out, bytes, lost, 0);
        fs.fsyncSync(out);
      } finally {
        fs.closeSync(out);
      }
      fsyncDir(this.dir);
      this.options.logger.warn(
        `cut ${lost} bytes from ${filePath} at offset ${problem.offset} (${problem.reason}); they are kept in ${aside}`,
      );
    } else {
      this.options.logger.warn(`cut torn tail of ${filePath}: ${lost} bytes at offset ${problem.offset} (${problem.reason})`);
    }
  }

  /** Applies every entry of the intact hint `data` of file `ordinal`. */
  private applyHint(ordinal: number, data: Buffer, state: HintState): void {
    // Size the keydir once for the file's keys: exact for a store's only file, and never
    // more than the keys this file alone holds (entries that are updates or tombstones).
    this.keydir.reserve(Math.max(this.keydir.size, state.count), state.keyBytes);
    forEachHintRaw(data, (tombstone, _tstamp, keyStart, keyEnd, offset, size, expiresAt) =>
      this.applyRecord(ordinal, data, keyStart, keyEnd, offset, size, tombstone, expiresAt),
    );
  }

  /**
   * The hint of a file when it exists and is intact. A damaged or stale one is reported
   * and ignored — but when it is intact and describes a longer file, it is returned with
   * that size (`describes`): if it lists the records the file holds (`hintListsRecords`),
   * the file was that long when it was sealed or closed cleanly.
   */
  private readHint(ordinal: number): { data: Buffer; state: HintState } | { data: Buffer; describes: number } | undefined {
    const file = this.files[ordinal]!.file;
    const hintPath = path.join(this.dir, hintFileName(file.id));
    const data = readIfExists(hintPath);
    if (!data) return undefined;
    const checked = checkHint(data, file.size);
    if (typeof checked !== 'string') return { data, state: checked };
    this.options.logger.warn(`ignoring hint ${hintPath}: ${checked}; scanning ${path.basename(file.path)} instead`);
    const describes = describedSize(data);
    return describes > file.size ? { data, describes } : undefined;
  }

  /** Loads file `ordinal` by scanning it, noting where each record lies in `seen` when given. */
  private scanInto(ordinal: number, seen?: SeenRecords): { problem?: ScanProblem } {
    const file = this.files[ordinal]!.file;
    return scanRecords(file.fd, file.size, ({ offset, record, buf }) => {
      this.applyRecord(ordinal, buf, record.keyStart, record.keyEnd, offset, record.size, record.tombstone, record.expiresAt);
      seen?.offsets.push(offset);
      seen?.sizes.push(record.size);
    });
  }

  /** Applies one record, whose key is `buf[keyStart..keyEnd)`, of the file being loaded to the keydir. */
  private applyRecord(ordinal: number, buf: Buffer, keyStart: number, keyEnd: number, offset: number, size: number, tombstone: boolean, expiresAt: number): void {
    let slot = this.keydir.slot(buf, keyStart, keyEnd);
    if (slot >= 0) this.forget(slot);
    if (tombstone) {
      if (slot >= 0) this.keydir.delete(buf, keyStart, keyEnd);
      return;
    }
    if (slot >= 0) this.keydir.update(slot, ordinal, offset, size);
    else slot = this.keydir.insert(buf, keyStart, keyEnd, ordinal, offset, size);
    this.keydir.setExpiry(slot, expiresAt);
    const f = this.files[ordinal]!;
    f.liveBytes += size;
    f.liveKeys++;
  }

  /** Adds a hint entry for the active file; a failure drops the hint, never the write. */
  private addToActiveHint(tombstone: boolean, tstamp: number, key: Uint8Array, offset: number, size: number, expiresAt: number): void {
    if (!this.activeHint) return;
    try {
      this.activeHint.add(tombstone, tstamp, key, offset, size, expiresAt);
    } catch (err) {
      this.dropActiveHint(err);
    }
  }

  private openNewActive(id: FileId): void {
    const file = DataFile.openAppendable(id, path.join(this.dir, dataFileName(id)));
    fsyncDir(this.dir);
    const ordinal = this.addFile(file);
    this.active = this.files[ordinal];
    this.activeOrdinal = ordinal;
    this.startActiveHint(id);
  }

  /** Starts the active file's hint: a new one, or with `resume` the file's intact hint, extended. */
  private startActiveHint(id: FileId, resume?: HintState): void {
    try {
      this.activeHint = new HintWriter(path.join(this.dir, hintFileName(id)), resume);
    } catch (err) {
      this.dropActiveHint(err);
    }
  }

  private finishActiveHint(): void {
    const hint = this.activeHint;
    if (!hint) return;
    this.activeHint = undefined;
    try {
      hint.finish(this.active!.file.size);
    } catch (err) {
      this.options.logger.warn(`could not write hint ${hint.path}: ${String(err)}`);
      // No abort: finish may have closed the descriptor already, and closing it again could
      // close a file opened since under the same number. Only the unfinished file goes.
      try {
        fs.rmSync(hint.path + TEMP_SUFFIX, { force: true });
      } catch {
        // Removed at the next open.
      }
    }
  }

  private dropActiveHint(err: unknown): void {
    const hint = this.activeHint;
    this.activeHint = undefined;
    this.options.logger.warn(`no hint for ${this.active ? fileBaseName(this.active.file.id) : 'the active file'}: ${String(err)}`);
    try {
      hint?.abort();
    } catch {
      // Already reported; the data file itself is intact.
    }
  }

  private closeFiles(): void {
    for (const slot of this.files) if (slot) this.closeQuietly(slot.file);
    this.activeHint?.abort();
    this.activeHint = undefined;
  }

  private closeQuietly(file: DataFile): void {
    try {
      file.close();
    } catch (err) {
      this.options.logger.warn(`closing ${file.path} failed: ${String(err)}`);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The data file size that the hint `data` describes if the hint is intact apart from
 * that size, else -1. (A hint ends with that size and its CRC, 4 bytes each.)
 */
function describedSize(data: Buffer): number {
  if (data.length < 8) return -1;
  const size = data.readUInt32LE(data.length - 8);
  return typeof checkHint(data, size) === 'string' ? -1 : size;
}

/** Where the records a scan read lie: `offsets[i]` and `sizes[i]` of the i-th. */
interface SeenRecords {
  offsets: number[];
  sizes: number[];
}

/**
 * Whether the intact hint `data` lists exactly the records `seen` first, in order (and
 * possibly more): it is the hint of that file, not one of another file.
 */
function hintListsRecords(data: Buffer, seen: SeenRecords): boolean {
  let i = 0;
  let same = true;
  forEachHintRaw(data, (_tombstone, _tstamp, _keyStart, _keyEnd, offset, size) => {
    if (i < seen.offsets.length) same &&= seen.offsets[i] === offset && seen.sizes[i] === size;
    i++;
  });
  return same && i >= seen.offsets.length;
}

/** The problem of a file with fewer bytes than its intact hint describes. */
function shorterThanHint(size: number, describes: number): ScanProblem {
  return { offset: size, kind: 'incomplete', reason: `the file ends at offset ${size}, but its intact hint describes ${describes} bytes` };
}

function closedError(): BitraftError {
  return new BitraftError('CLOSED', 'the store is closed');
}
