/**
 * The storage suite: throughput, open time, memory and merge speed of the Bitcask
 * engine on N keys (1,000,000, or 100,000 with `--quick`) of 16-byte keys and
 * 100-byte values, each compared with a raw measurement of the same work made in the
 * same run (see `renderFootnotes` output for what each reference is).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bitcask, type MergeResult } from '../src/core/bitcask/index.js';
import { fullGc, median, now, type BenchConfig, type Metric, type Suite } from './harness.js';
import type { MemorySample } from './bitcask-memory.js';
import { formatCount } from './table.js';
import { KEY_SIZE, makeWorkload, permutation, SEED, VALUE_POOL, VALUE_SIZE, type Workload } from './workload.js';

const MiB = 1 << 20;
/** Encoded size of one record: 21-byte header, key, value (see src/core/bitcask/record.ts). */
const RECORD_SIZE = 21 + KEY_SIZE + VALUE_SIZE;
const SYNC_EVERY = 1000;
const PAGE_KEYS = 100;
const SMALL_STORE_KEYS = 1000;
const VALUE_MASK = VALUE_POOL - 1;

/** Targets from the issue. */
export const TARGETS = {
  putPerSecond: 300_000,
  getPerSecond: 500_000,
  openWithHintsSeconds: 1.5,
  mergeMBps: 100,
  /** Keydir bytes per key, not counting the key itself. */
  keydirOverheadBytes: 120,
  /** An ordered page on N keys may cost at most 1 / this times a page on 1,000 keys. */
  pageRatio: 0.5,
} as const;

/** The storage benchmark suite. */
export const bitcaskSuite: Suite = {
  name: 'storage',
  title: (config) =>
    `storage: Bitcask, ${config.keys.toLocaleString('en-US')} keys × (${KEY_SIZE} B key + ${VALUE_SIZE} B value), random key order, seed ${SEED}`,
  run: runStorageSuite,
};

