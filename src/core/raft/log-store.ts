/**
 * The durable `LogStorage`: an append-only, CRC-checked log file plus a small state file,
 * both in one directory.
 *
 * - `log`: records `[u32 LE length of the rest][u32 LE CRC-32 of the rest][u64 LE index]
 *   [u64 LE term][u8 type: 0 command, 1 noop, 2 config][data]`, with contiguous indexes
 *   and non-decreasing terms, both at most 2^53 − 1. It may begin with entries the
 *   snapshot already covers (left by a crash in the middle of a compaction); they are
 *   skipped when opened.
 * - `state`: `{"crc":…,"state":{"hardState":…,"conf":…,"snapshot":…}}`, the CRC-32 being
 *   of the JSON text of `state`. Replaced atomically: temp file, fsync, rename, dir fsync.
 *
 * Only the file offset and term of each live entry is kept in memory; `entries()` reads
 * the data back with positional reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../support/crc32.js';
import { fsyncDir, mkdirDurable } from '../support/fs-durable.js';
import { BitraftError, CorruptionError } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';
import { bootstrapEntries } from './conf-change.js';
import { EMPTY_CONF, EMPTY_HARD_STATE, LogRangeError, limitSize, type LogStorage } from './storage.js';
import type { ConfState, Entry, EntryType, HardState, NodeId, SnapshotMeta } from './types.js';

/** The log file's name in the store's directory. */
export const LOG_FILE = 'log';
/** The state file's name (hard state, membership, snapshot meta). */
export const STATE_FILE = 'state';
/** Suffix of the files being written before they are renamed into place. */
export const TMP_SUFFIX = '.tmp';

/** Bytes of a record before the checksummed part: length and CRC. */
const HEADER = 8;
/** Bytes of the checksummed part before the data: index, term, type. */
const FIXED = 17;
/** Bytes of a record that carries no data. */
export const RECORD_OVERHEAD = HEADER + FIXED;
/** How much the decoder and compaction read at a time. */
const CHUNK = 1 << 20;

const TYPES: readonly EntryType[] = ['command', 'noop', 'config'];
const TYPE_CODES: Record<EntryType, number> = { command: 0, noop: 1, config: 2 };

/** One record decoded from a log file. `data` is only valid during the `scanLog` callback that receives it. */
export interface LogRecord {
  /** Where the record starts in the file. */
  readonly offset: number;
  /** The record's size in bytes, header included. */
  readonly size: number;
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What `scanLog` found. */
export interface LogScan {
  /** Bytes of the file (or buffer) scanned. */
  readonly size: number;
  /** Where the valid records end. */
  readonly end: number;
  /** A torn or corrupt last record, starting at `end`, which a store cuts off on open. */
  readonly torn: { readonly offset: number; readonly reason: string } | undefined;
}

/** Encodes `entries` as consecutive log records. */
export function encodeRecords(entries: readonly Entry[]): Buffer {
  let total = 0;
  for (const e of entries) total += RECORD_OVERHEAD + e.data.length;
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const e of entries) {
    const rest = FIXED + e.data.length;
    buf.writeUInt32LE(rest, pos);
    buf.writeBigUInt64LE(BigInt(e.index), pos + 8);
    buf.writeBigUInt64LE(BigInt(e.term), pos + 16);
    buf[pos + 24] = TYPE_CODES[e.type];
    buf.set(e.data, pos + RECORD_OVERHEAD);
    buf.writeUInt32LE(crc32(buf.subarray(pos + HEADER, pos + HEADER + rest)), pos + 4);
    pos += HEADER + rest;
  }
  return buf;
}

