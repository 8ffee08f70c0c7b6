import os from 'node:os';
import path from 'node:path';
import { Bitcask } from '../bitcask/index.js';
import { AutoMerger, checkAutoMergeSettings, type AutoMergeSettings } from '../cluster/auto-merge.js';
import { Cluster, RAFT_DIR } from '../cluster/cluster.js';
import { readApplied, type AppliedState } from '../cluster/applied-index.js';
import type { NodeCredentials } from '../cluster/credentials.js';
import { joinCluster } from '../cluster/join.js';
import { checkJoiner } from '../cluster/joiner-check.js';
import { DiskSpaceGuard, statfsFreeBytes } from '../cluster/disk-space.js';
import { LeaderRouter } from '../cluster/leader-router.js';
import { PeerTransport } from '../cluster/peer-transport.js';
import { RaftProposer } from '../cluster/raft-proposer.js';
import { ExpirySweeper } from '../cluster/expiry-sweeper.js';
import { encodeStampedCommand, KvMachine } from '../kv/index.js';
import { serveMetrics, type MetricsEndpoint } from '../metrics/index.js';
import { formatAddress, type ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import type { LevelLogger } from './log.js';
import { createNodeMetrics, nodeReadings } from './metered-node.js';
import { isLoopback, RespServer } from './server.js';
import { loadNodeTls } from './tls.js';
import { BitraftError } from '../support/errors.js';
import { messageOf } from '../support/error-message.js';

/** How often the leader looks for keys whose expiry has passed (see `ExpirySweeper`). */
const EXPIRY_SWEEP_MS = 100;
/** How long a node being added has to answer what it holds (`checkJoiner`). */
const JOINER_CHECK_MS = 5000;

/** A running node. */
export interface Node {
  /** The port clients connect to. */
  readonly port: number;
  /** The node's id in the cluster: the address it advertises. */
  readonly id: string;
  /**
   * Stops the node cleanly: a leader first hands leadership to another voter, then it
   * stops accepting, answers what is ready, syncs, and releases the lock. Idempotent.
   */
  stop(reason: string): Promise<void>;
  /** Resolves once the node has stopped (by `stop`, or by a client's SHUTDOWN). */
  readonly stopped: Promise<void>;
  /** Whether a step of stopping failed (it was logged; the other steps still ran). */
  readonly stopFailed: boolean;
}

/** The address this node tells peers and clients: `--advertise`, else the bound address (a wildcard host becomes the host name). */
function advertisedAddress(config: ServerConfig, port: number): string {
  if (config.advertise) return config.advertise;
  const host = config.host === '0.0.0.0' || config.host === '::' ? os.hostname() : config.host;
  return formatAddress({ host, port });
}

/** What an operator should know about `config` as the node starts: a node bound beyond loopback that protected mode will keep clients (and, without a cluster secret, peers) away from. */
export function startupWarnings(config: ServerConfig): string[] {
  if (!config.protectedMode || config.requirepass !== undefined || isLoopback(config.host)) return [];
  const peers = config.clusterSecret === undefined ? ' (peers too: set --cluster-secret)' : '';
  return [`protected mode: no password is set, so clients from addresses other than loopback are refused${peers}; set --requirepass, or --protected-mode no on a trusted network`];
}

/**
 * The composition root: opens the data directory (Bitcask), listens, then opens the
 * node's Raft state under `<dir>/raft` (its id is the advertised address, known once
 * the port is bound) and wires the state machine, peer transport, write/read paths and
 * RESP server together. A node without Raft state bootstraps a one-node cluster, or
 * with `join` asks that cluster to add it. If anything fails, what was opened is closed
 * again before the error is raised.
 */
export async function startNode(config: ServerConfig, logger: LevelLogger, version: string): Promise<Node> {
  if (config.electionMs < 2 * config.heartbeatMs) {
    throw new BitraftError('INVALID_ARGUMENT', 'the election timeout must be at least twice the heartbeat interval');
  }
  const merging: AutoMergeSettings = { deadRatio: config.mergeDeadRatio, minDeadBytes: config.mergeMinDeadBytes, bytesPerSecond: config.mergeRate, checkIntervalMs: config.mergeCheckMs };
  checkAutoMergeSettings(merging);
  const nodeTls = config.tls ? loadNodeTls(config.tls) : undefined;
  // How this node reaches its peers: the cluster secret (or the password), over TLS when it serves TLS.
  const credentials: NodeCredentials = { password: config.requirepass, clusterSecret: config.clusterSecret, tls: nodeTls?.client, routes: config.peerRoutes };
  const metrics = config.metrics ? createNodeMetrics() : undefined;
  // The Raft log holds every write durably; the store is fsynced by the applied-index checkpoint,
  // and rolled back to where it was when the index was saved: the log replays what came after.
  // Unreadable here (the Raft directory is not one, say): no roll-back; opening the cluster reports it.
  // Read once: opening the cluster goes on from what was read here.
  const saved: AppliedState | undefined = (() => {
    try {
      return readApplied(path.join(config.dir, RAFT_DIR), logger);
    } catch {
      return undefined;
    }
  })();
  const store = await Bitcask.open(config.dir, {
    rollBackTo: saved?.position,
    sync: 'none',
    maxKeySize: config.maxKeySize,
    maxValueSize: config.maxValueSize,
    maxFileSize: config.maxFileSize,
    cacheSize: config.cacheSize,
    logger,
    onSync: metrics?.fsyncObserver('data'),
  });
  logger.info(`opened ${config.dir}: ${store.size} keys`);
  const machine = new KvMachine(store);
  const disk = new DiskSpaceGuard({ dir: config.dir, minFreeBytes: config.minFreeSpace, logger });
  const transport = new PeerTransport({ credentials, logger });
  const autoMerge = new AutoMerger({ ...merging, store, logger, freeBytes: () => statfsFreeBytes(config.dir), minFreeBytes: config.minFreeSpace, onMerged: metrics?.observeMerge });
  let stopping: Promise<void> | undefined;
  let stopFailed = false;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const late: { cluster?: Cluster; router?: LeaderRouter; proposer?: RaftProposer; sweeper?: ExpirySweeper; metrics?: MetricsEndpoint } = {};
  const ctx: Omit<ServerContext, 'port' | 'sessions'> = {
    config,
    version,
    machine,
    logger,
    autoMerge,
    stats: { startedAt: Date.now(), connectionsReceived: 0, commandsProcessed: 0, rejectedConnections: 0 },
    get cluster() {
      return late.cluster!;
    },
    get router() {
      return late.router!;
    },
    get proposer() {
      return late.proposer!;
    },
    shutdown: (reason) => {
      // Let the SHUTDOWN reply's connection close first; stop() waits for the rest.
      setImmediate(() => void stop(reason));
    },
    // Listening starts before the cluster opens (its id is the bound address), which may take a while.
    loading: () => late.proposer === undefined,
    commands: metrics?.commands,
    checkJoiner: (addr) => {
      const { conf } = late.cluster!.status();
      return checkJoiner({ addr, members: [...conf.voters, ...conf.learners], credentials, logger, timeoutMs: JOINER_CHECK_MS });
    },
  };
  const server = new RespServer(ctx, nodeTls?.server);
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info(`shutting down: ${reason}`);
      // A running merge is abandoned at once (the store stays as it was), not waited for.
      autoMerge.stop();
      const cluster = late.cluster!;
      if (cluster.isLeader && cluster.status().conf.voters.length > 1) {
        const to = await cluster.transferLeadership(undefined, config.electionMs * 2).catch(() => undefined);
        logger.info(to ? `handed leadership to ${to}` : 'could not hand leadership over; the others will elect a leader');
      }
      late.sweeper?.stop();
      await server.close();
      await late.metrics?.close();
      // A step that fails (the log's last sync after a failed write, say) is logged, and
      // the others still run: the store is closed and the lock released whatever happens.
      const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
        await fn().catch((err: unknown) => {
          stopFailed = true;
          logger.error(`stopping: ${what} failed: ${messageOf(err)}`);
        });
      };
      await step('closing the Raft log', () => cluster.stop());
      late.router!.close();
      transport.close();
      disk.close();
      await step('closing the store', () => store.close());
      logger.info(stopFailed ? 'stopped, with errors (see above)' : 'stopped');
      markStopped();
    })();
    return stopping;
  };
  let port: number;
  try {
    port = await server.listen(config.host, config.port);
    if (metrics) late.metrics = await serveMetrics(metrics.registry, config.metrics!.host, config.metrics!.port, logger);
    const id = advertisedAddress(config, port);
    const cluster = await Cluster.open({
      dir: config.dir,
      id,
      durability: config.durability,
      heartbeatMs: config.heartbeatMs,
      electionMs: config.electionMs,
      requestTimeoutMs: config.requestTimeoutMs,
      store,
      machine,
      transport,
      logger,
      join: config.join !== undefined,
      applied: saved,
      snapshots: { entries: config.snapshotEntries, logBytes: config.snapshotLogBytes, retain: config.snapshotRetain, tail: config.logTail },
      credentials,
      onLogSync: metrics?.fsyncObserver('log'),
      onSnapshot: metrics?.observeSnapshot,
    });
    late.cluster = cluster;
    metrics?.watch(nodeReadings({ cluster, machine, stats: ctx.stats, dir: config.dir, clients: () => server.clientCount }));
    late.router = new LeaderRouter({
      cluster,
      mode: config.redirect,
      credentials,
      timeoutMs: config.requestTimeoutMs,
      leaderWaitMs: config.electionMs * 2,
      logger,
    });
    late.proposer = new RaftProposer({ cluster, machine, router: late.router, consistency: config.consistency, disk });
  } catch (err) {
    disk.close();
    await late.metrics?.close();
    await server.close();
    await store.close();
    throw err;
  }
  const cluster = late.cluster;
  cluster.start();
  late.sweeper = new ExpirySweeper({
    store,
    isLeader: () => cluster.isLeader,
    propose: (args) => cluster.driver.propose(encodeStampedCommand(machine.stamp(), args)),
    logger,
  });
  late.sweeper.start(EXPIRY_SWEEP_MS);
  autoMerge.start();
  logger.info(`listening on ${config.host}:${port}${nodeTls ? ' (TLS)' : ''} as ${cluster.id} (durability ${config.durability}, consistency ${config.consistency})`);
  for (const warning of startupWarnings(config)) logger.warn(warning);
  if (config.join !== undefined) {
    // A node stopped between being added as a learner and its promotion asks again: the
    // cluster promotes a learner it already has.
    const learner = cluster.status().conf.learners.includes(cluster.id);
    if (cluster.hadState && !learner) logger.info(`--join ${config.join} ignored: this node already has cluster state`);
    else {
      if (learner) logger.info(`this node is still a learner: asking to be made a voter`);
      void joinCluster({ target: config.join, self: cluster.id, credentials, logger, stopped });
    }
  }
  return {
    port,
    id: cluster.id,
    stop,
    stopped,
    get stopFailed() {
      return stopFailed;
    },
  };
}
