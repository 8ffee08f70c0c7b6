/**
 * The restart suite: how long a node holding many keys takes from its spawn until it
 * serves reads again.
 *
 * Set-up: a 1-node bitraft (durability high, `--snapshot-entries 0 --snapshot-log-size 0
 * --log-tail T`, T = keys ÷ 10: 100,000 for 1,000,000 keys) is loaded with `key:<i>` → a
 * 100-byte value through `redis-cli --pipe`, one SET (one Raft entry) per key; then
 * RAFTSNAPSHOT compacts the log, keeping its last T entries, which RAFTSTATS must confirm.
 *
 * Measured, `RUNS` times each, as spawn → the first `GET key:<random>` on a fresh
 * connection returning the right value (probes every 10 ms):
 * - clean: bitraft restarted after SIGTERM (a clean stop);
 * - crash: bitraft restarted after SIGKILL, the kill following `CRASH_WRITES` SETs;
 * and as references, on the same keys loaded the same way:
 * - redis-server loading an RDB (`SAVE`, stopped with SIGTERM; `--save ''` so nothing else writes it),
 * - redis-server replaying an AOF (`--appendonly yes --appendfsync always`, rewrites off) after SIGKILL.
 *
 * After each start, DBSIZE must equal the key count. A server must stop cleanly when
 * sent SIGTERM; every process is stopped by pid, also when the suite fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bulkLoad, loadKey, loadValue } from '../test/helpers/bulk-load.js';
import { logLineAfter, timeToFirstRead, type FirstRead } from './first-read.js';
import { median, now, type BenchConfig, type Metric, type Suite } from './harness.js';
import { HOST, freePort, killPid, runTool, startBitraftNode, startRedis, stopChild, type ServerProcess } from './procs.js';
import { command, ReplyError, type Reply } from './resp-client.js';
import { redisCli, redisVersion, requireTool } from './server.js';
import { formatCount } from './table.js';
import { REPO_ROOT, spawnChild, type Child } from '../test/helpers/processes.js';

/** The target: spawn → first correct read, ms. */
export const RESTART_TARGET_MS = 2000;
/** Starts measured per variant. */
export const RUNS = 3;
/** SETs sent before each SIGKILL of the crash variant. */
export const CRASH_WRITES = 1000;

/** Snapshot triggers off: only RAFTSNAPSHOT snapshots. */
export const SNAPSHOT_FLAGS = ['--snapshot-entries', '0', '--snapshot-log-size', '0'];
const AOF_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always', '--auto-aof-rewrite-percentage', '0'];
const MiB = 1024 * 1024;

/** Log entries kept behind the snapshot for `keys` keys. */
function logTail(keys: number): number {
  return Math.round(keys / 10);
}

/** The restart benchmark suite. */
export const restartSuite: Suite = {
  name: 'restart',
  title: (config) =>
    `restart: a 1-node bitraft with ${formatCount(config.keys)} keys and a ${formatCount(logTail(config.keys))}-entry log, spawn → first correct GET, ` +
    `×${RUNS} after SIGTERM and ×${RUNS} after SIGKILL; redis-server loading an RDB and replaying an AOF`,
  run: runRestartSuite,
};

/** A key of the loaded set and its value, which a restarted server must answer. */
export interface Probe {
  key: string;
  value: string;
}

/** A key of the loaded set, picked at random, with its value. */
function randomKey(keys: number): Probe {
  const i = Math.floor(Math.random() * keys);
  return { key: loadKey(i), value: loadValue(i) };
}

const replyText = (r: Reply): string => (r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r));

