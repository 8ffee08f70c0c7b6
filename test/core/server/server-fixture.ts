import type { BitcaskOptions } from '../../../src/core/bitcask/index.js';
import type { KvMachine } from '../../../src/core/kv/index.js';
import type { CommandTallies } from '../../../src/core/metrics/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { DEFAULT_CONFIG, type ServerConfig } from '../../../src/core/server/config.js';
import type { ServerContext, ServerStats } from '../../../src/core/server/context.js';
import { dispatch } from '../../../src/core/server/dispatch.js';
import { streamLogger } from '../../../src/core/server/log.js';
import type { Proposer } from '../../../src/core/server/proposer.js';
import { Cluster } from '../../../src/core/cluster/cluster.js';
import { LeaderRouter } from '../../../src/core/cluster/leader-router.js';
import { newSession, type Session } from '../../../src/core/server/session.js';
import { argv, openKv, plain, type KvFixture, type Plain } from '../kv/kv-fixture.js';

export { argv, plain, err, OK_, b, type Plain } from '../kv/kv-fixture.js';

/** The port the fake context reports as bound. */
export const FAKE_PORT = 6399;

export interface ServerFixture {
  ctx: ServerContext;
  kv: KvFixture;
  config: ServerConfig;
  stats: ServerStats;
  /** Every line the context's logger wrote. */
  logs: string[];
  /** Reasons passed to ctx.shutdown. */
  shutdowns: string[];
  /** Sessions ctx.sessions() reports. */
  sessions: Session[];
  /** A new session (authenticated unless a password is configured), listed in `sessions`. */
  session(addr?: string): Session;
  /** dispatch() as it returns. */
  dispatch(session: Session, ...args: (string | Buffer)[]): Reply | Promise<Reply>;
  /** dispatch() that must answer at once, as plain data. */
  run(session: Session, ...args: (string | Buffer)[]): Plain;
  /** dispatch(), awaited, as plain data. */
  runAsync(session: Session, ...args: (string | Buffer)[]): Promise<Plain>;
}

export interface ServerFixtureOptions {
  config?: Partial<ServerConfig>;
  bitcask?: BitcaskOptions;
  /** Builds the proposer; `directProposer` by default. */
  proposer?: (machine: KvMachine, config: ServerConfig, cluster: Cluster) => Proposer;
  version?: string;
  /** Where the connections count commands (as with --metrics). */
  commands?: CommandTallies;
}

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/**
 * A proposer for tests of the server alone: applies writes and runs reads at once, as a
 * single node whose log needs no wait would.
 */
export function directProposer(machine: KvMachine): Proposer {
  return { propose: (args) => machine.apply(args), read: (args, cmd) => machine.read(args, cmd) };
}

/**
 * A ServerContext built by hand: KvMachine over a temp Bitcask, a direct proposer, a
 * real one-node cluster (leading; its messages go nowhere), a logger into an array.
 */
export async function makeServer(t: Teardown, opts: ServerFixtureOptions = {}): Promise<ServerFixture> {
  const kv = await openKv(t, opts.bitcask);
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: kv.dir, port: 0, durability: 'low', ...opts.config };
  const logs: string[] = [];
  const shutdowns: string[] = [];
  const sessions: Session[] = [];
  const logger = streamLogger('debug', { write: (s: string) => logs.push(s) });
  const cluster = new Cluster({
    dir: kv.dir,
    id: `127.0.0.1:${FAKE_PORT}`,
    durability: config.durability,
    heartbeatMs: 10,
    electionMs: 100,
    store: kv.store,
    machine: kv.machine,
    transport: { send: () => {} },
    logger,
    join: false,
  });
  cluster.start();
  t.teardown(() => cluster.stop());
  await cluster.waitForLeader(5000);
  // Resolves once the leader's first entry is committed and applied.
  await cluster.driver.readIndex();
  const stats: ServerStats = { startedAt: Date.now(), connectionsReceived: 0, commandsProcessed: 0, rejectedConnections: 0 };
  const ctx: ServerContext = {
    config,
    version: opts.version ?? '9.9.9-test',
    machine: kv.machine,
    proposer: opts.proposer ? opts.proposer(kv.machine, config, cluster) : directProposer(kv.machine),
    cluster,
    router: new LeaderRouter({ cluster, mode: config.redirect, timeoutMs: 1000, leaderWaitMs: 10, logger }),
    logger,
    stats,
    port: () => FAKE_PORT,
    sessions: () => sessions,
    shutdown: (reason) => {
      shutdowns.push(reason);
    },
    commands: opts.commands,
  };
  let nextId = 1;
  const f: ServerFixture = {
    ctx,
    kv,
    config,
    stats,
    logs,
    shutdowns,
    sessions,
    session: (addr = `127.0.0.1:${50000 + nextId}`) => {
      const s = newSession(nextId++, addr, Date.now(), config.requirepass !== undefined);
      sessions.push(s);
      return s;
    },
    dispatch: (session, ...args) => dispatch(ctx, session, argv(...args)),
    run: (session, ...args) => {
      const r = dispatch(ctx, session, argv(...args));
      if (r instanceof Promise) throw new Error(`${args.join(' ')} answered with a promise`);
      return plain(r);
    },
    runAsync: async (session, ...args) => plain(await dispatch(ctx, session, argv(...args))),
  };
  return f;
}

/** A promise with its resolve and reject. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
