import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, readIfExists } from '../bitcask/fs-util.js';
import { crc32 } from '../support/crc32.js';
import type { Logger } from '../support/logger.js';

/** The file, in the Raft directory, holding the last log index whose effects the store holds durably. */
export const APPLIED_FILE = 'applied';

/**
 * Reads the applied index saved in `dir`: 0 when there is none. A damaged file is
 * reported and read as 0 — replaying the log from its start is always safe (see
 * `AppliedCheckpoint`), only slower.
 */
export function readAppliedIndex(dir: string, logger: Logger): number {
  const file = path.join(dir, APPLIED_FILE);
  const text = readIfExists(file)?.toString('utf8');
  if (text === undefined) return 0;
  const m = /^(\d+) (\d+)\n$/.exec(text);
  if (m && crc32(Buffer.from(m[1]!)) === Number(m[2])) return Number(m[1]);
  logger.warn(`${file} is damaged; the whole log will be replayed`);
  return 0;
}

/** Atomically replaces the applied index saved in `dir`. */
export function writeAppliedIndex(dir: string, index: number): void {
  const file = path.join(dir, APPLIED_FILE);
  const tmp = `${file}.tmp`;
  const text = String(index);
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
  /** The store the applied entries wrote to; `sync()` resolves once all of it is durable. */
  store: { sync(): Promise<void> };
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
 * the index applied before that fsync saved. So the saved index never runs ahead of the
 * data, and may lag it: on restart the entries in between are applied a second time.
 * That is harmless because every replicated command sets each key it touches to a value
 * (or deletes it) regardless of the key's current value — applying entries a second
 * time, in order, ends in the same state. A command whose effect depends on the current
 * value (INCR, APPEND) must not be added before this index moves into the store's own
 * records.
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
      const index = this.opts.applied();
      if (index <= this.saved) return;
      try {
        await this.opts.store.sync();
        writeAppliedIndex(this.opts.dir, index);
        this.saved = index;
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
      writeAppliedIndex(this.opts.dir, index);
      this.saved = index;
    });
    this.saving = run.catch(() => {});
    return run;
  }

  /** Stops the timer and saves one last time. */
  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.save();
  }
}
