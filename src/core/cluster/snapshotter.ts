import type { StoreView } from '../bitcask/index.js';
import type { ConfState } from '../raft/types.js';
import { encodeExpiryRecords, type SnapshotStore, type StateRecord, type StoredSnapshot } from '../snapshot/index.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { messageOf } from '../support/error-message.js';

/** When snapshots are taken and how much log stays behind them. */
export interface SnapshotPolicy {
  /** Take a snapshot once this many entries were applied since the last one (0: not by count). */
  entries: number;
  /** Take a snapshot once the log holds this many bytes after the last one (0: not by size). */
  logBytes: number;
  /** Entries kept in the log behind a snapshot, so a follower that lags a little catches up from the log. */
  tail: number;
}

/** What a `Snapshotter` works with. */
export interface SnapshotterDeps {
  /** A point-in-time view of the key/value store. */
  openView(): StoreView;
  snapshots: SnapshotStore;
  /** The Raft log: terms, its size after an index, and compaction. */
  log: { term(index: number): number; bytesAfter(index: number): number; snapshot(): { index: number }; compact(index: number, conf: ConfState): void };
  /** The driver: its applied index, and running code at rest (see `RaftDriver.atRest`). */
  driver: { readonly applied: number; atRest(fn: () => void): void };
  /** The membership now (at rest: the one at the applied index). */
  conf(): ConfState;
  /** The applied-index checkpoint: `save` makes the store durable up to the applied index. */
  checkpoint: { save(): Promise<void>; readonly savedIndex: number };
  policy: SnapshotPolicy;
  logger: Logger;
  /** Milliseconds since the epoch (for the back-off after a failure). */
  now?: () => number;
  /** Told of every snapshot written, with the seconds it took. */
  onSnapshot?: (seconds: number) => void;
}

/** How long automatic snapshots pause after one failed (a full disk, say). */
export const SNAPSHOT_RETRY_MS = 10_000;

/**
 * Takes snapshots of the key/value state and compacts the Raft log behind them.
 *
 * A snapshot captures the state at the applied index without stopping the node: at rest
 * (between two Readys, so the store holds exactly the entries up to that index and the
 * membership is the one at it) it opens a point-in-time view of the store — a copy of
 * the key directory's locations, the data files being immutable — and streams that view
 * into `<dir>/snapshots` while entries keep being applied and answered. Once the
 * snapshot is durable, the store is made durable up to the applied index (the
 * checkpoint), and the log is compacted up to the snapshot's index minus `policy.tail`
 * (never beyond what the checkpoint saved, so a restart never needs the snapshot to
 * rebuild the store). One snapshot runs at a time.
 */
export class Snapshotter {
  private readonly deps: SnapshotterDeps;
  private running: Promise<StoredSnapshot> | undefined;
  /** Index of the newest snapshot this node holds (taken or installed). */
  private lastIndex: number;
  private retryAt = 0;
  private view: StoreView | undefined;
  private stopped = false;

  constructor(deps: SnapshotterDeps) {
    this.deps = deps;
    this.lastIndex = Math.max(deps.log.snapshot().index, deps.snapshots.list()[0]?.meta.index ?? 0);
  }

  /** Index of the newest snapshot this node holds (taken or installed), or of the compacted log's start. */
  get lastSnapshotIndex(): number {
    return this.lastIndex;
  }

  /** Whether a snapshot is being written. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Records a snapshot installed from the leader (the log was replaced by it). */
  installed(index: number): void {
    this.lastIndex = Math.max(this.lastIndex, index);
  }

  /**
   * Starts a snapshot if one is due by the policy. Call at rest (after a Ready). A failed
   * snapshot is logged, and automatic ones pause for `SNAPSHOT_RETRY_MS`.
   */
  maybeSnapshot(): void {
    const { driver, log, policy } = this.deps;
    if (this.running || this.stopped || this.now() < this.retryAt) return;
    const since = driver.applied - this.lastIndex;
    if (since <= 0) return;
    const due = (policy.entries > 0 && since >= policy.entries) || (policy.logBytes > 0 && log.bytesAfter(this.lastIndex) >= policy.logBytes);
    if (due) this.start().catch(() => {});
  }

  /**
   * Takes a snapshot of the state applied so far (`RAFTSNAPSHOT`), waiting for one that
   * is running first. When nothing was applied since the newest snapshot, that one is
   * returned instead of writing an identical one. Rejects with `NOT_FOUND` when nothing
   * was applied at all, and with the write's error.
   */
  async snapshotNow(): Promise<StoredSnapshot> {
    await this.running?.catch(() => {});
    return new Promise<StoredSnapshot>((resolve, reject) => {
      this.deps.driver.atRest(() => {
        const newest = this.newestApplied();
        if (this.running) this.running.then(resolve, reject);
        else if (newest && newest.meta.index >= this.deps.driver.applied) resolve(newest);
        else this.start().then(resolve, reject);
      });
    });
  }

