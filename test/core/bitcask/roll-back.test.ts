/**
 * Rolling a store back to a mark (roll-back.ts, `Bitcask.appendedPosition`,
 * `protectFrom`): what was appended after the mark goes, in the mark's file and in newer
 * files; merges keep to the files before a protected mark.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { rollBackTo } from '../../../src/core/bitcask/roll-back.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { readAll, s } from '../../helpers/bitcask.js';

const b = (x: string): Buffer => Buffer.from(x, 'latin1');
const contents = (store: Bitcask): Record<string, string> => Object.fromEntries([...readAll(store)].map(([k, v]) => [k, s(v)]));

t.test('the open rolls back to the mark: the rest of its file and newer files go', async (t) => {
  const dir = tmpDir(t);
  let store = await Bitcask.open(dir, { sync: 'none', maxFileSize: 100 });
  store.put(b('a'), b('1'));
  store.put(b('b'), b('1'));
  const mark = store.appendedPosition()!;
  t.match(mark, { file: '0000000001.data', size: 46 });
  store.put(b('a'), b('2'));
  for (let i = 0; i < 10; i++) store.put(b(`late${i}`), b('x'.repeat(20)));
  store.delete(b('b'));
  t.ok(store.stats().dataFiles > 2, 'rotated past the mark');
  await store.close();
  const logger = memoryLogger();
  store = await Bitcask.open(dir, { sync: 'none', maxFileSize: 100, rollBackTo: mark, logger });
  t.strictSame(contents(store), { a: '1', b: '1' }, 'as it was at the mark');
  t.match(logger.lines.join('\n'), /rolled the store back to 0000000001\.data at byte 46/);
  store.put(b('c'), b('3'));
  await store.close();
  store = await Bitcask.open(dir, { sync: 'none', rollBackTo: store.appendedPosition() ?? { file: 'x', size: 0 } });
  t.strictSame(contents(store), { a: '1', b: '1', c: '3' }, 'written after the roll-back: kept');
  await store.close();
});

t.test('nothing to roll back, a missing file, a merge after the mark: nothing removed', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'none', maxFileSize: 100 });
  for (let i = 0; i < 8; i++) store.put(b(`k${i}`), b('x'.repeat(20)));
  const end = store.appendedPosition()!;
  await store.close();
  const logger = memoryLogger();
  t.equal(rollBackTo(dir, end, logger), 0, 'the mark is the end');
  t.equal(rollBackTo(dir, { file: '0000000099.data', size: 0 }, logger), 0, 'a file that is gone (merged or replaced)');
  t.equal(rollBackTo(dir, { file: 'nonsense', size: 0 }, logger), 0);
  fs.writeFileSync(path.join(dir, '0000000001.000001.data'), '');
  t.equal(rollBackTo(dir, { file: '0000000001.data', size: 10 }, logger), 0, 'a merge output after the mark');
  t.match(logger.lines.join('\n'), /not rolling the store back .* a merge wrote files after it/);
  t.equal(fs.statSync(path.join(dir, '0000000001.data')).size > 10, true, 'untouched');
});

t.test('protectFrom keeps a merge to the files before the mark', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'none', maxFileSize: 100 });
  t.teardown(() => store.close());
  for (let i = 0; i < 6; i++) store.put(b('same'), b('x'.repeat(30)));
  const mark = store.appendedPosition()!;
  for (let i = 0; i < 6; i++) store.put(b('same'), b('y'.repeat(30)));
  store.protectFrom(mark);
  const before = fs.readdirSync(dir).filter((f) => f.endsWith('.data')).sort();
  const r = await store.merge();
  const markId = Number(mark.file.slice(0, 10));
  t.ok(r.inputFiles > 0 && r.inputFiles < before.length - 1, `${r.inputFiles} of ${before.length - 1} sealed files merged`);
  for (const f of before) if (Number(f.slice(0, 10)) >= markId) t.ok(fs.existsSync(path.join(dir, f)), `${f} (at or after the mark) kept`);
  t.strictSame(contents(store), { same: 'y'.repeat(30) });
});
