import type { KvMachine } from '../kv/index.js';
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

/** What command handlers may use: the node's config, state machine, write path and clients. */
export interface ServerContext {
  readonly config: ServerConfig;
  /** bitraft's own version, shown by INFO. */
  readonly version: string;
  readonly machine: KvMachine;
  readonly proposer: Proposer;
  readonly logger: LevelLogger;
  readonly stats: ServerStats;
  /** The port actually bound (differs from config.port when that was 0). */
  readonly port: () => number;
  /** Live sessions, for INFO and CLIENT LIST. */
  readonly sessions: () => Iterable<Session>;
  /** Stops the node cleanly (SHUTDOWN). */
  readonly shutdown: (reason: string) => void;
}
