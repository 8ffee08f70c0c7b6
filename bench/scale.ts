/**
 * The scale suite: how a node's costs grow with its number of keys. One 1-node bitraft
 * (durability high, snapshot triggers off, `--log-tail 10000`) and one redis-server
 * (`--save ''`) grow through the steps (1, 2, 5 and 10 million keys by default; `--scale`
 * sets them, `--quick` uses 100,000 and 200,000), each loaded with 16-byte keys and
 * 100-byte values through `redis-cli --pipe`, one SET per key. At each step (see
 * scale-steps.ts for the order):
 *
 * - RAM per key beyond the key: (RSS − RSS of the same server empty) ÷ keys − 16 bytes,
 *   after the load, after `KEYS` built the ordered index, and after a restart; Redis
 *   after its load and after its restart from the RDB;
 * - restart: spawn → first correct GET after SIGTERM and after SIGKILL (the kill following
 *   1,000 SETs); Redis: restart from the RDB written by SAVE;
 * - `KEYS * LIMIT 1000` from the start and `KEYS * PIVOT 8 LIMIT 1000` from the middle on
 *   one connection, median of 5 (and the first page, which builds the ordered index);
 * - RAFTSNAPSHOT time and state.bin size (Redis: SAVE and the RDB's size), and
 *   `bitraft parse-snapshot state.bin > /dev/null`;
 * - after overwriting 10 % of the keys and a SIGTERM: `bitraft merge --dir` on the stopped
 *   node's directory (in place; the next step goes on with the merged directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import { median, type BenchConfig, type Metric, type Reference, type Suite, type Target, type Unit } from './harness.js';
import { ScaleBitraft, ScaleRedis, CRASH_WRITES, MIDDLE_PIVOT, OVERWRITE_FRACTION, PAGE, PAGE_RUNS, type BitraftStep, type RedisStep, type Running } from './scale-steps.js';
import { killPid } from './procs.js';
import { redisVersion, requireTool } from './server.js';
import { formatCount } from './table.js';

/** Steps of a full run. */
export const FULL_SCALE_STEPS = [1_000_000, 2_000_000, 5_000_000, 10_000_000];
/** Steps of a `--quick` run. */
export const QUICK_SCALE_STEPS = [100_000, 200_000];

/** Targets of the issue. */
export const SCALE_TARGETS = {
  /** Bytes of RAM per key beyond the key itself. */
  ramPerKey: 200,
  /** Restart (spawn → first correct GET) of 10 million keys, ms; held to at every step. */
  restartMs: 10_000,
} as const;

/** Bytes of every key of the suite. */
const KEY_BYTES = 16;

/** The scale benchmark suite. */
export const scaleSuite: Suite = {
  name: 'scale',
  title: (config) =>
    `scale: a 1-node bitraft and redis-server grown through ${config.scaleSteps.map(formatCount).join(', ')} keys (16-byte keys, 100-byte values, ` +
    `one SET each through redis-cli --pipe): RAM per key, restart, KEYS pages, snapshot, parse-snapshot, merge`,
  run: runScaleSuite,
};

