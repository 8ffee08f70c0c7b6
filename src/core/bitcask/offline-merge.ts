import fs from 'node:fs';
import path from 'node:path';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { parseDataFileName } from './file-id.js';
import type { MergeStep } from './merge.js';
import { Bitcask } from './store.js';

/** Size of a data directory's store files. */
export interface DirSummary {
  /** Data files. */
  files: number;
  /** Bytes of data and hint files. */
  bytes: number;
  liveKeys: number;
  /** Bytes of superseded records and tombstones. */
  deadBytes: number;
}

/** Options of `mergeDirectory`. */
export interface MergeDirectoryOptions {
  /** Report what a merge would reclaim without changing anything (and without the lock); `after` is then an estimate. */
  dryRun?: boolean;
  logger?: Logger;
  /** Called as the merge moves on, for progress display. */
  onProgress?: (step: MergeStep | 'opened' | 'sealed') => void;
  /**
   * The mark a Raft node saved with its applied index (see `Bitcask.protectFrom`): files
   * from its file on are left unmerged, so the node can still roll its store back to it.
   */
  keepFrom?: { readonly file: string; readonly size: number };
}

/** Before and after of an offline merge (after equals before for a dry run). */
export interface MergeDirectoryReport {
  dir: string;
  dryRun: boolean;
  before: DirSummary;
  after: DirSummary;
  reclaimedBytes: number;
}

/**
 * Offline compaction of a data directory: takes its lock (`LockedError` if a live
 * process holds it), seals the active file so that every file can be merged, merges,
 * and closes. With `dryRun`, opens read-only and reports the dead bytes instead.
 * A missing directory raises `NOT_FOUND`.
 */
export async function mergeDirectory(dir: string, opts: MergeDirectoryOptions = {}): Promise<MergeDirectoryReport> {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new BitraftError('NOT_FOUND', `no data directory at ${dir}`);
  }
  const logger = opts.logger;
  const progress = opts.onProgress ?? (() => undefined);
  const onDisk = countFiles(dir);
  if (opts.dryRun) {
    const store = await Bitcask.open(dir, { readOnly: true, logger });
    try {
      progress('opened');
      const stats = store.stats();
      const before: DirSummary = { ...onDisk, liveKeys: stats.liveKeys, deadBytes: stats.deadBytes };
      const after: DirSummary = {
        files: Math.max(1, Math.ceil(stats.liveBytes / store.options.maxFileSize)) + 1,
        bytes: onDisk.bytes - stats.deadBytes,
        liveKeys: stats.liveKeys,
        deadBytes: 0,
      };
      return { dir, dryRun: true, before, after, reclaimedBytes: stats.deadBytes };
    } finally {
      await store.close();
    }
  }
  const store = await Bitcask.open(dir, { logger, sync: 'none' });
  try {
    if (opts.keepFrom) store.protectFrom(opts.keepFrom);
    progress('opened');
    const stats = store.stats();
    const before: DirSummary = { ...onDisk, liveKeys: stats.liveKeys, deadBytes: stats.deadBytes };
    store.rotate();
    progress('sealed');
    // Nothing dead and at most one file to rewrite: a merge would only copy it.
    if (stats.deadBytes > 0 || store.stats().dataFiles > 2) await store.merge({ onStep: (step) => progress(step) });
    await store.close();
    const after: DirSummary = { ...countFiles(dir), liveKeys: before.liveKeys, deadBytes: 0 };
    return { dir, dryRun: false, before, after, reclaimedBytes: Math.max(0, before.bytes - after.bytes) };
  } finally {
    await store.close();
  }
}

/** Data files and the bytes of data and hint files in `dir`. */
function countFiles(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) {
    const isData = parseDataFileName(name) !== undefined;
    if (!isData && !name.endsWith('.hint')) continue;
    if (isData) files++;
    bytes += fs.statSync(path.join(dir, name)).size;
  }
  return { files, bytes };
}
