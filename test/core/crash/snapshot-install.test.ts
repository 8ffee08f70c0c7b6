/**
 * Crash consistency of a node's data directory across the applied-index checkpoint and
 * a snapshot install: entries are appended to the Raft log (acknowledged once synced) and
 * applied to the store without fsync; the checkpoint fsyncs the store and saves the
 * applied index; then a snapshot is created, the log replaced by it, the store replaced
 * with its contents (`replaceAll`) and the index saved; then more entries.
 *
 * In every crash state the store, the log and the snapshot store open, and the node
 * could start: if the saved applied index is behind the log's start, a valid snapshot
 * covers the gap (what the cluster rebuilds the store from); otherwise the store holds
 * exactly the contents after some applied index at or after the saved one — never less
 * (the saved index never leads the store), never a mix of old and new contents — and
 * after an acknowledged install, the new ones.
 */
import path from 'node:path';
import t from 'tap';
import { Bitcask, type ReplaceRecord } from '../../../src/core/bitcask/index.js';
import { AppliedCheckpoint, readAppliedIndex } from '../../../src/core/cluster/applied-index.js';
import { DiskLogStore } from '../../../src/core/raft/log-store.js';
import { SnapshotStore } from '../../../src/core/snapshot/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { memoryLogger, silentLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, diffContents, fastTmpDir, readAll, s } from '../../helpers/bitcask.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { asAfterCrash, batches, checkCrashStates, records, value } from './workload.js';

const CONF = { voters: ['n1'], learners: [] };
const STORE_OPTS = { sync: 'none' as const, maxFileSize: 8192, clock: manualClock(1_700_000_000_000), logger: silentLogger };
const SNAPSHOT = { index: 30, term: 2, conf: CONF };

t.test('replaceAll: the old contents or the new, never a mix', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  let store = await Bitcask.open(dir, { ...STORE_OPTS, maxFileSize: 2048 });
  for (let i = 0; i < 20; i++) store.put(b(`k${i % 8}`), value(i, 200 + (i % 3) * 300));
  store.delete(b('k3'));
  const old = readAll(store);
  await store.close();
  const rec = recordFs(t, root);
  store = await Bitcask.open(dir, { ...STORE_OPTS, maxFileSize: 2048 });
  const recs = records(3, 14);
  const fresh = new Map(recs.map((r) => [s(r.key), r.value]));
  await store.replaceAll(batches(recs));
  const replaced = rec.mark('replaced');
  await store.close();

  await checkCrashStates(t, 'replaceAll', rec, async (state) => {
    const storeDir = path.join(state.dir, 'db');
    asAfterCrash(storeDir);
    const contents = await contentsOf(storeDir, STORE_OPTS);
    if (diffContents(contents, fresh) === undefined) return undefined;
    if (replaced < state.k) return `the acknowledged new contents are not there: ${diffContents(contents, fresh)}`;
    return diffContents(contents, old) === undefined ? undefined : `neither the old nor the new contents: ${diffContents(contents, old)}`;
  });
});

