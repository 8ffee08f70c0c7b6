import fs from 'node:fs/promises';
import path from 'node:path';

/** `op`'s result, or `gone` when what it reads does not exist (ENOENT). */
async function unlessGone<T>(op: Promise<T>, gone: T): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return gone;
    throw err;
  }
}

/**
 * Bytes of every file under `dir`, subdirectories included; 0 for a missing directory.
 * Entries removed while it walks (a snapshot being replaced) count as 0; other errors reject.
 */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await unlessGone(fs.readdir(dir, { withFileTypes: true }), [])) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await directoryBytes(p) : await unlessGone(fs.stat(p).then((s) => s.size), 0);
  }
  return total;
}