async function runScaleSuite(config: BenchConfig): Promise<Metric[]> {
  const { log } = config;
  for (const tool of ['redis-cli', 'redis-server']) requireTool(tool);
  const version = redisVersion();
  const root = path.join(config.tmpRoot, 'scale');
  const dirs = { bitraft: path.join(root, 'bitraft'), redis: path.join(root, 'redis') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const running: Running = new Set();
  const bitraft = new ScaleBitraft(dirs.bitraft, running, log);
  const redis = new ScaleRedis(dirs.redis, running, log);
  const steps: { b: BitraftStep; r: RedisStep }[] = [];
  try {
    for (const keys of config.scaleSteps) {
      const b = await bitraft.step(keys);
      const r = await redis.step(keys);
      steps.push({ b, r });
    }
    await redis.stop();
  } finally {
    for (const proc of running) {
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
  return buildScaleMetrics(steps, { version, bitraftEmptyRss: bitraft.emptyRss, redisEmptyRss: redis.emptyRss });
}

/** What the metrics need besides the steps. */
export interface ScaleInfo {
  version: string;
  bitraftEmptyRss: number;
  redisEmptyRss: number;
}

/** Bytes of RAM per key beyond the key: (rss − empty) ÷ keys − 16. */
export function ramPerKey(rss: number, emptyRss: number, keys: number): number {
  return (rss - emptyRss) / keys - KEY_BYTES;
}

/**
 * The metrics of every step, grouped by key count. Ids are `scale.<measure>.n<keys>`, so
 * a measure's growth curve is every id with that measure; `details.keys` is the step.
 */
export function buildScaleMetrics(steps: { b: BitraftStep; r: RedisStep }[], info: ScaleInfo): Metric[] {
  const metrics: Metric[] = [];
  const mb = (bytes: number): number => bytes / 1e6;
  let prev = 0;
  for (const { b, r } of steps) {
    const n = b.keys;
    const group = `${formatCount(n)} keys`;
    const row = (measure: string, name: string, unit: Unit, better: 'higher' | 'lower', value: number, extra: { reference?: Reference; target?: Target; note?: string; details?: Record<string, number | string> } = {}): void => {
      metrics.push({ id: `scale.${measure}.n${n}`, group, name, unit, better, value, ...extra, details: { keys: n, ...extra.details } });
    };
    const loaded = n - prev;
    const redisRam = (rss: number): Reference => ({ value: ramPerKey(rss, info.redisEmptyRss, n), what: '' });
    const ramTarget: Target = { op: '<=', value: SCALE_TARGETS.ramPerKey };
    row('load', `load: keys/s (${formatCount(loaded)} new keys)`, 'ops/s', 'higher', loaded / b.loadSeconds, {
      reference: { value: loaded / r.loadSeconds, what: `redis-server ${info.version} --save '': the same keys loaded the same way (redis-cli --pipe, one SET each)` },
      details: { loadedKeys: loaded, bitraftSeconds: b.loadSeconds, redisSeconds: r.loadSeconds },
    });
    const ramWhat = `redis-server ${info.version}: (RSS − RSS of the empty server, ${(info.redisEmptyRss / 1e6).toFixed(1)} MB) ÷ keys − 16, after its load or after its restart from the RDB`;
    row('ram-restarted', 'RAM B/key beyond the key: restarted', 'B/key', 'lower', ramPerKey(b.sigterm.rssBytes, info.bitraftEmptyRss, n), {
      reference: { ...redisRam(r.restart.rssBytes), what: ramWhat },
      target: ramTarget,
      details: { rssBytes: b.sigterm.rssBytes, emptyRssBytes: info.bitraftEmptyRss, redisRssBytes: r.restart.rssBytes, redisEmptyRssBytes: info.redisEmptyRss },
    });
    row('ram-loaded', '  after the load', 'B/key', 'lower', ramPerKey(b.rssLoaded, info.bitraftEmptyRss, n), {
      reference: { ...redisRam(r.rssLoaded), what: ramWhat },
      target: ramTarget,
      details: { rssBytes: b.rssLoaded, redisRssBytes: r.rssLoaded },
    });
    row('ram-ordered', '  after KEYS built the ordered index', 'B/key', 'lower', ramPerKey(b.rssOrdered, info.bitraftEmptyRss, n), {
      target: ramTarget,
      details: { rssBytes: b.rssOrdered },
    });
    const rdbWhat = `redis-server ${info.version} restarted on the dump.rdb written by SAVE (SIGTERM, spawn → first correct GET)`;
    const restartTarget: Target = { op: '<=', value: SCALE_TARGETS.restartMs };
    row('restart-sigterm', 'restart after SIGTERM: spawn → first correct GET', 'ms', 'lower', b.sigterm.ms, {
      reference: { value: r.restart.ms, what: rdbWhat },
      target: restartTarget,
      details: { stopMs: b.stopMs, probes: b.sigterm.probes, openedMs: b.sigterm.openedMs, listeningMs: b.sigterm.listeningMs },
    });
    row('restart-sigkill', `  after SIGKILL (after ${CRASH_WRITES} SETs)`, 'ms', 'lower', b.sigkill.ms, {
      reference: { value: r.restart.ms, what: rdbWhat },
      target: restartTarget,
      details: { probes: b.sigkill.probes, openedMs: b.sigkill.openedMs, listeningMs: b.sigkill.listeningMs },
    });
    row('keys-first', `KEYS * LIMIT ${PAGE}: first page (builds the ordered index)`, 'ms', 'lower', b.firstPageMs);
    row('keys-first-ping', '  the slowest PING on another connection meanwhile', 'ms', 'lower', b.pingDuringFirstPageMs);
    row('keys-start', `  from the start: median of ${PAGE_RUNS}`, 'ms', 'lower', median(b.pageStartMs), { details: { runsMs: b.pageStartMs.map((x) => x.toFixed(3)).join(' ') } });
    row('keys-middle', `  from the middle (PIVOT ${MIDDLE_PIVOT}): median of ${PAGE_RUNS}`, 'ms', 'lower', median(b.pageMiddleMs), {
      details: { runsMs: b.pageMiddleMs.map((x) => x.toFixed(3)).join(' ') },
    });
    row('snapshot-time', 'RAFTSNAPSHOT: request → reply', 'ms', 'lower', b.snapshotMs, {
      reference: { value: r.saveMs, what: `redis-server ${info.version} SAVE of the same keys` },
      details: { logEntriesAfter: b.logEntries },
    });
    row('snapshot-size', '  state.bin size', 'MB', 'lower', mb(b.stateBinBytes), {
      reference: { value: mb(r.rdbBytes), what: `the dump.rdb SAVE wrote` },
      details: { bytes: b.stateBinBytes, rdbBytes: r.rdbBytes },
    });
    row('parse', 'parse-snapshot state.bin > /dev/null: spawn → exit', 'ms', 'lower', b.parseMs, { details: { keysPerSecond: n / (b.parseMs / 1000) } });
    row('merge', `merge (offline) after overwriting ${OVERWRITE_FRACTION * 100} % of the keys`, 'ms', 'lower', b.mergeMs, {
      note: `${formatCount(n)} keys: data files ${(b.merge.beforeBytes / 1e6).toFixed(0)} MB in ${b.merge.beforeFiles} files → ${(b.merge.afterBytes / 1e6).toFixed(0)} MB in ${b.merge.afterFiles}; the whole directory (log and snapshots included) held ${(b.dirBytes / 1e6).toFixed(0)} MB`,
      details: { ...b.merge, dirBytes: b.dirBytes, overwriteSeconds: b.overwriteSeconds },
    });
    prev = n;
  }
  return metrics;
}
