/**
 * Keys that expire, as the store keeps them (record.ts, hint.ts, keydir.ts, store.ts):
 * the expiry travels in the key's record and hint entry, so it survives a reopen
 * (from hints, or by scanning), a merge, a view and a replace. The store never expires
 * a key itself: `get`/`has` with a time treat a passed one as absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const T = 1_700_000_000_000;

/** Every key's expiry (0: none), by latin1 key. */
function expiries(store: Bitcask): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of store.keys()) out[key.toString('latin1')] = store.expiryOf(key);
  return out;
}

async function filled(dir: string): Promise<Bitcask> {
  const store = await Bitcask.open(dir, { sync: 'none', maxFileSize: 200 });
  store.put(b('plain'), b('p'));
  store.put(b('soon'), b('s'), T + 10);
  store.put(b('later'), b('l'), T + 1_000_000);
  store.put(b('cleared'), b('c'), T + 5);
  store.put(b('cleared'), b('c2'));
  store.put(b('deleted'), b('d'), T + 5);
  store.delete(b('deleted'));
  for (let i = 0; i < 20; i++) store.put(b(`filler${i}`), b('x'.repeat(20)), i % 2 ? T + i : 0);
  return store;
}

const EXPECTED: Record<string, number> = { plain: 0, soon: T + 10, later: T + 1_000_000, cleared: 0 };
for (let i = 0; i < 20; i++) EXPECTED[`filler${i}`] = i % 2 ? T + i : 0;

t.test('put with an expiry; get and has with a time; expiring keys listed', async (t) => {
  const store = await filled(tmpDir(t));
  t.teardown(() => store.close());
  t.strictSame(expiries(store), EXPECTED);
  t.equal(store.expiryOf(b('missing')), -1);
  t.equal(store.expiringCount, 12);
  t.strictSame(store.get(b('soon'), T + 9), b('s'));
  t.equal(store.get(b('soon'), T + 10), undefined, 'at its expiry: absent');
  t.strictSame(store.get(b('soon')), b('s'), 'without a time: still there');
  t.equal(store.has(b('soon'), T + 10), false);
  t.equal(store.has(b('plain'), Number.MAX_SAFE_INTEGER), true, 'a key without expiry never expires');
  t.equal(store.has(b('missing'), T), false);
  const listed = [...store.expiring()].map((e) => [e.key.toString('latin1'), e.expiresAt]);
  t.strictSame(Object.fromEntries(listed), Object.fromEntries(Object.entries(EXPECTED).filter(([, at]) => at > 0)));
  // The walk is live: a key deleted while walking is skipped.
  const walk = store.expiring();
  walk.next();
  store.delete(b('later'));
  t.notOk([...walk].some((e) => e.key.equals(b('later'))));
});

t.test('expiries survive a reopen: from hints, and by scanning the data files', async (t) => {
  const dir = tmpDir(t);
  const expected = { ...EXPECTED };
  await (await filled(dir)).close();
  let store = await Bitcask.open(dir, { sync: 'none' });
  t.strictSame(expiries(store), expected, 'from the hints');
  store.put(b('active'), b('a'), T + 77);
  await store.close();
  expected.active = T + 77;
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.hint')) fs.rmSync(path.join(dir, f));
  store = await Bitcask.open(dir, { sync: 'none' });
  t.strictSame(expiries(store), expected, 'by scanning');
  await store.close();
  t.ok(fs.readdirSync(dir).some((f) => f.endsWith('.hint')), 'the active file got its hint again');
  store = await Bitcask.open(dir, { sync: 'none' });
  t.strictSame(expiries(store), expected, 'from the rebuilt hint of the active file');
  await store.close();
});

t.test('a merge keeps expiries, in the data files and their hints', async (t) => {
  const dir = tmpDir(t);
  const store = await filled(dir);
  store.rotate();
  const r = await store.merge();
  t.ok(r.inputFiles > 1);
  t.strictSame(expiries(store), EXPECTED, 'in memory');
  await store.close();
  const again = await Bitcask.open(dir, { sync: 'none' });
  t.strictSame(expiries(again), EXPECTED, 'from the merged files');
  await again.close();
});

t.test('a view lists the expiring keys of its moment, and its records carry their expiry', async (t) => {
  const store = await filled(tmpDir(t));
  t.teardown(() => store.close());
  const view = store.openView();
  store.put(b('soon'), b('changed'));
  store.put(b('new'), b('n'), T + 3);
  const listed = Object.fromEntries(view.expiring.map((e) => [e.key.toString('latin1'), e.expiresAt]));
  t.strictSame(listed, Object.fromEntries(Object.entries(EXPECTED).filter(([, at]) => at > 0)));
  const seen: Record<string, number> = {};
  for await (const batch of view.batches()) for (const r of batch) seen[r.key.toString('latin1')] = r.expiresAt;
  t.strictSame(seen, EXPECTED);
});

t.test('a replace stores the expiries it is given', async (t) => {
  const dir = tmpDir(t);
  const store = await filled(dir);
  async function* input() {
    yield [
      { key: b('x'), value: b('1'), expiresAt: T + 1 },
      { key: b('y'), value: b('2') },
      { key: b('x'), value: b('3'), expiresAt: T + 9 },
    ];
  }
  t.equal(await store.replaceAll(input()), 2);
  t.strictSame(expiries(store), { x: T + 9, y: 0 });
  await store.close();
  const again = await Bitcask.open(dir, { sync: 'none' });
  t.strictSame(expiries(again), { x: T + 9, y: 0 });
  await again.close();
});

t.test('randomKey: a live key by random probes, or by a walk when they miss', async (t) => {
  const store = await Bitcask.open(tmpDir(t), { sync: 'none' });
  t.teardown(() => store.close());
  t.equal(store.randomKey(), undefined, 'empty');
  for (let i = 0; i < 10; i++) store.put(b(`k${i}`), b('v'));
  for (let i = 0; i < 9; i++) store.delete(b(`k${i}`));
  t.strictSame(store.randomKey(() => 0), b('k9'), 'slot 0 is free every time: the walk finds the live one');
  t.strictSame(store.randomKey(() => 0.95), b('k9'), 'a probe that hits');
});

t.test('a state digest covers expiries', async (t) => {
  const { digestView } = await import('../../../src/core/cluster/state-digest.js');
  const store = await Bitcask.open(tmpDir(t), { sync: 'none' });
  t.teardown(() => store.close());
  store.put(b('k'), b('v'));
  const plain = await digestView(store.openView(), 1);
  store.put(b('k'), b('v'), T);
  const expiring = await digestView(store.openView(), 2);
  store.put(b('k'), b('v'), T + 1);
  const other = await digestView(store.openView(), 3);
  t.not(plain.digest, expiring.digest);
  t.not(expiring.digest, other.digest);
  store.put(b('k'), b('v'));
  t.equal((await digestView(store.openView(), 4)).digest, plain.digest, 'the same contents, the same digest');
});
