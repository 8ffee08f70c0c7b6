/**
 * The merge suite: client latency while a node merges its store by itself, throttled
 * (the default `--merge-rate`, 32 MiB/s, and 8 MiB/s) and unthrottled (`--merge-rate 0`).
 *
 * For each variant a 1-node `bitraft serve` (durability high, 16 MiB data files,
 * snapshots off so they do not mix in) with merges off is filled with K keys of 200 B,
 * all overwritten once and a third of them twice: 57 % of the bytes are dead. It is
 * restarted with merges on (the default threshold, half the bytes dead; at least
 * 16 MiB reclaimable) and a check every 4 s, so the merge starts with the first check.
 * Before it, a steady open-loop load of GETs and SETs of those keys (half each, over 4
 * connections, at a fixed rate; each latency counted from when the request was due, so
 * a stalled server cannot hide it) runs 0.5 s unrecorded, then 2 s recorded: idle.
 * Once the node reports the merge in progress (INFO persistence) the same load runs
 * again, recorded until the merge ends.
 *
 * The target of the issue: p99 during a throttled merge at most 2× the idle p99. The
 * table shows each phase's p50 and p99, the merge's p99 against the idle one (the ratio
 * column is idle ÷ merge; the note gives merge ÷ idle), and what each merge did.
 * K is 250,000 (100,000 with `--quick`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fullGc, type BenchConfig, type Metric, type Suite } from './harness.js';
import { startBitraftNode, type ServerProcess } from './procs.js';
import { RespConnection, ReplyError, type Reply } from './resp-client.js';
import { formatCount } from './table.js';

/** The target: merge p99 ÷ idle p99. */
export const MERGE_P99_TARGET = 2;

const FULL_KEYS = 250_000;
const QUICK_KEYS = 100_000;
const VALUE_BYTES = 200;
/** Requests per second of the steady load, and its connections. */
const LOAD_RATE = 2000;
const LOAD_CONNECTIONS = 4;
/** Seconds of unrecorded load after the start, then of idle load measured: both before the first check. */
const WARMUP_SECONDS = 0.5;
const IDLE_SECONDS = 2;
/** How often the node checks whether to merge: the first check, MERGE_CHECK_MS after its start, starts the merge. */
const MERGE_CHECK_MS = 4000;
/** Keys per MSET while filling, and MSETs in flight. */
const FILL_BATCH = 500;
const FILL_IN_FLIGHT = 8;

const SERVER_ARGS = ['--max-file-size', String(16 << 20), '--merge-min-dead-bytes', String(16 << 20), '--merge-check-interval', String(MERGE_CHECK_MS), '--snapshot-entries', '0', '--snapshot-log-size', '0'];

interface Variant {
  id: string;
  label: string;
  args: string[];
}

const VARIANTS: Variant[] = [
  { id: 'throttled', label: 'throttled merge (--merge-rate 32 MiB/s, the default)', args: [] },
  { id: 'slow', label: 'slower merge (--merge-rate 8 MiB/s)', args: ['--merge-rate', String(8 << 20)] },
  { id: 'unthrottled', label: 'unthrottled merge (--merge-rate 0)', args: ['--merge-rate', '0'] },
];

/** Latencies (ms) of one measured phase, by command. */
interface Phase {
  get: number[];
  set: number[];
  seconds: number;
  errors: number;
}

/** What one variant measured. */
interface VariantResult {
  idle: Phase;
  merge: Phase;
  /** INFO persistence after the merge. */
  info: Map<string, string>;
  /** Data file bytes on disk before and after the merge. */
  bytesBefore: number;
  bytesAfter: number;
}