/** Field/value pairs of a flat array reply (RAFTSTATS, RAFTSNAPSHOT). */
export function pairs(reply: Reply, what: string): Record<string, string> {
  if (!Array.isArray(reply)) throw new Error(`${what} answered ${replyText(reply)}`);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

async function expectDbsize(port: number, keys: number, what: string): Promise<void> {
  const n = await command(port, ['DBSIZE'], 30_000);
  if (n !== keys) throw new Error(`${what} answered DBSIZE with ${replyText(n)}, expected ${keys}`);
}

/** One measured start and what the server logged about it. */
export interface Start extends FirstRead {
  /** bitraft only: spawn → `opened <dir>` (the store is open), ms. */
  openedMs: number;
  /** bitraft only: spawn → `listening on`, ms. */
  listeningMs: number;
}

/** The measured starts of one variant. */
interface Variant {
  starts: Start[];
}

/**
 * Spawns bitraft on `dir`/`port` (snapshot triggers off, `--log-tail tail`), measures the
 * first read of `probe` (a random `key:<i>` of the loaded set by default), checks that
 * DBSIZE is `keys`; returns the running child.
 */
export async function measureBitraft(dir: string, port: number, keys: number, tail: number, probe: Probe = randomKey(keys)): Promise<{ proc: Child; start: Start }> {
  const args = [path.join(REPO_ROOT, 'bin/run.js'), 'serve', '--dir', dir, '--bind', `${HOST}:${port}`, ...SNAPSHOT_FLAGS, '--log-tail', String(tail)];
  const { proc, read } = await timeToFirstRead(() => spawnChild(process.execPath, args, { what: 'bitraft serve (restart)' }), port, probe.key, probe.value);
  await expectDbsize(port, keys, 'restarted bitraft');
  const log = proc.stderr();
  const start: Start = { ...read, openedMs: logLineAfter(log, / opened /, read.spawnedAtMs), listeningMs: logLineAfter(log, / listening on /, read.spawnedAtMs) };
  return { proc, start };
}

/**
 * Spawns redis-server on `dir`/`port` with `--save ''` and `args`, measures the first read
 * of `probe` (a random `key:<i>` by default), checks that DBSIZE is `keys`.
 */
export async function measureRedis(dir: string, port: number, args: string[], keys: number, probe: Probe = randomKey(keys)): Promise<{ proc: Child; start: Start }> {
  const argv = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '', ...args];
  const { proc, read } = await timeToFirstRead(() => spawnChild('redis-server', argv, { cwd: dir, what: `redis-server ${args.join(' ')} (restart)` }), port, probe.key, probe.value);
  await expectDbsize(port, keys, 'restarted redis-server');
  return { proc, start: { ...read, openedMs: Number.NaN, listeningMs: Number.NaN } };
}

/** Kills (SIGKILL) and waits. */
export async function crash(proc: Child): Promise<void> {
  killPid(proc.pid, 'SIGKILL');
  await proc.exited;
}

/** What the bitraft set-up found before the restarts. */
interface Prepared {
  loadSeconds: number;
  snapshotMs: number;
  stats: Record<string, string>;
}

/** Loads the keys into a fresh bitraft, snapshots, checks the log length, stops it. */
async function prepareBitraft(dir: string, port: number, keys: number, tail: number, log: (m: string) => void): Promise<Prepared> {
  const server = await startBitraftNode(dir, { port, args: [...SNAPSHOT_FLAGS, '--log-tail', String(tail)], what: 'bitraft serve (restart set-up)' });
  try {
    const t0 = Date.now();
    await bulkLoad(server.port, { count: keys, perCommand: 1, timeoutMs: 600_000 });
    const loadSeconds = (Date.now() - t0) / 1000;
    await expectDbsize(server.port, keys, 'bitraft after the load');
    log(`bitraft: loaded ${formatCount(keys)} keys (one SET each) in ${loadSeconds.toFixed(1)} s`);
    const s0 = Date.now();
    const snap = pairs(await command(server.port, ['RAFTSNAPSHOT'], 600_000), 'RAFTSNAPSHOT');
    const snapshotMs = Date.now() - s0;
    const stats = pairs(await command(server.port, ['RAFTSTATS'], 10_000), 'RAFTSTATS');
    const entries = Number(stats['log_entries']);
    log(
      `bitraft: RAFTSNAPSHOT ${snap['id']} (${formatCount(Number(snap['size']))} bytes) in ${snapshotMs} ms; log now ${stats['first_log_index']}…${stats['last_log_index']}: ` +
        `${entries} entries, ${(Number(stats['log_bytes']) / MiB).toFixed(1)} MiB`,
    );
    if (!(entries >= tail && entries <= tail * 1.05 + 10)) throw new Error(`after RAFTSNAPSHOT the log holds ${entries} entries, expected about ${tail}: ${JSON.stringify(stats)}`);
    return { loadSeconds, snapshotMs, stats };
  } finally {
    await server.stop();
  }
}

/** Bytes of the files directly in `dir`. */
function filesBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => sum + (e.isFile() ? fs.statSync(path.join(dir, e.name)).size : 0), 0);
}

/** Loads the keys into a fresh redis-server with `args`; RDB: SAVE and stop; AOF: SIGKILL. */
async function prepareRedis(dir: string, args: string[], keys: number, how: 'rdb' | 'aof', log: (m: string) => void): Promise<number> {
  const server: ServerProcess = await startRedis(dir, args);
  const port = server.port;
  try {
    const t0 = Date.now();
    await bulkLoad(port, { count: keys, perCommand: 1, timeoutMs: 600_000 });
    await expectDbsize(port, keys, `redis-server (${how}) after the load`);
    if (how === 'rdb') {
      const saved = await redisCli(port, ['SAVE']);
      if (saved !== 'OK') throw new Error(`redis-server SAVE answered ${saved}`);
    }
    log(`redis-server (${how}): loaded ${formatCount(keys)} keys in ${((Date.now() - t0) / 1000).toFixed(1)} s${how === 'rdb' ? ', SAVEd' : ''}`);
  } finally {
    if (how === 'aof') await crash(server.proc);
    else await server.stop();
  }
  return port;
}

