import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LOCK_FILE, acquireLock, processAlive, readLockPid } from '../../../src/core/bitcask/lock.js';
import { BitraftError, LockedError } from '../../../src/core/support/errors.js';
import { memoryLogger, silentLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

type LockModule = typeof import('../../../src/core/bitcask/lock.js');

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  if (r.pid === undefined || r.pid <= 0) throw new Error('could not spawn a child');
  return r.pid;
}

/** A pid that is alive and is not ours: the process that started this test. */
const otherLivePid = process.ppid;

const lockFile = (dir: string) => path.join(dir, LOCK_FILE);

function expectLocked(t: Test, fn: () => unknown, pid: number, dir: string, what: string): void {
  try {
    fn();
    t.fail(`${what}: expected LOCKED`);
  } catch (err) {
    t.ok(err instanceof LockedError, `${what}: a LockedError`);
    t.ok(err instanceof BitraftError);
    t.equal((err as LockedError).code, 'LOCKED', `${what}: code`);
    t.equal((err as LockedError).pid, pid, `${what}: pid`);
    t.equal((err as LockedError).dir, dir, `${what}: dir`);
  }
}

/** Files in `dir` other than the lock itself (e.g. stale locks moved aside and left behind). */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n !== LOCK_FILE);

t.test('acquire writes our pid; release removes the file and is idempotent', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const lock = acquireLock(dir, log);
  t.equal(lock.path, lockFile(dir));
  t.equal(fs.readFileSync(lock.path, 'latin1').trim(), String(process.pid));
  t.equal(readLockPid(dir), process.pid);
  t.same(log.lines, [], 'nothing to report for a fresh lock');
  lock.release();
  t.notOk(fs.existsSync(lock.path));
  t.doesNotThrow(() => lock.release(), 'second release');
  // A new lock can be taken, and an old handle's release does not drop it.
  const again = acquireLock(dir, log);
  lock.release();
  t.equal(readLockPid(dir), process.pid, 'the released handle left the new lock alone');
  again.release();
  t.notOk(fs.existsSync(lockFile(dir)));
});

t.test('a second acquire in the same process is LOCKED', async (t) => {
  const dir = tmpDir(t);
  const lock = acquireLock(dir, silentLogger);
  expectLocked(t, () => acquireLock(dir, silentLogger), process.pid, dir, 'second acquire');
  t.equal(readLockPid(dir), process.pid, 'the held lock is untouched');
  t.same(leftovers(dir), []);
  lock.release();
  const next = acquireLock(dir, silentLogger);
  t.equal(readLockPid(dir), process.pid);
  next.release();
});

t.test('a lock held by another live process is LOCKED', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(lockFile(dir), `${otherLivePid}\n`);
  expectLocked(t, () => acquireLock(dir, silentLogger), otherLivePid, dir, 'held by parent');
  t.equal(readLockPid(dir), otherLivePid, 'the lock is not stolen');
  t.same(leftovers(dir), []);
});

t.test('a stale lock of a dead process is taken over with a warning', async (t) => {
  const dir = tmpDir(t);
  const dead = deadPid();
  t.equal(processAlive(dead), false, 'the child is gone');
  fs.writeFileSync(lockFile(dir), `${dead}\n`);
  const log = memoryLogger();
  const lock = acquireLock(dir, log);
  t.equal(readLockPid(dir), process.pid);
  t.equal(log.lines.length, 1);
  t.match(log.lines[0], new RegExp(`^warn: .*stale.*\\b${dead}\\b`));
  t.same(leftovers(dir), [], 'the stale lock was not left aside');
  lock.release();
  t.notOk(fs.existsSync(lockFile(dir)));
});

t.test('a garbage or empty lock file is stale', async (t) => {
  for (const content of ['garbage\n', '', '\n', 'NaN', 'pid=12\n']) {
    const dir = tmpDir(t);
    fs.writeFileSync(lockFile(dir), content);
    t.equal(readLockPid(dir), undefined, `readLockPid of ${JSON.stringify(content)}`);
    const log = memoryLogger();
    const lock = acquireLock(dir, log);
    t.equal(readLockPid(dir), process.pid, `took over ${JSON.stringify(content)}`);
    t.equal(log.lines.length, 1);
    t.match(log.lines[0], /^warn: .*stale/);
    t.same(leftovers(dir), []);
    lock.release();
  }
});

