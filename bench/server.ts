/**
 * The server suite: `redis-benchmark -t set,get -d 100 -r 100000 -n N -c 50 -P 1|16`
 * against a real `bitraft serve` child process and a real `redis-server`, each on a free
 * loopback port with a fresh data directory:
 *
 * - durable: bitraft `--durability high` vs `redis-server --appendonly yes --appendfsync always`
 * - memory:  bitraft `--durability low`  vs `redis-server --appendonly no` (no persistence)
 *
 * N is 200,000 (20,000 with `--quick`). Servers are benchmarked one at a time; each
 * round starts a fresh server of each kind, warms it up with a short unrecorded run,
 * then runs -P 1 and -P 16; the order of the two servers alternates from round to
 * round, and the table shows the median of the rounds. The fdatasync rate of the
 * scratch filesystem is measured in the same run (before and after), since durable
 * throughput depends on it.
 *
 * Anything redis-benchmark writes to stderr, a non-zero exit, or output that does not
 * parse fails the suite; a missed target does not.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { median, now, type BenchConfig, type Metric, type Suite, type Target } from './harness.js';
import { HOST, runTool, startBitraft, startRedis, type ServerProcess } from './procs.js';
import { formatCount } from './table.js';

/** Targets from the issue, as ratios bitraft ÷ Redis of ops/s. */
export const TARGETS = {
  /** Durable SET at -P 16 vs Redis `appendfsync always`. */
  durableSetP16: 0.75,
  /** GET at -P 16 (both modes). */
  getP16: 0.6,
  /** Every -P 1 case (loopback-bound). */
  p1: 0.8,
} as const;

/** The redis-benchmark parameters of the issue. */
export const CLIENTS = 50;
export const VALUE_BYTES = 100;
export const KEYSPACE = 100_000;
export const FULL_REQUESTS = 200_000;
export const QUICK_REQUESTS = 20_000;
export const PIPELINES = [1, 16] as const;
export const TESTS = ['SET', 'GET'] as const;

type Pipeline = (typeof PIPELINES)[number];
type Test = (typeof TESTS)[number];
type Kind = 'bitraft' | 'redis';

/** Rounds per mode: each round benchmarks a fresh server of each kind. */
const FULL_ROUNDS = 2;
const QUICK_ROUNDS = 2;

/** One line of `redis-benchmark --csv`: requests per second and latencies in ms. */
export interface BenchLine {
  rps: number;
  avg: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const CSV_HEADER = ['test', 'rps', 'avg_latency_ms', 'min_latency_ms', 'p50_latency_ms', 'p95_latency_ms', 'p99_latency_ms', 'max_latency_ms'];

/** A persistence setting compared on both servers. */
interface Mode {
  id: 'durable' | 'memory';
  durability: 'high' | 'low';
  redisArgs: string[];
  group: string;
  redisWhat: string;
}

const MODES: Mode[] = [
  {
    id: 'durable',
    durability: 'high',
    redisArgs: ['--appendonly', 'yes', '--appendfsync', 'always'],
    group: 'durable: bitraft --durability high vs redis-server --appendonly yes --appendfsync always',
    redisWhat: "redis-server --save '' --appendonly yes --appendfsync always",
  },
  {
    id: 'memory',
    durability: 'low',
    redisArgs: ['--appendonly', 'no'],
    group: "in memory: bitraft --durability low vs redis-server --save '' --appendonly no",
    redisWhat: "redis-server --save '' --appendonly no (no persistence)",
  },
];

/** The server benchmark suite. */
export const serverSuite: Suite = {
  name: 'server',
  title: (config) => {
    const n = requests(config);
    return `server: redis-benchmark -t set,get -d ${VALUE_BYTES} -r ${KEYSPACE} -n ${n} -c ${CLIENTS} -P 1|16, bitraft vs redis-server; median of ${rounds(config)} rounds`;
  },
  run: runServerSuite,
};

function requests(config: BenchConfig): number {
  return config.quick ? QUICK_REQUESTS : FULL_REQUESTS;
}

function rounds(config: BenchConfig): number {
  return config.quick ? QUICK_ROUNDS : FULL_ROUNDS;
}

/** Parses `redis-benchmark --csv` output into one line per test; throws on anything unexpected. */
export function parseBenchmarkCsv(stdout: string): Map<string, BenchLine> {
  const lines = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) throw new Error('redis-benchmark printed nothing');
  const cells = (line: string): string[] => {
    const m = line.match(/^"(.*)"$/);
    if (!m) throw new Error(`redis-benchmark printed a line that is not CSV: ${line}`);
    return m[1]!.split('","');
  };
  const header = cells(lines[0]!);
  if (header.join(',') !== CSV_HEADER.join(',')) throw new Error(`unexpected redis-benchmark CSV header: ${lines[0]}`);
  const result = new Map<string, BenchLine>();
  for (const line of lines.slice(1)) {
    const c = cells(line);
    const nums = c.slice(1).map(Number);
    if (c.length !== CSV_HEADER.length || nums.some((x) => !Number.isFinite(x))) throw new Error(`unexpected redis-benchmark CSV line: ${line}`);
    const [rps, avg, min, p50, p95, p99, max] = nums as [number, number, number, number, number, number, number];
    if (rps <= 0) throw new Error(`redis-benchmark reported ${rps} requests per second: ${line}`);
    result.set(c[0]!, { rps, avg, min, p50, p95, p99, max });
  }
  return result;
}

