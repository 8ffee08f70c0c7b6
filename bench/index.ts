/**
 * Benchmark entry point (`npm run bench`): runs every suite, prints progress lines to
 * stderr and one result table to stdout.
 *
 *   node --expose-gc dist/bench/index.js [--quick] [--json] [--save] [--suite NAME] [--keys N] [--scale N,N,…]
 *
 * --quick (or BENCH_QUICK=1)  100,000 keys instead of 1,000,000, and 20,000 instead of
 *                             200,000 (cluster: 100,000) redis-benchmark requests, for a fast check
 * --json                      also print the results as JSON on stdout, after the table
 * --save                      also write each suite's results to bench/results/<suite>.json
 * --suite NAME                run only this suite (repeatable)
 * --keys N                    override the number of keys
 * --scale N,N,…               the scale suite's key counts (`1M`, `500k` allowed; default
 *                             1M,2M,5M,10M, with --quick 100k,200k)
 *
 * The server suite needs redis-server, redis-benchmark and redis-cli
 * (`npm run setup:test-tools`); it starts real servers as child processes, one at a time,
 * and kills them by pid if the run stops early. The cluster suite needs the same tools;
 * it runs a 3-node cluster next to a 1-node bitraft and redis-server (100,000
 * redis-benchmark requests, 20,000 with --quick) and SIGKILLs the leader three times.
 * The restart suite needs redis-server and redis-cli; it times a 1-node bitraft holding
 * the keys (and a log of keys ÷ 10 entries) from spawn to its first correct GET, after
 * SIGTERM and after SIGKILL, next to redis-server loading an RDB and replaying an AOF.
 * The snapshot suite needs redis-server, redis-cli and gzip; on a 1-node bitraft holding
 * the keys it times `bitraft parse-snapshot` on its state.bin (next to `gzip -dc`),
 * RAFTSNAPSHOT (next to redis-server's SAVE) and a new node joining and catching up from
 * the snapshot (next to a redis-server replica's full resync).
 * The merge suite needs no other tool; on a 1-node bitraft it measures GET/SET latency
 * under a steady load while idle and during an automatic merge, throttled and not.
 *
 * The summary suite needs the same tools (and `etcd`, optionally: without it the etcd
 * column is skipped); it makes the side-by-side table of BENCHMARKS.md (summary.ts). The
 * scale suite needs redis-server and redis-cli; it grows a 1-node bitraft and a
 * redis-server through the `--scale` key counts (scale.ts). `--save` writes each suite's
 * results to bench/results/, from which `npm run bench:publish` (publish.ts) draws the
 * charts and the tables of BENCHMARKS.md.
 *
 * Scratch data lives in a temporary directory under os.tmpdir(), removed at the end,
 * also on error or Ctrl-C. Exits 1 when a suite fails, 0 otherwise (a missed target is
 * reported in the table, not in the exit code).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bitcaskSuite } from './bitcask.js';
import { clusterSuite } from './cluster.js';
import { gcAvailable, judge, type BenchConfig, type JudgedMetric, type Suite } from './harness.js';
import { mergeSuite } from './merge.js';
import { raftSuite } from './raft.js';
import { restartSuite } from './restart.js';
import { suiteResult, writeSuiteResult } from './results.js';
import { FULL_SCALE_STEPS, QUICK_SCALE_STEPS, scaleSuite } from './scale.js';
import { serverSuite } from './server.js';
import { snapshotSuite } from './snapshot.js';
import { summarySuite } from './summary.js';
import { formatCount, renderFootnotes, renderTable, type TableSection } from './table.js';

/** Every suite, in run order. Later steps add the cluster suites here. */
export const SUITES: Suite[] = [bitcaskSuite, raftSuite, serverSuite, clusterSuite, restartSuite, snapshotSuite, mergeSuite, summarySuite, scaleSuite];

/** Keys of a full run. */
export const FULL_KEYS = 1_000_000;
/** Keys of a `--quick` run. */
export const QUICK_KEYS = 100_000;

/** Parsed command line of the benchmark. */
export interface BenchArgs {
  quick: boolean;
  json: boolean;
  save: boolean;
  keys: number;
  scaleSteps: number[];
  suites: string[];
  help: boolean;
}

/** `1M` → 1000000, `500k` → 500000, `2_000` → 2000; NaN when it is not a count. */
export function parseCount(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.replaceAll('_', ''));
  if (!m) return Number.NaN;
  const scale = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6;
  return Math.round(Number(m[1]) * scale);
}

