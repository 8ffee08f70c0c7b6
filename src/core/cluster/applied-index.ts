import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, readIfExists } from '../bitcask/fs-util.js';
import { crc32 } from '../support/crc32.js';
import type { Logger } from '../support/logger.js';

/**
 * The file, in the Raft directory, holding the last log index whose effects the store
 * holds durably, and where the store's data was durable then. One line: `<index> <crc>`,
 * or `<index> <data file> <size> <crc>` with the position, the CRC-32 being of the text
 * before it.
 */
export const APPLIED_FILE = 'applied';

/** Where the store's data was durable: its active data file then and the bytes of it fsynced (see `Bitcask.durablePosition`). */
export interface StorePosition {
  /** The data file's name in the store's directory (no whitespace). */
  readonly file: string;
  readonly size: number;
}

/** What the applied-index file holds. */
export interface AppliedState {
  /** The last log index whose effects the store holds durably (0: none saved, or unreadable). */
  readonly index: number;
  /** Where the store's data was durable when `index` was saved; absent in files written without it. */
  readonly position?: StorePosition;
  /**
   * Set when there is no file, or it is damaged: how much of the log the store holds is
   * not known (`index` is then 0). Replaying the log from its start onto a store that
   * holds anything would apply some entries twice (see `Cluster.open`).
   */
  readonly unknown?: true;
}

/**
 * Reads the applied index and store position saved in `dir`. Without a file, or with a
 * damaged one (reported), the index is 0 and `unknown` is set.
 */
export function readApplied(dir: string, logger: Logger): AppliedState {
  const file = path.join(dir, APPLIED_FILE);
  const text = readIfExists(file)?.toString('utf8');
  if (text === undefined) return { index: 0, unknown: true };
  const m = /^((\d+)(?: (\S+) (\d+))?) (\d+)\n$/.exec(text);
  if (m && crc32(Buffer.from(m[1]!)) === Number(m[5])) {
    const index = Number(m[2]);
    return m[3] === undefined ? { index } : { index, position: { file: m[3], size: Number(m[4]) } };
  }
  logger.warn(`${file} is damaged: how much of the log the store holds is not known`);
  return { index: 0, unknown: true };
}

/** The applied index saved in `dir` (`readApplied` without the position). */
export function readAppliedIndex(dir: string, logger: Logger): number {
  return readApplied(dir, logger).index;
}

/**
 * Atomically replaces the applied index saved in `dir`, with the store's durable
 * `position` when given. Throws `TypeError` for a file name holding whitespace.
 */
export function writeAppliedIndex(dir: string, index: number, position?: StorePosition): void {
  if (position && !/^\S+$/.test(position.file)) throw new TypeError(`not a data file name: ${JSON.stringify(position.file)}`);
  const file = path.join(dir, APPLIED_FILE);
  const tmp = `${file}.tmp`;
  const text = position ? `${index} ${position.file} ${position.size}` : String(index);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, `${text} ${crc32(Buffer.from(text))}\n`);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/** Settings of an `AppliedCheckpoint`. */
export interface AppliedCheckpointOptions {
  /** The Raft directory the index is saved in. */
  dir: string;
  /**
   * The store the applied entries wrote to: `appendedPosition()` says where its appends
   * stand (taken together with the index), `sync()` resolves once they are durable, and
   * `protectFrom` keeps merges away from what comes after the position saved.
   */
  store: { sync(): Promise<void>; appendedPosition?(): StorePosition | undefined; protectFrom?(position: StorePosition): void };
  /** The index applied to the store so far. */
  applied: () => number;
  logger: Logger;
  /** How often the index is saved while it moves. */
  intervalMs: number;
}

/**
 * Records how far the store has durably applied the log, so a restart replays only the
 * entries after it. The store is written without fsync as entries are applied (the log
 * holds them durably already); every `intervalMs` the store is fsynced, and only then is
 * the index applied before that fsync saved, with the position the store's appends had
 * reached at that same moment. So the saved index never runs ahead of the data, and may
 * lag it. On restart the store is first rolled back to that position (`rollBackTo`),
 * removing the effects of the entries after the index, and those entries are then
 * applied again from the log: each meets the store exactly as the first time, so a
 * command whose effect depends on the current value (INCR, APPEND) is never applied
 * twice. Merges are kept to the files before the saved position (`protectFrom`).
 *
 * A store that holds less than that position lost data the index counts as applied,
 * which the replay would not bring back (`Cluster.open` rebuilds it then).
 */
export class AppliedCheckpoint {
  private readonly opts: AppliedCheckpointOptions;
  private saved: number;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(opts: AppliedCheckpointOptions, saved: number) {
    this.opts = opts;
    this.saved = saved;
  }

  /** The index last saved. */
  get savedIndex(): number {
    return this.saved;
  }

  /** Saves every `intervalMs` from now on. */
  start(): void {
    this.timer = setInterval(() => void this.save(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Fsyncs the store and saves the index applied before it, if it moved. Never rejects: a failure is logged. */
  save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      // The index and the position are taken together: nothing is applied in between.
      const index = this.opts.applied();
      const position = this.opts.store.appendedPosition?.();
      if (index <= this.saved) return;
      try {
        await this.opts.store.sync();
        this.write(index, position);
      } catch (err) {
        this.opts.logger.warn(`saving the applied index failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    return this.saving;
  }

  /**
   * Saves `index` as applied once the store is durable (after an installed snapshot
   * replaced the store). Rejects if the store's fsync or the write fails.
   */
  saveIndex(index: number): Promise<void> {
    const run = this.saving.then(async () => {
      await this.opts.store.sync();
      this.write(index, this.opts.store.appendedPosition?.());
    });
    this.saving = run.catch(() => {});
    return run;
  }

  /** Saves `index` with `position` and keeps merges away from what comes after it. */
  private write(index: number, position: StorePosition | undefined): void {
    writeAppliedIndex(this.opts.dir, index, position);
    this.saved = index;
    if (position) this.opts.store.protectFrom?.(position);
  }

  /** Stops the timer and saves one last time. */
  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.save();
  }
}
