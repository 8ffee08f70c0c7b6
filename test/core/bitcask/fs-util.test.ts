import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { fsyncDir, fsyncDirAsync, readIfExists } from '../../../src/core/bitcask/fs-util.js';
import { ioError, patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

t.test('readIfExists reads a file, returns undefined when missing, raises other errors', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  t.equal(readIfExists(file), undefined);
  fs.writeFileSync(file, 'abc');
  t.same(readIfExists(file), Buffer.from('abc'));
  t.throws(() => readIfExists(dir), { code: 'EISDIR' });
});

t.test('fsyncDir syncs a directory and raises for a missing one', async (t) => {
  const dir = tmpDir(t);
  t.doesNotThrow(() => fsyncDir(dir));
  t.throws(() => fsyncDir(path.join(dir, 'missing')), { code: 'ENOENT' });
});

t.test('fsyncDirAsync syncs a directory on the thread pool, closes it, and rejects with the fsync error', async (t) => {
  const dir = tmpDir(t);
  const opened: number[] = [];
  const closed: number[] = [];
  const { openSync, closeSync } = fs;
  patch(t, fs, 'openSync', ((...args: Parameters<typeof fs.openSync>) => {
    const fd = openSync(...args);
    opened.push(fd);
    return fd;
  }) as typeof fs.openSync);
  patch(t, fs, 'closeSync', ((fd: number) => {
    closed.push(fd);
    closeSync(fd);
  }) as typeof fs.closeSync);
  await fsyncDirAsync(dir);
  t.throws(() => fsyncDirAsync(path.join(dir, 'missing')), { code: 'ENOENT' }, 'a missing directory raises at once');
  const restore = patch(t, fs, 'fsync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError('EIO')));
  }) as typeof fs.fsync);
  await t.rejects(fsyncDirAsync(dir), { code: 'EIO' });
  restore();
  t.same(closed, opened, 'every descriptor it opened is closed');
  t.equal(opened.length, 2);
});
