import fs from 'node:fs';
import path from 'node:path';
import { CorruptionError } from '../support/errors.js';
import { writeFully } from './datafile.js';
import { parseDataFileName, TEMP_SUFFIX, type FileId } from './file-id.js';
import { fsyncDir, readIfExists } from './fs-util.js';

/**
 * The marker of a `Bitcask.replaceAll` in progress: a small JSON file, `RESTORE`, in the
 * store directory. A replace writes the new contents into data files whose major number
 * is at least `from`; every older file holds the old contents.
 *
 * - `writing`: the new files may be incomplete; the old contents stand, and files with a
 *   major of `from` or more are to be deleted.
 * - `done`: the new files are complete and durable; they are the contents, and files with
 *   a major below `from` are to be deleted.
 *
 * The marker is replaced atomically (temporary file, fsync, rename, directory fsync), so
 * a crash leaves either phase, never a torn marker. Opening the store settles it first.
 */
export interface ReplaceMarker {
  /** Lowest major number of the new files. */
  from: number;
  phase: 'writing' | 'done';
}

/** Name of the marker file in the store directory. */
export const REPLACE_MARKER_FILE = 'RESTORE';

/** Writes `marker` durably, replacing any earlier one. */
export function writeReplaceMarker(dir: string, marker: ReplaceMarker): void {
  const file = path.join(dir, REPLACE_MARKER_FILE);
  const tmp = file + TEMP_SUFFIX;
  const bytes = Buffer.from(`${JSON.stringify({ from: marker.from, phase: marker.phase })}\n`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    writeFully(fd, bytes, bytes.length, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/** The marker in `dir`, or undefined when there is none. A malformed marker raises `CorruptionError`. */
export function readReplaceMarker(dir: string): ReplaceMarker | undefined {
  const file = path.join(dir, REPLACE_MARKER_FILE);
  const data = readIfExists(file);
  if (!data) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const m = parsed as Partial<ReplaceMarker> | undefined;
  if (
    typeof m !== 'object' ||
    m === null ||
    !Number.isSafeInteger(m.from) ||
    (m.from as number) < 0 ||
    (m.phase !== 'writing' && m.phase !== 'done')
  ) {
    throw new CorruptionError(file, 0, 'not a replace marker');
  }
  return { from: m.from as number, phase: m.phase };
}

/** Whether a file belongs to the contents that `marker` says stand. */
export function markerKeeps(marker: ReplaceMarker, id: FileId): boolean {
  return marker.phase === 'done' ? id.major >= marker.from : id.major < marker.from;
}

/**
 * Finishes what a marker left: deletes the data and hint files of the contents that do
 * not stand (see `markerKeeps`), fsyncs the directory, then removes the marker and fsyncs
 * again. Safe to repeat after a crash at any point.
 */
export function settleReplaceMarker(dir: string, marker: ReplaceMarker): void {
  deleteReplacedFiles(dir, marker);
  removeReplaceMarker(dir);
}

/** Deletes the data and hint files that `marker` says do not stand, and fsyncs the directory. */
export function deleteReplacedFiles(dir: string, marker: ReplaceMarker): void {
  for (const name of fs.readdirSync(dir)) {
    const id = parseDataFileName(name.endsWith('.hint') ? `${name.slice(0, -'.hint'.length)}.data` : name);
    if (id && !markerKeeps(marker, id)) fs.rmSync(path.join(dir, name), { force: true });
  }
  fsyncDir(dir);
}

/** Removes the marker durably. */
export function removeReplaceMarker(dir: string): void {
  fs.rmSync(path.join(dir, REPLACE_MARKER_FILE), { force: true });
  fsyncDir(dir);
}