async function runStorageSuite(config: BenchConfig): Promise<Metric[]> {
  const { log } = config;
  const n = config.keys;
  const root = path.join(config.tmpRoot, 'bitcask');
  fs.mkdirSync(root, { recursive: true });
  const mainDir = path.join(root, 'main');
  const metrics: Metric[] = [];

  log(`generating ${formatCount(n)} keys`);
  const w = makeWorkload(n);
  const dataBytes = n * RECORD_SIZE;

  // ---- puts, no fsync ----
  log(`put ×${formatCount(n)}, sync 'none'`);
  const putTime = await timePuts(mainDir, w, false);
  const rawPutTime = rawAppend(path.join(root, 'raw-put.bin'), dataBytes, undefined);
  log(`  bitraft ${(putTime).toFixed(3)} s, raw writeSync ${rawPutTime.toFixed(3)} s`);
  metrics.push({
    id: 'put.nosync',
    name: "put, no fsync (sync 'none')",
    unit: 'ops/s',
    better: 'higher',
    value: n / putTime,
    reference: { value: n / rawPutTime, what: 'fs.writeSync of the same number of bytes in 1 MiB batches (raw sequential write)' },
    target: { op: '>=', value: TARGETS.putPerSecond },
    details: { seconds: putTime, referenceSeconds: rawPutTime, bytes: dataBytes },
  });

  // ---- puts, an fsync every 1,000 ----
  log(`put ×${formatCount(n)}, await sync() every ${SYNC_EVERY}`);
  const syncDir = path.join(root, 'put-sync');
  const putSyncTime = await timePuts(syncDir, w, true);
  fs.rmSync(syncDir, { recursive: true, force: true });
  const rawPutSyncTime = rawAppend(path.join(root, 'raw-put-sync.bin'), dataBytes, SYNC_EVERY * RECORD_SIZE);
  log(`  bitraft ${putSyncTime.toFixed(3)} s, raw writeSync+fdatasync ${rawPutSyncTime.toFixed(3)} s`);
  metrics.push({
    id: 'put.fsync1000',
    name: `put, fsync every ${SYNC_EVERY.toLocaleString('en-US')} puts`,
    unit: 'ops/s',
    better: 'higher',
    value: n / putSyncTime,
    reference: {
      value: n / rawPutSyncTime,
      what: `fs.writeSync of ${SYNC_EVERY.toLocaleString('en-US')} records' bytes, then fs.fdatasyncSync, repeated`,
    },
    details: { seconds: putSyncTime, referenceSeconds: rawPutSyncTime, fsyncs: Math.ceil(n / SYNC_EVERY) },
  });

  // ---- open with hints (after the clean close of the put phase) ----
  const rawReadTime = rawReadDataFiles(mainDir);
  log(`open with hints (raw read of the data files: ${rawReadTime.toFixed(3)} s)`);
  fullGc();
  let t0 = now();
  const store = await Bitcask.open(mainDir, { sync: 'none' });
  const openHintTime = now() - t0;
  log(`  ${openHintTime.toFixed(3)} s, ${formatCount(store.size)} keys`);
  if (store.size !== n) throw new Error(`expected ${n} keys after open, found ${store.size}`);
  metrics.push({
    id: 'open.hints',
    name: 'open, with hints',
    unit: 's',
    better: 'lower',
    value: openHintTime,
    reference: { value: rawReadTime, what: 'fs.readFileSync of every data file (warm page cache, as for bitraft)' },
    target: { op: '<', value: TARGETS.openWithHintsSeconds },
    details: { files: countFiles(mainDir, '.data'), dataBytes: sumSizes(mainDir, '.data') },
  });

  let small: Bitcask | undefined;
  try {
    // ---- gets ----
    log(`get ×${formatCount(n)}, random existing keys`);
    checkValues(store, w);
    const getTime = timeGets(store, w);
    const mapGetTime = timeMapGets(w);
    const preadRate = preadFloor(mainDir, Math.min(n, 200_000));
    log(`  bitraft ${getTime.toFixed(3)} s, Map ${mapGetTime.toFixed(3)} s; raw pread floor ${formatCount(preadRate)}/s`);
    metrics.push({
      id: 'get',
      name: 'get, random existing keys',
      unit: 'ops/s',
      better: 'higher',
      value: n / getTime,
      reference: {
        value: n / mapGetTime,
        what: 'Map<string, Buffer> of the same keys, looked up with the same key Buffers (latin1 strings, as the keydir)',
      },
      target: { op: '>=', value: TARGETS.getPerSecond },
      note: `one bare fs.readSync of ${RECORD_SIZE} B at a random offset of the data file runs at ${formatCount(preadRate)}/s here (the syscall floor of a read-per-get design)`,
      details: { seconds: getTime, referenceSeconds: mapGetTime, preadPerSecond: preadRate },
    });

    // ---- ordered pages ----
    log(`ordered pages of ${PAGE_KEYS} keys: ${formatCount(n)} keys vs ${formatCount(SMALL_STORE_KEYS)} keys`);
    const smallDir = path.join(root, 'small');
    await writeStore(smallDir, w, SMALL_STORE_KEYS);
    small = await Bitcask.open(smallDir, { sync: 'none' });
    const { big: pageBig, small: pageSmall } = timePages(store, n, small, SMALL_STORE_KEYS, w);
    log(`  ${pageBig.toFixed(2)} µs per page on ${formatCount(n)} keys, ${pageSmall.toFixed(2)} µs on ${formatCount(SMALL_STORE_KEYS)}`);
    metrics.push({
      id: 'keys.page',
      name: `ordered page: keys({from}) × ${PAGE_KEYS}`,
      unit: 'µs',
      better: 'lower',
      value: pageBig,
      reference: { value: pageSmall, what: `the same page on a store of ${SMALL_STORE_KEYS.toLocaleString('en-US')} keys (should cost about the same)` },
      target: { op: '>=', value: TARGETS.pageRatio, on: 'ratio' },
      details: { keys: n, referenceKeys: SMALL_STORE_KEYS },
    });
  } finally {
    await small?.close();
    await store.close();
  }

  // ---- memory, in fresh child processes ----
  log('memory: open the store in a fresh process');
  const mem = await memoryChild(['store', mainDir, String(n)]);
  const memRef = await memoryChild(['map', String(n)]);
  const heapPerKey = (s: MemorySample): number => (s.heapAfter - s.heapBefore + s.externalAfter - s.externalBefore) / s.keys;
  const rssPerKey = (s: MemorySample): number => (s.rssAfter - s.rssBefore) / s.keys;
  log(`  heap+external ${heapPerKey(mem).toFixed(1)} B/key, rss ${rssPerKey(mem).toFixed(1)} B/key`);
  const memWhat = 'a bare Map<string, number> of the same keys, built in a fresh process (floor of a JS hash keydir)';
  metrics.push({
    id: 'memory.rss',
    name: 'RSS per key (after open)',
    unit: 'B/key',
    better: 'lower',
    value: rssPerKey(mem),
    reference: { value: rssPerKey(memRef), what: memWhat },
    details: { ...mem },
  });
  metrics.push({
    id: 'memory.heap',
    name: 'heap per key (JS heap + external)',
    unit: 'B/key',
    better: 'lower',
    value: heapPerKey(mem),
    reference: { value: heapPerKey(memRef), what: memWhat },
    target: { op: '<=', value: TARGETS.keydirOverheadBytes + KEY_SIZE },
    details: {
      jsHeapPerKey: (mem.heapAfter - mem.heapBefore) / n,
      externalPerKey: (mem.externalAfter - mem.externalBefore) / n,
    },
  });

  // ---- open without hints ----
  for (const name of fs.readdirSync(mainDir)) if (name.endsWith('.hint')) fs.rmSync(path.join(mainDir, name));
  log('open without hints (every *.hint removed)');
  fullGc();
  t0 = now();
  const scanned = await Bitcask.open(mainDir, { sync: 'none' });
  const openScanTime = now() - t0;
  const scannedKeys = scanned.size;
  await scanned.close();
  if (scannedKeys !== n) throw new Error(`expected ${n} keys after a scan, found ${scannedKeys}`);
  log(`  ${openScanTime.toFixed(3)} s`);
  metrics.push({
    id: 'open.scan',
    name: 'open, without hints (scan)',
    unit: 's',
    better: 'lower',
    value: openScanTime,
    reference: { value: rawReadTime, what: 'fs.readFileSync of every data file (warm page cache, as for bitraft)' },
  });
  fs.rmSync(mainDir, { recursive: true, force: true });

  // ---- merge ----
  metrics.push(await mergeMetric(path.join(root, 'merge'), w, log));
  fs.rmSync(root, { recursive: true, force: true });
  return DISPLAY_ORDER.flatMap((id) => metrics.filter((m) => m.id === id));
}

