/**
 * The measurements of the scale suite, one server at a time: a bitraft node or a
 * redis-server that grows from one key count to the next and is measured at each.
 *
 * Keys are 16 bytes (`scaleKey(i)`: 16 hex digits, a fixed random-looking order, so
 * the load does not write keys in byte order), values the 100 bytes of `loadValue(i)`,
 * loaded through `redis-cli --pipe`, one `SET` per key (on bitraft, one Raft entry per
 * key, acknowledged once fsynced, as any client's write). Every server listens on a
 * loopback port picked once and kept across its restarts; every process is tracked in
 * `running` so that the suite can kill what is left by pid.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bulkLoad, loadValue } from '../test/helpers/bulk-load.js';
import { REPO_ROOT, type Child } from '../test/helpers/processes.js';
import { rssOf } from './first-read.js';
import { median, now } from './harness.js';
import { runTool, runToolTo, startBitraftNode, startRedis, stopChild } from './procs.js';
import { crash, measureBitraft, measureRedis, pairs, SNAPSHOT_FLAGS, type Probe, type Start } from './restart.js';
import { command, ReplyError, RespConnection, type Reply } from './resp-client.js';
import { timedRaftSnapshot } from './snapshot.js';
import { SEED, writeKey } from './workload.js';

/** Keys per `KEYS … LIMIT` page. */
export const PAGE = 1000;
/** Timed pages per position (the median is reported). */
export const PAGE_RUNS = 5;
/** A pivot that splits uniformly random hex keys in half: the page "from the middle". */
export const MIDDLE_PIVOT = '8';
/** Fraction of the keys overwritten before the merge. */
export const OVERWRITE_FRACTION = 0.1;
/** Log entries kept behind a snapshot (the `--log-tail` default). */
export const LOG_TAIL = 10_000;
/** SETs acknowledged before the SIGKILL of the crash restart. */
export const CRASH_WRITES = 1000;

const BIN = path.join(REPO_ROOT, 'bin/run.js');
/** Time allowed to any one step (a load, a snapshot, a merge) of 10,000,000 keys. */
const SLOW_MS = 1_200_000;
const STOP_GRACE_MS = 120_000;

/** Key `i` of the scale suite: 16 hex digits (`workload.writeKey`). */
export function scaleKey(i: number): string {
  const out = Buffer.allocUnsafe(16);
  writeKey(i, SEED, out);
  return out.toString('latin1');
}

/** Key `i` and the value a server holding it must answer. */
export function scaleProbe(i: number): Probe {
  return { key: scaleKey(i), value: loadValue(i) };
}

/** A random loaded key among the first `keys`. */
function randomProbe(keys: number): Probe {
  return scaleProbe(Math.floor(Math.random() * keys));
}

/** Loads keys `from` … `to - 1`; seconds taken. */
async function load(port: number, from: number, to: number): Promise<number> {
  const t0 = now();
  await bulkLoad(port, { from, count: to - from, perCommand: 1, key: scaleKey, timeoutMs: SLOW_MS });
  return now() - t0;
}

const replyText = (r: Reply): string => (r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r));

async function expectDbsize(port: number, keys: number, what: string): Promise<void> {
  const n = await command(port, ['DBSIZE'], 60_000);
  if (n !== keys) throw new Error(`${what} answered DBSIZE with ${replyText(n)}, expected ${keys}`);
}

/** Bytes of every file under `dir`, recursively. */
export function treeBytes(dir: string): number {
  let sum = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    sum += e.isDirectory() ? treeBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
  }
  return sum;
}

/** Sends `KEYS * [PIVOT p] LIMIT PAGE` on `conn`; ms taken. Throws unless it got PAGE keys in byte order after the pivot. */
async function timePage(conn: RespConnection, pivot?: string): Promise<number> {
  const args = ['KEYS', '*', ...(pivot === undefined ? [] : ['PIVOT', pivot]), 'LIMIT', String(PAGE)];
  const t0 = now();
  const reply = await conn.send(args);
  const ms = (now() - t0) * 1000;
  const ok =
    Array.isArray(reply) &&
    reply.length === PAGE &&
    reply.every((k, i) => typeof k === 'string' && k.length === 16 && (i === 0 ? pivot === undefined || k > pivot : k > (reply[i - 1] as string)));
  if (!ok) throw new Error(`${args.join(' ')} answered ${replyText(reply).slice(0, 200)}, not ${PAGE} keys in byte order`);
  return ms;
}

/**
 * PINGs `port` on a connection of its own, one at a time 5 ms apart, until `done`
 * settles; the slowest reply, ms: how long the node stopped answering meanwhile.
 */
