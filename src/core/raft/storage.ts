import { BitraftError } from '../support/errors.js';
import { bootstrapEntries } from './conf-change.js';
import type { ConfState, Entry, HardState, NodeId, SnapshotMeta } from './types.js';

/** The hard state of a node that never ran. */
export const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };
/** A cluster with no members (a node waiting to be added). */
export const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/**
 * What the Raft core reads from the persisted log. The core never writes through it:
 * the caller persists what `Ready` hands out, then calls `advance`. Indexes
 * `snapshot().index + 1 … lastIndex()` are available; `term` also answers for
 * `snapshot().index` (the entry the snapshot replaced).
 */
export interface LogStorage {
  /** Hard state and membership as persisted. */
  initialState(): { hardState: HardState; conf: ConfState };
  /** The first index still in the log: the snapshot's index + 1. */
  firstIndex(): number;
  /** The last index in the log (the snapshot's index when the log is empty). */
  lastIndex(): number;
  /** The term of the entry at `index`, for `firstIndex() - 1 ≤ index ≤ lastIndex()`. Throws `COMPACTED`/`UNAVAILABLE` otherwise. */
  term(index: number): number;
  /** Entries `lo ≤ index < hi`, stopping once `maxBytes` of data is reached but never returning none. Throws `COMPACTED` below `firstIndex()`. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The newest snapshot's meta (index 0 and the initial membership when there is none). */
  snapshot(): SnapshotMeta;
}

/** A compaction or range error of `LogStorage`: the index is gone (`COMPACTED`) or not there yet (`UNAVAILABLE`). */
export class LogRangeError extends BitraftError {
  constructor(code: 'COMPACTED' | 'UNAVAILABLE', index: number) {
    super(code, `log index ${index} is ${code === 'COMPACTED' ? 'compacted' : 'not available'}`);
  }
}

/**
 * A `LogStorage` held in memory, with the writes the caller makes while handling a
 * `Ready`. For tests and simulations: what it holds is what survives a simulated crash.
 */
export class MemoryStorage implements LogStorage {
  private hard: HardState;
  private conf: ConfState;
  private snap: SnapshotMeta;
  /** `log[0]` is a dummy entry at the snapshot's index and term. */
  private log: Entry[];

  /**
   * An empty log whose membership is `conf`, known only to this storage: right for a node
   * that joins later (empty `conf`) or for a fixed membership in a test. Founding members
   * of a cluster that may change use `MemoryStorage.bootstrap`, which puts the membership
   * in the log where nodes added later can read it.
   */
  constructor(conf: ConfState = EMPTY_CONF) {
    this.hard = EMPTY_HARD_STATE;
    this.conf = conf;
    this.snap = { index: 0, term: 0, conf };
    this.log = [{ index: 0, term: 0, type: 'noop', data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hard, conf: this.conf };
  }

  firstIndex(): number {
    return this.log[0]!.index + 1;
  }

  lastIndex(): number {
    return this.log[0]!.index + this.log.length - 1;
  }

  term(index: number): number {
    const offset = this.log[0]!.index;
    if (index < offset) throw new LogRangeError('COMPACTED', index);
    if (index > this.lastIndex()) throw new LogRangeError('UNAVAILABLE', index);
    return this.log[index - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.log[0]!.index;
    if (lo <= offset) throw new LogRangeError('COMPACTED', lo);
    if (hi > this.lastIndex() + 1) throw new LogRangeError('UNAVAILABLE', hi - 1);
    return limitSize(this.log.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): SnapshotMeta {
    return this.snap;
  }

  /**
   * The storage of a founding member of a new cluster of `voters`: the bootstrap entries
   * (see `bootstrapEntries`), committed, in term 1, and the membership they make.
   */
  static bootstrap(voters: readonly NodeId[]): MemoryStorage {
    const s = new MemoryStorage();
    s.append(bootstrapEntries(voters));
    s.setHardState({ term: 1, vote: '', commit: voters.length });
    s.setConf({ voters: [...voters], learners: [] });
    return s;
  }

  /** Stores the hard state. */
  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  /** Stores the membership. */
  setConf(conf: ConfState): void {
    this.conf = conf;
  }

  /**
   * Appends `entries`; the first may start anywhere from `firstIndex()` to
   * `lastIndex() + 1`, replacing everything from there on. Entries already covered by
   * the snapshot are skipped.
   */
  append(entries: readonly Entry[]): void {
    const offset = this.log[0]!.index;
    const fresh = entries.filter((e) => e.index > offset);
    if (fresh.length === 0) return;
    const first = fresh[0]!.index;
    if (first > this.lastIndex() + 1) throw new LogRangeError('UNAVAILABLE', first - 1);
    this.log.length = first - offset;
    this.log.push(...fresh);
  }

  /** Replaces the whole log with an installed snapshot. */
  applySnapshot(meta: SnapshotMeta): void {
    this.snap = meta;
    this.conf = meta.conf;
    this.log = [{ index: meta.index, term: meta.term, type: 'noop', data: new Uint8Array(0) }];
  }

  /**
   * Records a snapshot taken locally at `index` (with the membership then) and drops the
   * entries it covers. `index` must be in the log and not beyond what was applied.
   */
  compact(index: number, conf: ConfState): void {
    const offset = this.log[0]!.index;
    if (index <= offset) return;
    const term = this.term(index);
    this.snap = { index, term, conf };
    this.log = [{ index, term, type: 'noop', data: new Uint8Array(0) }, ...this.log.slice(index - offset + 1)];
  }
}

/** A prefix of `entries` whose data totals at most `maxBytes`, but at least one entry. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entries[i]!.data.length;
    if (i > 0 && bytes > maxBytes) return entries.slice(0, i);
  }
  return entries;
}
