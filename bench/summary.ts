/**
 * The summary suite: the side-by-side table of the published numbers, in one run.
 *
 * - 1 node, `redis-benchmark -t set,get -d 100 -r 100000 -n N -c 50 -P 1|16` (N =
 *   200,000; 20,000 with `--quick`) against, one after another, each fresh with a short
 *   unrecorded warm-up at -P 16: bitraft `--durability high`, redis-server with no
 *   persistence (`--save '' --appendonly no`) and redis-server `--appendonly yes
 *   --appendfsync always`; 3 rounds (1 with `--quick`), the order rotating from round to
 *   round, and every number the median of the rounds (each round's in the details);
 * - 3 nodes, 64 clients: the same redis-benchmark command with `-c 64` (N = 100,000) against
 *   the leader of a 3-node bitraft cluster, and, when `etcd` is installed, a 3-member etcd
 *   cluster driven through its HTTP/JSON gateway by etcd.ts's load generator with 64
 *   requests in flight ("P1") and 64 × 16 ("P16"), 30,000 puts of 100-byte values and
 *   as many linearizable single-key ranges over 100,000 random keys. Both clusters run
 *   side by side and their rounds interleave (as many as the 1-node servers'). Without
 *   etcd, the output says so and only that column is missing.
 *
 * The machine is stated in the notes: CPUs, and the fdatasync rate of the scratch
 * filesystem measured before and after the servers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from './cluster.js';
import { EtcdCluster, etcdLoad, etcdVersion, type LoadResult } from './etcd.js';
import { median, type BenchConfig, type Metric, type Reference, type Suite, type Target } from './harness.js';
import { startBitraft, startRedis, type ServerProcess } from './procs.js';
import { checkServer, fsyncRate, KEYSPACE, redisBenchmark, redisVersion, requireTool, TARGETS, VALUE_BYTES, type BenchLine, type FsyncRate } from './server.js';
import { formatCount } from './table.js';

/** Targets of the issue for the 3-node rows. */
export const SUMMARY_TARGETS = {
  /** 3-node SET -P 16, ops/s: 5 × the Go original's 16k/s. */
  clusterSetP16: 80_000,
  /** 3-node SET ÷ etcd 3-node puts, both with 64 clients. */
  clusterVsEtcd: 5,
  /** bitraft p99 ≤ 3 × Redis's p99, as a ratio Redis ÷ bitraft. */
  p99Ratio: 1 / 3,
} as const;

export const SINGLE_CLIENTS = 50;
export const CLUSTER_CLIENTS = 64;
const FULL_SINGLE_REQUESTS = 200_000;
const QUICK_SINGLE_REQUESTS = 20_000;
const FULL_CLUSTER_REQUESTS = 100_000;
const QUICK_CLUSTER_REQUESTS = 20_000;
/** etcd requests per test and round (it serves a few thousand a second here). */
const FULL_ETCD_REQUESTS = 30_000;
const QUICK_ETCD_REQUESTS = 5_000;
/** Rounds of every configuration. */
const FULL_ROUNDS = 3;
const QUICK_ROUNDS = 1;
const PIPELINES = [1, 16] as const;
const TESTS = ['SET', 'GET'] as const;
type Pipeline = (typeof PIPELINES)[number];
type Test = (typeof TESTS)[number];

/** The configurations of the table. */
export type Config = 'bitraft1' | 'redisNone' | 'redisAlways' | 'bitraft3' | 'etcd3';
/** One measured cell: ops/s and latency percentiles (ms). */
export type Cell = Pick<BenchLine, 'rps' | 'p50' | 'p99'>;
/** The cells of every round, by configuration, test and pipeline. */
type Results = Map<string, Cell[]>;
const cellKey = (c: Config, test: Test, p: Pipeline): string => `${c}/${test}/P${p}`;

/** The summary benchmark suite. */
export const summarySuite: Suite = {
  name: 'summary',
  title: (config) =>
    `summary: 1 node (redis-benchmark -c ${SINGLE_CLIENTS} -n ${formatCount(singleRequests(config))}, median of ${roundCount(config)} rounds) bitraft durable vs redis-server without persistence and with appendfsync always; ` +
    `3 nodes (-c ${CLUSTER_CLIENTS} -n ${formatCount(clusterRequests(config))}) bitraft vs etcd; -P 1 and -P 16`,
  run: runSummarySuite,
};

