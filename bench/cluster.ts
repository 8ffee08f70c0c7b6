/**
 * The cluster suite: what replication costs, and how fast a cluster recovers from the
 * loss of its leader. In one run it starts, each with a fresh data directory on a
 * loopback port:
 *
 * - `redis-server --appendonly yes --appendfsync always` (the durable reference),
 * - a 1-node bitraft (`bitraft serve`, durability high, the default),
 * - a 3-node bitraft cluster (the second and third members `--join` the first; the run
 *   waits until the leader lists all three as voters at one match index).
 *
 * Throughput: `redis-benchmark -t set,get -d 100 -r 100000 -n N -c 50 -P 1|16` (N is
 * 100,000, 20,000 with `--quick`) against Redis, the 1-node bitraft, the 3-node leader
 * and a 3-node follower (which forwards to the leader), one after another, each after a
 * short unrecorded warm-up at -P 16. The table compares the leader with the 1-node
 * server, the follower with the leader, and both bitraft set-ups with Redis.
 *
 * Failover, with the default timeouts: a trickle of writes (a SET every 5 ms to every
 * live member, over the suite's own RESP connections) runs; the leader is SIGKILLed, and
 * the time from the kill to the first `+OK` for a SET *sent after the kill* is measured.
 * The killed member is restarted on its directory and port and the run waits until it is
 * a voter again at the leader's match index; three kills, median and max reported.
 *
 * Every process is stopped by pid at the end (SIGTERM, which must exit 0), also when the
 * suite fails; killed members are SIGKILLed on purpose. A failing redis-benchmark (stderr
 * output, a non-zero exit, output that does not parse) fails the suite; a missed target
 * does not. A failover that never completes is reported as a failure of the suite.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, now, type BenchConfig, type Metric, type Reference, type Suite, type Target } from './harness.js';
import { HOST, killPid, runTool, startBitraftNode, startRedis, waitForOutput, type ServerProcess } from './procs.js';
import { ReplyError, RespConnection, command, type Reply } from './resp-client.js';
import { checkServer, fsyncRate, parseBenchmarkCsv, redisCli, redisVersion, requireTool, type BenchLine, type FsyncRate } from './server.js';
import { formatCount } from './table.js';

/** Targets of the issue. */
export const CLUSTER_TARGETS = {
  /** 3-node leader SET -P 16 ÷ 1-node SET -P 16. */
  leaderVsSingleSetP16: 0.5,
  /** 3-node leader SET -P 16, absolute ops/s. */
  leaderSetP16: 80_000,
  /** SIGKILL of the leader → first acknowledged write, ms. */
  failoverMs: 3000,
} as const;

export const CLIENTS = 50;
export const VALUE_BYTES = 100;
export const KEYSPACE = 100_000;
export const FULL_REQUESTS = 100_000;
export const QUICK_REQUESTS = 20_000;
export const PIPELINES = [1, 16] as const;
export const TESTS = ['SET', 'GET'] as const;
/** Leader kills per run. */
export const FAILOVERS = 3;
/** The trickle sends one SET to each live member this often. */
export const TRICKLE_MS = 5;
/** Connections per member the trickle may open (so that a stuck request does not stop it). */
const TRICKLE_MAX_CONNS = 32;
/** A trickle request unanswered this long is abandoned (its connection closed). */
const TRICKLE_REQUEST_TIMEOUT_MS = 5000;
/** How long a failover may take before the suite gives up on it. */
const FAILOVER_GIVE_UP_MS = 30_000;
/** How long the cluster may take to form, or to take a restarted member back. */
const HEALTHY_TIMEOUT_MS = 60_000;

