/**
 * Crash consistency of the snapshot store: snapshots created one after another (each
 * acknowledged once `create` resolved) and the older ones pruned. In every crash state
 * the store opens, every snapshot it lists is complete (passes its CRC check), each
 * acknowledged snapshot that no later one could have pruned is there, and `newestValid`
 * is at least as new as the newest acknowledged one.
 */
import path from 'node:path';
import t from 'tap';
import { SnapshotStore } from '../../../src/core/snapshot/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { fastTmpDir } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { batches, checkCrashStates, records } from './workload.js';

const RETAIN = 2;
const CONF = { voters: ['n1'], learners: [] };

interface Created {
  id: string;
  index: number;
  /** Log position when its create began. */
  pos: number;
  /** Index of the mark after its create resolved. */
  ack: number;
}

t.test('snapshot create and prune', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'snapshots');
  const rec = recordFs(t, root);
  const clock = manualClock(1_700_000_000_000);
  const store = new SnapshotStore(dir, { retain: RETAIN, logger: memoryLogger(), clock });
  const created: Created[] = [];
  for (let i = 1; i <= 5; i++) {
    const pos = rec.position;
    clock.advance(1000);
    const s = await store.create({ index: i * 10, term: 1 + (i >> 1), conf: CONF }, batches(records(i, 6 + i * 2)));
    created.push({ id: s.meta.id, index: s.meta.index, pos, ack: rec.mark(`snapshot ${s.meta.id}`) });
  }

  await checkCrashStates(t, 'snapshot create/prune', rec, async (state) => {
    const logger = memoryLogger();
    const reopened = new SnapshotStore(path.join(state.dir, 'snapshots'), { retain: RETAIN, logger, clock });
    const listed = reopened.list();
    for (const s of listed) {
      if (!created.some((c) => c.id === s.meta.id)) return `lists ${s.meta.id}, never created`;
      await reopened.verify(s);
    }
    const skipped = logger.lines.find((l) => l.includes('skipping'));
    if (skipped !== undefined) return skipped;
    const issued = created.filter((c) => c.pos < state.k);
    for (const c of created) {
      const newer = issued.filter((x) => x.index > c.index).length;
      if (c.ack < state.k && newer < RETAIN && !listed.some((s) => s.meta.id === c.id)) return `acknowledged snapshot ${c.id} is missing`;
    }
    const newestAcked = created.filter((c) => c.ack < state.k).at(-1);
    const newest = await reopened.newestValid();
    if (newestAcked !== undefined && (newest === undefined || newest.meta.index < newestAcked.index)) return `newestValid is ${newest?.meta.id ?? 'none'}, acknowledged ${newestAcked.id}`;
    return undefined;
  });
});
