/**
 * Crash consistency of the durable position saved with the applied index: a store is
 * written, fsynced by the applied-index checkpoint (which saves the index with
 * `durablePosition()`), rotated, merged, closed and reopened, and replaced, while every
 * file operation is recorded (`test/helpers/crash-fs.ts`). In every crash state the store
 * reopens and `lostSince` the saved position finds nothing lost: a crash alone never
 * makes the node repair a store or refuse to start — only damage does.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { AppliedCheckpoint, readApplied } from '../../../src/core/cluster/applied-index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { b, fastTmpDir } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { asAfterCrash, checkCrashStates, value } from '../crash/workload.js';

const OPTS = { sync: 'none' as const, maxFileSize: 4096, clock: manualClock(1_700_000_000_000), logger: silentLogger };

t.test('a crash never loses what the saved durable position covers', async (t) => {
  const root = fastTmpDir(t);
  const data = path.join(root, 'data');
  const raftDir = path.join(data, 'raft');
  const rec = recordFs(t, root);
  let store = await Bitcask.open(data, OPTS);
  fs.mkdirSync(raftDir);
  let applied = 0;
  const checkpoint = (): AppliedCheckpoint => new AppliedCheckpoint({ dir: raftDir, store, applied: () => applied, logger: silentLogger, intervalMs: 3_600_000 }, applied);
  let cp = checkpoint();
  const write = (n: number, size: number): void => {
    for (let i = 0; i < n; i++) {
      applied++;
      store.put(b(`k${applied % 9}`), value(applied, size + ((applied * 37) % 300)));
      if (applied % 7 === 0) store.delete(b(`k${(applied + 3) % 9}`));
    }
  };

  write(4, 400);
  await cp.save();
  write(3, 300);
  await cp.save();
  store.rotate();
  write(2, 200);
  await cp.save();
  write(5, 600); // rotates on its own
  await cp.save();
  await store.merge();
  write(2, 100);
  await cp.save();
  await cp.stop();
  await store.close();
  store = await Bitcask.open(data, OPTS);
  cp = checkpoint();
  write(2, 250);
  await cp.save();
  applied += 10;
  await store.replaceAll(
    (async function* () {
      yield [1, 2, 3].map((i) => ({ key: b(`r${i}`), value: value(1000 + i, 500) }));
    })(),
  );
  await cp.saveIndex(applied);
  write(3, 150);
  await cp.save();
  await cp.stop();
  await store.close();

  await checkCrashStates(t, 'durable position', rec, async (state) => {
    const dir = path.join(state.dir, 'data');
    asAfterCrash(dir);
    const saved = readApplied(path.join(dir, 'raft'), silentLogger);
    const reopened = await Bitcask.open(dir, OPTS);
    try {
      const loss = reopened.lostSince(saved.position);
      return loss && `index ${saved.index} at ${JSON.stringify(saved.position)}: ${loss.bytes} bytes of ${path.basename(loss.file)} from ${loss.offset} lost (${loss.reason})`;
    } finally {
      await reopened.close();
    }
  });
});
