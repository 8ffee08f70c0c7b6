/**
 * Tests of `Bitcask.prepareOrdered`: the ordered index built in steps, one per turn of the
 * event loop, while writes go on; shared by concurrent callers; ended by a close; started
 * over on the new key directory a replace installs.
 */
import t, { type Test } from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { b, nextTurn, s } from '../../helpers/bitcask.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

async function open(t: Test): Promise<Bitcask> {
  const store = await Bitcask.open(tmpDir(t));
  t.teardown(() => store.close().catch(() => undefined));
  return store;
}

const key = (i: number): Buffer => b(`k${String(i).padStart(4, '0')}`);

t.test('built over many turns while writes go on; walks then see every write', async (t) => {
  const store = await open(t);
  for (let i = 0; i < 1000; i += 2) store.put(key(i), b('v'));
  t.notOk(store.ordered);
  const first = store.prepareOrdered(10);
  t.equal(store.prepareOrdered(), first, 'a second call shares the build');
  let turns = 0;
  let done = false;
  void first.then(() => (done = true));
  while (!done) {
    // Writes between the steps: new odd keys, and some even keys deleted.
    store.put(key(2 * turns + 1), b('v'));
    if (turns % 3 === 0) store.delete(key(2 * turns));
    turns++;
    await nextTurn();
  }
  t.ok(turns > 50, `${turns} turns`);
  t.ok(store.ordered);
  const expected: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const odd = i % 2 === 1 && (i - 1) / 2 < turns;
    const even = i % 2 === 0 && !((i / 2) < turns && (i / 2) % 3 === 0);
    if (odd || even) expected.push(s(key(i)));
  }
  t.same([...store.keys()].map(s), expected);
  await store.prepareOrdered();
  t.ok(store.ordered, 'a call once built resolves at once');
});

t.test('a close ends the build: the promise resolves, the index unbuilt', async (t) => {
  const store = await open(t);
  for (let i = 0; i < 100; i++) store.put(key(i), b('v'));
  const build = store.prepareOrdered(1);
  await nextTurn();
  await store.close();
  await build;
  t.notOk(store.ordered);
});

t.test('a replace during the build: the new keys are the ones walked', async (t) => {
  const store = await open(t);
  for (let i = 0; i < 200; i++) store.put(key(i), b('old'));
  const build = store.prepareOrdered(5);
  await nextTurn();
  async function* batches(): AsyncGenerator<{ key: Buffer; value: Buffer }[]> {
    yield [{ key: b('new-b'), value: b('1') }, { key: b('new-a'), value: b('2') }];
  }
  await store.replaceAll(batches());
  await build;
  t.ok(store.ordered);
  t.same([...store.keys()].map(s), ['new-a', 'new-b']);
});
