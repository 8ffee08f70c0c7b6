import { mergeThrottle, realSleep, type MergeOptions, type MergeResult, type Sleep, type StoreStats } from '../bitcask/index.js';
import type { Ticker } from '../raft/driver.js';
import { messageOf } from '../support/error-message.js';
import { BitraftError, hasCode } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { mib } from './disk-space.js';
import { intervalTicker } from './interval-ticker.js';

/** When and how fast a node merges its store by itself (`bitraft serve --merge-*`). */
export interface AutoMergeSettings {
  /** A merge starts once this fraction of the data files' bytes is dead (0 < r ≤ 1); 0: never by itself. */
  deadRatio: number;
  /** …and only once at least this many dead bytes are in files a merge rewrites (all but the active one). */
  minDeadBytes: number;
  /** Bytes of data files a merge may read per second; 0: no limit (it still yields between slices). */
  bytesPerSecond: number;
  /** How often the condition is checked, in ms. */
  checkIntervalMs: number;
}

/** The counters of a store that decide when to merge (`Bitcask.stats` gives them). */
export type MergeStats = Pick<StoreStats, 'dataFiles' | 'dataBytes' | 'liveBytes' | 'deadBytes' | 'reclaimableBytes'>;

/** The store as the policy sees it (`Bitcask` has all of it). */
export interface MergeableStore {
  stats(): MergeStats;
  merge(opts: MergeOptions): Promise<MergeResult>;
  /** Whether the store is being closed: a running merge stops. */
  readonly closing: boolean;
  /** Whether a snapshot install (`replaceAll`) is running or waiting: a running merge gives way. */
  readonly isReplacing: boolean;
}

/** Settings and seams of an `AutoMerger`. */
export interface AutoMergeOptions extends AutoMergeSettings {
  store: MergeableStore;
  logger: Logger;
  /** Told the seconds each merge took that completed (for the metrics). */
  onMerged?: (seconds: number) => void;
  /** Free bytes on the store's disk, measured now; without it space is not checked. */
  freeBytes?: () => number;
  /** Bytes a merge must leave free (`--min-free-space`): it does not start, or stops, below that. */
  minFreeBytes?: number;
  /** Calls the check periodically (default: a timer every `checkIntervalMs`). */
  ticker?: Ticker;
  /** A monotonic clock in ms, for durations, back-off and the throttle (default `performance.now`). */
  now?: () => number;
  /** How the throttle waits (default: real timers). */
  sleep?: Sleep;
}

/** What one attempt came to. */
export type MergeOutcome =
  /** The merge finished. */
  | { kind: 'done'; result: MergeResult; durationMs: number }
  /** Stopped on purpose — the node is stopping, a snapshot is being installed — or never started because another merge runs: tried again at the next check. */
  | { kind: 'abandoned'; reason: string; durationMs: number }
  /** The merge failed (a full disk, an I/O error): nothing changed; tried again after `retryInMs`. */
  | { kind: 'failed'; error: string; durationMs: number; retryInMs: number };

/** The automatic merges of a node so far, for INFO. */
export interface AutoMergeStatus {
  enabled: boolean;
  inProgress: boolean;
  /** Merges that finished. */
  merges: number;
  /** Merges that failed (not counting those abandoned). */
  failures: number;
  /** The last merge that finished or failed. */
  last?: { ok: boolean; reclaimedBytes: number; durationMs: number };
}

/** Input read between two paces of the merge: 1–3 ms of work on the test machine. */
export const MERGE_SLICE_BYTES = 256 << 10;
/** Longest wait between attempts after failures, unless the check interval is longer. */
export const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Why the store should be merged now, or undefined: merges are on, at least
 * `deadRatio` of the data files' bytes are dead, and at least `minDeadBytes` (and more
 * than none) of them are in files a merge rewrites.
 */
export function mergeTrigger(stats: MergeStats, settings: Pick<AutoMergeSettings, 'deadRatio' | 'minDeadBytes'>): string | undefined {
  const { deadRatio, minDeadBytes } = settings;
  if (deadRatio <= 0 || stats.reclaimableBytes <= 0 || stats.reclaimableBytes < minDeadBytes) return undefined;
  const ratio = stats.deadBytes / stats.dataBytes;
  if (ratio < deadRatio) return undefined;
  return `${mib(stats.deadBytes)} of ${mib(stats.dataBytes)} dead (${percent(ratio)}, threshold ${percent(deadRatio)}), ${mib(stats.reclaimableBytes)} reclaimable in ${stats.dataFiles - 1} files`;
}

