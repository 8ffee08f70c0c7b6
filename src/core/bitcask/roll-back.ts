import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../support/logger.js';
import { compareFileIds, hintFileName, parseDataFileName } from './file-id.js';
import { fsyncDir } from './fs-util.js';

/** A place in a store's files: its active data file then, and a byte offset in it (see `Bitcask.appendedPosition`). */
export interface StoreMark {
  /** The data file's name, such as `0000000003.data`. */
  readonly file: string;
  readonly size: number;
}

/**
 * Takes a store directory back to `mark` before it is opened: every byte appended after
 * it goes — the mark's file is cut to `mark.size` (its hint removed, so it is scanned)
 * and newer appended files are deleted. A Raft node marks its store when it saves its
 * applied index, and rolls back to the mark on start, so that the entries after that
 * index, replayed from the log, meet the store exactly as it was when they were first
 * applied: an INCR is never applied twice.
 *
 * Nothing happens when there is nothing after the mark, and — with a warning — when the
 * mark's file is gone (a merge or a replace took its place: they only ever take files the
 * mark covers, or replace everything) or a merge's output newer than it exists (then the
 * later bytes cannot be told apart). Returns the bytes removed.
 */
export function rollBackTo(dir: string, mark: StoreMark, logger: Logger): number {
  const id = parseDataFileName(mark.file);
  const file = path.join(dir, mark.file);
  if (!id || !fs.existsSync(file)) return 0;
  const newer = fs
    .readdirSync(dir)
    .map((name) => ({ name, id: parseDataFileName(name) }))
    .filter((f) => f.id !== undefined && compareFileIds(f.id, id) > 0);
  if (newer.some((f) => f.id!.minor > 0)) {
    logger.warn(`not rolling the store back to ${mark.file} at byte ${mark.size}: a merge wrote files after it`);
    return 0;
  }
  const size = fs.statSync(file).size;
  let removed = Math.max(0, size - mark.size);
  for (const f of newer) removed += fs.statSync(path.join(dir, f.name)).size;
  if (removed === 0 && newer.length === 0) return 0;
  for (const f of newer) {
    fs.rmSync(path.join(dir, f.name));
    fs.rmSync(path.join(dir, hintFileName(f.id!)), { force: true });
  }
  if (size > mark.size) {
    fs.rmSync(path.join(dir, hintFileName(id)), { force: true });
    const fd = fs.openSync(file, 'r+');
    try {
      fs.ftruncateSync(fd, mark.size);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  fsyncDir(dir);
  logger.info(`rolled the store back to ${mark.file} at byte ${mark.size}, where the applied index was saved: ${removed} bytes written after it go, and the log replays them`);
  return removed;
}
