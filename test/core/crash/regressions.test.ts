/**
 * Regression tests of the crash-consistency faults the crash workloads found, each on the
 * recorded operations themselves: a directory a store creates is made durable in its
 * parent; a new Raft log file's entry is made durable before entries in it are
 * acknowledged; a merge's input deletions become durable one by one, oldest first; a
 * pruned snapshot leaves the listing durably before its files go.
 */
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { mkdirDurable } from '../../../src/core/bitcask/fs-util.js';
import { DiskLogStore } from '../../../src/core/raft/log-store.js';
import { SnapshotStore } from '../../../src/core/snapshot/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { b, fastTmpDir } from '../../helpers/bitcask.js';
import { describeOp, recordFs, type DirOp, type FsOp } from '../../helpers/crash-fs.js';
import { batches, records } from './workload.js';

/** Whether directory operation `i` of `log` is durable by the end: its directories were fsynced after it. */
function durable(log: readonly FsOp[], i: number, before = log.length): boolean {
  const op = log[i] as DirOp;
  const parents = op.kind === 'rename' ? [op.parent, op.toParent] : [op.parent];
  return parents.every((p) => log.slice(i + 1, before).some((f) => f.kind === 'fsync' && f.node === p && f.covers > i));
}

/** The indexes of the operations `describeOp` names `name`. */
function indexesOf(log: readonly FsOp[], name: string | RegExp): number[] {
  return log.flatMap((op, i) => (typeof name === 'string' ? describeOp(op) === name : name.test(describeOp(op))) ? [i] : []);
}

t.test('mkdirDurable fsyncs the parent of every directory it creates, and nothing when it exists', async (t) => {
  const root = fastTmpDir(t);
  const rec = recordFs(t, root);
  mkdirDurable(path.join(root, 'a', 'b', 'c'));
  const created = rec.log.length;
  mkdirDurable(path.join(root, 'a', 'b'));
  rec.stop();
  t.equal(rec.log.length, created, 'an existing directory costs nothing');
  const mkdirs = indexesOf(rec.log, /^mkdir /);
  t.same(mkdirs.map((i) => describeOp(rec.log[i]!)), ['mkdir a', 'mkdir a/b', 'mkdir a/b/c']);
  t.ok(mkdirs.every((i) => durable(rec.log, i)));
});

t.test('the directories the stores create are durable', async (t) => {
  const root = fastTmpDir(t);
  const rec = recordFs(t, root);
  const data = path.join(root, 'node', 'data');
  const store = await Bitcask.open(data, { logger: silentLogger });
  const log = DiskLogStore.open(path.join(data, 'raft'));
  new SnapshotStore(path.join(data, 'snapshots'), { retain: 1, logger: silentLogger });
  log.close();
  await store.close();
  rec.stop();
  const mkdirs = indexesOf(rec.log, /^mkdir /);
  t.same(mkdirs.map((i) => describeOp(rec.log[i]!)), ['mkdir node', 'mkdir node/data', 'mkdir node/data/raft', 'mkdir node/data/snapshots']);
  t.same(mkdirs.filter((i) => !durable(rec.log, i)).map((i) => describeOp(rec.log[i]!)), []);
});

t.test('the raft log creates its directory and missing parents durably', async (t) => {
  const root = fastTmpDir(t);
  const rec = recordFs(t, root);
  DiskLogStore.open(path.join(root, 'x', 'y', 'raft')).close();
  DiskLogStore.open(path.join(root, 'x', 'y', 'raft')).close();
  rec.stop();
  const mkdirs = indexesOf(rec.log, /^mkdir /);
  t.same(mkdirs.map((i) => describeOp(rec.log[i]!)), ['mkdir x', 'mkdir x/y', 'mkdir x/y/raft']);
  t.ok(mkdirs.every((i) => durable(rec.log, i)));
  t.equal(indexesOf(rec.log, 'create x/y/raft/log').length, 1, 'reopened without creating anything');
});

t.test('a new raft log file is durable in its directory before an entry in it is acknowledged', async (t) => {
  const root = fastTmpDir(t);
  const rec = recordFs(t, root);
  const log = DiskLogStore.open(path.join(root, 'raft'));
  log.append([{ index: 1, term: 1, type: 'command', data: new Uint8Array([1]) }]);
  log.sync();
  const acked = rec.position;
  log.close();
  rec.stop();
  const [create] = indexesOf(rec.log, 'create raft/log');
  t.ok(durable(rec.log, create!, acked), 'the create is covered by a directory fsync before the sync returned');
});

t.test('a merge deletes its inputs oldest first, each deletion durable before the next', async (t) => {
  const root = fastTmpDir(t);
  const dir = path.join(root, 'db');
  const opts = { maxFileSize: 200, logger: silentLogger, clock: manualClock(1_700_000_000_000) };
  let store = await Bitcask.open(dir, opts);
  for (let i = 0; i < 12; i++) store.put(b(`k${i % 3}`), Buffer.alloc(60, i));
  store.delete(b('k0'));
  await store.close();
  const rec = recordFs(t, root);
  store = await Bitcask.open(dir, opts);
  await store.merge();
  await store.close();
  rec.stop();
  const deletions = indexesOf(rec.log, /^unlink db\/\d{10}\.data$/);
  t.ok(deletions.length >= 3, `${deletions.length} inputs deleted`);
  const names = deletions.map((i) => describeOp(rec.log[i]!));
  t.same(names, [...names].sort(), 'oldest first');
  deletions.forEach((i, n) => t.ok(durable(rec.log, i, deletions[n + 1]), `${describeOp(rec.log[i]!)} is durable before the next deletion`));
});

t.test('a pruned snapshot is renamed out of the listing, durably, before its files are removed', async (t) => {
  const root = fastTmpDir(t);
  const clock = manualClock(1_700_000_000_000);
  const snapshots = new SnapshotStore(path.join(root, 'snapshots'), { retain: 1, logger: silentLogger, clock });
  const first = await snapshots.create({ index: 1, term: 1, conf: { voters: ['n1'], learners: [] } }, batches(records(1, 3)));
  clock.advance(1);
  const rec = recordFs(t, root);
  await snapshots.create({ index: 2, term: 1, conf: { voters: ['n1'], learners: [] } }, batches(records(2, 3)));
  rec.stop();
  const [rename] = indexesOf(rec.log, `rename snapshots/${first.meta.id} -> snapshots/.tmp-${first.meta.id}.pruned`);
  t.ok(rename !== undefined, 'renamed to a temp name');
  const removals = indexesOf(rec.log, new RegExp(`^(unlink|rmdir) snapshots/\\.tmp-${first.meta.id}\\.pruned`));
  t.equal(removals.length, 3, 'state.bin, meta.json, the directory');
  t.ok(durable(rec.log, rename!, removals[0]), 'the rename is durable before the first removal');
});
