import { limitSize, type LogStorage } from './storage.js';
import type { Entry, SnapshotMeta } from './types.js';

/**
 * The Raft log as the core sees it: the persisted part (read through `LogStorage`) plus
 * the unstable tail — entries (and possibly an incoming snapshot) accepted but not yet
 * handed to the caller for persisting, or handed out and not yet acknowledged.
 *
 * Cursors: `committed` (known committed), `applying` (handed out to apply), `applied`
 * (acknowledged as applied); always `applied ≤ applying ≤ committed ≤ lastIndex()`.
 * Never holds the whole log in memory: persisted entries are read back on demand.
 */
export class RaftLog {
  private readonly storage: LogStorage;
  /** Unstable entries; `unstable[0]` has index `offset`. */
  private unstable: Entry[] = [];
  private offset: number;
  /** How many leading unstable entries were handed out by `takeUnstable` and not yet acknowledged. */
  private handedOut = 0;
  /** An incoming snapshot not yet persisted. */
  private pendingSnapshot: SnapshotMeta | undefined;
  private snapshotHandedOut = false;
  committed: number;
  applying: number;
  applied: number;

  constructor(storage: LogStorage, applied: number) {
    this.storage = storage;
    this.offset = storage.lastIndex() + 1;
    const snapIndex = storage.firstIndex() - 1;
    const commit = Math.max(storage.initialState().hardState.commit, snapIndex);
    this.committed = Math.min(commit, storage.lastIndex());
    this.applied = Math.min(Math.max(applied, snapIndex), this.committed);
    this.applying = this.applied;
  }

  /** The first index still available (earlier ones were compacted into a snapshot). */
  firstIndex(): number {
    return this.pendingSnapshot ? this.pendingSnapshot.index + 1 : this.storage.firstIndex();
  }

  /** The last index in the log. */
  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    return this.pendingSnapshot ? this.pendingSnapshot.index : this.storage.lastIndex();
  }

  /** The last index known to be on the caller's stable storage (and matching this log). */
  persistedLastIndex(): number {
    return this.offset - 1;
  }

  /** The term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term at `index`; 0 for index 0; undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === 0) return 0;
    if (index >= this.offset && index < this.offset + this.unstable.length) return this.unstable[index - this.offset]!.term;
    if (this.pendingSnapshot) {
      if (index === this.pendingSnapshot.index) return this.pendingSnapshot.term;
      return undefined;
    }
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex() || index >= this.offset) return undefined;
    return this.storage.term(index);
  }

  /** Whether the entry at `index` has `term`. */
  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A follower's AppendEntries: if the log matches (`prevIndex`, `prevTerm`), appends the
   * entries that are new (truncating a conflicting suffix), commits up to
   * `min(commit, last new index)` and returns the last new index; otherwise undefined.
   * Truncating a committed entry means the cluster broke Raft's guarantees: it throws.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    let firstNew = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (!this.matchTerm(e.index, e.term)) {
        firstNew = i;
        break;
      }
    }
    if (firstNew < entries.length) {
      const at = entries[firstNew]!.index;
      if (at <= this.committed) throw new Error(`raft: entry ${at} conflicts with the committed log (committed ${this.committed})`);
      this.append(entries.slice(firstNew));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * Appends `entries` (contiguous; the first may replace an existing suffix) to the
   * unstable tail. Returns the replaced (index, term) pairs' first index, or undefined
   * when nothing was replaced — the core uses it to drop proposals that were overwritten.
   */
  append(entries: readonly Entry[]): number | undefined {
    if (entries.length === 0) return undefined;
    const first = entries[0]!.index;
    const replaced = first <= this.lastIndex() ? first : undefined;
    const end = this.offset + this.unstable.length;
    if (first === end) {
      this.unstable.push(...entries);
    } else if (first <= this.offset) {
      // Replaces (part of) the persisted log: the caller truncates it when persisting.
      this.offset = first;
      this.unstable = [...entries];
      this.handedOut = 0;
    } else {
      this.unstable = [...this.unstable.slice(0, first - this.offset), ...entries];
      this.handedOut = Math.min(this.handedOut, first - this.offset);
    }
    return replaced;
  }

  /** Entries from `lo` to the end, at most `maxBytes` of data (at least one). Undefined when `lo` was compacted. */
  entriesFrom(lo: number, maxBytes: number): Entry[] | undefined {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries `lo ≤ index < hi`, at most `maxBytes` of data (at least one). Undefined when `lo` was compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    const out: Entry[] = [];
    if (lo < this.offset) {
      const stableHi = Math.min(hi, this.offset);
      out.push(...this.storage.entries(lo, stableHi, maxBytes));
      if (out.length < stableHi - lo) return out;
    }
    if (hi > this.offset) {
      out.push(...this.unstable.slice(Math.max(lo, this.offset) - this.offset, hi - this.offset));
    }
    return limitSize(out, maxBytes);
  }

  /** Raises the commit index (never lowers it). */
  commitTo(index: number): void {
    if (index > this.committed) this.committed = Math.min(index, this.lastIndex());
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term` (the compaction point when the
   * log has nothing older): where a leader with `term` at `index` should probe next.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  /** Takes the unstable entries not yet handed out, for a Ready. */
  takeUnstable(): Entry[] {
    const out = this.unstable.slice(this.handedOut);
    this.handedOut = this.unstable.length;
    return out;
  }

  /** Whether unstable entries or a snapshot wait to be handed out. */
  hasUnstable(): boolean {
    return this.handedOut < this.unstable.length || (this.pendingSnapshot !== undefined && !this.snapshotHandedOut);
  }

  /** Takes the pending snapshot, if not handed out yet. */
  takeSnapshot(): SnapshotMeta | undefined {
    if (!this.pendingSnapshot || this.snapshotHandedOut) return undefined;
    this.snapshotHandedOut = true;
    return this.pendingSnapshot;
  }

  /** The caller persisted entries up to (`index`, `term`): they leave the unstable tail (unless replaced since). */
  stableTo(index: number, term: number): void {
    if (index < this.offset || index >= this.offset + this.handedOut) return;
    if (this.unstable[index - this.offset]!.term !== term) return;
    const n = index + 1 - this.offset;
    this.unstable = this.unstable.slice(n);
    this.offset = index + 1;
    this.handedOut -= n;
  }

  /** The caller installed the snapshot at `index`. */
  stableSnapshotTo(index: number): void {
    if (this.pendingSnapshot?.index === index && this.snapshotHandedOut) {
      this.pendingSnapshot = undefined;
      this.snapshotHandedOut = false;
    }
  }

  /** Committed entries not yet handed out to apply (at most `maxBytes` of data, at least one); marks them applying. */
  takeCommitted(maxBytes: number): Entry[] {
    if (this.applying >= this.committed) return [];
    const out = this.slice(this.applying + 1, this.committed + 1, maxBytes);
    /* c8 ignore next -- applying ≥ the snapshot index, and only compacted entries are unavailable */
    if (!out || out.length === 0) return [];
    this.applying = out[out.length - 1]!.index;
    return out;
  }

  /** Whether committed entries wait to be applied. */
  hasCommitted(): boolean {
    return this.applying < this.committed;
  }

  /** The caller applied entries up to `index`. */
  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.pendingSnapshot = meta;
    this.snapshotHandedOut = false;
    this.unstable = [];
    this.handedOut = 0;
    this.offset = meta.index + 1;
    this.committed = meta.index;
    this.applying = meta.index;
    this.applied = meta.index;
  }
}