const DISPLAY_ORDER = ['put.nosync', 'put.fsync1000', 'get', 'open.hints', 'open.scan', 'memory.rss', 'memory.heap', 'merge', 'keys.page'];

/** Puts every key of `w` into a new store in `dir`; returns the seconds the puts took. */
async function timePuts(dir: string, w: Workload, syncEvery: boolean): Promise<number> {
  const store = await Bitcask.open(dir, { sync: 'none' });
  try {
    const { keys, values, count } = w;
    fullGc();
    const t0 = now();
    if (syncEvery) {
      for (let i = 0; i < count; i++) {
        store.put(keys[i]!, values[i & VALUE_MASK]!);
        if ((i + 1) % SYNC_EVERY === 0) await store.sync();
      }
      await store.sync();
    } else {
      for (let i = 0; i < count; i++) store.put(keys[i]!, values[i & VALUE_MASK]!);
      store.flush();
    }
    return now() - t0;
  } finally {
    await store.close();
  }
}

/**
 * Appends `total` bytes to a new file with `fs.writeSync` in 1 MiB batches, or with an
 * `fdatasync` after every `syncEvery` bytes; returns the seconds taken and removes the file.
 */
function rawAppend(file: string, total: number, syncEvery: number | undefined): number {
  const chunk = Buffer.allocUnsafe(MiB).fill(0xa5);
  const fd = fs.openSync(file, 'w');
  try {
    fullGc();
    const t0 = now();
    let pos = 0;
    const batch = syncEvery ?? total;
    while (pos < total) {
      const end = Math.min(total, pos + batch);
      while (pos < end) {
        const len = Math.min(MiB, end - pos);
        let done = 0;
        while (done < len) done += fs.writeSync(fd, chunk, done, len - done, pos + done);
        pos += len;
      }
      if (syncEvery !== undefined) fs.fdatasyncSync(fd);
    }
    return now() - t0;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** Reads every data file of `dir` with readFileSync; returns the seconds taken. */
function rawReadDataFiles(dir: string): number {
  const files = fs.readdirSync(dir).filter((name) => name.endsWith('.data'));
  fullGc();
  const t0 = now();
  let bytes = 0;
  for (const name of files) bytes += fs.readFileSync(path.join(dir, name)).length;
  const t = now() - t0;
  if (bytes === 0) throw new Error(`no data files in ${dir}`);
  return t;
}

/** Checks a sample of values before timing, so a broken store cannot post a fast number. */
function checkValues(store: Bitcask, w: Workload): void {
  for (let i = 0; i < w.count; i += Math.max(1, Math.floor(w.count / 1000))) {
    const v = store.get(w.keys[i]!);
    if (!v || !v.equals(w.values[i & VALUE_MASK]!)) throw new Error(`wrong value for key ${w.keys[i]!.toString('latin1')}`);
  }
}

function timeGets(store: Bitcask, w: Workload): number {
  const { keys, readOrder, count } = w;
  let bytes = 0;
  fullGc();
  const t0 = now();
  for (let i = 0; i < count; i++) bytes += store.get(keys[readOrder[i]!]!)!.length;
  const t = now() - t0;
  if (bytes !== count * VALUE_SIZE) throw new Error(`gets returned ${bytes} bytes, expected ${count * VALUE_SIZE}`);
  return t;
}

/** Random `RECORD_SIZE`-byte preads of the data files of `dir` per second: what one syscall per get costs here. */
function preadFloor(dir: string, count: number): number {
  const name = fs.readdirSync(dir).find((f) => f.endsWith('.data'));
  if (!name) throw new Error(`no data file in ${dir}`);
  const fd = fs.openSync(path.join(dir, name), 'r');
  try {
    const records = Math.floor(fs.fstatSync(fd).size / RECORD_SIZE);
    const order = permutation(records, SEED + 4);
    const buf = Buffer.allocUnsafe(RECORD_SIZE);
    fullGc();
    const t0 = now();
    for (let i = 0; i < count; i++) fs.readSync(fd, buf, 0, RECORD_SIZE, order[i % records]! * RECORD_SIZE);
    return count / (now() - t0);
  } finally {
    fs.closeSync(fd);
  }
}

function timeMapGets(w: Workload): number {
  const { keys, values, readOrder, count } = w;
  const map = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) map.set(keys[i]!.toString('latin1'), values[i & VALUE_MASK]!);
  let bytes = 0;
  fullGc();
  const t0 = now();
  for (let i = 0; i < count; i++) bytes += map.get(keys[readOrder[i]!]!.toString('latin1'))!.length;
  const t = now() - t0;
  if (bytes !== count * VALUE_SIZE) throw new Error('map lookups failed');
  return t;
}

/** Writes the first `count` keys of `w` into a new store in `dir` and closes it. */
async function writeStore(dir: string, w: Workload, count: number): Promise<void> {
  const store = await Bitcask.open(dir, { sync: 'none' });
  try {
    for (let i = 0; i < count; i++) store.put(w.keys[i]!, w.values[i & VALUE_MASK]!);
  } finally {
    await store.close();
  }
}

/**
 * Average µs to take `PAGE_KEYS` keys from `keys({from})` with `from` a random existing
 * key, on a big and a small store. Rounds alternate between the stores and the median
 * round counts, so JIT warm-up and noise hit both alike.
 */
function timePages(big: Bitcask, bigCount: number, small: Bitcask, smallCount: number, w: Workload): { big: number; small: number } {
  const ROUNDS = 7;
  const PAGES = 1000;
  const bigFrom = permutation(bigCount, SEED + 2);
  const smallFrom = permutation(smallCount, SEED + 3);
  const page = (store: Bitcask, from: Buffer): number => {
    let taken = 0;
    for (const key of store.keys({ from })) {
      taken += key.length > 0 ? 1 : 0;
      if (taken === PAGE_KEYS) break;
    }
    return taken;
  };
  const round = (store: Bitcask, order: Uint32Array, r: number): number => {
    let taken = 0;
    const t0 = now();
    for (let p = 0; p < PAGES; p++) taken += page(store, w.keys[order[(r * PAGES + p) % order.length]!]!);
    const t = now() - t0;
    if (taken === 0) throw new Error('ordered walk returned no keys');
    return (t / PAGES) * 1e6;
  };
  // Warm-up: the first walk sorts the keys still pending for the tree; then JIT.
  round(big, bigFrom, ROUNDS);
  round(small, smallFrom, ROUNDS);
  const bigTimes: number[] = [];
  const smallTimes: number[] = [];
  fullGc();
  for (let r = 0; r < ROUNDS; r++) {
    bigTimes.push(round(big, bigFrom, r));
    smallTimes.push(round(small, smallFrom, r));
  }
  return { big: median(bigTimes), small: median(smallTimes) };
}

/** Runs the memory child (`bitcask-memory.js`) with `args` and parses its sample. */
function memoryChild(args: string[]): Promise<MemorySample> {
  const script = fileURLToPath(new URL('./bitcask-memory.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`memory child ${args[0]} exited with ${code}: ${err.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as MemorySample);
      } catch (e) {
        reject(new Error(`memory child printed no sample: ${String(e)}; stderr: ${err.trim()}`));
      }
    });
  });
}

