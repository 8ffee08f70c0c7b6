/**
 * Names of the files of a Bitcask directory.
 *
 * A data file is identified by `(major, minor)`. Files written by appends have
 * `minor = 0` and a `major` one higher than any before. A merge of every file up to
 * and including major `M` writes its output as `(M, n)` with `n` above any minor
 * already used for `M`, so output files sort after the files they replace and before
 * every newer file. Loading files in this order always yields the newest value of a
 * key, even when a crash left both a merge's output and some of its inputs on disk.
 */
export interface FileId {
  major: number;
  minor: number;
}

const DATA_RE = /^(\d{10})(?:\.(\d{6}))?\.data$/;

/** Compares two ids in load order. */
export function compareFileIds(a: FileId, b: FileId): number {
  return a.major - b.major || a.minor - b.minor;
}

/** The base name (no extension) of a file id: `0000000007` or `0000000007.000001`. */
export function fileBaseName(id: FileId): string {
  const major = String(id.major).padStart(10, '0');
  return id.minor === 0 ? major : `${major}.${String(id.minor).padStart(6, '0')}`;
}

/** Name of the data file of `id`. */
export function dataFileName(id: FileId): string {
  return `${fileBaseName(id)}.data`;
}

/** Name of the hint file of `id`. */
export function hintFileName(id: FileId): string {
  return `${fileBaseName(id)}.hint`;
}

/** Parses a data file name, or returns undefined for any other name. */
export function parseDataFileName(name: string): FileId | undefined {
  const m = DATA_RE.exec(name);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: m[2] === undefined ? 0 : Number(m[2]) };
}

/** Suffix of files being written that are not yet part of the directory's contents. */
export const TEMP_SUFFIX = '.tmp';
