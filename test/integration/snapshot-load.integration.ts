/**
 * Taking a snapshot does not stop the world: on a one-node bitraft holding 1,000,000
 * keys, writes keep being acknowledged while `RAFTSNAPSHOT` writes the snapshot.
 *
 * The keys are loaded through `redis-cli --pipe` (MSET batches); then a few writers, each
 * a sequential SET loop on its own connection, write new keys `w:<n>` and record when
 * every write is acknowledged, while another connection runs RAFTSNAPSHOT. The test
 * checks that writes were acknowledged throughout the snapshot (many of them, with no
 * long gap), that every acknowledged write is readable afterwards, and that the snapshot
 * holds exactly the 1,000,000 loaded keys with their values plus the `w:` keys written
 * before it was taken.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { bulkLoad, loadValue } from '../helpers/bulk-load.js';
import { repoRoot, runCli } from '../helpers/cli.js';
import { HOST, requireTools, spawnTracked, startServer, type ServerHandle, type Teardownable } from '../helpers/server.js';

const KEYS = 1_000_000;
/** Keys per MSET while loading: one Raft entry each. */
const KEYS_PER_MSET = 1000;
/** Concurrent writers during the snapshot, each one SET at a time. */
const WRITERS = 4;
/** How long the writers run before the snapshot starts and after it ends. */
const MARGIN_MS = 500;
/** Writes acknowledged while the snapshot runs must be at least this many… */
const MIN_ACKS_DURING = 100;
/** …and no stretch of the snapshot may pass without an acknowledgement for this long. */
const MAX_GAP_MS = 1000;

/** One acknowledged write. */
interface Ack {
  key: string;
  value: string;
  sentAt: number;
  ackAt: number;
}