/**
 * Decodes the records of a Raft log — an open file descriptor (read in chunks, never whole)
 * or a buffer — calling `visit` for each valid one in order. Read-only, so `inspect-log`
 * can run it on the log of a live node.
 *
 * It stops at the first record that is incomplete or fails its checksum (a bad record).
 * When the log goes on after it — a valid record that continues the log follows, under
 * the rule of `laterRecord` — that is corruption: it throws `CorruptionError` naming `file`
 * and the bad record's offset. Otherwise it is a torn tail (a write cut short by a
 * crash): it is reported in `torn` and `end` is where it starts. A valid record whose
 * index is not the previous one's plus one, whose term is lower than the previous one's,
 * or whose index or term is above 2^53 − 1 (`Number.MAX_SAFE_INTEGER`) is corruption too.
 *
 * Its cost is linear in the size of the file, whatever the file holds (see `laterRecord`).
 */
export function scanLog(source: number | Uint8Array, file: string, visit: (rec: LogRecord) => void = () => {}): LogScan {
  const src = reader(source);
  const { read, size } = src;
  let pos = 0;
  let count = 0;
  let prevIndex = 0;
  let prevTerm = 0;
  while (pos < size) {
    const rec = recordAt(read, pos, size);
    if (typeof rec === 'string') {
      const later = laterRecord(src, pos, count > 0 ? { index: prevIndex, term: prevTerm } : undefined);
      if (later === 'none') return { size, end: pos, torn: { offset: pos, reason: rec } };
      if (later === 'unchecked') throw new CorruptionError(file, pos, `${rec}, followed by more records claiming to continue the log than can be checked`);
      throw new CorruptionError(file, pos, `${rec}, followed by valid records (index ${later.index} at offset ${later.offset})`);
    }
    if (rec.index === UNSAFE || rec.term === UNSAFE) throw new CorruptionError(file, pos, 'index or term above 2^53 - 1');
    if (count > 0 && rec.index !== prevIndex + 1) throw new CorruptionError(file, pos, `index ${rec.index} follows index ${prevIndex}`);
    if (rec.term < prevTerm) throw new CorruptionError(file, pos, `term ${rec.term} follows term ${prevTerm}`);
    visit(rec);
    count++;
    prevIndex = rec.index;
    prevTerm = rec.term;
    pos += rec.size;
  }
  return { size, end: pos, torn: undefined };
}

/** The index and term of a valid record. */
interface LogPosition {
  readonly index: number;
  readonly term: number;
}

/** Reads `len` bytes at `pos`; callers never read beyond the end. */
type ReadAt = (pos: number, len: number) => Uint8Array;

/** A log to decode: positional reads, and checksums of byte ranges. */
interface Source {
  readonly size: number;
  readonly read: ReadAt;
  /** CRC-32 of the `len` bytes at `pos`, read apart from `read`'s window (so it stays where it was). */
  readonly crcAt: (pos: number, len: number) => number;
}

function reader(source: number | Uint8Array): Source {
  if (typeof source !== 'number') {
    return { size: source.length, read: (pos, len) => source.subarray(pos, pos + len), crcAt: (pos, len) => crc32(source.subarray(pos, pos + len)) };
  }
  const size = fs.fstatSync(source).size;
  let window = Buffer.alloc(0);
  let start = 0;
  const read: ReadAt = (pos, len) => {
    if (pos < start || pos + len > start + window.length) {
      window = Buffer.allocUnsafe(Math.min(Math.max(len, CHUNK), size - pos));
      readFully(source, window, pos);
      start = pos;
    }
    return window.subarray(pos - start, pos - start + len);
  };
  let scratch: Buffer | undefined;
  const crcAt = (pos: number, len: number): number => {
    scratch ??= Buffer.allocUnsafe(Math.min(CHUNK, size));
    let crc = 0;
    for (let at = pos; at < pos + len; at += scratch.length) {
      const piece = scratch.subarray(0, Math.min(scratch.length, pos + len - at));
      readFully(source, piece, at);
      crc = crc32(piece, crc);
    }
    return crc;
  };
  return { size, read, crcAt };
}