t.test('applied-index checkpoint and snapshot install', async (t) => {
  const root = fastTmpDir(t);
  const data = path.join(root, 'data');
  const raftDir = path.join(data, 'raft');
  const snapDir = path.join(data, 'snapshots');
  const rec = recordFs(t, root);
  const store = await Bitcask.open(data, STORE_OPTS);
  const log = DiskLogStore.open(raftDir, { logger: memoryLogger() });
  const snapshots = new SnapshotStore(snapDir, { retain: 2, logger: memoryLogger(), clock: manualClock(1_700_000_000_000) });
  let applied = 0;
  const checkpoint = new AppliedCheckpoint({ dir: raftDir, store, applied: () => applied, logger: silentLogger, intervalMs: 3_600_000 }, 0);

  /** The store's contents after each applied index, and the log position when it was applied. */
  const after = new Map<number, { contents: Map<string, Buffer>; pos: number }>([[0, { contents: new Map(), pos: 0 }]]);
  /** Saved applied indexes: position when the save began, mark when it resolved. */
  const saves: { index: number; pos: number; ack: number }[] = [];
  const marks: Record<string, number> = {};
  const save = async (index?: number): Promise<void> => {
    const pos = rec.position;
    await (index === undefined ? checkpoint.save() : checkpoint.saveIndex(index));
    saves.push({ index: index ?? applied, pos, ack: rec.mark(`applied index ${index ?? applied} saved`) });
  };
  /** Appends and syncs entries `lo..hi`, then applies them: entry i sets `k<i % 5>`, or deletes it when i % 7 is 0. */
  const entries = (lo: number, hi: number, term: number): void => {
    const batch = [];
    for (let i = lo; i <= hi; i++) batch.push({ index: i, term, type: 'command' as const, data: Buffer.from(`entry ${i}`) });
    log.append(batch);
    log.sync();
    rec.mark(`log ${lo}-${hi}`);
    for (let i = lo; i <= hi; i++) {
      const pos = rec.position;
      if (i % 7 === 0) store.delete(b(`k${i % 5}`));
      else store.put(b(`k${i % 5}`), value(i, 300 + (i % 4) * 900));
      applied = i;
      after.set(i, { contents: readAll(store), pos });
    }
  };

  entries(1, 6, 1);
  await save();
  entries(7, 12, 1);
  await save();
  entries(13, 14, 1);

  const recs = records(7, 12);
  const snap = await snapshots.create(SNAPSHOT, batches(recs));
  marks.created = rec.mark('snapshot created');
  log.applySnapshot(SNAPSHOT);
  marks.logReplaced = rec.mark('log replaced by the snapshot');
  await snapshots.verify(snap);
  const pos = rec.position;
  await store.replaceAll(snapshots.readBatches(snap) as AsyncIterable<ReplaceRecord[]>);
  marks.replaced = rec.mark('store replaced');
  applied = SNAPSHOT.index;
  after.set(SNAPSHOT.index, { contents: new Map(recs.map((r) => [s(r.key), r.value])), pos });
  await save(SNAPSHOT.index);
  entries(31, 36, 2);
  await save();
  await store.close();
  log.close();

  await checkCrashStates(t, 'snapshot install', rec, async (state) => {
    const k = state.k;
    const dataDir = path.join(state.dir, 'data');
    asAfterCrash(dataDir);
    const contents = await contentsOf(dataDir, STORE_OPTS);
    const reopened = DiskLogStore.open(path.join(dataDir, 'raft'), { logger: memoryLogger() });
    const start = reopened.snapshot().index;
    const last = reopened.lastIndex();
    const termAt = (i: number): number | undefined => (i >= start && i <= last ? reopened.term(i) : undefined);
    reopened.close();
    const saved = readAppliedIndex(path.join(dataDir, 'raft'), silentLogger);
    const savedAcked = saves.filter((x) => x.ack < k).at(-1)?.index ?? 0;
    if (saved < savedAcked || (saved > 0 && !saves.some((x) => x.index === saved && x.pos <= k))) return `applied index ${saved}; acknowledged ${savedAcked}`;
    if (marks.logReplaced! < k && start !== SNAPSHOT.index) return `the log starts after ${start}; the installed snapshot's index ${SNAPSHOT.index} was acknowledged`;
    const reopenedSnapshots = new SnapshotStore(path.join(dataDir, 'snapshots'), { retain: 2, logger: silentLogger });
    const newest = await reopenedSnapshots.newestValid();
    if (marks.created! < k && newest?.meta.id !== snap.meta.id) return `the acknowledged snapshot ${snap.meta.id} is not the newest valid one`;
    if (saved < start) {
      // The node rebuilds the store from a valid snapshot that covers the log's start (Cluster.open).
      if (newest !== undefined && newest.meta.index >= start && termAt(newest.meta.index) === newest.meta.term) return undefined;
      return `applied index ${saved} is behind the log's start ${start} and no valid snapshot covers it`;
    }
    const matching = [...after].filter(([index, a]) => index >= saved && a.pos <= k && diffContents(contents, a.contents) === undefined).map(([index]) => index);
    if (matching.length === 0) return `the store holds the contents of no applied index at or after ${saved} (${contents.size} keys)`;
    if (marks.replaced! < k && Math.max(...matching) < SNAPSHOT.index) return 'the store lost the acknowledged install';
    if (Math.max(...matching) > last) return `the store holds entry ${Math.max(...matching)}, the log ends at ${last}`;
    return undefined;
  });
});
