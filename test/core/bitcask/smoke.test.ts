import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

t.test('put get delete reopen', async (t) => {
  const dir = tmpDir(t);
  let s = await Bitcask.open(dir, { maxFileSize: 200 });
  s.put(Buffer.from('a'), Buffer.from('1'));
  s.put(Buffer.from(''), Buffer.from(''));
  for (let i = 0; i < 50; i++) s.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`));
  t.equal(s.delete(Buffer.from('k3')), true);
  t.equal(s.delete(Buffer.from('k3')), false);
  await s.sync();
  t.same(s.get(Buffer.from('a')), Buffer.from('1'));
  t.same(s.get(Buffer.from('')), Buffer.alloc(0));
  await s.close();
  s = await Bitcask.open(dir, { maxFileSize: 200 });
  t.equal(s.size, 51);
  t.same(s.get(Buffer.from('')), Buffer.alloc(0));
  t.equal(s.get(Buffer.from('k3')), undefined);
  const r = await s.merge();
  t.ok(r.inputFiles > 1);
  t.same([...s.keys({ from: Buffer.from('k48'), reverse: true })].slice(0, 3).map(String), ['k48', 'k47', 'k46']);
  await s.close();
  s = await Bitcask.open(dir);
  t.equal(s.size, 51);
  t.same(s.get(Buffer.from('k49')), Buffer.from('v49'));
  await s.close();
});