/** Fills `buf` from `pos` of `fd`; a short read means the file changed under us. */
function readFully(fd: number, buf: Buffer, pos: number): void {
  const n = fs.readSync(fd, buf, 0, buf.length, pos);
  if (n !== buf.length) throw new BitraftError('IO', `short read of the raft log at offset ${pos}: ${n} of ${buf.length} bytes`);
}

const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** What `u64` gives for a value above 2^53 − 1, which a double cannot hold exactly. */
const UNSAFE = -1;
/** The u64 LE at `o`, or `UNSAFE` when it is above `Number.MAX_SAFE_INTEGER` (its high word above 2^21 − 1). */
function u64(b: Uint8Array, o: number): number {
  const high = u32(b, o + 4);
  return high > 0x1f_ffff ? UNSAFE : high * 2 ** 32 + u32(b, o);
}

/**
 * The record at `pos`, or why there is none. Its index or term is `UNSAFE` when above
 * 2^53 − 1: the caller refuses it.
 */
function recordAt(read: ReadAt, pos: number, size: number): LogRecord | string {
  if (size - pos < RECORD_OVERHEAD) return 'incomplete header';
  const head = read(pos, HEADER);
  const len = u32(head, 0);
  const crc = u32(head, 4);
  if (len < FIXED) return `impossible length ${len}`;
  if (len > size - pos - HEADER) return 'incomplete record';
  const body = read(pos + HEADER, len);
  if (crc32(body) !== crc) return 'checksum mismatch';
  const type = TYPES[body[16]!];
  if (type === undefined) return `unknown entry type ${body[16]}`;
  return { offset: pos, size: HEADER + len, index: u64(body, 0), term: u64(body, 8), type, data: body.subarray(FIXED) };
}

/**
 * Checksum bytes `laterRecord` may compute, per byte of the file from the bad record on.
 * A record that continues the log is shorter than the bytes from the bad record on, so it
 * is still checked after impostors that took up to half of the budget.
 */
const SEARCH_BUDGET = 2;

/**
 * Whether the log goes on after the bad record at `pos`, which follows the valid record
 * `prev` (undefined when the bad record is the file's first): the first valid record
 * after `pos` that may continue the log, `'none'`, or `'unchecked'` when the candidates
 * would take more checksumming than the budget allows.
 *
 * The rule. The file is written as a concatenation of records with contiguous indexes:
 * appends only ever go at its end, and a conflicting suffix is cut durably before it is
 * replaced. Damage (a torn write, a bad sector) changes bytes in place. So if the log goes
 * on, the bytes from `pos` to the next intact record R held records
 * `prev.index + 1 … R.index − 1` — at least one (the bad one), each at least
 * `RECORD_OVERHEAD` bytes — and therefore
 *
 *     prev.index + 2 ≤ R.index ≤ prev.index + 1 + ⌊(R.offset − pos) / RECORD_OVERHEAD⌋,
 *     R.term ≥ prev.term,
 *
 * besides R being valid: a known type, index and term at most 2^53 − 1, a length that
 * fits in the file, a matching checksum. Only such a record makes the bad record
 * corruption; without one, no intact record of the log lies beyond it, and it is taken
 * for the torn tail of a write a crash cut short. A record that merely appears inside the data of
 * a torn entry (entry data is client-controlled) almost never has an index in that window,
 * so a torn entry holding one is still cut as a torn tail. When the bad record is the
 * file's first, no sequence is known and any valid record after it counts.
 *
 * Linear cost. Every offset after `pos` is looked at once, by its fixed-size header read
 * from one forward-moving window, and rejected by those cheap fields alone unless they
 * fit the rule. Only a header that fits has its body checksummed, and the checksummed
 * bytes are capped at `SEARCH_BUDGET` × the bytes from `pos` on: a candidate that would
 * exceed the cap ends the search as `'unchecked'`, which the caller treats as corruption
 * (refusing to open is the safe side; only bytes crafted to look like records that
 * continue this log can get there). So the bytes read and checksummed are O(file size).
 */
