/**
 * The oracle of the Raft log workloads: the versions of a log (entries, snapshot, hard
 * state, membership) as `MemoryStorage` holds them after each write, and which of them
 * were acknowledged (made durable: `sync`, `compact`, `applySnapshot` returned).
 */
import type { DiskLogStore } from '../../../src/core/raft/log-store.js';
import { MemoryStorage } from '../../../src/core/raft/storage.js';
import type { Entry } from '../../../src/core/raft/types.js';
import type { CrashFsRecorder } from '../../helpers/crash-fs.js';

/** What a log holds, in comparable form. */
export interface LogView {
  snapIndex: number;
  snapTerm: number;
  /** Entries after the snapshot, in order: `index/term/type/hex`. */
  entries: string[];
  /** Term and vote. */
  hard: string;
  conf: string;
}

interface Version extends LogView {
  /** Log position when the write began. */
  pos: number;
  /** Index of the mark that acknowledged it. */
  ack?: number;
}

const entryKey = (e: Entry): string => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`;

/** Reads what `s` holds. */
export function viewOf(s: DiskLogStore | MemoryStorage): LogView {
  const snap = s.snapshot();
  const { hardState, conf } = s.initialState();
  return {
    snapIndex: snap.index,
    snapTerm: snap.term,
    entries: s.entries(s.firstIndex(), s.lastIndex() + 1, Number.POSITIVE_INFINITY).map(entryKey),
    hard: `${hardState.term}/${hardState.vote}`,
    conf: JSON.stringify(conf),
  };
}

/**
 * Applies each write to a `MemoryStorage` model as well and keeps the version after it.
 * In a crash state after `k` operations, the log must hold, with the snapshot of one
 * version issued by then and not older than the last acknowledged one (A), a prefix of
 * that version's entries at least as long as what it shares with A; its term and vote,
 * and its membership, must each be those of such a version.
 */
export class LogOracle {
  readonly model = new MemoryStorage();
  private readonly versions: Version[] = [{ ...viewOf(this.model), pos: 0, ack: -1 }];

  constructor(private readonly rec: CrashFsRecorder) {}

  /** Runs a write on the store (`fn`) and on the model (`onModel`), and keeps the new version. */
  write(fn: () => void, onModel: (m: MemoryStorage) => void): void {
    const pos = this.rec.position;
    fn();
    onModel(this.model);
    this.versions.push({ ...viewOf(this.model), pos });
  }

  /** Acknowledges every version so far (the sync that made them durable returned), with a mark. */
  ack(label: string): void {
    const mark = this.rec.mark(label);
    for (const v of this.versions) v.ack ??= mark;
  }

  /** What is wrong with `actual` as the log after `k` operations, or undefined. */
  check(actual: LogView, k: number): string | undefined {
    let a = 0;
    this.versions.forEach((v, i) => {
      if (v.ack !== undefined && v.ack < k) a = i;
    });
    const acked = this.versions[a]!;
    const candidates = this.versions.slice(a).filter((v, i) => i === 0 || v.pos <= k);
    const matches = candidates.some((v) => {
      if (v.snapIndex !== actual.snapIndex || v.snapTerm !== actual.snapTerm) return false;
      if (actual.entries.length > v.entries.length || actual.entries.some((e, i) => e !== v.entries[i])) return false;
      let shared = 0;
      const offset = v.snapIndex - acked.snapIndex;
      // Snapshots only move forward: `offset` is never negative.
      while (shared < v.entries.length && acked.entries[offset + shared] === v.entries[shared]) shared++;
      return actual.entries.length >= shared;
    });
    const summary = (v: LogView): string => `snapshot ${v.snapIndex}/${v.snapTerm}, ${v.entries.length} entries to ${v.snapIndex + v.entries.length}`;
    if (!matches) return `log holds ${summary(actual)}; acknowledged: ${summary(acked)}`;
    if (!candidates.some((v) => v.hard === actual.hard)) return `term/vote ${actual.hard}; acknowledged ${acked.hard}`;
    if (!candidates.some((v) => v.conf === actual.conf)) return `membership ${actual.conf}; acknowledged ${acked.conf}`;
    return undefined;
  }
}