/** The q-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const valueOf = (key: number, round: number): string => `${round}:${key}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + ((key + round) % 26)));

/** Sets the keys of [0, count) that `which` picks to their value of `round`, with pipelined MSETs. */
async function fill(conn: RespConnection, count: number, round: number, which: (key: number) => boolean = () => true): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let start = 0; start < count; start += FILL_BATCH) {
    const args = ['MSET'];
    for (let k = start; k < Math.min(count, start + FILL_BATCH); k++) if (which(k)) args.push(`key:${k}`, valueOf(k, round));
    if (args.length === 1) continue;
    const p: Promise<void> = conn.send(args).then((reply) => {
      inFlight.delete(p);
      if (reply !== 'OK') throw new Error(`MSET failed: ${JSON.stringify(reply)}`);
    });
    inFlight.add(p);
    if (inFlight.size >= FILL_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/** INFO persistence as a map. */
async function persistence(conn: RespConnection): Promise<Map<string, string>> {
  const text = await conn.send(['INFO', 'persistence']);
  if (typeof text !== 'string') throw new Error(`INFO failed: ${JSON.stringify(text)}`);
  return new Map(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(':') as [string, string]));
}

/**
 * Runs the steady load against `port` until `done()` resolves true (checked every
 * 50 ms, the first time after `minSeconds`), and returns the latencies.
 */
async function steadyLoad(port: number, keys: number, done: () => Promise<boolean>, minSeconds = 0): Promise<Phase> {
  const conns = Array.from({ length: LOAD_CONNECTIONS }, () => new RespConnection(port));
  const phase: Phase = { get: [], set: [], seconds: 0, errors: 0 };
  const pending = new Set<Promise<void>>();
  const interval = 1000 / LOAD_RATE;
  const start = performance.now();
  let due = start;
  let i = 0;
  let stop = false;
  let nextCheck = start + minSeconds * 1000;
  try {
    while (!stop) {
      const now = performance.now();
      while (due <= now) {
        const key = `key:${(i * 7919) % keys}`;
        const isSet = i % 2 === 1;
        const at = due;
        const p: Promise<void> = conns[i % LOAD_CONNECTIONS]!.send(isSet ? ['SET', key, valueOf(i % keys, 9)] : ['GET', key]).then((reply: Reply) => {
          pending.delete(p);
          if (reply instanceof ReplyError || reply === null) phase.errors++;
          (isSet ? phase.set : phase.get).push(performance.now() - at);
        });
        pending.add(p);
        i++;
        due += interval;
      }
      if (now >= nextCheck) {
        nextCheck = now + 50;
        if (await done()) stop = true;
      }
      await sleep(Math.max(0, Math.min(due - performance.now(), 5)));
    }
    phase.seconds = (performance.now() - start) / 1000;
    await Promise.all(pending);
  } finally {
    for (const c of conns) c.destroy();
  }
  return phase;
}

/** Bytes of the data files in `dir`. */
function dataFileBytes(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.data'))
    .reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0);
}

