import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { Bitcask, processAlive, readLockPid } from '../bitcask/index.js';
import { BitraftError, LockedError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { StateRecord } from './decoder.js';
import { writeStateFile } from './state-file.js';
import { encodeExpiryRecords } from './expiry-records.js';

/** Options of `snapshotDirectory`. */
export interface SnapshotDirectoryOptions {
  /** Read a directory that a running node holds (its state as the files show it at that moment). */
  forceRead?: boolean;
  logger: Logger;
}

/**
 * Writes the key/value contents of the data directory `dir` as a `state.bin` (the Go
 * bitraft format, with bitraft's expiry records first) to `output`, reading the store without changing anything. Refuses a
 * directory locked by a running node (`LOCKED`) unless `forceRead`, and a directory that
 * does not exist (`NOT_FOUND`). Resolves with the number of records written.
 */
export async function snapshotDirectory(dir: string, output: Writable, options: SnapshotDirectoryOptions): Promise<number> {
  if (!fs.existsSync(dir)) throw new BitraftError('NOT_FOUND', `${path.resolve(dir)} does not exist`);
  const pid = readLockPid(dir);
  if (pid !== undefined && processAlive(pid) && !options.forceRead) throw new LockedError(dir, pid);
  const store = await Bitcask.open(dir, { readOnly: true, cacheSize: 0, logger: options.logger });
  try {
    return await writeStateFile(records(store), output);
  } finally {
    await store.close();
  }
}

/** The expiry records (see `expiry-records.ts`), then every key and value. */
function* records(store: Bitcask): Generator<StateRecord> {
  yield* encodeExpiryRecords(store.expiring());
  for (const [key, value] of store.entries()) yield { key, value };
}
