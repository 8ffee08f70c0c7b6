import fs from 'node:fs';
import path from 'node:path';
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
  /** Report what a merge would reclaim without changing anything (and without the lock). */
  dryRun?: boolean;
  logger?: Logger;
  /** Called as the merge moves on, for progress display. */
  onProgress?: (step: MergeStep | 'opened' | 'sealed') => void;
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
 */
export async function mergeDirectory(dir: string, opts: MergeDirectoryOptions = {}): Promise<MergeDirectoryReport> {
  const logger = opts.logger;
  const progress = opts.onProgress ?? (() => undefined);
  if (opts.dryRun) {
    const store = await Bitcask.open(dir, { readOnly: true, logger });
    try {
      progress('opened');
      const before = summarize(dir, store);
      const after: DirSummary = { files: before.files, bytes: before.bytes - before.deadBytes, liveKeys: before.liveKeys, deadBytes: 0 };
      return { dir, dryRun: true, before, after, reclaimedBytes: before.deadBytes };
    } finally {
      await store.close();
    }
  }
  const store = await Bitcask.open(dir, { logger, sync: 'none' });
  try {
    progress('opened');
    const before = summarize(dir, store);
    store.rotate();
    progress('sealed');
    await store.merge({ onStep: (step) => progress(step) });
    await store.close();
    const after = summarize(dir, store, before.liveKeys);
    return { dir, dryRun: false, before, after, reclaimedBytes: Math.max(0, before.bytes - after.bytes) };
  } finally {
    await store.close();
  }
}

function summarize(dir: string, store: Bitcask, liveKeys?: number): DirSummary {
  let files = 0;
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) {
    const isData = parseDataFileName(name) !== undefined;
    if (!isData && !name.endsWith('.hint')) continue;
    if (isData) files++;
    bytes += fs.statSync(path.join(dir, name)).size;
  }
  if (liveKeys !== undefined) return { files, bytes, liveKeys, deadBytes: 0 };
  const stats = store.stats();
  return { files, bytes, liveKeys: stats.liveKeys, deadBytes: stats.deadBytes };
}