/**
 * Builds a directory where exactly half of the records are dead — every key written
 * once, then half of the keys overwritten twice (one overwrite pass would leave only a
 * third dead) — then times an offline merge of it: open, rotate, merge, close.
 */
async function mergeMetric(dir: string, w: Workload, log: (m: string) => void): Promise<Metric> {
  const n = w.count;
  log(`merge: building ${formatCount(n)} keys + 2 × ${formatCount(Math.ceil(n / 2))} overwrites`);
  let store = await Bitcask.open(dir, { sync: 'none' });
  let deadFraction: number;
  try {
    for (let i = 0; i < n; i++) store.put(w.keys[i]!, w.values[i & VALUE_MASK]!);
    for (let pass = 1; pass <= 2; pass++) {
      for (let i = 0; i < n; i += 2) store.put(w.keys[i]!, w.values[(i + pass) & VALUE_MASK]!);
    }
    const stats = store.stats();
    deadFraction = stats.deadBytes / stats.dataBytes;
  } finally {
    await store.close();
  }
  const inputFiles = fs.readdirSync(dir).filter((name) => name.endsWith('.data'));
  const inputBytes = sumSizes(dir, '.data');

  fullGc();
  let t0 = now();
  for (const name of inputFiles) fs.copyFileSync(path.join(dir, name), path.join(dir, `${name}.copy`));
  const copyTime = now() - t0;
  for (const name of inputFiles) fs.rmSync(path.join(dir, `${name}.copy`));
  log(`  ${(inputBytes / 1e6).toFixed(1)} MB in ${inputFiles.length} files, ${(deadFraction * 100).toFixed(1)} % dead; copyFile ${copyTime.toFixed(3)} s`);

  fullGc();
  t0 = now();
  store = await Bitcask.open(dir, { sync: 'none' });
  const openTime = now() - t0;
  let mergeOnly: number;
  let result: MergeResult;
  try {
    store.rotate();
    const m0 = now();
    result = await store.merge();
    mergeOnly = now() - m0;
  } finally {
    await store.close();
  }
  const mergeTime = now() - t0;
  if (result.liveKeys !== n) throw new Error(`merge copied ${result.liveKeys} keys, expected ${n}`);
  log(`  open+rotate+merge+close ${mergeTime.toFixed(3)} s (merge() alone ${mergeOnly.toFixed(3)} s), ${formatCount(result.inputBytes / 1e6)} MB in → ${formatCount(result.outputBytes / 1e6)} MB out`);
  return {
    id: 'merge',
    name: `merge, ${(deadFraction * 100).toFixed(0)} % dead (MB/s of input)`,
    unit: 'MB/s',
    better: 'higher',
    value: result.inputBytes / 1e6 / mergeTime,
    reference: { value: inputBytes / 1e6 / copyTime, what: 'fs.copyFileSync of the same data files (no fsync)' },
    target: { op: '>=', value: TARGETS.mergeMBps },
    note: `open ${(openTime).toFixed(2)} s + merge() ${mergeOnly.toFixed(2)} s (${(result.inputBytes / 1e6 / mergeOnly).toFixed(0)} MB/s alone) + rotate/close ${(mergeTime - openTime - mergeOnly).toFixed(2)} s`,
    details: {
      openSeconds: openTime,
      seconds: mergeTime,
      mergeOnlySeconds: mergeOnly,
      mergeOnlyMBps: result.inputBytes / 1e6 / mergeOnly,
      inputBytes: result.inputBytes,
      outputBytes: result.outputBytes,
      inputFiles: result.inputFiles,
      deadFraction,
      referenceSeconds: copyTime,
    },
  };
}

function countFiles(dir: string, suffix: string): number {
  return fs.readdirSync(dir).filter((name) => name.endsWith(suffix)).length;
}

function sumSizes(dir: string, suffix: string): number {
  let total = 0;
  for (const name of fs.readdirSync(dir)) if (name.endsWith(suffix)) total += fs.statSync(path.join(dir, name)).size;
  return total;
}