async function slowestPingWhile(port: number, done: Promise<unknown>): Promise<number> {
  let settled = false;
  const end = done.then(
    () => (settled = true),
    () => (settled = true),
  );
  const conn = new RespConnection(port);
  let slowest = 0;
  try {
    while (!settled) {
      const t0 = now();
      const reply = await conn.send(['PING']);
      if (reply !== 'PONG') throw new Error(`PING answered ${replyText(reply)}`);
      slowest = Math.max(slowest, (now() - t0) * 1000);
      await Promise.race([end, new Promise((r) => setTimeout(r, 5))]);
    }
  } finally {
    conn.destroy();
  }
  return slowest;
}

/** What one step measured on bitraft. */
export interface BitraftStep {
  keys: number;
  loadSeconds: number;
  rssLoaded: number;
  /** The first page after a (re)start, which builds the ordered index, ms. */
  firstPageMs: number;
  /** The slowest PING on another connection during that first page, ms. */
  pingDuringFirstPageMs: number;
  pageStartMs: number[];
  pageMiddleMs: number[];
  rssOrdered: number;
  snapshotMs: number;
  stateBinBytes: number;
  logEntries: number;
  parseMs: number;
  /** SIGTERM → exit, ms. */
  stopMs: number;
  sigterm: Start;
  sigkill: Start;
  overwriteSeconds: number;
  /** Bytes of the data directory (data files, log, snapshots) before the merge. */
  dirBytes: number;
  mergeMs: number;
  merge: { beforeBytes: number; afterBytes: number; beforeFiles: number; afterFiles: number; reclaimedBytes: number };
}

/** What one step measured on redis-server. */
export interface RedisStep {
  keys: number;
  loadSeconds: number;
  rssLoaded: number;
  saveMs: number;
  rdbBytes: number;
  restart: Start;
}

/** Processes still running, killed by pid when the suite ends early. */
export type Running = Set<Child>;

/** A server of the scale suite: one process at a time on one directory and port, growing step by step. */
abstract class GrowingServer {
  protected proc: Child | undefined;
  protected port = 0;
  /** RSS of the server before the first key, bytes. */
  emptyRss = Number.NaN;
  /** Keys loaded so far. */
  protected loaded = 0;

  constructor(
    protected readonly dir: string,
    private readonly running: Running,
    protected readonly log: (m: string) => void,
  ) {}

  /** Makes `proc` the server's process (tracked in `running`). */
  protected track(proc: Child): void {
    this.running.add(proc);
    this.proc = proc;
  }

  /** Stops the process, if any (SIGTERM: a clean exit required); ms taken. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number> {
    const proc = this.proc;
    if (!proc) return 0;
    const t0 = now();
    if (signal === 'SIGKILL') await crash(proc);
    else await stopChild(proc, 'SIGTERM', STOP_GRACE_MS);
    this.running.delete(proc);
    this.proc = undefined;
    return (now() - t0) * 1000;
  }
}

/** The bitraft node of the scale suite. */
export class ScaleBitraft extends GrowingServer {
  /** Starts the node on the directory (a fresh one the first time), snapshot triggers off. */
  async start(): Promise<void> {
    const server = await startBitraftNode(this.dir, { port: this.port || undefined, args: [...SNAPSHOT_FLAGS, '--log-tail', String(LOG_TAIL)], what: 'bitraft serve (scale)' });
    this.port = server.port;
    this.track(server.proc);
    if (this.loaded === 0) {
      await sleep(1000);
      this.emptyRss = rssOf(server.pid);
    }
  }