// Regression: a lock holding pid 0 or -1 is stale (kill(0|-1, 0) succeeds, so such a pid
// must never reach processAlive).
t.test('a lock file whose pid is 0 or negative is stale', async (t) => {
  for (const content of ['0\n', '-1\n']) {
    const dir = tmpDir(t);
    fs.writeFileSync(lockFile(dir), content);
    t.equal(readLockPid(dir), undefined, `readLockPid of ${JSON.stringify(content)}`);
    const log = memoryLogger();
    let lock;
    try {
      lock = acquireLock(dir, log);
    } catch (err) {
      t.fail(`${JSON.stringify(content)}: acquireLock threw ${(err as BitraftError).code} (pid ${(err as LockedError).pid})`);
    }
    t.ok(lock, `took over ${JSON.stringify(content)}`);
    t.equal(log.lines.length, lock ? 1 : 0);
    lock?.release();
  }
});

t.test('a lock file with a pid too large to be a process is stale', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(lockFile(dir), '99999999999\n');
  t.equal(readLockPid(dir), 99999999999);
  t.equal(processAlive(99999999999), false);
  const log = memoryLogger();
  const lock = acquireLock(dir, log);
  t.equal(readLockPid(dir), process.pid);
  t.match(log.lines, [/^warn: .*99999999999/]);
  lock.release();
});