/** A connected ioredis client with generous timeouts, disconnected in teardown. */
async function client(t: Teardownable, port: number, commandTimeout: number): Promise<Redis> {
  const redis = new Redis({ host: HOST, port, commandTimeout, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  await redis.connect();
  return redis;
}

/** Field/value pairs of a flat reply array. */
function fields(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply)) throw new Error(`expected an array reply, got ${JSON.stringify(reply)}`);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** The sequential SET loops that run around the snapshot. */
class Writers {
  readonly acks: Ack[] = [];
  readonly errors: string[] = [];
  private seq = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];

  /** Number of the last write sent: `w:1` … `w:<lastSent>` have been sent. */
  get lastSent(): number {
    return this.seq;
  }

  start(conns: Redis[]): void {
    this.loops = conns.map((redis) => this.loop(redis));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(redis: Redis): Promise<void> {
    while (!this.stopped) {
      const n = ++this.seq;
      const key = `w:${n}`;
      const value = `written ${n}`;
      const sentAt = performance.now();
      try {
        const reply = await redis.set(key, value);
        if (reply === 'OK') this.acks.push({ key, value, sentAt, ackAt: performance.now() });
        else this.errors.push(`SET ${key}: ${String(reply)}`);
      } catch (err) {
        this.errors.push(`SET ${key}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
  }
}

/** What the records of a snapshot's state.bin hold. */
interface SnapshotContents {
  loaded: number;
  /** Loaded keys whose value is not the one loaded (first few). */
  wrongValues: string[];
  duplicates: number;
  writerKeys: Set<string>;
  /** Records that are neither (first few). */
  others: string[];
}

/** Streams `parse-snapshot --format json` of `stateBin` and sorts its records. */
async function readSnapshot(t: Teardownable, stateBin: string): Promise<SnapshotContents> {
  const proc = spawnTracked(t, process.execPath, [path.join(repoRoot, 'bin/run.js'), 'parse-snapshot', stateBin, '--format', 'json'], { what: 'bitraft parse-snapshot' });
  const seen = new Uint8Array(KEYS);
  const out: SnapshotContents = { loaded: 0, wrongValues: [], duplicates: 0, writerKeys: new Set(), others: [] };
  for await (const line of createInterface({ input: proc.child.stdout! })) {
    const { key, value } = JSON.parse(line) as { key?: string; value?: string };
    const m = /^key:(\d+)$/.exec(key ?? '');
    if (m && Number(m[1]) < KEYS) {
      const i = Number(m[1]);
      if (seen[i]) out.duplicates++;
      seen[i] = 1;
      out.loaded++;
      if (value !== loadValue(i) && out.wrongValues.length < 5) out.wrongValues.push(key!);
    } else if (key?.startsWith('w:')) {
      out.writerKeys.add(key);
    } else if (out.others.length < 5) {
      out.others.push(line.slice(0, 200));
    }
  }
  const exit = await proc.exited;
  if (exit.code !== 0) throw new Error(`parse-snapshot exited ${exit.code}: ${proc.stderr()}`);
  return out;
}

/** The longest time within [from, to] without an acknowledgement, in ms. */
function longestGap(ackTimes: number[], from: number, to: number): number {
  const points = [from, ...ackTimes.filter((a) => a >= from && a <= to).sort((a, b) => a - b), to];
  let gap = 0;
  for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i]! - points[i - 1]!);
  return gap;
}

t.test('writes keep being acknowledged while a snapshot of 1,000,000 keys is written', async (t) => {
  t.setTimeout(240_000);
  requireTools('redis-cli');
  const server: ServerHandle = await startServer(t, { args: ['--durability', 'high', '--snapshot-entries', '0', '--snapshot-log-size', '0'] });
  try {
    await runScenario(t, server);
  } catch (err) {
    t.comment(`--- bitraft serve stderr ---\n${server.stderr().slice(-4000)}`);
    throw err;
  }
  if (!t.passing()) t.comment(`--- bitraft serve stderr ---\n${server.stderr().slice(-4000)}`);
});

async function runScenario(t: Test, server: ServerHandle): Promise<void> {
  const loadStarted = performance.now();
  await bulkLoad(server.port, { count: KEYS, perCommand: KEYS_PER_MSET, timeoutMs: 120_000 });
  const admin = await client(t, server.port, 120_000);
  t.equal(await admin.dbsize(), KEYS, 'DBSIZE after the load');
  t.comment(`loaded ${KEYS.toLocaleString('en-US')} keys in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);

  const writers = new Writers();
  const conns = await Promise.all(Array.from({ length: WRITERS }, () => client(t, server.port, 30_000)));
  writers.start(conns);
  await new Promise((resolve) => setTimeout(resolve, MARGIN_MS));
  const ackedBefore = new Set(writers.acks.map((a) => a.key));
  const snapStart = performance.now();
  const reply = fields(await admin.call('RAFTSNAPSHOT'));
  const snapEnd = performance.now();
  const sentBeforeEnd = writers.lastSent;
  await new Promise((resolve) => setTimeout(resolve, MARGIN_MS));
  await writers.stop();

  t.same(writers.errors, [], 'no write failed');
  const durationMs = snapEnd - snapStart;
  const ackTimes = writers.acks.map((a) => a.ackAt);
  const during = ackTimes.filter((a) => a >= snapStart && a <= snapEnd).length;
  const gap = longestGap(ackTimes, snapStart, snapEnd);
  const beforeRate = writers.acks.filter((a) => a.ackAt < snapStart).length / (MARGIN_MS / 1000);
  t.comment(
    `snapshot: ${durationMs.toFixed(0)} ms; ${during} writes acknowledged while it ran (${((during / durationMs) * 1000).toFixed(0)}/s, ` +
      `${beforeRate.toFixed(0)}/s before it); longest stretch without an acknowledgement ${gap.toFixed(0)} ms`,
  );
  const logLine = /snapshot \S+ written: .*/.exec(server.stderr());
  if (logLine) t.comment(`node: ${logLine[0]}`);
  t.ok(during >= MIN_ACKS_DURING, `at least ${MIN_ACKS_DURING} writes acknowledged during the snapshot (${during})`);
  t.ok(gap < MAX_GAP_MS, `no stretch of ${MAX_GAP_MS} ms without an acknowledgement during the snapshot (longest ${gap.toFixed(0)} ms of ${durationMs.toFixed(0)} ms)`);

  // The snapshot on disk.
  const dir = path.resolve(repoRoot, reply['path'] ?? '');
  t.ok(fs.existsSync(path.join(dir, 'meta.json')), 'meta.json at the reported path');
  const stateBin = path.join(dir, 'state.bin');
  t.ok(fs.existsSync(stateBin), 'state.bin at the reported path');
  t.equal(fs.statSync(stateBin).size, Number(reply['size']), 'the reported size is the size of state.bin');
  const stats = fields(await admin.call('RAFTSTATS'));
  t.equal(stats['last_snapshot_index'], reply['index'], 'RAFTSTATS reports the snapshot');

  // Every acknowledged write is readable.
  for (let i = 0; i < writers.acks.length; i += 1000) {
    const batch = writers.acks.slice(i, i + 1000);
    const values = await admin.mget(...batch.map((a) => a.key));
    const wrong = batch.filter((a, j) => values[j] !== a.value).map((a) => a.key);
    if (wrong.length > 0) t.fail(`acknowledged writes not readable: ${wrong.slice(0, 10).join(', ')}`);
  }
  t.equal(await admin.dbsize(), KEYS + writers.acks.length, 'DBSIZE counts the loaded keys and every acknowledged write');

  // What the snapshot holds: exactly the loaded keys, plus the writer keys applied before it.
  const counted = runCli(['parse-snapshot', stateBin, '--count']);
  t.equal(counted.status, 0, `parse-snapshot --count exits 0 ${counted.stderr}`);
  const contents = await readSnapshot(t, stateBin);
  t.equal(contents.loaded, KEYS, 'every loaded key is in the snapshot');
  t.equal(contents.duplicates, 0, 'no key twice');
  t.same(contents.wrongValues, [], 'with its loaded value');
  t.same(contents.others, [], 'no other records');
  t.equal(Number(counted.stdout.trim()), KEYS + contents.writerKeys.size, 'parse-snapshot --count agrees');
  const missing = [...ackedBefore].filter((k) => !contents.writerKeys.has(k));
  t.same(missing.slice(0, 10), [], 'writes acknowledged before RAFTSNAPSHOT are in it');
  const unknown = [...contents.writerKeys].filter((k) => !(Number(k.slice(2)) <= sentBeforeEnd));
  t.same(unknown.slice(0, 10), [], 'its writer keys were all sent before it ended');
  t.comment(`state.bin: ${Number(reply['size']).toLocaleString('en-US')} bytes, ${KEYS.toLocaleString('en-US')} + ${contents.writerKeys.size} records, index ${reply['index']}`);
  const errors = server.stderr().split('\n').filter((l) => / (warn|error) /.test(l));
  t.same(errors, [], 'the node logged no warning or error');
}
