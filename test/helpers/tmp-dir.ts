import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh empty directory under the OS temp dir; removed when the test ends. */
export function tmpDir(t: { teardown(fn: () => void): void }, prefix = 'bitraft-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