  /**
   * The snapshot to stream to a follower that needs entries the log no longer holds: the
   * newest applied one when the log continues right after it (its index is at least the
   * compacted log's), so a join or a lagging follower costs the leader no new snapshot;
   * otherwise a new one (`snapshotNow`). Waits for a snapshot being written first.
   */
  async forFollower(): Promise<StoredSnapshot> {
    await this.running?.catch(() => {});
    const newest = this.newestApplied();
    if (newest && newest.meta.index >= this.deps.log.snapshot().index) return newest;
    return this.snapshotNow();
  }

  /**
   * Compacts the log behind the newest snapshot this node has applied, keeping `tail`
   * entries (`RAFTSHRINKLOG`). Resolves with the number of entries dropped. Rejects with
   * `NOT_FOUND` when there is no snapshot to compact behind.
   */
  async shrinkLog(tail = this.deps.policy.tail): Promise<number> {
    const newest = this.newestApplied();
    if (!newest) throw new BitraftError('NOT_FOUND', 'there is no snapshot to compact the log behind; take one with RAFTSNAPSHOT');
    return this.compactBehind(newest, tail);
  }

  /** Stops: no more snapshots or compactions; one being written is abandoned (its temporary files removed). */
  stop(): void {
    this.stopped = true;
    this.view?.close();
  }

  /** The newest snapshot whose index this node has applied. */
  private newestApplied(): StoredSnapshot | undefined {
    return this.deps.snapshots.list().find((s) => s.meta.index <= this.deps.driver.applied);
  }

  /** Starts a snapshot of the state now; must be called at rest. */
  private start(): Promise<StoredSnapshot> {
    const { driver, log, logger, snapshots } = this.deps;
    const index = driver.applied;
    if (this.stopped) return Promise.reject(new BitraftError('CLOSED', 'the node is stopping'));
    if (index === 0) return Promise.reject(new BitraftError('NOT_FOUND', 'nothing was applied yet: there is nothing to snapshot'));
    const info = { index, term: log.term(index), conf: this.deps.conf() };
    const started = this.now();
    let view: StoreView;
    try {
      view = this.deps.openView();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.view = view;
    const write = async (): Promise<StoredSnapshot> => {
      try {
        const s = await snapshots.create(info, viewWithExpiries(view));
        this.lastIndex = Math.max(this.lastIndex, index);
        const ms = this.now() - started;
        logger.info(`raft: snapshot ${s.meta.id} written: ${view.size} keys, ${s.meta.size} bytes in ${ms} ms`);
        this.deps.onSnapshot?.(ms / 1000);
        await this.compactBehind(s, this.deps.policy.tail);
        return s;
      } catch (err) {
        this.retryAt = this.now() + SNAPSHOT_RETRY_MS;
        logger.warn(`raft: snapshot at index ${index} failed: ${messageOf(err)}`);
        throw err;
      }
    };
    const run = write().finally(() => {
      view.close();
      this.view = undefined;
      this.running = undefined;
    });
    this.running = run;
    return run;
  }

  /**
   * Makes the store durable up to the applied index, then (at rest) compacts the log up to
   * `s`'s index minus `tail`, but not beyond the saved applied index. Returns how many
   * entries were dropped.
   */
  private async compactBehind(s: StoredSnapshot, tail: number): Promise<number> {
    const { checkpoint, log } = this.deps;
    await checkpoint.save();
    return new Promise<number>((resolve, reject) => {
      this.deps.driver.atRest(() => {
        if (this.stopped) return resolve(0);
        const before = log.snapshot().index;
        const upTo = Math.min(s.meta.index - tail, checkpoint.savedIndex);
        if (upTo <= before) return resolve(0);
        try {
          log.compact(upTo, s.meta.conf);
        } catch (err) {
          return reject(err as Error);
        }
        this.deps.logger.info(`raft: compacted the log up to index ${upTo} (${upTo - before} entries)`);
        resolve(upTo - before);
      });
    });
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

/** The state.bin records of `view`: its expiry records (see `encodeExpiryRecords`) first, then its batches. */
async function* viewWithExpiries(view: StoreView): AsyncGenerator<StateRecord[]> {
  const expiries = encodeExpiryRecords(view.expiring);
  if (expiries.length > 0) yield expiries;
  yield* view.batches();
}