type Pipeline = (typeof PIPELINES)[number];
type Test = (typeof TESTS)[number];
/** The servers benchmarked. */
type TargetName = 'redis' | 'single' | 'leader' | 'follower';
const TARGET_LABEL: Record<TargetName, string> = {
  redis: 'redis-server always',
  single: '1-node bitraft',
  leader: '3-node leader',
  follower: '3-node follower',
};
const BENCH_ORDER: TargetName[] = ['redis', 'single', 'leader', 'follower'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The cluster benchmark suite. */
export const clusterSuite: Suite = {
  name: 'cluster',
  title: (config) =>
    `cluster: redis-benchmark -t set,get -d ${VALUE_BYTES} -r ${KEYSPACE} -n ${requests(config)} -c ${CLIENTS} -P 1|16 against a 3-node bitraft cluster, ` +
    `a 1-node bitraft and redis-server --appendfsync always; leader failover ×${FAILOVERS}`,
  run: runClusterSuite,
};

function requests(config: BenchConfig): number {
  return config.quick ? QUICK_REQUESTS : FULL_REQUESTS;
}

/** Runs redis-benchmark against `port`; fails on stderr output, a non-zero exit or bad CSV. */
async function redisBenchmark(port: number, n: number, pipeline: number): Promise<Map<string, BenchLine>> {
  const args = ['-h', HOST, '-p', String(port), '-t', 'set,get', '-d', String(VALUE_BYTES), '-r', String(KEYSPACE), '-n', String(n), '-c', String(CLIENTS), '-P', String(pipeline), '--csv'];
  const { stdout } = await runTool('redis-benchmark', args, {
    // Two tests of n requests: allow 200 requests/s each (replicated writes can be slow), plus start-up.
    timeoutMs: 60_000 + n * 10,
    failOnStderr: true,
    what: `redis-benchmark ${args.join(' ')}`,
  });
  const parsed = parseBenchmarkCsv(stdout);
  for (const test of TESTS) if (!parsed.has(test)) throw new Error(`redis-benchmark printed no ${test} line:\n${stdout}`);
  return parsed;
}

/** Polls `probe` every 100 ms until it returns a value (not a string); a string says why not yet. */
async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | string>): Promise<T> {
  const deadline = now() + timeoutMs / 1000;
  let last = 'not checked yet';
  for (;;) {
    try {
      const r = await probe();
      if (typeof r !== 'string') return r;
      last = r;
    } catch (err) {
      last = errText(err);
    }
    if (now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last seen: ${last}`);
    await sleep(100);
  }
}

const replyText = (r: Reply): string => (r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r));

/** A member of the 3-node cluster; `server` is undefined while it is killed. */
interface Member {
  readonly name: string;
  readonly dir: string;
  port: number;
  server: ServerProcess | undefined;
}

/** One row of RAFTPEERS. */
interface PeerRow {
  addr: string;
  suffrage: string;
  role: string;
  match: number;
  state: string;
}

function parsePeers(reply: Reply): PeerRow[] {
  if (!Array.isArray(reply)) throw new Error(`RAFTPEERS answered ${replyText(reply)}`);
  return reply.map((row) => {
    if (!Array.isArray(row) || row.length < 5) throw new Error(`RAFTPEERS row ${replyText(row)}`);
    const [addr, suffrage, role, match, state] = row;
    if (typeof addr !== 'string' || typeof suffrage !== 'string' || typeof role !== 'string' || typeof match !== 'number' || typeof state !== 'string') {
      throw new Error(`RAFTPEERS row ${replyText(row)}`);
    }
    return { addr, suffrage, role, match, state };
  });
}

const addrOf = (port: number): string => `${HOST}:${port}`;

/** A bitraft cluster of child processes (durability high), formed by `form`, stopped by `stop`. */
export class Cluster {
  readonly members: Member[];

  constructor(root: string, size: number) {
    this.members = Array.from({ length: size }, (_, i) => {
      const name = `node${i + 1}`;
      const dir = path.join(root, name);
      fs.mkdirSync(dir, { recursive: true });
      return { name, dir, port: 0, server: undefined };
    });
  }

  live(): Member[] {
    return this.members.filter((m) => m.server !== undefined && !m.server.proc.hasExited());
  }

  byAddr(addr: string): Member | undefined {
    return this.members.find((m) => addrOf(m.port) === addr);
  }

  /** Bootstraps the first member, then joins the others through it, one at a time. */
  async form(log: (m: string) => void): Promise<Member> {
    const [first, ...rest] = this.members as [Member, ...Member[]];
    first.server = await startBitraftNode(first.dir, { what: `bitraft serve (${first.name})` });
    first.port = first.server.port;
    await waitUntil(`${first.name} leads its one-node cluster`, HEALTHY_TIMEOUT_MS, async () => {
      const r = await command(first.port, ['RAFTLEADER'], 2000);
      return r === addrOf(first.port) ? true : `RAFTLEADER ${replyText(r)}`;
    });
    for (const m of rest) {
      m.server = await startBitraftNode(m.dir, { join: first.port, what: `bitraft serve (${m.name}) --join ${addrOf(first.port)}` });
      m.port = m.server.port;
      await waitForOutput(m.server.proc, 'stderr', /joined the cluster through/, HEALTHY_TIMEOUT_MS);
    }
    const leader = await this.waitHealthy();
    log(`3-node cluster formed: ${this.members.map((m) => `${m.name} ${addrOf(m.port)} pid ${m.server!.pid}`).join(', ')}; leader ${leader.name}`);
    return leader;
  }

  /**
   * Healthy: every live member names the same live leader, and the leader's RAFTPEERS
   * lists every member as a voter, all at one match index (greater than 0), replicating.
   */
  async health(): Promise<Member | string> {
    const live = this.live();
    if (live.length !== this.members.length) return `${live.length} of ${this.members.length} members running`;
    const views = await Promise.all(live.map((m) => command(m.port, ['RAFTLEADER'], 2000)));
    const names = new Set(views.map(replyText));
    if (names.size !== 1 || typeof views[0] !== 'string') return `members name leaders ${views.map(replyText).join(', ')}`;
    const leader = this.byAddr(views[0]);
    if (!leader || !live.includes(leader)) return `leader ${views[0]} is not a live member`;
    const rows = parsePeers(await command(leader.port, ['RAFTPEERS'], 2000));
    const text = rows.map((r) => `${r.addr} ${r.suffrage} ${r.role} ${r.match} ${r.state}`).join('; ');
    const ok =
      rows.length === this.members.length &&
      this.members.every((m) => rows.some((r) => r.addr === addrOf(m.port))) &&
      rows.every((r) => r.suffrage === 'voter' && r.match > 0 && r.match === rows[0]!.match && r.state === 'replicate') &&
      rows.filter((r) => r.role === 'leader').length === 1;
    return ok ? leader : `RAFTPEERS on ${leader.name}: ${text}`;
  }

  waitHealthy(): Promise<Member> {
    return waitUntil('3 voters at one match index', HEALTHY_TIMEOUT_MS, () => this.health());
  }

  /** SIGTERMs every live member; returns the errors of the stops that went wrong. */
  async stop(): Promise<unknown[]> {
    const errors: unknown[] = [];
    await Promise.all(
      this.members.map(async (m) => {
        const s = m.server;
        if (!s) return;
        if (s.proc.hasExited()) {
          m.server = undefined;
          return;
        }
        try {
          await s.stop();
        } catch (err) {
          errors.push(err);
        }
        m.server = undefined;
      }),
    );
    return errors;
  }
}

/** An acknowledged trickle write. */
interface Ack {
  port: number;
  sentAt: number;
  ackAt: number;
}

/**
 * A steady trickle of writes: every TRICKLE_MS, one SET to each member in the set, on an
 * idle connection of that member's pool (a new one when all are busy, up to
 * TRICKLE_MAX_CONNS), so that a request stuck on a dead leader does not hold back the
 * next. Records every `+OK` with the times it was sent and answered (seconds, `now()`).
 */
class Trickle {
  private readonly pools = new Map<number, RespConnection[]>();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private waiters: { after: number; resolve: (ack: Ack) => void }[] = [];
  readonly acks: Ack[] = [];
  sent = 0;
  skipped = 0;
  /** Error replies and connection failures, by message (addresses replaced by ADDR, first 100 characters). */
  readonly errors = new Map<string, number>();

  start(ports: number[]): void {
    for (const p of ports) this.pools.set(p, []);
    this.timer = setInterval(() => this.tick(), TRICKLE_MS);
  }

  /** Stops writing to `port` and drops its connections. */
  remove(port: number): void {
    const pool = this.pools.get(port);
    this.pools.delete(port);
    for (const c of pool ?? []) c.destroy();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const port of [...this.pools.keys()]) this.remove(port);
    this.waiters = [];
  }

  errorCount(): number {
    let n = 0;
    for (const c of this.errors.values()) n += c;
    return n;
  }

  /** Resolves with the first ack of a write sent at or after `after`; undefined after `timeoutMs`. */
  firstAckSentAfter(after: number, timeoutMs: number): Promise<Ack | undefined> {
    const done = this.acks.find((a) => a.sentAt >= after);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter = {
        after,
        resolve: (ack: Ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves once every member in the set has acknowledged `count` writes. */
  async waitSteady(count: number, timeoutMs: number): Promise<void> {
    await waitUntil('trickle acknowledged by every member', timeoutMs, async () => {
      const missing = [...this.pools.keys()].filter((p) => this.acks.filter((a) => a.port === p).length < count);
      return missing.length === 0 ? true : `ports ${missing.join(', ')} below ${count} acks; errors ${JSON.stringify([...this.errors])}`;
    });
  }

  private tick(): void {
    for (const [port, pool] of this.pools) {
      for (let i = pool.length - 1; i >= 0; i--) if (pool[i]!.closed) pool.splice(i, 1);
      let conn = pool.find((c) => c.inFlight === 0);
      if (!conn) {
        if (pool.length >= TRICKLE_MAX_CONNS) {
          this.skipped++;
          continue;
        }
        conn = new RespConnection(port);
        pool.push(conn);
      }
      const c = conn;
      const seq = ++this.seq;
      const sentAt = now();
      this.sent++;
      const timer = setTimeout(() => c.destroy(), TRICKLE_REQUEST_TIMEOUT_MS);
      c.send(['SET', `bench:trickle:${seq % 1000}`, String(seq)]).then(
        (reply) => {
          clearTimeout(timer);
          if (reply === 'OK') this.onAck({ port, sentAt, ackAt: now() });
          else this.onError(port, replyText(reply));
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.onError(port, errText(err));
        },
      );
    }
  }

  private onAck(ack: Ack): void {
    if (!this.pools.has(ack.port)) return;
    this.acks.push(ack);
    const ready = this.waiters.filter((w) => ack.sentAt >= w.after);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(ack);
  }

  private onError(port: number, message: string): void {
    // Requests cut off by remove()/stop() are not the cluster's errors.
    if (!this.pools.has(port)) return;
    // One kind per message shape: addresses vary from kill to kill.
    const key = message.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR').slice(0, 100);
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }
}

/** One leader kill. */
interface Failover {
  /** Kill → first +OK of a write sent after the kill, ms. */
  ms: number;
  /** Kill → a surviving member names a new leader (RAFTLEADER), ms. */
  electedMs: number;
  /** Kill → the restarted member is back as a voter at the leader's match index, ms. */
  rejoinMs: number;
  killed: string;
  newLeader: string;
  /** Port the first acknowledged write went to. */
  ackedBy: string;
  errors: number;
  /** Failed trickle writes by kind of error. */
  errorKinds: Map<string, number>;
}

async function measureFailover(cluster: Cluster, round: number, log: (m: string) => void): Promise<Failover> {
  const leader = await cluster.waitHealthy();
  const victim = leader.server!;
  const trickle = new Trickle();
  try {
    trickle.start(cluster.live().map((m) => m.port));
    await trickle.waitSteady(20, 15_000);
    const killAt = now();
    killPid(victim.pid, 'SIGKILL');
    trickle.remove(leader.port);
    const survivors = cluster.live().filter((m) => m !== leader);
    // Meanwhile, when does a survivor first name a new leader?
    let elected: { at: number; addr: string } | undefined;
    const electionWatch = (async () => {
      const deadline = killAt + FAILOVER_GIVE_UP_MS / 1000;
      while (elected === undefined && now() < deadline) {
        const views = await Promise.all(survivors.map((m) => command(m.port, ['RAFTLEADER'], 1000).catch(() => null)));
        const fresh = views.find((v): v is string => typeof v === 'string' && v !== addrOf(leader.port));
        if (fresh !== undefined) elected = { at: now(), addr: fresh };
        else await sleep(10);
      }
    })();
    const ack = await trickle.firstAckSentAfter(killAt, FAILOVER_GIVE_UP_MS);
    await electionWatch;
    await victim.proc.exited;
    if (!ack) {
      throw new Error(
        `failover ${round}: no write sent after the SIGKILL of ${leader.name} (${addrOf(leader.port)}) was acknowledged within ${FAILOVER_GIVE_UP_MS} ms; ` +
          `new leader named: ${elected?.addr ?? 'none'}; trickle errors ${JSON.stringify([...trickle.errors])}`,
      );
    }
    const ms = (ack.ackAt - killAt) * 1000;
    const electedMs = elected ? (elected.at - killAt) * 1000 : Number.NaN;
    // Let the trickle run a little longer, then stop it: the rejoin is measured idle.
    await sleep(200);
    trickle.stop();
    const errors = trickle.errorCount();
    const errorKinds = new Map(trickle.errors);

    leader.server = undefined;
    leader.server = await startBitraftNode(leader.dir, { port: leader.port, what: `bitraft serve (${leader.name}, restarted)` });
    const newLeader = await cluster.waitHealthy();
    const rejoinMs = (now() - killAt) * 1000;
    const f: Failover = {
      ms,
      electedMs,
      rejoinMs,
      killed: `${leader.name} ${addrOf(leader.port)}`,
      newLeader: `${newLeader.name} ${addrOf(newLeader.port)}`,
      ackedBy: addrOf(ack.port),
      errors,
      errorKinds,
    };
    log(
      `failover ${round}/${FAILOVERS}: killed ${f.killed}; new leader named after ${electedMs.toFixed(0)} ms, first acknowledged write after ${ms.toFixed(0)} ms ` +
        `(via ${f.ackedBy}); ${errors} failed trickle writes${errorKinds.size > 0 ? ` (${[...errorKinds].map(([m, k]) => `${k}× ${m}`).join('; ')})` : ''}; restarted member back as a voter ${(rejoinMs / 1000).toFixed(1)} s after the kill; leader now ${f.newLeader}`,
    );
    return f;
  } finally {
    trickle.stop();
  }
}

async function runClusterSuite(config: BenchConfig): Promise<Metric[]> {
  const { log } = config;
  requireTool('redis-benchmark');
  requireTool('redis-cli');
  const version = redisVersion();
  const n = requests(config);
  const warmup = Math.max(2000, Math.round(n / 20));
  const root = path.join(config.tmpRoot, 'cluster');
  fs.mkdirSync(root, { recursive: true });

  log(`fdatasync rate of ${root}`);
  const fsync = fsyncRate(root);
  log(`  ${formatCount(fsync.perSecond)}/s (median ${fsync.medianMs.toFixed(3)} ms per write+fdatasync)`);

  let redis: ServerProcess | undefined;
  let single: ServerProcess | undefined;
  const cluster = new Cluster(root, 3);
  const results = new Map<TargetName, Map<string, BenchLine>>();
  const failovers: Failover[] = [];
  let measured = false;
  try {
    const redisDir = path.join(root, 'redis');
    const singleDir = path.join(root, 'single');
    fs.mkdirSync(redisDir);
    fs.mkdirSync(singleDir);
    redis = await startRedis(redisDir, ['--appendonly', 'yes', '--appendfsync', 'always']);
    single = await startBitraftNode(singleDir, { what: 'bitraft serve (1-node)' });
    const singlePort = single.port;
    await waitUntil('the 1-node bitraft leads', HEALTHY_TIMEOUT_MS, async () => {
      const r = await command(singlePort, ['RAFTLEADER'], 2000);
      return r === addrOf(singlePort) ? true : `RAFTLEADER ${replyText(r)}`;
    });
    log(`redis-server ${version} on ${redis.port} (pid ${redis.pid}), 1-node bitraft on ${single.port} (pid ${single.pid})`);
    const leader = await cluster.form(log);
    const follower = cluster.members.find((m) => m !== leader)!;

    const ports: Record<TargetName, { port: number; kind: 'bitraft' | 'redis' }> = {
      redis: { port: redis.port, kind: 'redis' },
      single: { port: single.port, kind: 'bitraft' },
      leader: { port: leader.port, kind: 'bitraft' },
      follower: { port: follower.port, kind: 'bitraft' },
    };
    for (const name of BENCH_ORDER) {
      const { port, kind } = ports[name];
      await checkServer({ kind, port });
      await redisBenchmark(port, warmup, 16);
      const lines = new Map<string, BenchLine>();
      for (const pipeline of PIPELINES) {
        const r = await redisBenchmark(port, n, pipeline);
        for (const test of TESTS) lines.set(`${test} P${pipeline}`, r.get(test)!);
      }
      const keysText = await redisCli(port, ['DBSIZE']);
      if (!Number.isInteger(Number(keysText)) || Number(keysText) <= 0) throw new Error(`${TARGET_LABEL[name]} answered DBSIZE with ${JSON.stringify(keysText)} after the SET runs`);
      results.set(name, lines);
      log(`${TARGET_LABEL[name].padEnd(20)} ${[...lines].map(([k, l]) => `${k} ${formatCount(l.rps)}/s`).join(', ')}`);
    }
    // The reference servers are done: stop them before the failovers (a clean exit is required).
    await redis.stop();
    redis = undefined;
    await single.stop();
    single = undefined;

    for (let i = 1; i <= FAILOVERS; i++) failovers.push(await measureFailover(cluster, i, log));
    measured = true;
  } finally {
    const errors: unknown[] = [];
    for (const s of [redis, single]) {
      if (!s) continue;
      try {
        await s.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    errors.push(...(await cluster.stop()));
    fs.rmSync(root, { recursive: true, force: true });
    for (const err of errors) log(`${measured ? '' : 'while failing, '}${errText(err).split('\n')[0]}`);
    // A server must shut down cleanly; when the run already failed, that first error is the one reported.
    if (measured && errors.length > 0) throw errors[0];
  }
  return buildMetrics(results, failovers, { version, n, warmup, fsync });
}

interface RunInfo {
  version: string;
  n: number;
  warmup: number;
  fsync: FsyncRate;
}

interface Comparison {
  id: string;
  subject: TargetName;
  against: TargetName;
  group: string;
  what: string;
}

function buildMetrics(results: Map<TargetName, Map<string, BenchLine>>, failovers: Failover[], info: RunInfo): Metric[] {
  const line = (t: TargetName, test: Test, p: Pipeline): BenchLine => {
    const l = results.get(t)?.get(`${test} P${p}`);
    if (!l) throw new Error(`no result for ${TARGET_LABEL[t]} ${test} P${p}`);
    return l;
  };
  const same = `same redis-benchmark command, same run, after ${formatCount(info.warmup)} unrecorded warm-up requests per test at -P 16`;
  const redisWhat = `redis-server ${info.version} --save '' --appendonly yes --appendfsync always; ${same}`;
  const comparisons: Comparison[] = [
    { id: 'leader-vs-single', subject: 'leader', against: 'single', group: '3-node: the leader of a 3-node cluster vs a 1-node bitraft (both durability high)', what: `a 1-node bitraft (durability high); ${same}` },
    { id: 'follower-vs-leader', subject: 'follower', against: 'leader', group: 'follower: a follower of the 3-node cluster (forwarding to the leader) vs the leader', what: `the 3-node leader; ${same}` },
    { id: 'single-vs-redis', subject: 'single', against: 'redis', group: "1-node vs Redis: a 1-node bitraft vs redis-server --appendfsync always", what: redisWhat },
    { id: 'leader-vs-redis', subject: 'leader', against: 'redis', group: '3-node vs Redis: the 3-node leader vs redis-server --appendfsync always', what: redisWhat },
  ];
  const metrics: Metric[] = [];
  for (const c of comparisons) {
    const reference = (l: BenchLine): Reference => ({ value: l.rps, what: c.what });
    for (const pipeline of PIPELINES) {
      for (const test of TESTS) {
        const s = line(c.subject, test, pipeline);
        const r = line(c.against, test, pipeline);
        let target: Target | undefined;
        let note: string | undefined;
        if (c.id === 'leader-vs-single' && test === 'SET' && pipeline === 16) target = { op: '>=', value: CLUSTER_TARGETS.leaderVsSingleSetP16, on: 'ratio' };
        if (c.id === 'leader-vs-single' && test === 'SET' && pipeline === 1) {
          note =
            `fdatasync rate of the scratch filesystem: ${formatCount(info.fsync.perSecond)}/s (median ${info.fsync.medianMs.toFixed(3)} ms per 128 B write+fdatasync); ` +
            `the 3 members, redis-benchmark and redis-server all share this machine's ${os.cpus().length} CPUs and disk`;
        }
        metrics.push({
          id: `cluster.${c.id}.${test.toLowerCase()}.p${pipeline}.ops`,
          group: c.group,
          name: `${test} -P ${pipeline}: throughput`,
          unit: 'ops/s',
          better: 'higher',
          value: s.rps,
          reference: reference(r),
          target,
          note,
          details: {
            subjectP50Ms: s.p50,
            subjectP99Ms: s.p99,
            subjectMaxMs: s.max,
            referenceP50Ms: r.p50,
            referenceP99Ms: r.p99,
            referenceMaxMs: r.max,
            requests: info.n,
            clients: CLIENTS,
            pipeline,
          },
        });
        if (c.id === 'leader-vs-single' && test === 'SET' && pipeline === 16) {
          metrics.push({
            id: 'cluster.leader.set.p16.absolute',
            group: c.group,
            name: '  3-node leader SET -P 16, absolute',
            unit: 'ops/s',
            better: 'higher',
            value: s.rps,
            target: { op: '>=', value: CLUSTER_TARGETS.leaderSetP16 },
            details: { p50Ms: s.p50, p99Ms: s.p99 },
          });
        }
      }
    }
  }

  const times = failovers.map((f) => f.ms);
  const allErrors = new Map<string, number>();
  for (const f of failovers) for (const [m, k] of f.errorKinds) allErrors.set(m, (allErrors.get(m) ?? 0) + k);
  const group = `failover: SIGKILL of the leader → first acknowledged write (default timeouts), ${failovers.length} kills`;
  const details: Record<string, string | number> = {
    failoverMs: times.map((t) => t.toFixed(1)).join(' '),
    electedMs: failovers.map((f) => f.electedMs.toFixed(1)).join(' '),
    rejoinMs: failovers.map((f) => f.rejoinMs.toFixed(0)).join(' '),
    killed: failovers.map((f) => f.killed).join(', '),
    failedTrickleWrites: failovers.map((f) => f.errors).join(' '),
  };
  metrics.push(
    {
      id: 'cluster.failover.median',
      group,
      name: `median of ${failovers.length} kills`,
      unit: 'ms',
      better: 'lower',
      value: median(times),
      target: { op: '<', value: CLUSTER_TARGETS.failoverMs },
      details,
      note:
        `each kill: ${failovers.map((f) => `${f.ms.toFixed(0)} ms (new leader named after ${f.electedMs.toFixed(0)} ms, ${f.errors} failed writes)`).join(', ')}. ` +
        `A SET every ${TRICKLE_MS} ms to each live member; only writes sent after the kill count. The killed member was restarted on its directory and port and ` +
        `was back as a voter at the leader's match index ${failovers.map((f) => `${(f.rejoinMs / 1000).toFixed(1)} s`).join(', ')} after the kill` +
        (allErrors.size > 0 ? `; failed writes over all kills: ${[...allErrors].map(([m, k]) => `${k}× ${m}`).join(', ')}` : ''),
    },
    {
      id: 'cluster.failover.max',
      group,
      name: `max of ${failovers.length} kills`,
      unit: 'ms',
      better: 'lower',
      value: Math.max(...times),
      target: { op: '<', value: CLUSTER_TARGETS.failoverMs },
      details,
    },
    {
      id: 'cluster.failover.elected.median',
      group,
      name: '  new leader named (RAFTLEADER): median',
      unit: 'ms',
      better: 'lower',
      value: median(failovers.map((f) => f.electedMs)),
      details,
    },
  );
  return metrics;
}
