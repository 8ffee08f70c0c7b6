/**
 * Crash consistency of Bitcask rotation: with a tiny `maxFileSize` nearly every sync
 * seals a data file (fsync, hint written and renamed) and creates the next one; every
 * crash state reopens with every acknowledged write, from hints or by scanning.
 */
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, fastTmpDir } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { asAfterCrash, checkCrashStates, KvOracle, value } from './workload.js';

const OPTS = { clock: manualClock(1_700_000_000_000), logger: silentLogger, maxFileSize: 4096 };

t.test('rotation', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  const rec = recordFs(t, root);
  const oracle = new KvOracle();
  let store = await Bitcask.open(dir, OPTS);
  const sync = async (label: string): Promise<void> => {
    const upTo = oracle.issued;
    await store.sync();
    oracle.ack(rec, upTo, label);
  };
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < 3; i++) {
      const key = `k${(round * 3 + i) % 7}`;
      const v = value(round * 10 + i, 500 + ((round * 7 + i * 5) % 11) * 250);
      oracle.write(rec, key, v);
      store.put(b(key), v);
    }
    if (round % 3 === 2) {
      oracle.write(rec, `k${round % 7}`, undefined);
      store.delete(b(`k${round % 7}`));
    }
    await sync(`round ${round}`);
  }
  const upTo = oracle.issued;
  await store.close();
  oracle.ack(rec, upTo, 'closed');
  store = await Bitcask.open(dir, OPTS);
  for (let i = 0; i < 4; i++) {
    const v = value(100 + i, 1800);
    oracle.write(rec, `k${i}`, v);
    store.put(b(`k${i}`), v);
    await sync(`session 2: k${i}`);
  }
  await store.close();

  await checkCrashStates(t, 'rotate', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    return oracle.check(await contentsOf(storeDir, OPTS), state.k);
  });
});
