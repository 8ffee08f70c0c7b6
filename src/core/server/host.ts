import { Bitcask } from '../bitcask/index.js';
import { KvMachine } from '../kv/index.js';
import type { ServerConfig } from './config.js';
import type { LevelLogger } from './log.js';
import { LocalProposer } from './proposer.js';
import { RespServer } from './server.js';

/** A running node. */
export interface Node {
  /** The port clients connect to. */
  readonly port: number;
  /** Stops the node cleanly: stop accepting, answer what is ready, fsync, release the lock. Idempotent. */
  stop(reason: string): Promise<void>;
  /** Resolves once the node has stopped (by `stop`, or by a client's SHUTDOWN). */
  readonly stopped: Promise<void>;
}

/**
 * The composition root: opens the data directory (Bitcask), builds the state machine,
 * the write path for the durability level and the RESP server, and starts listening.
 * If listening fails, the store is closed again before the error is raised.
 */
export async function startNode(config: ServerConfig, logger: LevelLogger, version: string): Promise<Node> {
  const store = await Bitcask.open(config.dir, {
    sync: { high: 'none', medium: 'interval', low: 'none' }[config.durability] as 'none' | 'interval',
    maxKeySize: config.maxKeySize,
    maxValueSize: config.maxValueSize,
    maxFileSize: config.maxFileSize,
    cacheSize: config.cacheSize,
    logger,
  });
  logger.info(`opened ${config.dir}: ${store.size} keys`);
  const machine = new KvMachine(store);
  const proposer = new LocalProposer(machine, config.durability);
  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info(`shutting down: ${reason}`);
      await server.close();
      await store.close();
      logger.info('stopped');
      markStopped();
    })();
    return stopping;
  };
  const server = new RespServer({
    config,
    version,
    machine,
    proposer,
    logger,
    stats: { startedAt: Date.now(), connectionsReceived: 0, commandsProcessed: 0, rejectedConnections: 0 },
    shutdown: (reason) => {
      // Let the SHUTDOWN reply's connection close first; stop() waits for the rest.
      setImmediate(() => void stop(reason));
    },
  });
  let port: number;
  try {
    port = await server.listen(config.host, config.port);
  } catch (err) {
    await store.close();
    throw err;
  }
  logger.info(`listening on ${config.host}:${port} (durability ${config.durability})`);
  return { port, stop, stopped };
}
