import fs from 'node:fs';
import path from 'node:path';
import { parseSnapshotId } from '../snapshot/index.js';
import { decodeEntry, TRANSACTION_COMMAND } from '../kv/index.js';
import { decodeConfChange } from '../raft/conf-change.js';
import { LOG_FILE, readStateFile, scanLog, STATE_FILE, type LogRecord } from '../raft/log-store.js';
import type { ConfState, EntryType, HardState, SnapshotMeta } from '../raft/types.js';
import { BitraftError, CorruptionError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { APPLIED_FILE, readAppliedIndex } from './applied-index.js';
import { RAFT_DIR } from './cluster.js';

/** Count and data bytes of the entries of one type. */
export interface TypeTally {
  count: number;
  bytes: number;
}

/** What `inspectLog` reports about a node's Raft state. */
export interface LogSummary {
  /** The Raft directory read. */
  dir: string;
  /** Bytes of the log file. */
  logBytes: number;
  /** Entries in the log file, and the first and last index and term (0 when empty). */
  entries: number;
  firstIndex: number;
  lastIndex: number;
  firstTerm: number;
  lastTerm: number;
  byType: Record<EntryType, TypeTally>;
  /** Term, vote and the commit index as last saved (the commit index is saved lazily). */
  hardState: HardState | undefined;
  membership: ConfState | undefined;
  /** The snapshot the log starts after (index 0: none). */
  snapshot: SnapshotMeta | undefined;
  /** The index the store had durably applied when it was last saved. */
  applied: number;
  /** A torn last record (a write cut short), which the node cuts off when it opens the log. */
  torn: { offset: number; reason: string } | undefined;
  /** Snapshot directories under `<dir>/snapshots`, newest last. */
  snapshots: string[];
}

/** One entry as `inspect-log --entries` shows it. */
export interface DescribedEntry {
  index: number;
  term: number;
  type: EntryType;
  /** Bytes of the entry's data. */
  bytes: number;
  /** Where its record starts in the log file. */
  offset: number;
  /** The entry decoded: `SET "k" "v"`, `add-voter 127.0.0.1:4921`, `noop`. */
  text: string;
}

/** Which entries to describe. */
export interface EntryFilter {
  from?: number;
  to?: number;
  type?: EntryType;
  limit?: number;
}

/** Longest argument shown in full; longer ones show their start and their size. */
const SHOWN_BYTES = 64;

/** The Raft directory of a data directory; `NOT_FOUND` when it has none. */
export function raftDirOf(dataDir: string): string {
  const dir = path.join(dataDir, RAFT_DIR);
  if (!fs.existsSync(path.join(dir, LOG_FILE)) && !fs.existsSync(path.join(dir, STATE_FILE))) {
    throw new BitraftError('NOT_FOUND', `${dataDir} holds no raft log (no ${path.join(dir, LOG_FILE)})`);
  }
  return dir;
}

/**
 * Reads the log of `dataDir` read-only — without its lock, so it works while a node runs
 * (it sees the log as it was when read) — and sums it up. Throws `CorruptionError` for a
 * log damaged before its end; a torn last record is reported in `torn`; `warn` is told
 * of a damaged applied-index file.
 */
export function inspectLog(dataDir: string, warn: (message: string) => void): LogSummary {
  const logger: Logger = { info: warn, warn };
  const dir = raftDirOf(dataDir);
  const state = readStateFile(path.join(dir, STATE_FILE));
  const byType: Record<EntryType, TypeTally> = { command: { count: 0, bytes: 0 }, noop: { count: 0, bytes: 0 }, config: { count: 0, bytes: 0 } };
  const summary: LogSummary = {
    dir,
    logBytes: 0,
    entries: 0,
    firstIndex: 0,
    lastIndex: 0,
    firstTerm: 0,
    lastTerm: 0,
    byType,
    hardState: state?.hardState,
    membership: state?.conf,
    snapshot: state?.snapshot,
    applied: fs.existsSync(path.join(dir, APPLIED_FILE)) ? readAppliedIndex(dir, logger) : 0,
    torn: undefined,
    snapshots: listSnapshots(dataDir),
  };
  const scan = withLog(dir, (fd, file) =>
    scanLog(fd, file, (rec) => {
      if (summary.entries === 0) {
        summary.firstIndex = rec.index;
        summary.firstTerm = rec.term;
      }
      summary.entries++;
      summary.lastIndex = rec.index;
      summary.lastTerm = rec.term;
      byType[rec.type].count++;
      byType[rec.type].bytes += rec.data.length;
    }),
  );
  summary.logBytes = scan.size;
  summary.torn = scan.torn;
  return summary;
}

/** Calls `visit` with each entry of `dataDir`'s log that passes `filter`, decoded, in log order. */
export function describeEntries(dataDir: string, filter: EntryFilter, visit: (e: DescribedEntry) => void): void {
  const dir = raftDirOf(dataDir);
  let shown = 0;
  const limit = filter.limit ?? Number.POSITIVE_INFINITY;
  withLog(dir, (fd, file) =>
    scanLog(fd, file, (rec) => {
      if (shown >= limit) return;
      if (filter.from !== undefined && rec.index < filter.from) return;
      if (filter.to !== undefined && rec.index > filter.to) return;
      if (filter.type !== undefined && rec.type !== filter.type) return;
      shown++;
      visit({ index: rec.index, term: rec.term, type: rec.type, bytes: rec.data.length, offset: rec.offset, text: describe(rec) });
    }),
  );
}

/** What `verifyLog` found. */
export interface LogVerification {
  /** Records whose checksum and order are right. */
  records: number;
  /** The first bad spot, if any. */
  bad: { file: string; offset: number; reason: string } | undefined;
}

/** Checks every record's checksum and order; reports the first bad offset (a torn tail counts). */
export function verifyLog(dataDir: string): LogVerification {
  const dir = raftDirOf(dataDir);
  let records = 0;
  try {
    const scan = withLog(dir, (fd, file) => scanLog(fd, file, () => records++));
    const file = path.join(dir, LOG_FILE);
    return { records, bad: scan.torn ? { file, offset: scan.torn.offset, reason: `${scan.torn.reason} (a torn last record: a node cuts it off when it opens the log)` } : undefined };
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return { records, bad: { file: err.file, offset: err.offset, reason: err.message } };
  }
}

/** The entry decoded for people: commands with printable escapes, membership changes, no-ops. */
export function describe(rec: Pick<LogRecord, 'type' | 'data'>): string {
  if (rec.type === 'noop') return 'noop';
  if (rec.type === 'config') {
    const cc = decodeConfChange(rec.data);
    return cc ? `${cc.op} ${cc.node}` : `malformed membership change (${rec.data.length} bytes)`;
  }
  return describeCommand(rec.data);
}

/**
 * A command entry's data as `NAME "arg" …` (the leader's time stamped in it is not
 * shown); a transaction as `MULTI; cmd; …; EXEC`.
 */
function describeCommand(data: Uint8Array): string {
  const args = decodeEntry(data)?.args;
  if (!args) return `malformed command (${data.length} bytes)`;
  const name = args[0]!.toString('latin1');
  if (name.toLowerCase() === TRANSACTION_COMMAND) return ['MULTI', ...args.slice(1).map(describeCommand), 'EXEC'].join('; ');
  return [name.toUpperCase(), ...args.slice(1).map(quote)].join(' ');
}

/** An argument as redis-cli shows it: quoted, with escapes; long ones cut, with their size. */
function quote(arg: Buffer): string {
  const shown = arg.subarray(0, SHOWN_BYTES);
  let text = '"';
  for (const byte of shown) {
    if (byte === 0x22 || byte === 0x5c) text += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else if (byte === 0x0a) text += '\\n';
    else if (byte === 0x0d) text += '\\r';
    else if (byte === 0x09) text += '\\t';
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  text += '"';
  return arg.length > SHOWN_BYTES ? `${text}… (${arg.length} bytes)` : text;
}

function withLog<T>(dir: string, fn: (fd: number, file: string) => T): T {
  const file = path.join(dir, LOG_FILE);
  const fd = fs.openSync(file, 'r');
  try {
    return fn(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function listSnapshots(dataDir: string): string[] {
  const dir = path.join(dataDir, 'snapshots');
  if (!fs.existsSync(dir)) return [];
  const ids = fs.readdirSync(dir).flatMap((name) => {
    const id = parseSnapshotId(name);
    return id ? [{ name, ...id }] : [];
  });
  return ids.sort((a, b) => a.index - b.index || a.term - b.term || a.ms - b.ms).map((id) => id.name);
}