function laterRecord(src: Source, pos: number, prev: LogPosition | undefined): { offset: number; index: number } | 'none' | 'unchecked' {
  const { size } = src;
  let budget = SEARCH_BUDGET * (size - pos);
  // With a previous record, the window of indexes is empty before a whole record's size.
  let q = pos + (prev === undefined ? 1 : RECORD_OVERHEAD);
  while (q + RECORD_OVERHEAD <= size) {
    // A block of headers at a time; the next block begins with the last header that did not fit.
    const base = q;
    const block = src.read(base, Math.min(CHUNK, size - base));
    for (; q + RECORD_OVERHEAD <= base + block.length; q++) {
      const o = q - base;
      const len = u32(block, o);
      if (len < FIXED || len > size - q - HEADER || block[o + 24]! >= TYPES.length) continue;
      const index = u64(block, o + 8);
      const term = u64(block, o + 16);
      if (index === UNSAFE || term === UNSAFE) continue;
      if (prev !== undefined && (term < prev.term || index < prev.index + 2 || index > prev.index + 1 + Math.floor((q - pos) / RECORD_OVERHEAD))) continue;
      if (len > budget) return 'unchecked';
      budget -= len;
      if (src.crcAt(q + HEADER, len) === u32(block, o + 4)) return { offset: q, index };
    }
  }
  return 'none';
}

/** Writes all of `buf` at `pos`. */
function writeAll(fd: number, buf: Uint8Array, pos: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, pos + done);
}

/** What the state file holds. */
interface PersistedState {
  readonly hardState: HardState;
  readonly conf: ConfState;
  readonly snapshot: SnapshotMeta;
}

/**
 * The state file's contents, or undefined when there is none. Anything but what the store
 * writes — not JSON, a checksum that does not match, JSON nested deeper than the stack, a
 * field missing or of the wrong type (term, commit and indexes must be non-negative safe
 * integers, vote a string, voters and learners arrays of strings) — is a `CorruptionError`
 * naming `file`; an unreadable file is the I/O error. Members it does not know are
 * ignored: the state returned holds only the fields above.
 */
export function readStateFile(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CorruptionError(file, 0, 'not JSON');
  }
  const { crc, state } = Object(parsed) as { crc?: unknown; state?: unknown };
  let json: string | undefined;
  try {
    json = JSON.stringify(state) as string | undefined;
  } catch {
    // Only nesting deeper than the stack makes stringifying parsed JSON fail.
    throw new CorruptionError(file, 0, 'nested too deeply');
  }
  if (json === undefined || crc32(Buffer.from(json)) !== crc) throw new CorruptionError(file, 0, 'checksum mismatch');
  const valid = persistedState(state);
  if (typeof valid === 'string') throw new CorruptionError(file, 0, `malformed state: ${valid}`);
  return valid;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isIds = (v: unknown): v is string[] => Array.isArray(v) && v.every((id) => typeof id === 'string');

/** `v` as a `PersistedState` (a fresh copy of its known fields), or the first field that is wrong. */
function persistedState(v: unknown): PersistedState | string {
  if (!isObject(v)) return 'not an object';
  const { hardState: hs, conf, snapshot: snap } = v;
  if (!isObject(hs) || !isCount(hs.term) || typeof hs.vote !== 'string' || !isCount(hs.commit)) return 'hardState';
  const members = confState(conf);
  if (members === undefined) return 'conf';
  if (!isObject(snap) || !isCount(snap.index) || !isCount(snap.term)) return 'snapshot';
  const snapConf = confState(snap.conf);
  if (snapConf === undefined) return 'snapshot.conf';
  return { hardState: { term: hs.term, vote: hs.vote, commit: hs.commit }, conf: members, snapshot: { index: snap.index, term: snap.term, conf: snapConf } };
}

function confState(v: unknown): ConfState | undefined {
  return isObject(v) && isIds(v.voters) && isIds(v.learners) ? { voters: [...v.voters], learners: [...v.learners] } : undefined;
}