/** Median time of `node bin/run.js --version` (spawn → exit), ms: what any start of the CLI costs. */
async function cliStartMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = now();
    await runTool(process.execPath, [path.join(REPO_ROOT, 'bin/run.js'), '--version'], { timeoutMs: 30_000 });
    times.push((now() - t0) * 1000);
  }
  return median(times);
}

/** Sends `CRASH_WRITES` SETs (the loaded values again) and SIGKILLs the node. */
async function writeAndCrash(proc: Child, port: number): Promise<void> {
  await bulkLoad(port, { count: CRASH_WRITES, perCommand: 1, timeoutMs: 60_000 });
  await crash(proc);
}

async function runRestartSuite(config: BenchConfig): Promise<Metric[]> {
  const { log, keys } = config;
  requireTool('redis-cli');
  const version = redisVersion();
  const tail = logTail(keys);
  const root = path.join(config.tmpRoot, 'restart');
  const dirs = { bitraft: path.join(root, 'bitraft'), rdb: path.join(root, 'redis-rdb'), aof: path.join(root, 'redis-aof') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const clean: Variant = { starts: [] };
  const crashed: Variant = { starts: [] };
  const rdb: Variant = { starts: [] };
  const aof: Variant = { starts: [] };
  let running: Child | undefined;
  let prepared: Prepared | undefined;
  const sizes: Record<string, number> = {};
  let cliMs = Number.NaN;
  try {
    cliMs = await cliStartMs();
    log(`node bin/run.js --version: ${cliMs.toFixed(0)} ms (median of ${RUNS})`);

    // bitraft
    const port = await freePort();
    prepared = await prepareBitraft(dirs.bitraft, port, keys, tail, log);
    sizes['bitraft'] = filesBytes(dirs.bitraft);
    for (let i = 1; i <= 2 * RUNS; i++) {
      const variant = i <= RUNS ? clean : crashed;
      const { proc, start } = await measureBitraft(dirs.bitraft, port, keys, tail);
      running = proc;
      variant.starts.push(start);
      log(
        `bitraft ${variant === clean ? 'after SIGTERM' : 'after SIGKILL'} ${((i - 1) % RUNS) + 1}/${RUNS}: first read after ${start.ms.toFixed(0)} ms ` +
          `(store opened at ${start.openedMs.toFixed(0)} ms, listening at ${start.listeningMs.toFixed(0)} ms), RSS ${(start.rssBytes / MiB).toFixed(0)} MiB`,
      );
      for (const line of proc.stderr().split('\n').filter((l) => / (warn|error) /.test(l))) log(`  bitraft logged: ${line}`);
      if (i === 2 * RUNS) {
        const after = pairs(await command(port, ['RAFTSTATS'], 10_000), 'RAFTSTATS');
        log(`bitraft after the runs: log ${after['first_log_index']}…${after['last_log_index']} (${after['log_entries']} entries), applied ${after['applied_index']}`);
      }
      // Each crash start follows a kill: the last clean start ends with one too.
      if (i >= RUNS && i < 2 * RUNS) await writeAndCrash(proc, port);
      else await stopChild(proc);
      running = undefined;
    }

    // redis-server, RDB
    const rdbPort = await prepareRedis(dirs.rdb, [], keys, 'rdb', log);
    sizes['rdb'] = filesBytes(dirs.rdb);
    for (let i = 1; i <= RUNS; i++) {
      const { proc, start } = await measureRedis(dirs.rdb, rdbPort, [], keys);
      running = proc;
      rdb.starts.push(start);
      log(`redis-server from its RDB ${i}/${RUNS}: first read after ${start.ms.toFixed(0)} ms, RSS ${(start.rssBytes / MiB).toFixed(0)} MiB`);
      await stopChild(proc);
      running = undefined;
    }

    // redis-server, AOF
    const aofPort = await prepareRedis(dirs.aof, AOF_ARGS, keys, 'aof', log);
    sizes['aof'] = filesBytes(path.join(dirs.aof, 'appendonlydir'));
    for (let i = 1; i <= RUNS; i++) {
      const { proc, start } = await measureRedis(dirs.aof, aofPort, AOF_ARGS, keys);
      running = proc;
      aof.starts.push(start);
      log(`redis-server replaying its AOF ${i}/${RUNS}: first read after ${start.ms.toFixed(0)} ms, RSS ${(start.rssBytes / MiB).toFixed(0)} MiB`);
      if (i < RUNS) await crash(proc);
      else await stopChild(proc);
      running = undefined;
    }
  } finally {
    if (running) await crash(running);
    fs.rmSync(root, { recursive: true, force: true });
  }
  if (!prepared) throw new Error('the bitraft data directory was not prepared');
  return buildMetrics({ clean, crashed, rdb, aof }, { version, keys, tail, prepared, sizes, cliMs });
}

interface RunInfo {
  version: string;
  keys: number;
  tail: number;
  prepared: Prepared;
  sizes: Record<string, number>;
  /** Spawn → exit of `node bin/run.js --version`, ms. */
  cliMs: number;
}

function buildMetrics(v: { clean: Variant; crashed: Variant; rdb: Variant; aof: Variant }, info: RunInfo): Metric[] {
  const ms = (x: Variant): number[] => x.starts.map((s) => s.ms);
  const list = (values: number[], digits = 0): string => values.map((x) => x.toFixed(digits)).join(' ');
  const rss = (x: Variant): number => median(x.starts.map((s) => s.rssBytes)) / MiB;
  const mb = (bytes: number | undefined): string => `${((bytes ?? 0) / MiB).toFixed(0)} MiB`;
  const groups = [
    {
      id: 'clean',
      subject: v.clean,
      against: v.rdb,
      group: `clean: bitraft restarted after SIGTERM vs redis-server ${info.version} loading its RDB`,
      what: `redis-server ${info.version} --save '' started on a dump.rdb (${mb(info.sizes['rdb'])}) written by SAVE after loading the same keys the same way; same probe, same run, ${RUNS} starts`,
    },
    {
      id: 'crash',
      subject: v.crashed,
      against: v.aof,
      group: `crash: bitraft restarted after SIGKILL vs redis-server ${info.version} replaying its AOF after SIGKILL`,
      what: `redis-server ${info.version} ${AOF_ARGS.join(' ')} started after SIGKILL on an AOF (${mb(info.sizes['aof'])}) of the same SETs; same probe, same run, ${RUNS} starts`,
    },
  ];
  const metrics: Metric[] = [];
  for (const g of groups) {
    const details = {
      bitraftMs: list(ms(g.subject), 1),
      referenceMs: list(ms(g.against), 1),
      bitraftOpenedMs: list(g.subject.starts.map((s) => s.openedMs)),
      bitraftListeningMs: list(g.subject.starts.map((s) => s.listeningMs)),
      bitraftProbes: list(g.subject.starts.map((s) => s.probes)),
      cliStartMs: info.cliMs,
      bitraftRssMiB: rss(g.subject),
      referenceRssMiB: rss(g.against),
      keys: info.keys,
      logEntries: Number(info.prepared.stats['log_entries']),
    };
    const phases = `spawn → store opened ${list(g.subject.starts.map((s) => s.openedMs))} ms, → listening ${list(g.subject.starts.map((s) => s.listeningMs))} ms`;
    metrics.push(
      {
        id: `restart.${g.id}.median`,
        group: g.group,
        name: `spawn → first correct GET: median of ${RUNS}`,
        unit: 'ms',
        better: 'lower',
        value: median(ms(g.subject)),
        reference: { value: median(ms(g.against)), what: g.what },
        target: { op: '<', value: RESTART_TARGET_MS },
        details,
        note:
          `each start: ${list(ms(g.subject))} ms (${phases}; \`node bin/run.js --version\` alone takes ${info.cliMs.toFixed(0)} ms); redis-server ${list(ms(g.against))} ms. ` +
          `RSS after the first read: bitraft ${rss(g.subject).toFixed(0)} MiB, redis-server ${rss(g.against).toFixed(0)} MiB` +
          (g.id === 'clean'
            ? `. The data directory: ${mb(info.sizes['bitraft'])}, a ${info.prepared.stats['log_entries']}-entry log of ${mb(Number(info.prepared.stats['log_bytes']))} ` +
              `after RAFTSNAPSHOT (${info.prepared.snapshotMs} ms) of ${formatCount(info.keys)} keys loaded one SET each in ${info.prepared.loadSeconds.toFixed(1)} s`
            : `. Before each kill, ${CRASH_WRITES} SETs (the same keys and values again) were acknowledged`),
      },
      {
        id: `restart.${g.id}.max`,
        group: g.group,
        name: `  max of ${RUNS}`,
        unit: 'ms',
        better: 'lower',
        value: Math.max(...ms(g.subject)),
        reference: { value: Math.max(...ms(g.against)), what: g.what },
        target: { op: '<', value: RESTART_TARGET_MS },
        details,
      },
    );
  }
  return metrics;
}
