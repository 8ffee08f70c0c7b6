/**
 * Crash consistency of Bitcask puts and deletes (sync mode `always`): every crash state
 * of two sessions of writes — acknowledged once `sync()` resolved — reopens with every
 * acknowledged write, and deleted keys stay deleted. The second session reopens the
 * cleanly closed store (its active file's hint is extended); another starts from a torn
 * tail left by an earlier crash (cut on open, then written after).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, fastTmpDir } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { asAfterCrash, checkCrashStates, KvOracle, value } from './workload.js';

const OPTS = { clock: manualClock(1_700_000_000_000), logger: silentLogger };

t.test('put and delete', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  const rec = recordFs(t, root);
  const oracle = new KvOracle();
  let store = await Bitcask.open(dir, OPTS);
  const put = (key: string, v: Buffer): void => {
    oracle.write(rec, key, v);
    store.put(b(key), v);
  };
  const del = (key: string): void => {
    oracle.write(rec, key, undefined);
    store.delete(b(key));
  };
  const sync = async (label: string): Promise<void> => {
    const upTo = oracle.issued;
    await store.sync();
    oracle.ack(rec, upTo, label);
  };

  put('a', value(1, 300));
  put('b', value(2, 2000));
  put('c', value(3, 5000));
  await sync('a b c');
  put('a', value(4, 1500));
  del('b');
  put('', value(5, 10));
  put('empty', Buffer.alloc(0));
  await sync('a b "" empty');
  for (let i = 0; i < 6; i++) put(`k${i}`, value(10 + i, 700 + i * 400));
  del('c');
  await sync('k0-k5, c deleted');
  put('late', value(20, 2500));
  const upTo = oracle.issued;
  await store.close();
  oracle.ack(rec, upTo, 'closed');

  store = await Bitcask.open(dir, OPTS);
  put('a', value(30, 100));
  del('k1');
  await sync('session 2: a, k1 deleted');
  put('k2', value(31, 3500));
  put('b', value(32, 600));
  await sync('session 2: k2 b');
  await store.close();

  await checkCrashStates(t, 'put/delete', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    return oracle.check(await contentsOf(storeDir, OPTS), state.k);
  });
});

t.test('writes after a reopen that cut a torn tail', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  let store = await Bitcask.open(dir, OPTS);
  store.put(b('a'), value(1, 900));
  store.put(b('b'), value(2, 1900));
  await store.close();
  // A crash in the middle of the next write: half a record after the last whole one, and the
  // hint of the clean close still there (it no longer matches the file's size).
  const active = fs.readdirSync(dir).find((n) => n.endsWith('.data'))!;
  fs.appendFileSync(path.join(dir, active), fs.readFileSync(path.join(dir, active)).subarray(0, 700));
  const initial = await contentsOf(dir, OPTS);
  asAfterCrash(dir);

  const rec = recordFs(t, root);
  const oracle = new KvOracle(initial);
  store = await Bitcask.open(dir, OPTS);
  oracle.write(rec, 'c', value(3, 2500));
  store.put(b('c'), value(3, 2500));
  oracle.write(rec, 'a', undefined);
  store.delete(b('a'));
  let upTo = oracle.issued;
  await store.sync();
  oracle.ack(rec, upTo, 'c, a deleted');
  oracle.write(rec, 'b', value(4, 100));
  store.put(b('b'), value(4, 100));
  upTo = oracle.issued;
  await store.close();
  oracle.ack(rec, upTo, 'closed');

  await checkCrashStates(t, 'put/delete after a torn tail', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    return oracle.check(await contentsOf(storeDir, OPTS), state.k);
  });
});