// Regression: a lock that cannot be read is stale, also when re-read after moving it aside.
t.test('an unreadable lock file (EACCES) is stale', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(lockFile(dir), 'whatever\n');
  const denied = (p: fs.PathOrFileDescriptor) =>
    typeof p === 'string' && p.startsWith(lockFile(dir)) && fs.readFileSync(p, 'latin1') !== `${process.pid}\n`;
  const mod = await t.mockImport<LockModule>('../../../src/core/bitcask/lock.js', {
    'node:fs': t.createMock(fs, {
      readFileSync: (p: fs.PathOrFileDescriptor, opts?: unknown) => {
        if (denied(p)) throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
        return fs.readFileSync(p, opts as BufferEncoding);
      },
    }),
  });
  t.equal(mod.readLockPid(dir), undefined, 'readLockPid treats it as having no pid');
  const log = memoryLogger();
  let lock;
  try {
    lock = mod.acquireLock(dir, log);
  } catch (err) {
    t.fail(`acquireLock threw ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  t.ok(lock, 'took over the unreadable lock');
  t.same(leftovers(dir), [], 'nothing left aside');
  lock?.release();
});

t.test('release leaves a lock that another process now owns', async (t) => {
  const dir = tmpDir(t);
  const lock = acquireLock(dir, silentLogger);
  fs.writeFileSync(lockFile(dir), `${otherLivePid}\n`);
  lock.release();
  t.equal(readLockPid(dir), otherLivePid, 'not removed');
  // A later holder's lock is also safe from a second release of ours.
  lock.release();
  t.equal(readLockPid(dir), otherLivePid);
  // And a lock file removed by someone else is no error.
  const dir2 = tmpDir(t);
  const lock2 = acquireLock(dir2, silentLogger);
  fs.rmSync(lockFile(dir2));
  t.doesNotThrow(() => lock2.release());
});

t.test('errors other than an existing lock propagate with their own code', async (t) => {
  const dir = tmpDir(t);
  const missing = path.join(dir, 'no', 'such', 'dir');
  t.throws(() => acquireLock(missing, silentLogger), { code: 'ENOENT' });
});

t.test('readLockPid', async (t) => {
  const dir = tmpDir(t);
  t.equal(readLockPid(dir), undefined, 'no lock file');
  for (const [content, pid] of [
    ['123\n', 123],
    ['  42  \n', 42],
    ['7', 7],
    ['abc', undefined],
    ['', undefined],
    ['0', undefined],
    ['-3', undefined],
    ['1.5', undefined],
    ['12abc', undefined],
  ] as const) {
    fs.writeFileSync(lockFile(dir), content);
    t.equal(readLockPid(dir), pid, JSON.stringify(content));
  }
  t.equal(readLockPid(path.join(dir, 'missing')), undefined, 'no directory');
});

t.test('processAlive', async (t) => {
  t.equal(processAlive(process.pid), true, 'this process');
  t.equal(processAlive(otherLivePid), true, 'the parent');
  t.equal(processAlive(deadPid()), false, 'a reaped child');

  const realKill = process.kill;
  t.teardown(() => {
    process.kill = realKill;
  });
  const calls: [number, unknown][] = [];
  process.kill = ((pid: number, sig?: string | number) => {
    calls.push([pid, sig]);
    throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
  }) as typeof process.kill;
  t.equal(processAlive(4242), true, 'EPERM means it exists under another user');
  process.kill = (() => {
    throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
  }) as typeof process.kill;
  t.equal(processAlive(4242), false, 'ESRCH means it does not exist');
  process.kill = realKill;
  t.same(calls, [[4242, 0]], 'signal 0 only probes');
});

t.test('races while taking over a stale lock', async (t) => {
  const dead = deadPid();

  t.test('another process takes the lock between our read and our rename', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(lockFile(dir), `${dead}\n`);
    const mod = await t.mockImport<LockModule>('../../../src/core/bitcask/lock.js', {
      'node:fs': t.createMock(fs, {
        renameSync: (from: fs.PathLike, to: fs.PathLike) => {
          // The other process replaced the stale lock with its own just before our rename.
          if (from === lockFile(dir)) fs.writeFileSync(lockFile(dir), `${otherLivePid}\n`);
          fs.renameSync(from, to);
        },
      }),
    });
    const log = memoryLogger();
    expectLocked(t, () => mod.acquireLock(dir, log), otherLivePid, dir, 'raced');
    t.equal(readLockPid(dir), otherLivePid, 'the winner keeps its lock');
    t.same(leftovers(dir), [], 'the lock was given back, not left aside');
    t.same(log.lines, [], 'no takeover reported');
  });

  t.test('the stale lock vanishes before our rename: we retry and win', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(lockFile(dir), `${dead}\n`);
    let renames = 0;
    const mod = await t.mockImport<LockModule>('../../../src/core/bitcask/lock.js', {
      'node:fs': t.createMock(fs, {
        renameSync: (from: fs.PathLike, to: fs.PathLike) => {
          renames++;
          fs.rmSync(from); // another process took it over and released it
          fs.renameSync(from, to);
        },
      }),
    });
    const log = memoryLogger();
    const lock = mod.acquireLock(dir, log);
    t.equal(renames, 1);
    t.equal(readLockPid(dir), process.pid);
    t.same(log.lines, [], 'nothing was taken over');
    lock.release();
    t.same(fs.readdirSync(dir), []);
  });

  for (const [content, pid] of [
    [`${dead}\n`, dead],
    ['garbage', 0],
  ] as const) {
    t.test(`a stale lock that keeps coming back (${JSON.stringify(content)}) gives up as LOCKED`, async (t) => {
      const dir = tmpDir(t);
      fs.writeFileSync(lockFile(dir), content);
      let renames = 0;
      const mod = await t.mockImport<LockModule>('../../../src/core/bitcask/lock.js', {
        'node:fs': t.createMock(fs, {
          renameSync: () => {
            renames++;
            throw Object.assign(new Error('gone'), { code: 'ENOENT' });
          },
        }),
      });
      expectLocked(t, () => mod.acquireLock(dir, silentLogger), pid, dir, 'gave up');
      t.ok(renames >= 1 && renames <= 10, `bounded retries (${renames})`);
      t.equal(fs.readFileSync(lockFile(dir), 'latin1'), content, 'the lock file is untouched');
    });
  }

  t.test('a rename error other than ENOENT propagates', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(lockFile(dir), `${dead}\n`);
    const mod = await t.mockImport<LockModule>('../../../src/core/bitcask/lock.js', {
      'node:fs': t.createMock(fs, {
        renameSync: () => {
          throw Object.assign(new Error('cross-device'), { code: 'EXDEV' });
        },
      }),
    });
    t.throws(() => mod.acquireLock(dir, silentLogger), { code: 'EXDEV' });
    t.equal(readLockPid(dir), dead, 'the stale lock is still there');
  });
});
