import fs from 'node:fs';
import path from 'node:path';

/** Fsyncs a directory so that renames, creations and deletions in it are durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** `fsyncDir` with the fsync on the thread pool, so the event loop goes on meanwhile. */
export function fsyncDirAsync(dir: string): Promise<void> {
  const fd = fs.openSync(dir, 'r');
  return new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve()))).finally(() => fs.closeSync(fd));
}

/**
 * Creates `dir` and its missing parents, durably: the parent of each directory created
 * is fsynced, so a crash cannot lose the new directory (and what is later made durable
 * in it). Does nothing, and syncs nothing, when `dir` exists.
 */
export function mkdirDurable(dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  // From `dir` up to the first directory created: each one's entry is in its parent.
  const stop = path.dirname(path.resolve(first));
  for (let d = path.resolve(dir); d !== stop; d = path.dirname(d)) fsyncDir(path.dirname(d));
}
