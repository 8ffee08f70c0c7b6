import type { AutoMerger } from '../cluster/auto-merge.js';
import type { Cluster } from '../cluster/cluster.js';
import type { LeaderRouter } from '../cluster/leader-router.js';
import type { KvMachine } from '../kv/index.js';
import type { CommandTallies } from '../metrics/index.js';
import type { LevelLogger } from './log.js';
import type { ServerConfig } from './config.js';
import type { Proposer } from './proposer.js';
import type { Session } from './session.js';

/** Counters shown by INFO. */
export interface ServerStats {
  startedAt: number;
  connectionsReceived: number;
  commandsProcessed: number;
  rejectedConnections: number;
}

/** What command handlers may use: the node's config, state machine, write path, cluster and clients. */
export interface ServerContext {
  readonly config: ServerConfig;
  /** bitraft's own version, shown by INFO. */
  readonly version: string;
  readonly machine: KvMachine;
  readonly proposer: Proposer;
  /** This node's Raft membership (RAFT… commands). */
  readonly cluster: Cluster;
  /** Where commands only the leader may answer go from here. */
  readonly router: Pick<LeaderRouter, 'route'>;
  readonly logger: LevelLogger;
  /** The node's automatic merges, for INFO; absent: the node has none. */
  readonly autoMerge?: Pick<AutoMerger, 'status'>;
  readonly stats: ServerStats;
  /** The port actually bound (differs from config.port when that was 0). */
  readonly port: () => number;
  /** Live sessions, for INFO and CLIENT LIST. */
  readonly sessions: () => Iterable<Session>;
  /** Stops the node cleanly (SHUTDOWN). */
  readonly shutdown: (reason: string) => void;
  /**
   * Whether the node is still loading (listening, but its store and Raft state not open
   * yet, e.g. while a snapshot rebuilds the store): commands get `-LOADING`. Absent: never.
   */
  readonly loading?: () => boolean;
  /**
   * Checks, before `RAFTADDPEER` adds a node that is not a member yet, that it may join
   * (see `checkJoiner`: not a node holding another cluster's keys); rejects with why
   * not. Absent: nodes are added unchecked.
   */
  readonly checkJoiner?: (addr: string) => Promise<void>;
  /** Where each command's name, result and latency are counted (with `--metrics`); absent: not counted. */
  readonly commands?: CommandTallies;
}
