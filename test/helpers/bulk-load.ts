/**
 * Bulk loading of a server (bitraft or redis-server) through `redis-cli --pipe`: the
 * keys `key:<i>` with a deterministic value of about 100 bytes each, generated as RESP
 * and streamed into redis-cli's stdin (never held in memory as a whole). Shared by the
 * restart suite and the integration test of snapshots under load.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { HOST, killPid } from './processes.js';

/** Bytes of every value `loadValue` makes. */
export const LOAD_VALUE_BYTES = 100;

/** The key number `i` is stored under. */
export function loadKey(i: number): string {
  return `key:${i}`;
}

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * The value of key `i`: `LOAD_VALUE_BYTES` bytes of text, `v<i>:` then pseudo-random
 * base-36 characters drawn from a generator seeded by `i` — the same on every run, and
 * no two values sharing a run of text, so a snapshot compresses them about as much as
 * real text values (≈ 1.5×), not by finding repeats.
 */
export function loadValue(i: number): string {
  let out = `v${i}:`;
  let x = (Math.imul(i + 1, 0x9e3779b9) ^ 0x85ebca6b) >>> 0 || 1;
  while (out.length < LOAD_VALUE_BYTES) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out += BASE36[(x >>> 0) % 36];
  }
  return out;
}

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** Resolves once `stream` drains or closes. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/** What to load. */
export interface LoadSpec {
  /** Keys `key:<from>` … `key:<from + count - 1>`. */
  count: number;
  from?: number;
  /** Keys per command: 1 sends `SET`, more send `MSET` (one Raft entry per command on bitraft). */
  perCommand?: number;
  /** The key number `i` is stored under; `loadKey` unless given. The value is `loadValue(i)` either way. */
  key?: (i: number) => string;
  /** redis-cli is killed after this long. */
  timeoutMs?: number;
}

/** The RESP commands of `spec`, in chunks of about 1 MB. */
export function* loadCommands(spec: LoadSpec): Generator<string> {
  const from = spec.from ?? 0;
  const end = from + spec.count;
  const per = Math.max(1, spec.perCommand ?? 1);
  const key = spec.key ?? loadKey;
  let chunk = '';
  for (let i = from; i < end; i += per) {
    const n = Math.min(per, end - i);
    chunk += n === 1 ? `*3\r\n$3\r\nSET\r\n` : `*${1 + 2 * n}\r\n$4\r\nMSET\r\n`;
    for (let j = i; j < i + n; j++) chunk += bulk(key(j)) + bulk(loadValue(j));
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

/** How many commands `spec` sends. */
export function commandCount(spec: LoadSpec): number {
  return Math.ceil(spec.count / Math.max(1, spec.perCommand ?? 1));
}

/**
 * Streams `spec` into `redis-cli -p <port> --pipe` and waits for it. Throws unless
 * redis-cli exits 0 reporting `errors: 0` and one reply per command.
 */
export async function bulkLoad(port: number, spec: LoadSpec): Promise<void> {
  const child = spawn('redis-cli', ['-h', HOST, '-p', String(port), '--pipe'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  const killAtExit = (): void => {
    if (pid !== undefined) killPid(pid, 'SIGKILL');
  };
  process.once('exit', killAtExit);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const timeoutMs = spec.timeoutMs ?? 300_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killAtExit();
  }, timeoutMs);
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  closed.catch(() => {});
  try {
    child.stdin.on('error', () => {});
    for (const chunk of loadCommands(spec)) {
      if (child.stdin.destroyed) break;
      if (!child.stdin.write(chunk)) await drained(child.stdin);
    }
    child.stdin.end();
    const code = await closed;
    const expected = commandCount(spec);
    const summary = /errors: (\d+), replies: (\d+)/.exec(out);
    if (timedOut) throw new Error(`redis-cli --pipe to port ${port} killed after ${timeoutMs} ms\n${out.slice(-2000)}`);
    if (code !== 0 || !summary || summary[1] !== '0' || Number(summary[2]) !== expected) {
      throw new Error(`redis-cli --pipe to port ${port} exited ${code}, expected errors: 0, replies: ${expected}\n${out.slice(-2000)}`);
    }
  } finally {
    clearTimeout(timer);
    process.off('exit', killAtExit);
    if (child.exitCode === null && child.signalCode === null) killAtExit();
  }
}
