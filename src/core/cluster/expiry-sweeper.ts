import type { Bitcask } from '../bitcask/index.js';
import { EXPIRE_SWEEP_COMMAND } from '../kv/index.js';
import type { Logger } from '../support/logger.js';
import { messageOf } from '../support/error-message.js';

/** What an `ExpirySweeper` works with. */
export interface ExpirySweeperOptions {
  /** The store whose expiring keys are swept. */
  store: Pick<Bitcask, 'expiring' | 'expiringCount' | 'isClosed'>;
  /** Whether this node leads: only the leader proposes sweeps. */
  isLeader(): boolean;
  /** Proposes a write (`RAFTEXPIRE key …`) through the log; settles once it is applied or refused. */
  propose(args: Buffer[]): Promise<unknown>;
  logger: Logger;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  /** Most expiring keys looked at per `sweep` (default 2,000). */
  scanLimit?: number;
  /** Most keys deleted per proposal (default 1,000). */
  batchLimit?: number;
}

/**
 * The active half of expiry, as Redis's active expire cycle: a key that expired but is
 * never touched again must still go. On the leader, each `sweep` (driven by a timer)
 * walks on through the keys that expire — a bounded number per call, resuming where the
 * last call stopped — and proposes `RAFTEXPIRE` with those whose expiry has passed by
 * the leader's clock. The entry deletes each key only if its expiry has passed at the
 * entry's own stamped time, on every replica alike, so a key given a new value or expiry
 * meanwhile stays. One proposal is in flight at a time; a failed one is logged, and the
 * keys are found again by a later walk.
 */
export class ExpirySweeper {
  private readonly opts: ExpirySweeperOptions;
  private walk: Iterator<{ key: Buffer; expiresAt: number }> | undefined;
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: ExpirySweeperOptions) {
    this.opts = opts;
  }

  /** Sweeps every `intervalMs` until `stop` (the timer never keeps the process alive). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * One step: unless this node is not the leader, the store is closed, nothing expires
   * or a sweep is still in flight, looks at up to `scanLimit` expiring keys and proposes
   * the deletion of those past their expiry. Resolves with how many keys it proposed to
   * delete, once the proposal settled; never rejects.
   */
  async sweep(): Promise<number> {
    const { store, logger } = this.opts;
    if (this.inFlight || store.isClosed || !this.opts.isLeader() || store.expiringCount === 0) return 0;
    const now = (this.opts.now ?? Date.now)();
    const scanLimit = this.opts.scanLimit ?? 2000;
    const batchLimit = this.opts.batchLimit ?? 1000;
    const keys: Buffer[] = [];
    for (let seen = 0; seen < scanLimit && keys.length < batchLimit; seen++) {
      this.walk ??= store.expiring();
      const step = this.walk.next();
      if (step.done) {
        this.walk = undefined;
        break;
      }
      if (step.value.expiresAt <= now) keys.push(step.value.key);
    }
    if (keys.length === 0) return 0;
    this.inFlight = true;
    try {
      await this.opts.propose([Buffer.from(EXPIRE_SWEEP_COMMAND), ...keys]);
    } catch (err) {
      logger.warn(`expiry: deleting ${keys.length} expired keys failed: ${messageOf(err)}`);
    } finally {
      this.inFlight = false;
    }
    return keys.length;
  }
}
