/**
 * Crash consistency of the Raft log (`DiskLogStore`): appends acknowledged after their
 * sync, a conflicting suffix replaced, hard state and membership changes, a compaction
 * and an installed snapshot. Every crash state opens, and holds every acknowledged entry
 * unless a later write (issued before the crash) was replacing it.
 */
import path from 'node:path';
import t from 'tap';
import { DiskLogStore } from '../../../src/core/raft/log-store.js';
import type { Entry } from '../../../src/core/raft/types.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { fastTmpDir } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { LogOracle, viewOf } from './log-oracle.js';
import { checkCrashStates, value } from './workload.js';

/** Entries `lo..hi` of `term`, of sizes from 100 bytes to a few KiB. */
function run(lo: number, hi: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push({ index: i, term, type: i % 5 === 0 ? 'noop' : 'command', data: value(i * 10 + term, 100 + ((i * 37) % 13) * 300) });
  return out;
}

const CONF = { voters: ['n1', 'n2', 'n3'], learners: [] };

t.test('raft log: append, truncate, compact, install', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'raft');
  const rec = recordFs(t, root);
  const log = DiskLogStore.open(dir, { logger: memoryLogger() });
  const oracle = new LogOracle(rec);
  const append = (entries: Entry[]): void => oracle.write(() => log.append(entries), (m) => m.append(entries));
  const hard = (term: number, vote: string): void => {
    const hs = { term, vote, commit: 0 };
    oracle.write(() => log.setHardState(hs), (m) => m.setHardState(hs));
  };
  const sync = (label: string): void => {
    log.sync();
    oracle.ack(label);
  };

  append(run(1, 6, 1));
  sync('1-6 (no hard state yet)');
  hard(1, 'n1');
  oracle.write(() => log.setConf(CONF), (m) => m.setConf(CONF));
  append(run(7, 12, 1));
  sync('7-12, term 1');
  append(run(10, 14, 2));
  hard(2, 'n2');
  sync('10-14 of term 2 replace 10-12');
  append(run(15, 20, 2));
  await log.syncAsync();
  oracle.ack('15-20 (async sync)');
  oracle.write(() => log.compact(12, CONF), (m) => m.compact(12, CONF));
  oracle.ack('compacted to 12');
  append(run(21, 24, 3));
  hard(3, 'n3');
  sync('21-24, term 3');
  append(run(22, 23, 4));
  hard(4, 'n1');
  sync('22-23 of term 4 replace 22-24');
  const meta = { index: 40, term: 5, conf: CONF };
  oracle.write(() => log.applySnapshot(meta), (m) => m.applySnapshot(meta));
  oracle.ack('snapshot 40 installed');
  append(run(41, 43, 5));
  hard(5, 'n2');
  sync('41-43');
  log.close();

  await checkCrashStates(t, 'raft log', rec, async (state) => {
    const reopened = DiskLogStore.open(path.join(state.dir, 'raft'), { logger: memoryLogger() });
    try {
      return oracle.check(viewOf(reopened), state.k);
    } finally {
      reopened.close();
    }
  });
});