/** Parses the benchmark's arguments (and `BENCH_QUICK`). Throws on unknown options. */
export function parseBenchArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      suite: { type: 'string', multiple: true, default: [] },
      keys: { type: 'string' },
      save: { type: 'boolean', default: false },
      scale: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const quick = values.quick === true || (env.BENCH_QUICK !== undefined && !['', '0', 'false'].includes(env.BENCH_QUICK));
  let keys = quick ? QUICK_KEYS : FULL_KEYS;
  if (values.keys !== undefined) {
    keys = Number(values.keys.replaceAll('_', ''));
    if (!Number.isInteger(keys) || keys < 1000 || keys > 50_000_000) throw new Error(`--keys must be an integer from 1000 to 50000000, not ${values.keys}`);
  }
  let scaleSteps = quick ? QUICK_SCALE_STEPS : FULL_SCALE_STEPS;
  if (values.scale !== undefined) {
    scaleSteps = values.scale.split(',').map(parseCount);
    const ascending = scaleSteps.every((n, i) => Number.isInteger(n) && n >= 1000 && n <= 50_000_000 && (i === 0 || n > scaleSteps[i - 1]!));
    if (!ascending) throw new Error(`--scale must list ascending key counts from 1000 to 50000000 (e.g. 100k,200k), not ${values.scale}`);
  }
  return { quick, json: values.json === true, save: values.save === true, keys, scaleSteps, suites: values.suite ?? [], help: values.help === true };
}

/** JSON form of a run, printed with `--json`. */
export interface BenchReport {
  startedAt: string;
  node: string;
  platform: string;
  cpus: number;
  /** 1-minute load average of the machine when the run started and ended. */
  loadavg: { start: number; end: number };
  quick: boolean;
  keys: number;
  suites: { name: string; title: string; error?: string; metrics: JudgedMetric[] }[];
}

/** Runs the selected suites and prints the results; returns the process exit code. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write('usage: node --expose-gc dist/bench/index.js [--quick] [--json] [--save] [--suite NAME]... [--keys N] [--scale N,N,…]\n');
    process.stdout.write(`suites: ${SUITES.map((s) => s.name).join(', ')}\n`);
    return 0;
  }
  const unknown = args.suites.filter((name) => !SUITES.some((s) => s.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown suite ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const selected = args.suites.length === 0 ? SUITES : SUITES.filter((s) => args.suites.includes(s.name));

  const started = Date.now();
  const log = (message: string): void => {
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
  };
  if (!gcAvailable()) log('warning: no --expose-gc; numbers will be noisier (use npm run bench)');

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bitraft-bench-'));
  const cleanup = (): void => fs.rmSync(tmpRoot, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    process.stderr.write(`\ninterrupted (${signal}); removed ${tmpRoot}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const config: BenchConfig = { quick: args.quick, keys: args.keys, scaleSteps: args.scaleSteps, tmpRoot, log };
  const report: BenchReport = {
    startedAt: new Date(started).toISOString(),
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpus: os.cpus().length,
    loadavg: { start: os.loadavg()[0]!, end: Number.NaN },
    quick: args.quick,
    keys: args.keys,
    suites: [],
  };
  const sections: TableSection[] = [];
  let failed = false;
  log(`${args.quick ? 'quick run' : 'full run'}: ${args.keys.toLocaleString('en-US')} keys, scratch in ${tmpRoot}`);
  try {
    for (const suite of selected) {
      const title = suite.title(config);
      log(`suite ${suite.name}`);
      const suiteStarted = new Date();
      const loadStart = os.loadavg();
      let metrics: JudgedMetric[] = [];
      let error: string | undefined;
      try {
        metrics = (await suite.run(config)).map(judge);
      } catch (err) {
        failed = true;
        error = err instanceof Error ? err.message : String(err);
        log(`suite ${suite.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      sections.push({ title, metrics, error });
      report.suites.push({ name: suite.name, title, error, metrics });
      if (args.save) {
        const file = writeSuiteResult(suiteResult({ name: suite.name, title, error, metrics, startedAt: suiteStarted, loadStart, quick: args.quick, scratch: tmpRoot }));
        log(`wrote ${file}`);
      }
    }
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  report.loadavg.end = os.loadavg()[0]!;

  const extra: string[] = [];
  if (args.keys !== FULL_KEYS && selected.some((s) => s.name === 'storage')) extra.push(`note: ${args.keys.toLocaleString('en-US')} keys; the targets are set for ${FULL_KEYS.toLocaleString('en-US')} keys.`);
  const { start, end } = report.loadavg;
  extra.push(`${report.node}, ${report.platform}, ${report.cpus} CPUs, load average ${start.toFixed(1)} at start, ${end.toFixed(1)} at end.`);
  if (Math.max(start, end) > report.cpus) {
    extra.push(`warning: the load average exceeded the ${report.cpus} CPUs: other processes competed for them, so absolute numbers are low and noisy.`);
  }
  process.stdout.write(`${renderTable(sections)}\n${renderFootnotes(sections, extra)}\n`);
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
