import { Registry } from 'prom-client';
import t from 'tap';
import { registerRaftMetrics, type RaftReadings } from '../../../src/core/metrics/raft-metrics.js';
import { samples, valueOf } from './exposition.js';

const leader = (over: Partial<RaftReadings> = {}): RaftReadings => ({
  term: 4,
  commitIndex: 10,
  appliedIndex: 9,
  lastLogIndex: 12,
  snapshotIndex: 5,
  isLeader: true,
  leaderChanges: 1,
  followerLag: new Map([
    ['10.0.0.2:4920', 0],
    ['10.0.0.3:4920', 7],
  ]),
  ...over,
});

t.test('the Raft gauges and counters follow the readings at each scrape', async (t) => {
  const registry = new Registry();
  let r = leader();
  registerRaftMetrics(registry, () => r);
  let text = await registry.metrics();
  t.equal(valueOf(text, 'bitraft_raft_term'), 4);
  t.equal(valueOf(text, 'bitraft_raft_commit_index'), 10);
  t.equal(valueOf(text, 'bitraft_raft_applied_index'), 9);
  t.equal(valueOf(text, 'bitraft_raft_last_log_index'), 12);
  t.equal(valueOf(text, 'bitraft_raft_snapshot_index'), 5);
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 1);
  t.equal(valueOf(text, 'bitraft_raft_leader_changes_total'), 1);
  t.equal(valueOf(text, 'bitraft_raft_elections_total'), 0, 'no election seen yet: the term is the one at the start');
  t.same(
    [...samples(text, 'bitraft_raft_follower_lag_entries')],
    [
      ['bitraft_raft_follower_lag_entries{peer="10.0.0.2:4920"}', 0],
      ['bitraft_raft_follower_lag_entries{peer="10.0.0.3:4920"}', 7],
    ],
  );
  t.match(text, /# TYPE bitraft_raft_elections_total counter/);
  r = leader({ term: 7, isLeader: false, leaderChanges: 3, followerLag: new Map() });
  text = await registry.metrics();
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 0);
  t.equal(valueOf(text, 'bitraft_raft_elections_total'), 3, 'three terms later');
  t.equal(valueOf(text, 'bitraft_raft_leader_changes_total'), 3);
  t.equal(samples(text, 'bitraft_raft_follower_lag_entries').size, 0, 'no lag series once it no longer leads');
});
