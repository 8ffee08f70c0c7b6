import t from 'tap';
import { DURATION_BUCKETS } from '../../../src/core/metrics/buckets.js';
import { NodeMetrics, type NodeReadings } from '../../../src/core/metrics/node-metrics.js';
import { samples, valueOf } from './exposition.js';

const readings: NodeReadings = {
  raft: () => ({ term: 2, commitIndex: 3, appliedIndex: 3, lastLogIndex: 3, snapshotIndex: 0, isLeader: true, leaderChanges: 1, followerLag: new Map() }),
  store: () => ({ keys: 1, liveBytes: 20, deadBytes: 0, dataBytes: 20 }),
  logBytes: () => 100,
  snapshotBytes: async () => 0,
  connections: () => ({ connected: 1, received: 1, rejected: 0 }),
};

t.test('process metrics come prefixed with bitraft_', async (t) => {
  const m = new NodeMetrics(['get']);
  const text = await m.registry.metrics();
  t.ok((valueOf(text, 'bitraft_process_resident_memory_bytes') ?? 0) > 0, 'resident memory');
  t.ok((valueOf(text, 'bitraft_nodejs_heap_size_used_bytes') ?? 0) > 0, 'heap used');
  const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]!);
  t.same(names.filter((n) => !n.startsWith('bitraft_')), [], 'every name prefixed');
});

t.test('commands are counted through the tallies', async (t) => {
  const m = new NodeMetrics(['get']);
  m.commands.of('get').record(0.001, false);
  t.equal(valueOf(await m.registry.metrics(), 'bitraft_commands_total{command="get",result="ok"}'), 1);
});

t.test('fsyncs by file, snapshots and merges are histograms of seconds; fsyncs start at zero', async (t) => {
  const m = new NodeMetrics([]);
  let text = await m.registry.metrics();
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="log"}'), 0);
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="data"}'), 0);
  const log = m.fsyncObserver('log');
  log(0.002);
  log(0.004);
  m.fsyncObserver('data')(0.5);
  // Handed on unbound, as the store and the cluster get them.
  const { observeSnapshot, observeMerge } = m;
  observeSnapshot(12);
  observeMerge(0.2);
  observeMerge(700);
  text = await m.registry.metrics();
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="log"}'), 2);
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_sum{file="log"}'), 0.006);
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_bucket{le="0.0025",file="log"}'), 1);
  t.equal(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="data"}'), 1);
  t.equal(valueOf(text, 'bitraft_snapshot_duration_seconds_count'), 1);
  t.equal(valueOf(text, 'bitraft_snapshot_duration_seconds_sum'), 12);
  t.equal(valueOf(text, 'bitraft_merge_duration_seconds_count'), 2);
  t.equal(valueOf(text, 'bitraft_merge_duration_seconds_bucket{le="600"}'), 1);
  t.equal(samples(text, 'bitraft_merge_duration_seconds_bucket').size, DURATION_BUCKETS.length + 1);
});

t.test('the node\'s own metrics appear once it is watched', async (t) => {
  const m = new NodeMetrics([]);
  t.notMatch(await m.registry.metrics(), /bitraft_raft_term/, 'not before');
  m.watch(readings);
  const text = await m.registry.metrics();
  t.equal(valueOf(text, 'bitraft_raft_term'), 2);
  t.equal(valueOf(text, 'bitraft_store_keys'), 1);
  t.equal(valueOf(text, 'bitraft_disk_bytes{files="log"}'), 100);
  t.equal(valueOf(text, 'bitraft_connected_clients'), 1);
});