const percent = (r: number): string => `${(r * 100).toFixed(0)}%`;

/** Raises `INVALID_ARGUMENT` naming the flag when a setting is out of range. */
export function checkAutoMergeSettings(s: AutoMergeSettings): void {
  const bad = (flag: string, want: string, value: number): never => {
    throw new BitraftError('INVALID_ARGUMENT', `--${flag} must be ${want}, not ${value}`);
  };
  if (!(s.deadRatio >= 0 && s.deadRatio <= 1)) bad('merge-dead-ratio', 'a number from 0 to 1 (0: no automatic merges)', s.deadRatio);
  if (!Number.isSafeInteger(s.minDeadBytes) || s.minDeadBytes < 0) bad('merge-min-dead-bytes', 'an integer of at least 0', s.minDeadBytes);
  if (!Number.isSafeInteger(s.bytesPerSecond) || s.bytesPerSecond < 0) bad('merge-rate', 'an integer of at least 0 (0: no limit)', s.bytesPerSecond);
  if (!Number.isSafeInteger(s.checkIntervalMs) || s.checkIntervalMs < 1) bad('merge-check-interval', 'an integer of at least 1', s.checkIntervalMs);
}

/** Parses `--merge-dead-ratio`: a decimal number from 0 to 1. Raises `INVALID_ARGUMENT` otherwise. */
export function parseDeadRatio(text: string): number {
  const ratio = /^\s*(?:\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new BitraftError('INVALID_ARGUMENT', `--merge-dead-ratio must be a number from 0 to 1 (0: no automatic merges), not ${JSON.stringify(text)}`);
  }
  return ratio;
}

/**
 * Merges a node's store by itself, throttled, when dead bytes pile up (see
 * `mergeTrigger`). Every `checkIntervalMs` it looks at the store's counters; when they
 * call for a merge and none runs, it merges with a `mergeThrottle` at `bytesPerSecond`,
 * pacing the merge every `MERGE_SLICE_BYTES` of input and yielding between its steps,
 * so clients are served throughout.
 *
 * A running merge stops at its next slice or wait, its outputs removed and the store
 * unchanged: abandoned when `stop` is called, the store closes or a snapshot install
 * waits for it (tried again at the next check); failed when free space falls below
 * `minFreeBytes` — a merge needs room for the live data it copies, so it does not start
 * without that room either — or on an I/O error. A failed merge is logged and tried
 * again after a back-off that doubles with each failure in a row (from twice the check
 * interval to `MAX_BACKOFF_MS`). Start, end and failure are logged with what triggered
 * the merge, the bytes reclaimed and the duration. `mergeNow` is the one way a merge
 * starts here: never two at once.
 */
export class AutoMerger {
  private readonly opts: AutoMergeOptions;
  private readonly ticker: Ticker;
  private readonly now: () => number;
  private running: Promise<MergeOutcome> | undefined;
  private stopped = false;
  private failuresInARow = 0;
  private retryAt = Number.NEGATIVE_INFINITY;
  private readonly counts = { merges: 0, failures: 0 };
  private last: AutoMergeStatus['last'];

  constructor(opts: AutoMergeOptions) {
    checkAutoMergeSettings(opts);
    this.opts = opts;
    this.ticker = opts.ticker ?? intervalTicker(opts.checkIntervalMs);
    this.now = opts.now ?? (() => performance.now());
  }

  /** Whether merges start by themselves (`deadRatio` > 0). */
  get enabled(): boolean {
    return this.opts.deadRatio > 0;
  }

  /** Starts the periodic checks (none when disabled). */
  start(): void {
    if (this.enabled && !this.stopped) this.ticker.start(() => void this.check());
  }

  /** Stops the checks; a running merge is abandoned at its next slice. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.ticker.stop();
  }

  /** Counters for INFO. */
  status(): AutoMergeStatus {
    return { enabled: this.enabled, inProgress: this.running !== undefined, ...this.counts, last: this.last };
  }

