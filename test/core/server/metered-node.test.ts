import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Cluster } from '../../../src/core/cluster/cluster.js';
import { SNAPSHOTS_DIR } from '../../../src/core/cluster/cluster.js';
import { createNodeMetrics, nodeReadings } from '../../../src/core/server/metered-node.js';
import { makeServer } from './server-fixture.js';

t.test('the readings of a one-node cluster that leads', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  await f.runAsync(s, 'SET', 'a', '1');
  await f.runAsync(s, 'SET', 'a', '2');
  f.stats.connectionsReceived = 5;
  f.stats.rejectedConnections = 2;
  const r = nodeReadings({ cluster: f.ctx.cluster, machine: f.ctx.machine, stats: f.stats, dir: f.config.dir, clients: () => 3 });
  const st = f.ctx.cluster.status();
  t.same(r.raft(), {
    term: st.term,
    commitIndex: st.commit,
    appliedIndex: st.applied,
    lastLogIndex: st.lastIndex,
    snapshotIndex: 0,
    isLeader: true,
    leaderChanges: 1,
    followerLag: new Map(),
  });
  const stats = f.ctx.machine.store.stats();
  t.same(r.store(), { keys: 1, liveBytes: stats.liveBytes, deadBytes: stats.deadBytes, dataBytes: stats.dataBytes });
  t.ok(stats.deadBytes > 0, 'the overwritten value is dead');
  t.equal(r.logBytes(), f.ctx.cluster.logSize().bytes);
  t.same(r.connections(), { connected: 3, received: 5, rejected: 2 });
  t.equal(await r.snapshotBytes(), 0, 'no snapshot yet');
  const snap = await f.ctx.cluster.snapshotNow();
  t.equal(await r.snapshotBytes(), fs.statSync(snap.statePath).size + fs.statSync(path.join(snap.path, 'meta.json')).size);
  t.ok(snap.path.startsWith(path.join(f.config.dir, SNAPSHOTS_DIR)));
  t.equal(r.raft().snapshotIndex, snap.meta.index);
});

t.test("on the leader, each follower's lag behind the last log index; none elsewhere", async (t) => {
  const progress = { self: { match: 20, next: 21, state: 'replicate' }, b: { match: 20, next: 21, state: 'replicate' }, c: { match: 12, next: 13, state: 'probe' } };
  const cluster = {
    isLeader: true,
    lastSnapshotIndex: 0,
    leaderChanges: 4,
    status: () => ({ id: 'self', term: 3, commit: 20, applied: 20, lastIndex: 20, progress }),
  };
  const f = await makeServer(t);
  const r = nodeReadings({ cluster: cluster as unknown as Cluster, machine: f.ctx.machine, stats: f.stats, dir: f.config.dir, clients: () => 0 });
  t.same(r.raft().followerLag, new Map([['b', 0], ['c', 8]]));
  t.equal(r.raft().leaderChanges, 4);
  cluster.isLeader = false;
  t.same(r.raft().followerLag, new Map(), 'not leading: no lag');
  t.equal(r.raft().isLeader, false);
});

t.test('every command the node answers has its own name in the metrics; others are unknown', async (t) => {
  const m = createNodeMetrics();
  for (const name of ['set', 'get', 'mset', 'ping', 'info', 'raftstats', 'raftfwd', 'multi', 'exec', 'raftmsg']) t.equal(m.commands.of(name).name, name, name);
  t.equal(m.commands.of('flushall').name, 'unknown');
});
