import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { directoryBytes } from '../../../src/core/metrics/directory-bytes.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

t.test('adds up the files of a directory and its subdirectories', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'a'), Buffer.alloc(10));
  fs.mkdirSync(path.join(dir, 's1', 's2'), { recursive: true });
  fs.writeFileSync(path.join(dir, 's1', 'b'), Buffer.alloc(100));
  fs.writeFileSync(path.join(dir, 's1', 's2', 'c'), Buffer.alloc(1000));
  fs.mkdirSync(path.join(dir, 'empty'));
  t.equal(await directoryBytes(dir), 1110);
});

t.test('a missing directory, or an entry gone while walking, counts 0', async (t) => {
  const dir = tmpDir(t);
  t.equal(await directoryBytes(path.join(dir, 'nope')), 0);
  fs.writeFileSync(path.join(dir, 'a'), Buffer.alloc(5));
  // A link to nothing: listed, but its stat finds nothing, as a file deleted meanwhile.
  fs.symlinkSync(path.join(dir, 'gone'), path.join(dir, 'dangling'));
  t.equal(await directoryBytes(dir), 5);
});

t.test('other errors reject', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  await t.rejects(directoryBytes(path.join(dir, 'file')), { code: 'ENOTDIR' });
});