/** Atomically replaces the state file of `dir` with `json` (the JSON of a `PersistedState`). */
function writeStateFile(dir: string, json: string): void {
  const tmp = path.join(dir, STATE_FILE + TMP_SUFFIX);
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, Buffer.from(`{"crc":${crc32(Buffer.from(json))},"state":${json}}\n`), 0);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, STATE_FILE));
  fsyncDir(dir);
}

/** Options of `DiskLogStore.open`. */
export interface DiskLogStoreOptions {
  /** Where a cut torn tail is reported. */
  readonly logger?: Logger;
  /** Whether `sync()` fsyncs appended entries (default true); see `sync`. */
  readonly syncEntries?: boolean;
  /** How many recently appended entries are kept in memory to spare reading them back (default 8192). */
  readonly tailEntries?: number;
  /** Told of every fsync of appended entries by `sync`/`syncAsync` once it succeeded, with the seconds it took. */
  readonly onSync?: (seconds: number) => void;
}

/**
 * The durable `LogStorage`, with the same write methods as `MemoryStorage`.
 *
 * Durability: `append` writes entries to the file at once but does not flush them, and
 * `setHardState`/`setConf` only record the values. `sync()` makes all of it durable (log
 * first, then the state file, written only when term, vote, membership or snapshot changed: the commit index alone
 * is not worth a write). The caller must call `sync()`
 * before sending any message that depends on what it stored (Ready step 2).
 * `compact` and `applySnapshot` are durable when they return.
 *
 * An I/O error while writing leaves the files as a crash would: the store refuses further
 * writes (`IO`); reopening it recovers. Not safe for two processes at once (the caller
 * holds the directory's lock).
 */
export class DiskLogStore implements LogStorage {
  readonly dir: string;
  private readonly logPath: string;
  private readonly logger: Logger;
  private readonly syncEntries: boolean;
  private fd: number;
  /** Bytes in the log file. */
  private size = 0;
  /** File offset and term of each live entry: `[i]` is index `snap.index + 1 + i`. */
  private offsets = new Float64Array(16);
  private terms = new Float64Array(16);
  private count = 0;
  private hard: HardState = EMPTY_HARD_STATE;
  private conf: ConfState = EMPTY_CONF;
  private snap: SnapshotMeta = { index: 0, term: 0, conf: EMPTY_CONF };
  /** `stateKey()` as last written to the state file. */
  private persisted: string;
  /** Appended entries not yet flushed. */
  private dirty = false;
  /**
   * The most recently appended entries (contiguous, up to the last one; at most
   * `tailEntries`): a leader sends and applies what it just wrote, so those reads need
   * not go back to the file.
   */
  private tail: Entry[] = [];
  private readonly tailEntries: number;
  private readonly onSync: (seconds: number) => void;
  /** The I/O error that stopped writes. */
  private failure: unknown = undefined;

  private constructor(dir: string, fd: number, logger: Logger, state: PersistedState | undefined, options: DiskLogStoreOptions) {
    this.dir = dir;
    this.syncEntries = options.syncEntries ?? true;
    this.tailEntries = options.tailEntries ?? 8192;
    this.onSync = options.onSync ?? (() => {});
    this.logPath = path.join(dir, LOG_FILE);
    this.fd = fd;
    this.logger = logger;
    if (state !== undefined) {
      this.hard = state.hardState;
      this.conf = state.conf;
      this.snap = state.snapshot;
    }
    this.persisted = this.stateKey();
  }

