import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { fsyncDir, readIfExists } from '../../../src/core/bitcask/fs-util.js';
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
