import fs from 'node:fs';

export { fsyncDir, fsyncDirAsync, mkdirDurable } from '../support/fs-durable.js';

/** Reads a whole file, or returns undefined when it does not exist. */
export function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