  /**
   * Opens the store in `dir` (created if missing; a new store is empty, with no members).
   * Cuts a torn last record with a warning; throws `CorruptionError` for anything worse.
   */
  static open(dir: string, options: DiskLogStoreOptions = {}): DiskLogStore {
    mkdirDurable(dir);
    fs.rmSync(path.join(dir, LOG_FILE + TMP_SUFFIX), { force: true });
    fs.rmSync(path.join(dir, STATE_FILE + TMP_SUFFIX), { force: true });
    const state = readStateFile(path.join(dir, STATE_FILE));
    const logPath = path.join(dir, LOG_FILE);
    const created = !fs.existsSync(logPath);
    const fd = fs.openSync(logPath, fs.constants.O_RDWR | fs.constants.O_CREAT);
    try {
      // A new log's directory entry is durable before any entry in it is acknowledged.
      if (created) fsyncDir(dir);
      const store = new DiskLogStore(dir, fd, options.logger ?? silentLogger, state, options);
      store.load();
      return store;
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /**
   * Creates the store of a founding member of a new cluster of `voters` in `dir`, like
   * `MemoryStorage.bootstrap`, durably. Refuses a directory that already holds a log.
   */
  static bootstrap(dir: string, voters: readonly NodeId[], options: DiskLogStoreOptions = {}): DiskLogStore {
    const s = DiskLogStore.open(dir, options);
    if (s.lastIndex() !== 0 || s.hard.term !== 0) {
      s.close();
      throw new BitraftError('INVALID_ARGUMENT', `${dir} already holds a raft log`);
    }
    s.append(bootstrapEntries(voters));
    s.setHardState({ term: 1, vote: '', commit: voters.length });
    s.setConf({ voters: [...voters], learners: [] });
    s.sync(true);
    return s;
  }

  private load(): void {
    const snap = this.snap;
    let stale = false;
    const scan = scanLog(this.fd, this.logPath, (rec) => {
      if (rec.index === snap.index) stale = rec.term !== snap.term;
      if (rec.index <= snap.index || stale) return;
      if (this.count === 0 && rec.index !== snap.index + 1) {
        throw new CorruptionError(this.logPath, rec.offset, `log resumes at index ${rec.index}, after a snapshot at ${snap.index}`);
      }
      this.push(rec.offset, rec.term);
    });
    if (scan.torn !== undefined) {
      this.logger.warn(`raft log ${this.logPath}: cut ${scan.size - scan.end} bytes of a torn last record at offset ${scan.end} (${scan.torn.reason})`);
    }
    if (stale) this.logger.info(`raft log ${this.logPath}: dropped entries that an installed snapshot at index ${snap.index} replaced`);
    // A log with no live entry is emptied, so that appends stay contiguous.
    this.size = this.count === 0 ? 0 : scan.end;
    if (this.size < scan.size) {
      fs.ftruncateSync(this.fd, this.size);
      fs.fdatasyncSync(this.fd);
    }
  }

  private push(offset: number, term: number): void {
    if (this.count === this.offsets.length) {
      const offsets = new Float64Array(this.count * 2);
      const terms = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      terms.set(this.terms);
      this.offsets = offsets;
      this.terms = terms;
    }
    this.offsets[this.count] = offset;
    this.terms[this.count] = term;
    this.count++;
  }

  /** Where live entry `i` ends in the file. */
  private endOf(i: number): number {
    return i + 1 < this.count ? this.offsets[i + 1]! : this.size;
  }

  private stateJson(): string {
    return JSON.stringify({ hardState: this.hard, conf: this.conf, snapshot: this.snap } satisfies PersistedState);
  }

  /** Runs a write; an error stops every later write. */
  private io(fn: () => void): void {
    if (this.failure !== undefined) {
      throw new BitraftError('IO', `the raft log in ${this.dir} failed earlier; reopen it`, { cause: this.failure });
    }
    try {
      fn();
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  private saveState(): void {
    const key = this.stateKey();
    if (key === this.persisted) return;
    const json = this.stateJson();
    this.io(() => writeStateFile(this.dir, json));
    this.persisted = key;
  }

  /**
   * What must be durable: everything in the state file but the commit index. Raft's
   * commit index is volatile (a restarted node learns it again from the leader), so a
   * commit change alone costs no write; it is saved whenever the file is written anyway.
   */
  private stateKey(): string {
    return JSON.stringify([this.hard.term, this.hard.vote, this.conf, this.snap]);
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hard, conf: this.conf };
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.count;
  }

  /** Bytes the log file holds for the entries after `index` (all of them when `index` is compacted). */
  bytesAfter(index: number): number {
    const i = index - this.snap.index;
    if (i <= 0) return this.size;
    return i >= this.count ? 0 : this.size - this.offsets[i]!;
  }

  term(index: number): number {
    if (index < this.snap.index) throw new LogRangeError('COMPACTED', index);
    if (index > this.lastIndex()) throw new LogRangeError('UNAVAILABLE', index);
    return index === this.snap.index ? this.snap.term : this.terms[index - this.snap.index - 1]!;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.snap.index) throw new LogRangeError('COMPACTED', lo);
    if (hi > this.lastIndex() + 1) throw new LogRangeError('UNAVAILABLE', hi - 1);
    const first = lo - this.snap.index - 1;
    const end = hi - this.snap.index - 1;
    if (end <= first) return [];
    const tailFirst = this.tail.length > 0 ? this.tail[0]!.index : Number.POSITIVE_INFINITY;
    if (lo >= tailFirst) return limitSize(this.tail.slice(lo - tailFirst, hi - tailFirst), maxBytes);
    // The same cut as limitSize, from the record sizes alone.
    let last = first;
    let bytes = this.endOf(first) - this.offsets[first]! - RECORD_OVERHEAD;
    while (last + 1 < end) {
      bytes += this.endOf(last + 1) - this.offsets[last + 1]! - RECORD_OVERHEAD;
      if (bytes > maxBytes) break;
      last++;
    }
    const start = this.offsets[first]!;
    const buf = Buffer.allocUnsafe(this.endOf(last) - start);
    readFully(this.fd, buf, start);
    const out: Entry[] = [];
    for (let pos = 0; pos < buf.length; ) {
      const rec = recordAt((p, n) => buf.subarray(p, p + n), pos, buf.length);
      if (typeof rec === 'string') throw new CorruptionError(this.logPath, start + pos, rec);
      // The file changed under the store: a valid record, but not the entry expected here.
      if (rec.index !== lo + out.length) throw new CorruptionError(this.logPath, start + pos, `not entry ${lo + out.length}`);
      const d = rec.data;
      out.push({ index: rec.index, term: rec.term, type: rec.type, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
      pos += rec.size;
    }
    return out;
  }

  snapshot(): SnapshotMeta {
    return this.snap;
  }

  /** Records the hard state; `sync()` persists it. */
  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  /** Records the membership; `sync()` persists it. */
  setConf(conf: ConfState): void {
    this.conf = conf;
  }

  /**
   * Appends `entries` (written, not yet durable: see `sync`); the first may start anywhere
   * from `firstIndex()` to `lastIndex() + 1`, replacing everything from there on (the file
   * is truncated first, durably, so the log file stays a concatenation of records whatever
   * reaches the disk). Entries already covered by the snapshot are skipped.
   */
  append(entries: readonly Entry[]): void {
    const fresh = entries.filter((e) => e.index > this.snap.index);
    if (fresh.length === 0) return;
    const first = fresh[0]!.index;
    if (first > this.lastIndex() + 1) throw new LogRangeError('UNAVAILABLE', first - 1);
    const keep = first - this.snap.index - 1;
    const buf = encodeRecords(fresh);
    this.io(() => {
      if (keep < this.count) {
        // The cut is made durable before new records go where the old ones were: else a
        // crash could keep the new records but not the cut, leaving old records after
        // them, which the next open refuses as corruption. Conflicts are rare; so is this fsync.
        fs.ftruncateSync(this.fd, this.offsets[keep]!);
        fs.fdatasyncSync(this.fd);
        this.size = this.offsets[keep]!;
        this.count = keep;
      }
      this.dirty = true;
      writeAll(this.fd, buf, this.size);
    });
    let pos = this.size;
    for (const e of fresh) {
      this.push(pos, e.term);
      pos += RECORD_OVERHEAD + e.data.length;
    }
    this.size = pos;
    const tailFirst = this.tail.length > 0 ? this.tail[0]!.index : first;
    if (first !== tailFirst + this.tail.length) this.tail = this.tail.slice(0, Math.max(0, first - tailFirst));
    this.tail.push(...fresh);
    if (this.tail.length > this.tailEntries) this.tail = this.tail.slice(this.tail.length - Math.ceil(this.tailEntries / 2));
  }

  /**
   * Makes appended entries durable, then the hard state and membership. With
   * `entries = false` (the default when opened with `syncEntries: false`) the entries are
   * left to the operating system — lower durability levels; a later `sync(true)` flushes
   * them — while term, vote and membership are still written durably.
   */
  sync(entries = this.syncEntries): void {
    if (entries && this.dirty) {
      const started = performance.now();
      this.io(() => fs.fdatasyncSync(this.fd));
      this.onSync((performance.now() - started) / 1000);
      this.dirty = false;
    }
    this.saveState();
  }

  /**
   * `sync()` with the entries' fsync run on the threadpool, so the event loop keeps
   * serving meanwhile — requests arriving during one fsync share the next (group
   * commit). The caller must not write to the store until it resolves.
   */
  async syncAsync(entries = this.syncEntries): Promise<void> {
    if (entries && this.dirty) {
      if (this.failure !== undefined) this.io(() => {});
      const started = performance.now();
      try {
        await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        this.failure = err;
        throw err;
      }
      this.onSync((performance.now() - started) / 1000);
      this.dirty = false;
    }
    this.saveState();
  }

  /**
   * Records a snapshot taken locally at `index` (with the membership then) and drops the
   * entries it covers; durable when it returns. The log is flushed and the state file
   * written first; the kept tail is then copied to a new log file that replaces the old
   * one. A crash in between leaves an old log whose covered prefix the next open skips.
   */
  compact(index: number, conf: ConfState): void {
    const drop = index - this.snap.index;
    if (drop <= 0) return;
    this.snap = { index, term: this.term(index), conf };
    this.sync();
    const from = this.endOf(drop - 1);
    this.io(() => this.rewriteLog(from));
    this.offsets.copyWithin(0, drop, this.count);
    this.terms.copyWithin(0, drop, this.count);
    this.count -= drop;
    this.tail = this.tail.filter((e) => e.index > index);
    for (let i = 0; i < this.count; i++) this.offsets[i]! -= from;
    this.size -= from;
  }

  /** Replaces the log file with a copy of its bytes from `from` on. */
  private rewriteLog(from: number): void {
    const tmp = this.logPath + TMP_SUFFIX;
    const fd = fs.openSync(tmp, 'w+');
    try {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, this.size - from));
      for (let pos = from; pos < this.size; pos += buf.length) {
        const chunk = buf.subarray(0, Math.min(buf.length, this.size - pos));
        readFully(this.fd, chunk, pos);
        writeAll(fd, chunk, pos - from);
      }
      fs.fdatasyncSync(fd);
      fs.renameSync(tmp, this.logPath);
      fsyncDir(this.dir);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    fs.closeSync(this.fd);
    this.fd = fd;
  }

  /**
   * Replaces the whole log with an installed snapshot; durable when it returns. The state
   * file is written first, then the log emptied. After a crash in between, the old entries
   * are dropped on open unless the old log holds the snapshot's last entry (same index and
   * term), in which case those after it are kept, as Raft allows.
   */
  applySnapshot(meta: SnapshotMeta): void {
    this.snap = meta;
    this.conf = meta.conf;
    this.saveState();
    this.io(() => {
      fs.ftruncateSync(this.fd, 0);
      fs.fdatasyncSync(this.fd);
    });
    this.dirty = false;
    this.count = 0;
    this.tail = [];
    this.size = 0;
  }

  /** Closes the log file. Does not sync: call `sync()` first to keep what was appended. */
  close(): void {
    fs.closeSync(this.fd);
  }
}