async function runVariant(config: BenchConfig, variant: Variant, keys: number): Promise<VariantResult> {
  const dir = fs.mkdtempSync(path.join(config.tmpRoot, `merge-${variant.id}-`));
  try {
    config.log(`merge/${variant.id}: filling ${formatCount(keys)} keys, overwriting them once and a third of them twice (merges off)`);
    const filler = await startBitraftNode(dir, { args: [...SERVER_ARGS, '--merge-dead-ratio', '0'], what: 'bitraft serve (filling)' });
    const conn = new RespConnection(filler.port);
    try {
      await fill(conn, keys, 0);
      await fill(conn, keys, 1);
      await fill(conn, keys, 2, (k) => k % 3 === 0);
    } finally {
      conn.destroy();
      await filler.stop();
    }
    const bytesBefore = dataFileBytes(dir);
    fullGc();
    // Restarted with merges on: the first check comes MERGE_CHECK_MS after the start; the
    // idle phase ends well before it, and the merge phase starts with the merge.
    const server = await startBitraftNode(dir, { args: [...SERVER_ARGS, ...variant.args], what: `bitraft serve (${variant.id})` });
    const admin = new RespConnection(server.port);
    try {
      await steadyLoad(server.port, keys, async () => true, WARMUP_SECONDS);
      const idle = await steadyLoad(server.port, keys, async () => true, IDLE_SECONDS);
      const after = await persistence(admin);
      if (after.get('bitraft_auto_merges') !== '0' || after.get('bitraft_merge_in_progress') !== '0') throw new Error(`the merge started during the idle phase (the machine is too slow for this suite): ${JSON.stringify([...after])}`);
      config.log(`merge/${variant.id}: idle: ${formatCount(idle.get.length + idle.set.length)} requests (${formatCount(Number(after.get('bitraft_dead_bytes')))} of ${formatCount(Number(after.get('bitraft_data_bytes')))} bytes dead); waiting for the merge`);
      for (let waited = 0; (await persistence(admin)).get('bitraft_merge_in_progress') !== '1'; waited += 10) {
        if (waited > 3 * MERGE_CHECK_MS) throw new Error(`no merge started within ${3 * MERGE_CHECK_MS} ms`);
        await sleep(10);
      }
      let info = new Map<string, string>();
      const merge = await steadyLoad(server.port, keys, async () => {
        info = await persistence(admin);
        return info.get('bitraft_merge_in_progress') === '0';
      });
      if (info.get('bitraft_last_merge_status') !== 'ok') throw new Error(`the merge did not succeed: ${JSON.stringify([...info])}\n${server.proc.stderr()}`);
      config.log(`merge/${variant.id}: the merge: ${formatCount(merge.get.length + merge.set.length)} requests over ${merge.seconds.toFixed(1)} s`);
      return { idle, merge, info, bytesBefore, bytesAfter: dataFileBytes(dir) };
    } finally {
      admin.destroy();
      await server.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function metricsOf(variant: Variant, r: VariantResult, keys: number): Metric[] {
  const group = `merge: ${variant.label}, ${formatCount(keys)} keys of ${VALUE_BYTES} B, ${LOAD_RATE} GET+SET/s`;
  const all = (p: Phase): number[] => [...p.get, ...p.set];
  const idleP99 = quantile(all(r.idle), 0.99);
  const mergeP99 = quantile(all(r.merge), 0.99);
  const reclaimed = Number(r.info.get('bitraft_last_merge_reclaimed_bytes'));
  const durationMs = Number(r.info.get('bitraft_last_merge_duration_ms'));
  const details = {
    idleSeconds: r.idle.seconds,
    idleRequests: all(r.idle).length,
    idleErrors: r.idle.errors,
    mergeSeconds: r.merge.seconds,
    mergeRequests: all(r.merge).length,
    mergeErrors: r.merge.errors,
    idleGetP99Ms: quantile(r.idle.get, 0.99),
    idleSetP99Ms: quantile(r.idle.set, 0.99),
    mergeGetP99Ms: quantile(r.merge.get, 0.99),
    mergeSetP99Ms: quantile(r.merge.set, 0.99),
    idleMaxMs: Math.max(...all(r.idle)),
    mergeMaxMs: Math.max(...all(r.merge)),
    mergeDurationMs: durationMs,
    reclaimedBytes: reclaimed,
    dataBytesBefore: r.bytesBefore,
    dataBytesAfter: r.bytesAfter,
  };
  const idleWhat = `the same load on the same node before the merge (${r.idle.seconds.toFixed(1)} s, ${formatCount(all(r.idle).length)} requests)`;
  return [
    { id: `merge.${variant.id}.idle.p50`, group, name: 'idle: p50 latency', unit: 'ms', better: 'lower', value: quantile(all(r.idle), 0.5), details },
    { id: `merge.${variant.id}.idle.p99`, group, name: 'idle: p99 latency', unit: 'ms', better: 'lower', value: idleP99, details },
    {
      id: `merge.${variant.id}.merge.p50`,
      group,
      name: 'during the merge: p50 latency',
      unit: 'ms',
      better: 'lower',
      value: quantile(all(r.merge), 0.5),
      reference: { value: quantile(all(r.idle), 0.5), what: idleWhat },
      details,
    },
    {
      id: `merge.${variant.id}.merge.p99`,
      group,
      name: 'during the merge: p99 latency',
      unit: 'ms',
      better: 'lower',
      value: mergeP99,
      reference: { value: idleP99, what: idleWhat },
      target: variant.id === 'throttled' ? { op: '>=', value: 1 / MERGE_P99_TARGET, on: 'ratio' } : undefined,
      note:
        `${variant.id}: merge p99 / idle p99 = ${(mergeP99 / idleP99).toFixed(2)}× (GET ${(details.mergeGetP99Ms / details.idleGetP99Ms).toFixed(2)}×, SET ${(details.mergeSetP99Ms / details.idleSetP99Ms).toFixed(2)}×); ` +
        `the merge took ${(durationMs / 1000).toFixed(1)} s and reclaimed ${(reclaimed / 1e6).toFixed(0)} MB (data files ${(r.bytesBefore / 1e6).toFixed(0)} → ${(r.bytesAfter / 1e6).toFixed(0)} MB); ` +
        `${formatCount(all(r.merge).length)} requests measured over ${r.merge.seconds.toFixed(1)} s, max ${details.mergeMaxMs.toFixed(1)} ms (idle max ${details.idleMaxMs.toFixed(1)} ms)`,
      details,
    },
  ];
}

/** The merge suite (see the module comment). */
export const mergeSuite: Suite = {
  name: 'merge',
  title: (config) => `Automatic merge: client latency idle vs during a merge (${formatCount(config.quick ? QUICK_KEYS : FULL_KEYS)} keys)`,
  async run(config) {
    const keys = config.quick ? QUICK_KEYS : FULL_KEYS;
    const metrics: Metric[] = [];
    for (const variant of VARIANTS) metrics.push(...metricsOf(variant, await runVariant(config, variant, keys), keys));
    return metrics;
  },
};
