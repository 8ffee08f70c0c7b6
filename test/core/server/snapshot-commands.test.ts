/**
 * Tests of RAFTSNAPSHOT, RAFTSHRINKLOG and RAFTINSTALL (snapshot-commands.ts), run
 * through dispatch on the server fixture's real one-node cluster: a snapshot is taken
 * and described; the log is compacted behind it keeping the tail asked for; arguments
 * are checked; RAFTINSTALL reaches the node's receiver.
 */
import fs from 'node:fs';
import t from 'tap';
import { encodeCommand } from '../../../src/core/kv/index.js';
import { err, makeServer } from './server-fixture.js';

t.test('RAFTSNAPSHOT takes a snapshot and describes it; RAFTSHRINKLOG compacts behind it', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const { cluster } = f.ctx;
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG'), err('ERR there is no snapshot to compact the log behind; take one with RAFTSNAPSHOT'));
  for (let i = 0; i < 5; i++) await cluster.driver.propose(encodeCommand([Buffer.from('SET'), Buffer.from(`k${i}`), Buffer.from('v')]));
  const reply = (await f.runAsync(s, 'raftsnapshot')) as string[];
  const fields = Object.fromEntries(reply.flatMap((v, i) => (i % 2 === 0 ? [[v, reply[i + 1]!]] : [])));
  t.same(Object.keys(fields), ['path', 'id', 'index', 'term', 'size', 'crc', 'voters', 'learners']);
  t.equal(Number(fields['index']), cluster.driver.applied);
  t.equal(fields['voters'], cluster.id);
  t.equal(fields['learners'], '');
  t.equal(fs.statSync(`${fields['path']}/state.bin`).size, Number(fields['size']));
  t.strictSame(await f.runAsync(s, 'RAFTSNAPSHOT'), reply, 'nothing applied since: the same snapshot');
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG'), 0, 'the default tail (10,000) keeps everything');
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG', '2'), Number(fields['index']) - 2);
  t.equal(cluster.status().firstIndex, Number(fields['index']) - 1);
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG', '0'), 2);
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG', '-1'), err('ERR the tail to keep must be a non-negative integer'));
  t.strictSame(await f.runAsync(s, 'RAFTSHRINKLOG', '1', '2'), err("ERR wrong number of arguments for 'raftshrinklog' command"));
  f.kv.store.openView = () => {
    throw new Error('disk gone');
  };
  await cluster.driver.propose(encodeCommand([Buffer.from('SET'), Buffer.from('more'), Buffer.from('v')]));
  t.strictSame(await f.runAsync(s, 'RAFTSNAPSHOT'), err('ERR internal error: disk gone'), 'a failure is an error reply');
});

t.test('RAFTINSTALL reaches the receiver', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.match(await f.runAsync(s, 'RAFTINSTALL', 'END', 'nope'), { error: /^ERR / });
  t.match(await f.runAsync(s, 'RAFTINSTALL', 'HELLO', 'x'), { error: /^ERR syntax error: RAFTINSTALL BEGIN/ });
  t.strictSame(await f.runAsync(s, 'RAFTINSTALL', 'x'), err("ERR wrong number of arguments for 'raftinstall' command"));
});

t.test('RAFTDIGEST: the applied index, the key count and an order-independent digest of the state', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const { cluster } = f.ctx;
  const digestOf = async (): Promise<Record<string, string | number>> => {
    const reply = (await f.runAsync(s, 'RAFTDIGEST')) as (string | number)[];
    return Object.fromEntries(reply.flatMap((v, i) => (i % 2 === 0 ? [[v as string, reply[i + 1]!]] : [])));
  };
  const empty = await digestOf();
  t.same(empty, { index: cluster.driver.applied, keys: 0, digest: '0'.repeat(64) });
  const set = (k: string, v: string) => cluster.driver.propose(encodeCommand([Buffer.from('SET'), Buffer.from(k), Buffer.from(v)]));
  await set('a', '1');
  await set('b', '2');
  const two = await digestOf();
  t.equal(two['keys'], 2);
  t.equal(two['index'], cluster.driver.applied);
  t.match(two['digest'], /^[0-9a-f]{64}$/);
  await set('a', 'x');
  t.not((await digestOf())['digest'], two['digest'], 'a changed value changes it');
  await set('a', '1');
  t.equal((await digestOf())['digest'], two['digest'], 'the same contents, the same digest, however the files look');
  t.strictSame(await f.runAsync(s, 'RAFTDIGEST', 'x'), err("ERR wrong number of arguments for 'raftdigest' command"));
  f.kv.store.openView = () => {
    throw new Error('disk gone');
  };
  t.strictSame(await f.runAsync(s, 'RAFTDIGEST'), err('ERR internal error: disk gone'));
});
