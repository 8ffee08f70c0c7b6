import fs from 'node:fs';
import path from 'node:path';
import { LockedError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';

/** Name of the lock file inside a data directory. */
export const LOCK_FILE = 'LOCK';

/** A held directory lock; `release` removes it (idempotent). */
export interface DirLock {
  readonly path: string;
  release(): void;
}

/** The pid recorded in a lock file, or undefined when it has none readable. */
export function readLockPid(dir: string): number | undefined {
  return readPidFile(path.join(dir, LOCK_FILE));
}

/** A positive decimal pid alone in `file` (whitespace aside), else undefined; never throws. */
function readPidFile(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'latin1').trim();
    const pid = Number(text);
    return /^\d+$/.test(text) && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (EPERM means it exists under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of `dir` for this process: creates `LOCK` exclusively with our pid.
 * A lock whose pid is not alive (or that is unreadable) is stale and taken over, with a
 * log line. A lock held by a live process — this one included — raises `LockedError`.
 */
export function acquireLock(dir: string, logger: Logger): DirLock {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      let released = false;
      return {
        path: file,
        release: () => {
          if (released) return;
          released = true;
          if (readLockPid(dir) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = readLockPid(dir);
    if (pid !== undefined && processAlive(pid)) throw new LockedError(dir, pid);
    if (attempt >= 3) throw new LockedError(dir, pid ?? 0);
    // Move the stale lock aside under a name of our own, so two processes taking over
    // at once cannot both remove it; only the one whose rename succeeds goes on.
    const aside = `${file}.stale.${process.pid}`;
    try {
      fs.renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const movedPid = readPidFile(aside);
    if (movedPid !== undefined && movedPid !== pid && processAlive(movedPid)) {
      // Another process took the lock between our read and our rename: give it back.
      fs.renameSync(aside, file);
      throw new LockedError(dir, movedPid);
    }
    fs.rmSync(aside, { force: true });
    logger.warn(`took over stale lock ${file} left by process ${pid ?? 'unknown'}`);
  }
}
