import { Gauge, type Registry } from 'prom-client';
import { counterFrom, gaugeFrom } from './scraped.js';

/** The Raft state of a node, as the metrics read it at each scrape (what `RAFTSTATS` and `INFO raft` show). */
export interface RaftReadings {
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  /** Index of the newest snapshot the node holds (or of the compacted log's start). */
  snapshotIndex: number;
  isLeader: boolean;
  /** Leaders this node came to know since it started (each new one, itself included). */
  leaderChanges: number;
  /** On the leader: each other member's address and how many entries its log is behind the leader's last index. Empty elsewhere. */
  followerLag: ReadonlyMap<string, number>;
}

/**
 * Registers the Raft metrics, read from `read()` at each scrape: term, commit, applied,
 * last log and snapshot indexes, whether the node leads, leader changes, elections (the
 * terms the node entered since it started: each term begins with one) and, on the leader,
 * each follower's lag.
 */
export function registerRaftMetrics(registry: Registry, read: () => RaftReadings): void {
  const startTerm = read().term;
  const gauge = (name: string, help: string, value: (r: RaftReadings) => number): void => gaugeFrom(registry, `bitraft_raft_${name}`, help, () => value(read()));
  gauge('term', 'The current Raft term.', (r) => r.term);
  gauge('commit_index', 'Index of the last log entry known to be committed.', (r) => r.commitIndex);
  gauge('applied_index', 'Index of the last log entry applied to the key/value store.', (r) => r.appliedIndex);
  gauge('last_log_index', 'Index of the last entry in the Raft log.', (r) => r.lastLogIndex);
  gauge('snapshot_index', 'Index of the newest snapshot this node holds (or of the compacted log\'s start).', (r) => r.snapshotIndex);
  gauge('is_leader', '1 while this node is the leader, else 0.', (r) => (r.isLeader ? 1 : 0));
  counterFrom(registry, 'bitraft_raft_leader_changes_total', 'Times this node came to know a new leader (itself included) since it started.', () => read().leaderChanges);
  counterFrom(registry, 'bitraft_raft_elections_total', 'Elections this node saw since it started: the terms it entered (each term begins with an election).', () => read().term - startTerm);
  new Gauge({
    name: 'bitraft_raft_follower_lag_entries',
    help: "On the leader: how many entries each follower's log is behind the leader's last log index, by the follower's address.",
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [peer, lag] of read().followerLag) this.set({ peer }, lag);
    },
  });
}