  /** Grows the node to `keys` keys and measures everything; leaves it stopped and merged. */
  async step(keys: number): Promise<BitraftStep> {
    const { log } = this;
    if (!this.proc) await this.start();
    const from = this.loaded;
    const loadSeconds = await load(this.port, from, keys);
    this.loaded = keys;
    await expectDbsize(this.port, keys, 'bitraft after the load');
    const rssLoaded = rssOf(this.proc!.pid);
    log(`bitraft ${keys}: loaded keys ${from}…${keys - 1} in ${loadSeconds.toFixed(1)} s; RSS ${mib(rssLoaded)}`);

    const conn = new RespConnection(this.port);
    let firstPageMs: number;
    let pingDuringFirstPageMs: number;
    const pageStartMs: number[] = [];
    const pageMiddleMs: number[] = [];
    try {
      const first = timePage(conn);
      pingDuringFirstPageMs = await slowestPingWhile(this.port, first);
      firstPageMs = await first;
      for (let i = 0; i < PAGE_RUNS; i++) {
        pageStartMs.push(await timePage(conn));
        pageMiddleMs.push(await timePage(conn, MIDDLE_PIVOT));
      }
    } finally {
      conn.destroy();
    }
    const rssOrdered = rssOf(this.proc!.pid);
    log(`bitraft ${keys}: KEYS page of ${PAGE}: first ${firstPageMs.toFixed(1)} ms (slowest PING meanwhile ${pingDuringFirstPageMs.toFixed(1)} ms), then from the start ${median(pageStartMs).toFixed(2)} ms, from the middle ${median(pageMiddleMs).toFixed(2)} ms; RSS ${mib(rssOrdered)}`);

    const { ms: snapshotMs, stateBin, bytes: stateBinBytes } = await timedRaftSnapshot(this.port, SLOW_MS);
    const stats = pairs(await command(this.port, ['RAFTSTATS'], 10_000), 'RAFTSTATS');
    const logEntries = Number(stats['log_entries']);
    const p0 = now();
    await runToolTo('/dev/null', process.execPath, [BIN, 'parse-snapshot', stateBin], { timeoutMs: SLOW_MS });
    const parseMs = (now() - p0) * 1000;
    log(`bitraft ${keys}: RAFTSNAPSHOT ${snapshotMs.toFixed(0)} ms (state.bin ${mib(stateBinBytes)}, log ${logEntries} entries after it); parse-snapshot to /dev/null ${parseMs.toFixed(0)} ms`);

    const stopMs = await this.stop('SIGTERM');
    const term = await measureBitraft(this.dir, this.port, keys, LOG_TAIL, randomProbe(keys));
    this.track(term.proc);
    await bulkLoad(this.port, { count: CRASH_WRITES, perCommand: 1, key: scaleKey, timeoutMs: 60_000 });
    await this.stop('SIGKILL');
    const kill = await measureBitraft(this.dir, this.port, keys, LOG_TAIL, randomProbe(keys));
    this.track(kill.proc);
    log(
      `bitraft ${keys}: SIGTERM took ${stopMs.toFixed(0)} ms; restarted to a correct GET in ${term.start.ms.toFixed(0)} ms (RSS ${mib(term.start.rssBytes)}), ` +
        `after SIGKILL in ${kill.start.ms.toFixed(0)} ms (RSS ${mib(kill.start.rssBytes)})`,
    );

    const overwrite = Math.round(keys * OVERWRITE_FRACTION);
    const overwriteSeconds = await load(this.port, 0, overwrite);
    await this.stop('SIGTERM');
    const dirBytes = treeBytes(this.dir);
    const m0 = now();
    const { stdout } = await runTool(process.execPath, [BIN, 'merge', '--dir', this.dir, '--json'], { timeoutMs: SLOW_MS, what: `bitraft merge --dir ${this.dir} --json` });
    const mergeMs = (now() - m0) * 1000;
    const report = JSON.parse(stdout) as { before: { bytes: number; files: number }; after: { bytes: number; files: number }; reclaimedBytes: number };
    const merge = {
      beforeBytes: report.before.bytes,
      afterBytes: report.after.bytes,
      beforeFiles: report.before.files,
      afterFiles: report.after.files,
      reclaimedBytes: report.reclaimedBytes,
    };
    log(`bitraft ${keys}: overwrote ${overwrite} keys in ${overwriteSeconds.toFixed(1)} s; merge ${mergeMs.toFixed(0)} ms: ${mib(merge.beforeBytes)} → ${mib(merge.afterBytes)} of data files`);
    return {
      keys,
      loadSeconds,
      rssLoaded,
      firstPageMs,
      pingDuringFirstPageMs,
      pageStartMs,
      pageMiddleMs,
      rssOrdered,
      snapshotMs,
      stateBinBytes,
      logEntries,
      parseMs,
      stopMs,
      sigterm: term.start,
      sigkill: kill.start,
      overwriteSeconds,
      dirBytes,
      mergeMs,
      merge,
    };
  }
}

/** The redis-server of the scale suite (`--save ''`: only SAVE writes its RDB). */
export class ScaleRedis extends GrowingServer {
  /** Grows the server to `keys` keys, SAVEs and restarts it from its RDB. */
  async step(keys: number): Promise<RedisStep> {
    if (!this.proc) {
      const server = await startRedis(this.dir, []);
      this.port = server.port;
      this.track(server.proc);
      await sleep(1000);
      this.emptyRss = rssOf(server.pid);
    }
    const loadSeconds = await load(this.port, this.loaded, keys);
    this.loaded = keys;
    await expectDbsize(this.port, keys, 'redis-server after the load');
    const rssLoaded = rssOf(this.proc!.pid);
    const s0 = now();
    const saved = await command(this.port, ['SAVE'], SLOW_MS);
    const saveMs = (now() - s0) * 1000;
    if (saved !== 'OK') throw new Error(`redis-server SAVE answered ${replyText(saved)}`);
    const rdbBytes = fs.statSync(path.join(this.dir, 'dump.rdb')).size;
    await this.stop();
    const { proc, start } = await measureRedis(this.dir, this.port, [], keys, randomProbe(keys));
    this.track(proc);
    this.log(`redis-server ${keys}: loaded the last part in ${loadSeconds.toFixed(1)} s; RSS ${mib(rssLoaded)}; SAVE ${saveMs.toFixed(0)} ms (${mib(rdbBytes)}); restarted from it in ${start.ms.toFixed(0)} ms (RSS ${mib(start.rssBytes)})`);
    return { keys, loadSeconds, rssLoaded, saveMs, rdbBytes, restart: start };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
