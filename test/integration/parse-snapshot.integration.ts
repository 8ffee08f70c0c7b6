/**
 * `bitraft parse-snapshot` end to end with the real tools: its output piped into
 * `redis-cli --pipe` restores a snapshot into a real `redis-server` and into a fresh
 * `bitraft serve`, and every key and value is compared with the source; and a snapshot
 * far larger than the process's heap streams through in constant memory.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { writeStateFile, type StateRecord } from '../../src/core/snapshot/index.js';
import { seededRng } from '../../src/core/support/rng.js';
import { repoRoot } from '../helpers/cli.js';
import { HOST, requireTools, rssOf, runTracked, startRedisServer, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE } from '../helpers/state-bin.js';

requireTools('redis-server', 'redis-cli');

const FIXTURE = GO_SNAPSHOT_FIXTURE;
const BIN = path.join(repoRoot, 'bin/run.js');

/** The Go fixture's records plus binary keys and values it could not hold, and a 1 MiB value. */
function sourceRecords(): Map<string, Buffer> {
  const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'contents.json'), 'utf8')) as { keys: { key_hex: string; value_hex: string }[] };
  const records = new Map<string, Buffer>(contents.keys.map((k) => [k.key_hex, Buffer.from(k.value_hex, 'hex')]));
  const rng = seededRng(2024);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
  for (let i = 0; i < 500; i++) records.set(Buffer.concat([Buffer.from([0xff, 0x0d, 0x0a]), bytes(1 + rng.int(30))]).toString('hex'), bytes(rng.int(4) === 0 ? 0 : rng.int(300)));
  records.set(Buffer.from('big\r\nbinary\0').toString('hex'), bytes(1024 * 1024));
  return records;
}

/** Writes `records` as a state.bin with an independent encoder (gzip of u64-LE length-prefixed pairs). */
function writeIndependent(file: string, records: Map<string, Buffer>): void {
  const parts: Buffer[] = [];
  for (const [keyHex, value] of records) {
    for (const field of [Buffer.from(keyHex, 'hex'), value]) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(field.length));
      parts.push(len, field);
    }
  }
  fs.writeFileSync(file, zlib.gzipSync(Buffer.concat(parts)));
}

/**
 * Runs `bitraft parse-snapshot <file> | redis-cli -p <port> --pipe` in bash, exactly as a
 * user would; resolves with both exit statuses and what the pipeline printed.
 */
async function pipeInto(t: Test, file: string, port: number): Promise<{ parse: number; cli: number; out: string }> {
  const script = 'node "$1" parse-snapshot "$2" | redis-cli -h "$3" -p "$4" --pipe; echo "exit statuses: ${PIPESTATUS[*]}"';
  const r = await runTracked(t, 'bash', ['-c', script, 'pipe', BIN, file, HOST, String(port)], 120_000);
  const m = /exit statuses: (\d+) (\d+)/.exec(r.stdout);
  return { parse: Number(m?.[1] ?? -1), cli: Number(m?.[2] ?? -1), out: r.stdout + r.stderr };
}

/** Every key and value of the server at `port` (KEYS * then MGET in pages), as hex key → value. */
async function dump(t: Test, port: number): Promise<Map<string, Buffer>> {
  const redis = new Redis(port, HOST, { lazyConnect: true, maxRetriesPerRequest: 1 });
  t.teardown(() => redis.disconnect());
  await redis.connect();
  const keys = await redis.keysBuffer('*');
  const out = new Map<string, Buffer>();
  for (let i = 0; i < keys.length; i += 200) {
    const page = keys.slice(i, i + 200);
    const values = await redis.mgetBuffer(...page);
    page.forEach((k, j) => out.set(k.toString('hex'), values[j]!));
  }
  await redis.quit();
  return out;
}

function sameContents(t: Test, got: Map<string, Buffer>, expected: Map<string, Buffer>, what: string): void {
  t.equal(got.size, expected.size, `${what}: every key is there, and no other`);
  let mismatches = 0;
  for (const [k, v] of expected) if (!got.get(k)?.equals(v)) mismatches++;
  t.equal(mismatches, 0, `${what}: every value is byte for byte the source's`);
}

t.test('parse-snapshot | redis-cli --pipe restores into redis-server and into bitraft', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'state.bin');
  const expected = sourceRecords();
  writeIndependent(file, expected);
  const [redis, bitraft] = await Promise.all([startRedisServer(t), startServer(t)]);
  for (const [name, port] of [
    ['redis-server', redis.port],
    ['bitraft', bitraft.port],
  ] as const) {
    const r = await pipeInto(t, file, port);
    t.equal(r.parse, 0, `${name}: parse-snapshot exits 0`);
    t.equal(r.cli, 0, `${name}: redis-cli --pipe exits 0`);
    t.match(r.out, new RegExp(`errors: 0, replies: ${expected.size}\\b`), `${name}: ${r.out.trim()}`);
    sameContents(t, await dump(t, port), expected, name);
  }
});

t.test('the Go fixture restores into bitraft exactly', async (t) => {
  const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'contents.json'), 'utf8')) as { keys: { key_hex: string; value_hex: string }[] };
  const bitraft = await startServer(t);
  const r = await pipeInto(t, path.join(FIXTURE, 'state.bin'), bitraft.port);
  t.equal(r.parse, 0);
  t.equal(r.cli, 0);
  t.match(r.out, /errors: 0, replies: 1000\b/);
  sameContents(t, await dump(t, bitraft.port), new Map(contents.keys.map((k) => [k.key_hex, Buffer.from(k.value_hex, 'hex')])), 'fixture');
});

t.test('a snapshot much larger than the heap streams through in constant memory', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'state.bin');
  // 250 values of 1 MiB (each split across decompressed chunks) and 200,000 small records.
  const big = Buffer.alloc(1024 * 1024, 'all work and no play ');
  const small = Buffer.alloc(100, 'v');
  let expectedBytes = 0;
  let count = 0;
  const resp = (k: Buffer, v: Buffer): number => `*3\r\n$3\r\nSET\r\n$${k.length}\r\n`.length + k.length + `\r\n$${v.length}\r\n`.length + v.length + 2;
  function* records(): Generator<StateRecord> {
    for (let i = 0; i < 200_250; i++) {
      const key = Buffer.from(`key:${i}`);
      const value = i % 800 === 0 ? big : small;
      expectedBytes += resp(key, value);
      count++;
      yield { key, value };
    }
  }
  await writeStateFile(records(), fs.createWriteStream(file), { level: 1 });
  t.ok(expectedBytes > 256 * 1024 * 1024, `${(expectedBytes / 2 ** 20).toFixed(0)} MiB of output`);
  t.ok(fs.statSync(file).size < 20 * 1024 * 1024, 'the file on disk stays small');

  const child = spawn(process.execPath, ['--max-old-space-size=64', BIN, 'parse-snapshot', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let bytes = 0;
  let stderr = '';
  let maxRss = 0;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssOf(child.pid!) ?? 0);
  }, 20);
  child.stdout.on('data', (d: Buffer) => (bytes += d.length));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  clearInterval(sampler);
  t.equal(status, 0, `exit 0 ${stderr}`);
  t.equal(stderr, '');
  t.equal(bytes, expectedBytes, 'every byte of every SET');
  t.ok(maxRss > 0 && maxRss < 200 * 1024 * 1024, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB for ${(bytes / 2 ** 20).toFixed(0)} MiB of output`);
  t.equal(count, 200_250);
});
