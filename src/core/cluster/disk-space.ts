import fs from 'node:fs';
import { messageOf } from '../support/error-message.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';

/** Settings of a `DiskSpaceGuard`. */
export interface DiskSpaceOptions {
  /** The data directory whose file system is watched. */
  dir: string;
  /** Writes are refused while fewer bytes than this would be left free; 0 turns the guard off. */
  minFreeBytes: number;
  /** How often free space is measured (default 1000 ms). */
  intervalMs?: number;
  /** Measures the free bytes of `dir`'s file system (default: `statfs`, space available to this user). */
  freeBytes?: (dir: string) => number;
  logger: Logger;
}

/** Free bytes of the file system holding `dir`, as `statfs` reports them to an unprivileged user. */
export function statfsFreeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** `n` bytes in MiB, for messages. */
export const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** Once writes are refused, they are accepted again only with this much more free than the limit (no flapping). */
const HYSTERESIS = 1.25;

/**
 * Refuses writes before the disk fills up, so a node never has to fail a write to its
 * log or data files half-way (`--min-free-space`). Free space is measured every
 * `intervalMs` (and again when a write would cross the limit); between measurements
 * each accepted write counts as twice its size (the log entry, then the data record).
 * Once a write is refused, every write is, until a measurement finds a quarter more
 * free than the limit. Both changes are logged, once each.
 */
export class DiskSpaceGuard {
  private readonly opts: DiskSpaceOptions;
  private readonly measure: (dir: string) => number;
  private free = Number.POSITIVE_INFINITY;
  private low = false;
  private unmeasurable = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(opts: DiskSpaceOptions) {
    this.opts = opts;
    this.measure = opts.freeBytes ?? statfsFreeBytes;
    if (opts.minFreeBytes <= 0) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Free bytes as last measured, minus the writes accepted since (Infinity when off or unmeasurable). */
  get freeBytes(): number {
    return this.free;
  }

  /**
   * Undefined when a write of `bytes` may go ahead (it is then counted), else the
   * `DISK_FULL` error to answer it with.
   */
  refuse(bytes: number): BitraftError | undefined {
    const { minFreeBytes, dir, logger } = this.opts;
    if (minFreeBytes <= 0) return undefined;
    if (this.low || this.free - 2 * bytes < minFreeBytes) this.refresh();
    if (this.low || this.free - 2 * bytes < minFreeBytes) {
      if (!this.low) logger.warn(`disk nearly full: ${mib(this.free)} free in ${dir}, below --min-free-space ${mib(minFreeBytes)}; writes are refused`);
      this.low = true;
      return new BitraftError('DISK_FULL', `disk full: ${mib(this.free)} free in ${dir}, below --min-free-space ${mib(minFreeBytes)}; writes are refused until space is freed`);
    }
    this.free -= 2 * bytes;
    return undefined;
  }

  /** Measures free space now. */
  refresh(): void {
    try {
      this.free = this.measure(this.opts.dir);
      this.unmeasurable = false;
    } catch (err) {
      // Unmeasurable (the directory went away, say): do not refuse writes on a guess.
      this.free = Number.POSITIVE_INFINITY;
      if (!this.unmeasurable) this.opts.logger.warn(`cannot measure free space in ${this.opts.dir}: ${messageOf(err)}`);
      this.unmeasurable = true;
    }
    if (this.low && this.free >= this.opts.minFreeBytes * HYSTERESIS) {
      this.low = false;
      this.opts.logger.info(`disk space back: ${mib(this.free)} free in ${this.opts.dir}; writes are accepted again`);
    }
  }

  /** Stops measuring. */
  close(): void {
    clearInterval(this.timer);
  }
}