/**
 * Runs `redis-benchmark -t set,get -d 100 -r 100000 -n n -c clients -P pipeline --csv`
 * against `port`; fails on stderr output, a non-zero exit or bad CSV.
 */
export async function redisBenchmark(port: number, n: number, pipeline: number, clients: number = CLIENTS): Promise<Map<string, BenchLine>> {
  const args = ['-h', HOST, '-p', String(port), '-t', 'set,get', '-d', String(VALUE_BYTES), '-r', String(KEYSPACE), '-n', String(n), '-c', String(clients), '-P', String(pipeline), '--csv'];
  const { stdout } = await runTool('redis-benchmark', args, {
    // Two tests of n requests: allow 1,000 requests/s each, plus start-up.
    timeoutMs: 30_000 + n * 2,
    failOnStderr: true,
    what: `redis-benchmark ${args.join(' ')}`,
  });
  const parsed = parseBenchmarkCsv(stdout);
  for (const test of TESTS) if (!parsed.has(test)) throw new Error(`redis-benchmark printed no ${test} line:\n${stdout}`);
  return parsed;
}

/** Runs one redis-cli command against `port` and returns its raw output (trimmed). */
export async function redisCli(port: number, args: string[]): Promise<string> {
  const { stdout } = await runTool('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeoutMs: 10_000, failOnStderr: true });
  return stdout.trim();
}

/** A round trip through the server before it is timed, so a broken server cannot post a fast number. */
export async function checkServer(server: Pick<ServerProcess, 'kind' | 'port'>): Promise<void> {
  const value = 'bench-check-value';
  const set = await redisCli(server.port, ['SET', 'bench:check', value]);
  const get = await redisCli(server.port, ['GET', 'bench:check']);
  const del = await redisCli(server.port, ['DEL', 'bench:check']);
  if (set !== 'OK' || get !== value || del !== '1') throw new Error(`${server.kind} on port ${server.port} failed the SET/GET/DEL check: ${JSON.stringify([set, get, del])}`);
}

/** Result of `fsyncRate`. */
export interface FsyncRate {
  perSecond: number;
  /** Median time of one write+fdatasync, in ms. */
  medianMs: number;
  count: number;
}

/** Appends 128 B and fdatasyncs it, over and over for `seconds`, in a new file under `dir`. */
export function fsyncRate(dir: string, seconds = 1): FsyncRate {
  const file = path.join(dir, `fsync-probe-${process.pid}.bin`);
  const buf = Buffer.alloc(128, 0x61);
  const fd = fs.openSync(file, 'w');
  const times: number[] = [];
  try {
    const t0 = now();
    let t = t0;
    while (t - t0 < seconds) {
      fs.writeSync(fd, buf);
      fs.fdatasyncSync(fd);
      const t1 = now();
      times.push(t1 - t);
      t = t1;
    }
    return { perSecond: times.length / (t - t0), medianMs: median(times) * 1000, count: times.length };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** The version of the redis-server on PATH; throws when there is none. */
export function redisVersion(): string {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new Error(`redis-server not runnable (${r.error.message}); run \`npm run setup:test-tools\``);
  return r.stdout.match(/v=(\S+)/)?.[1] ?? 'unknown';
}

/** Throws, saying how to install it, unless `tool --version` runs. */
export function requireTool(tool: string): void {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) throw new Error(`${tool} not runnable (${r.error?.message ?? `exit ${r.status}`}); run \`npm run setup:test-tools\``);
}

/** Samples of one (mode, server, pipeline, test), one per round. */
type Samples = Map<string, BenchLine[]>;
const sampleKey = (mode: Mode['id'], kind: Kind, pipeline: Pipeline, test: Test): string => `${mode}/${kind}/P${pipeline}/${test}`;

async function runServerSuite(config: BenchConfig): Promise<Metric[]> {
  const { log } = config;
  requireTool('redis-benchmark');
  requireTool('redis-cli');
  const version = redisVersion();
  const n = requests(config);
  const roundCount = rounds(config);
  const warmup = Math.max(2000, Math.round(n / 20));
  const root = path.join(config.tmpRoot, 'server');
  fs.mkdirSync(root, { recursive: true });

  log(`fdatasync rate of ${root}`);
  const fsyncBefore = fsyncRate(root);
  log(`  ${formatCount(fsyncBefore.perSecond)}/s (median ${fsyncBefore.medianMs.toFixed(3)} ms per write+fdatasync)`);

  const samples: Samples = new Map();
  const dbsize = new Map<string, number[]>();
  const started = now();
  try {
    for (const [mi, mode] of MODES.entries()) {
      for (let r = 0; r < roundCount; r++) {
        const order: Kind[] = (r + mi) % 2 === 0 ? ['bitraft', 'redis'] : ['redis', 'bitraft'];
        for (const kind of order) {
          const dir = fs.mkdtempSync(path.join(root, `${kind}-${mode.id}-`));
          let server: ServerProcess | undefined;
          let measured = false;
          try {
            server = kind === 'bitraft' ? await startBitraft(dir, mode.durability) : await startRedis(dir, mode.redisArgs);
            await checkServer(server);
            await redisBenchmark(server.port, warmup, 16);
            const line: string[] = [];
            for (const pipeline of PIPELINES) {
              const result = await redisBenchmark(server.port, n, pipeline);
              for (const test of TESTS) {
                const key = sampleKey(mode.id, kind, pipeline, test);
                const list = samples.get(key) ?? [];
                list.push(result.get(test)!);
                samples.set(key, list);
                line.push(`${test} P${pipeline} ${formatCount(result.get(test)!.rps)}/s`);
              }
            }
            const keysText = await redisCli(server.port, ['DBSIZE']);
            const keys = Number(keysText);
            if (!Number.isInteger(keys) || keys <= 0) throw new Error(`${kind} answered DBSIZE with ${JSON.stringify(keysText)} after the SET runs`);
            const dk = `${mode.id}/${kind}`;
            dbsize.set(dk, [...(dbsize.get(dk) ?? []), keys]);
            log(`${mode.id} round ${r + 1}/${roundCount} ${kind.padEnd(7)} ${line.join(', ')}`);
            measured = true;
          } finally {
            try {
              // A server must shut down cleanly (exit 0 on SIGTERM); when the run already
              // failed, that first error is the one reported and a bad stop is only logged.
              await server?.stop();
            } catch (err) {
              if (measured) throw err;
              log(`while failing, ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
            } finally {
              fs.rmSync(dir, { recursive: true, force: true });
            }
          }
        }
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
  }
  const benchSeconds = now() - started;

  const fsyncAfter = fsyncRate(root);
  log(`fdatasync rate after the servers: ${formatCount(fsyncAfter.perSecond)}/s (median ${fsyncAfter.medianMs.toFixed(3)} ms)`);
  fs.rmSync(root, { recursive: true, force: true });
  log(`servers benchmarked in ${benchSeconds.toFixed(1)} s`);

  return buildMetrics(samples, dbsize, { version, n, roundCount, warmup, fsyncBefore, fsyncAfter });
}

interface RunInfo {
  version: string;
  n: number;
  roundCount: number;
  warmup: number;
  fsyncBefore: FsyncRate;
  fsyncAfter: FsyncRate;
}

function targetFor(mode: Mode['id'], pipeline: Pipeline, test: Test): Target | undefined {
  if (pipeline === 1) return { op: '>=', value: TARGETS.p1, on: 'ratio' };
  if (test === 'GET') return { op: '>=', value: TARGETS.getP16, on: 'ratio' };
  if (mode === 'durable') return { op: '>=', value: TARGETS.durableSetP16, on: 'ratio' };
  return undefined;
}

/** The median of each field over the rounds. */
function medianLine(lines: BenchLine[]): BenchLine {
  const pick = (f: keyof BenchLine): number => median(lines.map((l) => l[f]));
  return { rps: pick('rps'), avg: pick('avg'), min: pick('min'), p50: pick('p50'), p95: pick('p95'), p99: pick('p99'), max: pick('max') };
}

function buildMetrics(samples: Samples, dbsize: Map<string, number[]>, info: RunInfo): Metric[] {
  const metrics: Metric[] = [];
  const fsyncText = (f: FsyncRate): string => `${formatCount(f.perSecond)}/s (median ${f.medianMs.toFixed(3)} ms)`;
  for (const mode of MODES) {
    const redisWhat = `redis-server ${info.version}${mode.redisWhat.slice('redis-server'.length)}; same redis-benchmark command, same run, median of ${info.roundCount} rounds, the server that goes first alternating`;
    for (const pipeline of PIPELINES) {
      for (const test of TESTS) {
        const b = samples.get(sampleKey(mode.id, 'bitraft', pipeline, test));
        const r = samples.get(sampleKey(mode.id, 'redis', pipeline, test));
        if (!b?.length || !r?.length) throw new Error(`no samples for ${mode.id} ${test} P${pipeline}`);
        const bm = medianLine(b);
        const rm = medianLine(r);
        const id = `server.${mode.id}.${test.toLowerCase()}.p${pipeline}`;
        const details = (f: keyof BenchLine): Record<string, number | string> => ({
          bitraftRounds: b.map((l) => l[f]).join(' '),
          redisRounds: r.map((l) => l[f]).join(' '),
        });
        let note: string | undefined;
        if (mode.id === 'durable' && pipeline === 1 && test === 'SET') {
          note =
            `fdatasync rate of the scratch filesystem: ${fsyncText(info.fsyncBefore)} before the servers, ${fsyncText(info.fsyncAfter)} after ` +
            `(write 128 B + fdatasync for 1 s); both servers share one fdatasync among the writes of an event-loop turn, at most ${CLIENTS} × P here`;
        }
        if (mode.id === 'memory' && pipeline === 1 && test === 'GET') {
          const keys = (kind: Kind): string => (dbsize.get(`memory/${kind}`) ?? []).map((k) => formatCount(k)).join('/');
          note = `GETs hit only keys written by the SETs before them: after a round the stores held ${keys('bitraft')} (bitraft) and ${keys('redis')} (Redis) of the ${formatCount(KEYSPACE)} keys; each round also ran ${formatCount(info.warmup)} unrecorded warm-up requests per test at -P 16`;
        }
        metrics.push({
          id: `${id}.ops`,
          group: mode.group,
          name: `${test} -P ${pipeline}: throughput`,
          unit: 'ops/s',
          better: 'higher',
          value: bm.rps,
          reference: { value: rm.rps, what: redisWhat },
          target: targetFor(mode.id, pipeline, test),
          note,
          details: {
            ...details('rps'),
            bitraftAvgMs: bm.avg,
            bitraftP95Ms: bm.p95,
            bitraftMaxMs: bm.max,
            redisAvgMs: rm.avg,
            redisP95Ms: rm.p95,
            redisMaxMs: rm.max,
            requests: info.n,
            clients: CLIENTS,
            pipeline,
            fsyncPerSecondBefore: info.fsyncBefore.perSecond,
            fsyncPerSecondAfter: info.fsyncAfter.perSecond,
          },
        });
        for (const q of ['p50', 'p99'] as const) {
          metrics.push({
            id: `${id}.${q}`,
            group: mode.group,
            name: `  ${q} latency`,
            unit: 'ms',
            better: 'lower',
            value: bm[q],
            reference: { value: rm[q], what: redisWhat },
            details: details(q),
          });
        }
      }
    }
  }
  return metrics;
}
