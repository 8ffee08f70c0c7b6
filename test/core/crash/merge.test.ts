/**
 * Crash consistency of a Bitcask merge: a store spread over several files — overwrites,
 * and deletes whose tombstones sit in newer files than the values they hide — is merged
 * while a write goes on; and a store is merged right after a write that supersedes a
 * record of an input but is not synced yet (sync `none`). Every crash state reopens with
 * the same contents, each written key with its old or new value (the new one once
 * acknowledged): no value lost, no deleted key back.
 */
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, fastTmpDir, readAll } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { asAfterCrash, checkCrashStates, KvOracle, value } from './workload.js';

const OPTS = { clock: manualClock(1_700_000_000_000), logger: silentLogger, maxFileSize: 3000 };

t.test('merge', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  let store = await Bitcask.open(dir, OPTS);
  for (let i = 0; i < 24; i++) store.put(b(`k${i % 9}`), value(i, 300 + (i % 5) * 200));
  for (const i of [1, 4, 7]) store.delete(b(`k${i}`));
  store.put(b('k1'), value(99, 250));
  for (let i = 0; i < 6; i++) store.put(b(`pad${i}`), value(50 + i, 400));
  store.delete(b('k2'));
  await store.close();
  store = await Bitcask.open(dir, OPTS);
  const initial = readAll(store);
  await store.close();

  const rec = recordFs(t, root);
  const oracle = new KvOracle(initial);
  store = await Bitcask.open(dir, OPTS);
  const merged = store.merge({ yieldEveryBytes: 1024 });
  oracle.write(rec, 'k3', value(200, 1200));
  store.put(b('k3'), value(200, 1200));
  const upTo = oracle.issued;
  await store.sync();
  oracle.ack(rec, upTo, 'k3 during the merge');
  const result = await merged;
  rec.mark('merged');
  await store.close();
  t.ok(result.inputFiles > 3, `merged ${result.inputFiles} files`);

  await checkCrashStates(t, 'merge', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    return oracle.check(await contentsOf(storeDir, OPTS), state.k);
  });
});

t.test('merge after a write not yet synced (sync none)', async (t) => {
  const opts = { ...OPTS, sync: 'none' as const };
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  let store = await Bitcask.open(dir, opts);
  for (let i = 0; i < 12; i++) store.put(b(`k${i % 4}`), value(i, 700));
  await store.close();
  store = await Bitcask.open(dir, opts);
  const initial = readAll(store);
  await store.close();

  const rec = recordFs(t, root);
  const oracle = new KvOracle(initial);
  store = await Bitcask.open(dir, opts);
  // Supersedes k1's record in an input: the merge does not copy it, then deletes that input.
  oracle.write(rec, 'k1', value(100, 300));
  store.put(b('k1'), value(100, 300));
  await store.merge();
  const upTo = oracle.issued;
  await store.close();
  oracle.ack(rec, upTo, 'closed');

  await checkCrashStates(t, 'merge after an unsynced write', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    return oracle.check(await contentsOf(storeDir, opts), state.k);
  });
});
