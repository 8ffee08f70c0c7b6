import path from 'node:path';
import { SNAPSHOTS_DIR, type Cluster } from '../cluster/cluster.js';
import { KV_COMMANDS, type KvMachine } from '../kv/index.js';
import { directoryBytes, NodeMetrics, type NodeReadings } from '../metrics/index.js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import type { ServerStats } from './context.js';

/** The metrics of a node: every command name the node answers is counted under its own name (`raftfwd` too), any other as `unknown`. */
export function createNodeMetrics(): NodeMetrics {
  return new NodeMetrics([...KV_COMMANDS.keys(), ...ADMIN_COMMANDS.keys(), 'raftfwd']);
}

/** The parts of a running node its metrics read. */
export interface MeteredNode {
  cluster: Cluster;
  machine: KvMachine;
  stats: ServerStats;
  /** The data directory. */
  dir: string;
  /** Clients connected now. */
  clients: () => number;
}

/**
 * What the metrics read from `node` at each scrape: the Raft state as RAFTSTATS shows it
 * (and, on the leader, each follower's lag behind its last log index), the store's
 * counters, the bytes of data files, log and snapshots, and INFO's connection counters.
 * Reads only memory — the snapshots directory aside — so it answers whatever the node's
 * state: a follower, no leader, Raft stopped after a failed write.
 */
export function nodeReadings(node: MeteredNode): NodeReadings {
  const { cluster, stats } = node;
  return {
    raft: () => {
      const st = cluster.status();
      const isLeader = cluster.isLeader;
      const followerLag = new Map<string, number>();
      if (isLeader) for (const [id, pr] of Object.entries(st.progress)) if (id !== st.id) followerLag.set(id, st.lastIndex - pr.match);
      return {
        term: st.term,
        commitIndex: st.commit,
        appliedIndex: st.applied,
        lastLogIndex: st.lastIndex,
        snapshotIndex: cluster.lastSnapshotIndex,
        isLeader,
        leaderChanges: cluster.leaderChanges,
        followerLag,
      };
    },
    store: () => {
      const s = node.machine.store.stats();
      return { keys: s.liveKeys, liveBytes: s.liveBytes, deadBytes: s.deadBytes, dataBytes: s.dataBytes };
    },
    logBytes: () => cluster.logSize().bytes,
    snapshotBytes: () => directoryBytes(path.join(node.dir, SNAPSHOTS_DIR)),
    connections: () => ({ connected: node.clients(), received: stats.connectionsReceived, rejected: stats.rejectedConnections }),
  };
}