  /**
   * One check: merges when the store calls for it (see `mergeTrigger`), no merge runs,
   * the node is not stopping and no back-off is pending. Resolves with the outcome of
   * the merge it started, or undefined when it started none.
   */
  check(): Promise<MergeOutcome> | undefined {
    if (this.stopped || this.running || this.now() < this.retryAt) return undefined;
    const trigger = mergeTrigger(this.opts.store.stats(), this.opts);
    return trigger === undefined ? undefined : this.mergeNow(trigger);
  }

  /**
   * Merges now, throttled, whatever the counters say; `trigger` says why, for the log.
   * While a merge runs, resolves with that merge's outcome instead of starting another.
   * Never rejects: failures are outcomes.
   */
  mergeNow(trigger: string): Promise<MergeOutcome> {
    this.running ??= this.run(trigger).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(trigger: string): Promise<MergeOutcome> {
    const { store, logger, bytesPerSecond } = this.opts;
    const started = this.now();
    const elapsed = (): number => Math.round(this.now() - started);
    const rate = bytesPerSecond > 0 ? `at most ${mib(bytesPerSecond)}/s` : 'unthrottled';
    try {
      this.checkRoom(store.stats().liveBytes);
      logger.info(`merge: starting (${trigger}; ${rate})`);
      const result = await store.merge({
        yieldEveryBytes: MERGE_SLICE_BYTES,
        pace: mergeThrottle({ bytesPerSecond, now: this.now, sleep: this.opts.sleep ?? realSleep, check: () => this.checkGoOn() }),
        // Renames, the switch and the deletions each get a turn of the event loop to themselves.
        onStep: () => (this.opts.sleep ?? realSleep)(0),
      });
      const durationMs = elapsed();
      this.counts.merges++;
      this.failuresInARow = 0;
      this.retryAt = Number.NEGATIVE_INFINITY;
      this.last = { ok: true, reclaimedBytes: result.reclaimedBytes, durationMs };
      this.opts.onMerged?.(durationMs / 1000);
      logger.info(
        `merge: done in ${seconds(durationMs)}: reclaimed ${mib(result.reclaimedBytes)} (${result.inputFiles} files of ${mib(result.inputBytes)} became ${result.outputFiles} of ${mib(result.outputBytes)}, ${result.liveKeys} live keys)`,
      );
      return { kind: 'done', result, durationMs };
    } catch (err) {
      const durationMs = elapsed();
      if (hasCode(err, 'CLOSED') || hasCode(err, 'BUSY')) {
        logger.info(`merge: abandoned after ${seconds(durationMs)}: ${messageOf(err)}`);
        return { kind: 'abandoned', reason: messageOf(err), durationMs };
      }
      this.counts.failures++;
      this.failuresInARow++;
      const { checkIntervalMs } = this.opts;
      const retryInMs = Math.min(checkIntervalMs * 2 ** this.failuresInARow, Math.max(MAX_BACKOFF_MS, checkIntervalMs));
      this.retryAt = this.now() + retryInMs;
      this.last = { ok: false, reclaimedBytes: 0, durationMs };
      logger.warn(`merge failed after ${seconds(durationMs)}, nothing changed: ${messageOf(err)}; next attempt in ${seconds(retryInMs)}`);
      return { kind: 'failed', error: messageOf(err), durationMs, retryInMs };
    }
  }

  /** Throws what stops a running merge: the node or store stopping, a snapshot install, a disk nearly full. */
  private checkGoOn(): void {
    const { store } = this.opts;
    if (this.stopped || store.closing) throw new BitraftError('CLOSED', 'the node is stopping');
    if (store.isReplacing) throw new BitraftError('BUSY', 'a snapshot is being installed');
    this.checkRoom(0);
  }

  /** Throws `DISK_FULL` unless `bytes` more can be written with `minFreeBytes` left free. */
  private checkRoom(bytes: number): void {
    const { freeBytes, minFreeBytes = 0 } = this.opts;
    if (!freeBytes) return;
    const free = freeBytes();
    if (free - bytes >= minFreeBytes) return;
    const need = bytes > 0 ? `the merge needs up to ${mib(bytes)} for the live data it copies, ` : '';
    throw new BitraftError('DISK_FULL', `not enough free space: ${need}${mib(free)} free, and ${mib(minFreeBytes)} must stay free (--min-free-space)`);
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