function singleRequests(config: BenchConfig): number {
  return config.quick ? QUICK_SINGLE_REQUESTS : FULL_SINGLE_REQUESTS;
}

function roundCount(config: BenchConfig): number {
  return config.quick ? QUICK_ROUNDS : FULL_ROUNDS;
}

function clusterRequests(config: BenchConfig): number {
  return config.quick ? QUICK_CLUSTER_REQUESTS : FULL_CLUSTER_REQUESTS;
}

function record(results: Results, key: string, cell: Cell): void {
  results.set(key, [...(results.get(key) ?? []), cell]);
}

/** Warm-up, then -P 1 and -P 16, recorded under `config`. */
async function benchmarkPort(results: Results, config: Config, port: number, n: number, clients: number): Promise<string> {
  await redisBenchmark(port, Math.max(2000, Math.round(n / 20)), 16, clients);
  const text: string[] = [];
  for (const p of PIPELINES) {
    const lines = await redisBenchmark(port, n, p, clients);
    for (const test of TESTS) {
      const l = lines.get(test)!;
      record(results, cellKey(config, test, p), l);
      text.push(`${test} P${p} ${formatCount(l.rps)}/s p99 ${l.p99} ms`);
    }
  }
  return text.join(', ');
}

async function runSummarySuite(config: BenchConfig): Promise<Metric[]> {
  const { log } = config;
  requireTool('redis-benchmark');
  requireTool('redis-cli');
  const version = redisVersion();
  const etcd = etcdVersion();
  const root = path.join(config.tmpRoot, 'summary');
  fs.mkdirSync(root, { recursive: true });
  const fsyncBefore = fsyncRate(root);
  log(`fdatasync rate of ${root}: ${formatCount(fsyncBefore.perSecond)}/s (median ${fsyncBefore.medianMs.toFixed(3)} ms)`);
  const results: Results = new Map();
  const singleN = singleRequests(config);
  const clusterN = clusterRequests(config);
  const etcdN = config.quick ? QUICK_ETCD_REQUESTS : FULL_ETCD_REQUESTS;
  const rounds = roundCount(config);
  let etcdClientCpu = 0;
  try {
    const singles: { config: Config; start: (dir: string) => Promise<ServerProcess> }[] = [
      { config: 'bitraft1', start: (dir) => startBitraft(dir, 'high') },
      { config: 'redisNone', start: (dir) => startRedis(dir, ['--appendonly', 'no']) },
      { config: 'redisAlways', start: (dir) => startRedis(dir, ['--appendonly', 'yes', '--appendfsync', 'always']) },
    ];
    for (let round = 0; round < rounds; round++) {
      for (const s of [...singles.slice(round % singles.length), ...singles.slice(0, round % singles.length)]) {
        const dir = fs.mkdtempSync(path.join(root, `${s.config}-`));
        const server = await s.start(dir);
        try {
          await checkServer(server);
          log(`round ${round + 1}/${rounds} ${s.config}: ${await benchmarkPort(results, s.config, server.port, singleN, SINGLE_CLIENTS)}`);
        } finally {
          await server.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }

    // Both clusters run side by side, their rounds interleaved, so that both see the same machine.
    const cluster = new Cluster(path.join(root, 'bitraft3'), 3);
    let etcdCluster: EtcdCluster | undefined;
    try {
      const leader = await cluster.form(log);
      await checkServer({ kind: 'bitraft', port: leader.port });
      if (etcd === undefined) log('etcd is not installed (apt-get install etcd-server): the etcd column is skipped');
      else etcdCluster = await EtcdCluster.start(path.join(root, 'etcd3'), etcd);
      const etcdPort = await etcdCluster?.leaderPort();
      const base = { keyspace: KEYSPACE, valueBytes: VALUE_BYTES };
      if (etcdPort !== undefined) await etcdLoad(etcdPort, { ...base, op: 'put', requests: Math.max(2000, Math.round(etcdN / 10)), inFlight: CLUSTER_CLIENTS * 16 });
      for (let round = 0; round < rounds; round++) {
        log(`round ${round + 1}/${rounds} bitraft3: ${await benchmarkPort(results, 'bitraft3', leader.port, clusterN, CLUSTER_CLIENTS)}`);
        if (etcdPort === undefined) continue;
        const text: string[] = [];
        for (const p of PIPELINES) {
          for (const test of TESTS) {
            const r: LoadResult = await etcdLoad(etcdPort, { ...base, op: test === 'SET' ? 'put' : 'get', requests: etcdN, inFlight: CLUSTER_CLIENTS * p });
            record(results, cellKey('etcd3', test, p), r);
            etcdClientCpu = Math.max(etcdClientCpu, r.clientCpu);
            text.push(`${test} P${p} ${formatCount(r.rps)}/s p99 ${r.p99.toFixed(2)} ms (client CPU ${r.clientCpu.toFixed(2)})`);
          }
        }
        log(`round ${round + 1}/${rounds} etcd3 ${etcd}: ${text.join(', ')}`);
      }
    } finally {
      const errors = await cluster.stop();
      await etcdCluster?.stop();
      if (errors.length > 0) throw errors[0];
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
  }
  const fsyncAfter = fsyncRate(root);
  fs.rmSync(root, { recursive: true, force: true });
  return buildSummaryMetrics(results, { version, etcd, fsyncBefore, fsyncAfter, singleN, rounds, clusterN, etcdN, etcdClientCpu });
}

/** The median of each field over the rounds. */
function medianCell(cells: Cell[]): Cell {
  return { rps: median(cells.map((c) => c.rps)), p50: median(cells.map((c) => c.p50)), p99: median(cells.map((c) => c.p99)) };
}

/** What the metrics say about the run besides the cells. */
export interface SummaryInfo {
  version: string;
  etcd: string | undefined;
  fsyncBefore: FsyncRate;
  fsyncAfter: FsyncRate;
  singleN: number;
  /** Rounds of the 1-node servers. */
  rounds: number;
  clusterN: number;
  etcdN: number;
  /** Highest CPU use of the etcd load generator (CPU seconds per second). */
  etcdClientCpu: number;
}

/** A comparison of one configuration with another, in every test and pipeline. */
interface Comparison {
  id: string;
  subject: Config;
  against: Config;
  group: string;
  what: string;
  target: (test: Test, p: Pipeline) => Target | undefined;
  p99Target: boolean;
}

/**
 * The table's rows: for every comparison, test and pipeline, ops/s, p50 and p99 of the
 * subject against the reference. Ids are `summary.<comparison>.<test>.p<P>.<ops|p50|p99>`;
 * `details` of the ops row hold both sides' cells, so every configuration's numbers can
 * be read back from the saved results.
 */
export function buildSummaryMetrics(results: Results, info: SummaryInfo): Metric[] {
  const same1 = `same redis-benchmark command (-c ${SINGLE_CLIENTS}, -n ${info.singleN}), same run, after an unrecorded warm-up; median of ${info.rounds} rounds, the order rotating`;
  const comparisons: Comparison[] = [
    {
      id: 'durable',
      subject: 'bitraft1',
      against: 'redisAlways',
      group: '1 node, durable: bitraft --durability high vs redis-server --appendonly yes --appendfsync always',
      what: `redis-server ${info.version} --save '' --appendonly yes --appendfsync always; ${same1}`,
      target: (test, p) => (p !== 16 ? undefined : { op: '>=', value: test === 'SET' ? TARGETS.durableSetP16 : TARGETS.getP16, on: 'ratio' }),
      p99Target: true,
    },
    {
      id: 'memory',
      subject: 'bitraft1',
      against: 'redisNone',
      group: "1 node: bitraft --durability high vs redis-server --save '' --appendonly no (no persistence)",
      what: `redis-server ${info.version} --save '' --appendonly no; ${same1}`,
      target: (test, p) => (p === 16 && test === 'GET' ? { op: '>=', value: TARGETS.getP16, on: 'ratio' } : undefined),
      p99Target: false,
    },
  ];
  const hasEtcd = info.etcd !== undefined;
  comparisons.push({
    id: 'cluster',
    subject: 'bitraft3',
    against: 'etcd3',
    group: hasEtcd ? '3 nodes, 64 clients: the leader of a 3-node bitraft cluster vs a 3-member etcd cluster' : '3 nodes, 64 clients: the leader of a 3-node bitraft cluster (etcd not installed: no reference)',
    what:
      `etcd ${info.etcd} (3 members, defaults), its leader driven through the HTTP/JSON gateway: PUT = POST /v3/kv/put, GET = POST /v3/kv/range (linearizable), ` +
      `random keys of ${KEYSPACE}, ${VALUE_BYTES}-byte values, ${CLUSTER_CLIENTS} requests in flight for P1 and ${CLUSTER_CLIENTS * 16} for P16 over keep-alive connections, ${info.etcdN} requests per test; ` +
      `both clusters up side by side, their rounds interleaved, median of ${info.rounds}; ` +
      `the load generator used up to ${info.etcdClientCpu.toFixed(2)} CPU seconds per second of the 2 CPUs`,
    target: (test, p) => (test === 'SET' ? { op: '>=', value: SUMMARY_TARGETS.clusterVsEtcd, on: 'ratio' } : undefined),
    p99Target: false,
  });
  const fsync = (f: FsyncRate): string => `${formatCount(f.perSecond)}/s (median ${f.medianMs.toFixed(3)} ms)`;
  const metrics: Metric[] = [];
  for (const c of comparisons) {
    for (const p of PIPELINES) {
      for (const test of TESTS) {
        const sRounds = results.get(cellKey(c.subject, test, p));
        if (!sRounds) throw new Error(`no result for ${c.subject} ${test} P${p}`);
        const rRounds = results.get(cellKey(c.against, test, p));
        const s = medianCell(sRounds);
        const r = rRounds && medianCell(rRounds);
        const ref = (v: number | undefined): Reference | undefined => (v === undefined ? undefined : { value: v, what: c.what });
        const id = `summary.${c.id}.${test.toLowerCase()}.p${p}`;
        let note: string | undefined;
        if (c.id === 'durable' && test === 'SET' && p === 1) {
          note = `the machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}); fdatasync rate of the scratch filesystem ${fsync(info.fsyncBefore)} before the servers, ${fsync(info.fsyncAfter)} after (write 128 B + fdatasync for 1 s)`;
        }
        if (c.id === 'cluster' && test === 'SET' && p === 1 && !hasEtcd) note = 'etcd is not installed (apt-get install etcd-server): the etcd column was skipped';
        metrics.push({
          id: `${id}.ops`,
          group: c.group,
          name: `${test} -P ${p}: throughput`,
          unit: 'ops/s',
          better: 'higher',
          value: s.rps,
          reference: ref(r?.rps),
          target: hasEtcd || c.id !== 'cluster' ? c.target(test, p) : undefined,
          note,
          details: {
            subject: c.subject,
            against: c.against,
            pipeline: p,
            subjectP50Ms: s.p50,
            subjectP99Ms: s.p99,
            ...(r ? { referenceOps: r.rps, referenceP50Ms: r.p50, referenceP99Ms: r.p99 } : {}),
            subjectOpsRounds: sRounds.map((x) => x.rps.toFixed(0)).join(' '),
            ...(rRounds ? { referenceOpsRounds: rRounds.map((x) => x.rps.toFixed(0)).join(' ') } : {}),
          },
        });
        for (const q of ['p50', 'p99'] as const) {
          metrics.push({
            id: `${id}.${q}`,
            group: c.group,
            name: `  ${q} latency`,
            unit: 'ms',
            better: 'lower',
            value: s[q],
            reference: ref(r?.[q]),
            target: q === 'p99' && c.p99Target ? { op: '>=', value: SUMMARY_TARGETS.p99Ratio, on: 'ratio' } : undefined,
          });
        }
        if (c.id === 'cluster' && test === 'SET' && p === 16) {
          metrics.push({
            id: 'summary.cluster.set.p16.absolute',
            group: c.group,
            name: '  SET -P 16, absolute (5 × the Go original)',
            unit: 'ops/s',
            better: 'higher',
            value: s.rps,
            target: { op: '>=', value: SUMMARY_TARGETS.clusterSetP16 },
          });
        }
      }
    }
  }
  return metrics;
}
