import { systemClock, type Clock } from '../support/clock.js';
import { BitraftError } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';

/**
 * When appends reach stable storage:
 * - `always`: every write is fsynced at the end of the event-loop turn that made it,
 *   one fsync for all writes of that turn (group commit); `sync()` resolves once covered.
 * - `interval`: an fsync every `syncIntervalMs`.
 * - `none`: never fsynced explicitly; written to the OS at the end of each turn.
 */
export type SyncMode = 'always' | 'interval' | 'none';

/** Options of `Bitcask.open`. Every size is in bytes. */
export interface BitcaskOptions {
  /** The active file is rotated before it would grow past this (default 256 MiB, at most 2 GiB). */
  maxFileSize?: number;
  /** Largest key accepted (default 1 MiB). */
  maxKeySize?: number;
  /** Largest value accepted (default 512 MiB, Redis's bulk limit). */
  maxValueSize?: number;
  sync?: SyncMode;
  /** Period of `interval` syncs (default 1000 ms). */
  syncIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Open without the lock, never write, create, truncate or remove anything. */
  readOnly?: boolean;
  /** Bytes of recently written or read values kept in memory to spare disk reads (default 64 MiB; 0 disables). */
  cacheSize?: number;
  /** Told of every fsync of the group commit (`sync`, and writes in `always` mode) once it succeeded, with the seconds it took. */
  onSync?: (seconds: number) => void;
}

/** The default `onSync`: nobody is told. */
export const ignoreSync = (_seconds: number): void => {};

/** Options with every default filled in. */
export type ResolvedOptions = Required<BitcaskOptions>;

const MiB = 1 << 20;
const MAX_FILE_SIZE_LIMIT = 2 * 1024 * MiB;
const MAX_VALUE_SIZE_LIMIT = 2 * 1024 * MiB - 64 * 1024;
const MAX_KEY_SIZE_LIMIT = 64 * MiB;

/** Fills in defaults and rejects impossible settings with an `INVALID_ARGUMENT` error. */
export function resolveOptions(opts: BitcaskOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    maxFileSize: opts.maxFileSize ?? 256 * MiB,
    maxKeySize: opts.maxKeySize ?? MiB,
    maxValueSize: opts.maxValueSize ?? 512 * MiB,
    sync: opts.sync ?? 'always',
    syncIntervalMs: opts.syncIntervalMs ?? 1000,
    clock: opts.clock ?? systemClock,
    logger: opts.logger ?? silentLogger,
    readOnly: opts.readOnly ?? false,
    cacheSize: opts.cacheSize ?? 64 * MiB,
    onSync: opts.onSync ?? ignoreSync,
  };
  checkRange('maxFileSize', resolved.maxFileSize, 64, MAX_FILE_SIZE_LIMIT);
  checkRange('maxKeySize', resolved.maxKeySize, 1, MAX_KEY_SIZE_LIMIT);
  checkRange('maxValueSize', resolved.maxValueSize, 0, MAX_VALUE_SIZE_LIMIT);
  checkRange('cacheSize', resolved.cacheSize, 0, Number.MAX_SAFE_INTEGER);
  checkRange('syncIntervalMs', resolved.syncIntervalMs, 1, 3_600_000);
  if (!['always', 'interval', 'none'].includes(resolved.sync)) {
    throw new BitraftError('INVALID_ARGUMENT', `sync must be always, interval or none, not ${String(resolved.sync)}`);
  }
  return resolved;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BitraftError('INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}, not ${value}`);
  }
}
