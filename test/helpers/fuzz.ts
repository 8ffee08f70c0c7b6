/**
 * The fuzzing harness shared by `test/core/fuzz/*.test.ts`: seeded case generation, byte
 * and JSON mutators, chunkings for streaming decoders, allocation measurement, and the
 * replay of the corpus kept in `test/fixtures/fuzz-corpus/<decoder>.json`.
 *
 * Every stream of cases has a CI size in `FUZZ_BUDGET`; the environment changes a run:
 * - `BITRAFT_FUZZ_INPUTS=N` scales every stream so that the total is about N inputs;
 * - `BITRAFT_FUZZ_SEED=S` sets the base seed (default fixed, so CI is deterministic;
 *   `random` picks one and prints it);
 * - `BITRAFT_FUZZ_CASE=I` runs only case I of each stream (to replay one failure);
 * - `BITRAFT_FUZZ_TRACE=1` prints each case's stream and index before running it, so a
 *   hang (which only the test timeout can stop) can be pinned down;
 * - `BITRAFT_FUZZ_CORPUS_WRITE=1` pins the corpus outcomes of this run (review the diff).
 * A failure names the stream, the case, the seed, the replay command and the input in hex;
 * an input worth keeping goes into the decoder's corpus file as `{ "name", "hex", "note" }`.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { cryptoRng, seededRng, type Rng } from '../../src/core/support/rng.js';

/**
 * Inputs per stream in CI (`npm test`). The cheap decoders take most of them; the ones
 * that touch the disk or gzip take few. Their sum is the CI total.
 */
export const FUZZ_BUDGET: Readonly<Record<string, number>> = Object.freeze({
  'resp-split/requests': 30_000,
  'resp-split/replies': 10_000,
  'resp-request/pipeline': 130_000,
  'resp-request/hostile-header': 40_000,
  'resp-request/inline': 50_000,
  'resp-request/random': 30_000,
  'resp-request/parse-one': 20_000,
  'resp-reply/replies': 90_000,
  'resp-reply/hostile-header': 20_000,
  'resp-reply/random': 15_000,
  'raft-messages/batches': 100_000,
  'raft-messages/random': 40_000,
  'command-data/commands': 110_000,
  'command-data/random': 40_000,
  'conf-change/changes': 20_000,
  'raft-install/commands': 20_000,
  'raft-install/transfers': 120,
  'snapshot-reply/replies': 20_000,
  'bitcask-record/records': 100_000,
  'bitcask-record/random': 30_000,
  'bitcask-record/scan-file': 300,
  'bitcask-hint/hints': 70_000,
  'raft-log/logs': 60_000,
  'raft-log/file': 400,
  'raft-state/files': 1_500,
  'snapshot-state/records': 60_000,
  'snapshot-state/gzip': 1_500,
  'snapshot-meta/meta': 25_000,
  'snapshot-meta/peers': 50_000,
  'snapshot-meta/ids': 40_000,
});

/** The CI total of generated inputs. */
export const FUZZ_CI_TOTAL = Object.values(FUZZ_BUDGET).reduce((a, b) => a + b, 0);

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

/** The base seed of this run. */
export const FUZZ_SEED: number = process.env.BITRAFT_FUZZ_SEED === 'random' ? cryptoRng.int(2 ** 31) : (envInt('BITRAFT_FUZZ_SEED') ?? 20_250_601);
const ONLY_CASE = envInt('BITRAFT_FUZZ_CASE');
const TRACE = process.env.BITRAFT_FUZZ_TRACE === '1';
const SCALE = (envInt('BITRAFT_FUZZ_INPUTS') ?? FUZZ_CI_TOTAL) / FUZZ_CI_TOTAL;
/** Failures reported per stream before it stops. */
const MAX_FAILURES = 3;
/** Inputs longer than this are printed as a prefix only (the seed replays them whole). */
const MAX_HEX_BYTES = 256 * 1024;

/** The number of cases `stream` runs in this run. */
export function fuzzCount(stream: string): number {
  const ci = FUZZ_BUDGET[stream];
  if (ci === undefined) throw new TypeError(`fuzz stream ${stream} has no entry in FUZZ_BUDGET`);
  return Math.max(1, Math.round(ci * SCALE));
}

/** A violated property; the runner reports it with the case's seed and input. */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

/** Throws a FuzzFailure with `message` unless `ok`. */
export function check(ok: unknown, message: string | (() => string)): asserts ok {
  if (!ok) throw new FuzzFailure(typeof message === 'string' ? message : message());
}

/** What a case body gets: its generator and a way to record its input for failure messages. */
export interface FuzzCase {
  readonly rng: Rng;
  readonly index: number;
  /**
   * Records `x` as the case's input, in the form its corpus file keeps (the last one
   * recorded is printed on failure), and returns it.
   */
  input<T extends Uint8Array | string>(x: T): T;
}

/** Hex of `x` for a failure message (a string as UTF-8). */
export function hexOf(x: Uint8Array | string | undefined): string {
  if (x === undefined) return '(none recorded)';
  if (typeof x === 'string') return hexOf(Buffer.from(x, 'utf8'));
  const b = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (b.length <= MAX_HEX_BYTES) return b.toString('hex');
  return `${b.subarray(0, MAX_HEX_BYTES).toString('hex')}… (${b.length} bytes, first ${MAX_HEX_BYTES} shown)`;
}

function caseSeed(stream: string, index: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193);
  return ((h ^ FUZZ_SEED) + index) >>> 0;
}

/** Per-stream statistics of one test file, printed by `fuzzSummary`. */
const streamStats: { stream: string; cases: number; ms: number; slowestMs: number; slowestCase: number }[] = [];

function describe(err: unknown): string {
  if (err instanceof FuzzFailure) return err.message;
  return `unexpected exception: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

interface Runner {
  cases: number[];
  failures: number;
  started: number;
  slowestMs: number;
  slowestCase: number;
}

function start(stream: string): Runner {
  const n = fuzzCount(stream);
  const cases = ONLY_CASE === undefined ? Array.from({ length: n }, (_, i) => i) : [ONLY_CASE];
  return { cases, failures: 0, started: performance.now(), slowestMs: 0, slowestCase: -1 };
}

function report(t: Test, stream: string, r: Runner, i: number, err: unknown, input: FuzzCaseInput): void {
  r.failures++;
  const file = process.argv[1] === undefined ? 'test/core/fuzz' : path.relative(process.cwd(), process.argv[1]);
  t.fail(
    `${stream} case ${i} (seed ${caseSeed(stream, i)}): ${describe(err)}\n` +
      `replay: BITRAFT_FUZZ_SEED=${FUZZ_SEED} BITRAFT_FUZZ_CASE=${i} npx tap --disable-coverage ${file}\n` +
      `input (hex): ${hexOf(input)}`,
  );
}

type FuzzCaseInput = Uint8Array | string | undefined;

function finish(t: Test, stream: string, r: Runner): number {
  const ms = performance.now() - r.started;
  streamStats.push({ stream, cases: r.cases.length, ms, slowestMs: r.slowestMs, slowestCase: r.slowestCase });
  if (r.failures === 0) t.pass(`${stream}: ${r.cases.length} inputs`);
  return r.cases.length;
}

/** Runs `fn` without capturing stack traces (most decoders' rejections are exceptions, and capturing them dominates the cost). */
function withoutStacks<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function newCase(stream: string, i: number, record: (x: FuzzCaseInput) => void): FuzzCase {
  return {
    rng: seededRng(caseSeed(stream, i)),
    index: i,
    input: (x) => {
      record(x);
      return x;
    },
  };
}

function timed(r: Runner, i: number, t0: number): void {
  const dt = performance.now() - t0;
  if (dt > r.slowestMs) {
    r.slowestMs = dt;
    r.slowestCase = i;
  }
}

/**
 * Runs the cases of `stream`: case i gets `seededRng` of a seed derived from the base
 * seed, the stream and i, and fails when `body` throws (a FuzzFailure for a violated
 * property, anything else for a crash). Cases run without stack traces; a failing case
 * runs once more with them, for the report. Stops after a few failures. Returns the count.
 */
export function fuzz(t: Test, stream: string, body: (c: FuzzCase) => void): number {
  const r = start(stream);
  for (const i of r.cases) {
    if (TRACE) process.stderr.write(`fuzz ${stream} case ${i}\n`);
    let recorded: FuzzCaseInput;
    const t0 = performance.now();
    try {
      withoutStacks(() => body(newCase(stream, i, (x) => (recorded = x))));
    } catch (first) {
      let err = first;
      try {
        body(newCase(stream, i, (x) => (recorded = x)));
      } catch (again) {
        err = again;
      }
      report(t, stream, r, i, err, recorded);
      if (r.failures >= MAX_FAILURES) break;
    }
    timed(r, i, t0);
  }
  return finish(t, stream, r);
}

/** `fuzz` for asynchronous decoders: each case is awaited before the next starts (with stack traces). */
export async function fuzzAsync(t: Test, stream: string, body: (c: FuzzCase) => Promise<void>): Promise<number> {
  const r = start(stream);
  for (const i of r.cases) {
    if (TRACE) process.stderr.write(`fuzz ${stream} case ${i}\n`);
    let recorded: FuzzCaseInput;
    const t0 = performance.now();
    try {
      await body(newCase(stream, i, (x) => (recorded = x)));
    } catch (err) {
      report(t, stream, r, i, err, recorded);
      if (r.failures >= MAX_FAILURES) break;
    }
    timed(r, i, t0);
  }
  return finish(t, stream, r);
}

/** Counts of named events of this file (paths exercised, known limitations met), printed by `fuzzSummary`. */
const events = new Map<string, number>();

/**
 * Counts one occurrence of `what`: a path worth knowing the fuzzer reached (e.g. `a
 * transfer was installed`), or a known limitation of a decoder that the oracle tolerates
 * rather than fails on (its text says so and where it is described).
 */
export function tally(what: string): void {
  events.set(what, (events.get(what) ?? 0) + 1);
}

/**
 * Prints, as comments of `t`, each stream's input count, time and slowest case and the
 * tallies since the previous call, then the inputs of this file so far and the base seed
 * (call it from a `t.teardown`).
 */
export function fuzzSummary(t: Test): void {
  for (const s of streamStats.splice(0)) {
    fileTotal += s.cases;
    t.comment(`fuzz ${s.stream}: ${s.cases} inputs in ${Math.round(s.ms)} ms (slowest: case ${s.slowestCase}, ${s.slowestMs.toFixed(1)} ms)`);
  }
  for (const [what, n] of [...events].sort()) t.comment(`fuzz tally: ${what}: ${n}`);
  events.clear();
  t.comment(`fuzz total of this file so far: ${fileTotal} inputs, base seed ${FUZZ_SEED} (BITRAFT_FUZZ_SEED); CI total of every stream ${FUZZ_CI_TOTAL}`);
}

let fileTotal = 0;

// ---- generators ----

/** `n` random bytes; with an `alphabet`, about two thirds of them are drawn from it. */
export function randomBytes(rng: Rng, n: number, alphabet?: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 2) {
    // 16 random bits per byte pair.
    const r = rng.int(0x10000);
    for (let k = 0; k < 2 && i + k < n; k++) {
      const x = (r >>> (8 * k)) & 0xff;
      b[i + k] = alphabet && x % 3 !== 0 ? alphabet[(x >>> 2) % alphabet.length]! : x;
    }
  }
  return b;
}

/** A length in [0, max] that leans small: often 0 or 1, usually short, sometimes up to max. */
export function smallLength(rng: Rng, max: number): number {
  switch (rng.int(8)) {
    case 0:
      return 0;
    case 1:
      return Math.min(1, max);
    case 2:
      return rng.int(max + 1);
    default:
      return rng.int(Math.min(max, 16) + 1);
  }
}

/** One of `items`. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** Strings that often break decoders of text: empty, multi-byte, astral, BOM-led, NUL, long. */
export function randomString(rng: Rng, maxLength = 12): string {
  const parts = ['a', 'Z', '0', ' ', ':', ',', '-', '"', '\\', '\0', 'é', '€', '😀', '\ufeff', '\u2028', 'x'.repeat(40)];
  const n = smallLength(rng, maxLength);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.int(4) === 0 ? String.fromCharCode(0x20 + rng.int(95)) : pick(rng, parts);
  return s;
}

/** Integers at the edges of the widths decoders read (as bigint, so 2^64 − 1 is exact). */
export const INTERESTING_INTEGERS: readonly bigint[] = [
  0n,
  1n,
  2n,
  7n,
  8n,
  16n,
  17n,
  21n,
  25n,
  0x7fn,
  0x80n,
  0xffn,
  0x100n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x10000n,
  0x7fffffn,
  0xffffffn,
  0x1000000n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  512n * 1024n * 1024n,
  512n * 1024n * 1024n + 1n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/** A bigint to write as a length or count: mostly interesting, sometimes near `around`. */
function interestingInteger(rng: Rng, around: number): bigint {
  if (rng.int(4) === 0) return BigInt(Math.max(0, around + rng.int(5) - 2));
  return pick(rng, INTERESTING_INTEGERS);
}

// ---- mutators ----

/** What `mutate` made, and whether it wrote a large integer somewhere (a candidate for allocation checks). */
export interface Mutated {
  bytes: Buffer;
  /** An integer of 2^20 or more was written into the input. */
  huge: boolean;
}

/** Options of `mutate`. */
export interface MutateOptions {
  /** Tokens worth inserting or overwriting with (e.g. `*`, `\r\n`, `-1` for RESP). */
  dictionary?: readonly Buffer[];
  /** Another input to splice with. */
  other?: Buffer;
  /** Most mutations per input (default 4). */
  maxOps?: number;
  /** Longest result; longer results are cut (default 64 KiB). */
  maxLength?: number;
}

/**
 * Applies 1 to `maxOps` random mutations to a copy of `input`: bit flips, byte sets,
 * insertions of random bytes or dictionary tokens, deletions, duplicated or repeated
 * segments, truncations, splices with `other`, and integers at the edges (0, 2^31 − 1,
 * 2^32 − 1, 2^53, 2^64 − 1, the input's length…) written little- or big-endian in 1, 2, 4
 * or 8 bytes at a random offset. Never returns the input itself.
 */
export function mutate(rng: Rng, input: Buffer, options: MutateOptions = {}): Mutated {
  const dict = options.dictionary ?? [];
  const maxLength = options.maxLength ?? 64 * 1024;
  let b = Buffer.from(input);
  let huge = false;
  const ops = 1 + rng.int(rng.int(8) === 0 ? 16 : (options.maxOps ?? 4));
  for (let k = 0; k < ops; k++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(dict.length > 0 ? 12 : 10)) {
      case 0: // flip one bit
        if (b.length > 0) b[rng.int(b.length)]! ^= 1 << rng.int(8);
        break;
      case 1: // set one byte
        if (b.length > 0) b[rng.int(b.length)] = pick(rng, [0, 0xff, 0x7f, 0x80, rng.int(256)]);
        break;
      case 2: // insert random bytes
        b = Buffer.concat([b.subarray(0, at), randomBytes(rng, 1 + rng.int(8)), b.subarray(at)]);
        break;
      case 3: {
        // delete a range
        const n = 1 + rng.int(16);
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]);
        break;
      }
      case 4: {
        // duplicate a segment somewhere
        const from = rng.int(b.length + 1);
        const seg = Buffer.from(b.subarray(from, from + 1 + rng.int(32)));
        b = Buffer.concat([b.subarray(0, at), seg, b.subarray(at)]);
        break;
      }
      case 5: // truncate
        b = b.subarray(0, at);
        break;
      case 6: {
        // an edge integer
        const value = interestingInteger(rng, b.length);
        if (value >= 1n << 20n) huge = true;
        const width = pick(rng, [1, 2, 4, 8]);
        const bytes = Buffer.alloc(8);
        bytes.writeBigUInt64LE(value & 0xffff_ffff_ffff_ffffn);
        const field = rng.int(3) === 0 ? Buffer.from(bytes.subarray(0, width)).reverse() : bytes.subarray(0, width);
        if (b.length === 0) b = Buffer.from(field);
        else field.copy(b, rng.int(b.length), 0, width);
        break;
      }
      case 7: {
        // splice with another input (or with itself)
        const other = options.other ?? b;
        const cut = rng.int(other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
        break;
      }
      case 8: {
        // repeat a short segment many times
        const from = rng.int(b.length + 1);
        const seg = b.subarray(from, from + 1 + rng.int(8));
        b = Buffer.concat([b.subarray(0, at), Buffer.concat(Array.from({ length: 2 + rng.int(64) }, () => seg)), b.subarray(at)]);
        break;
      }
      case 9: // random tail
        b = Buffer.concat([b, randomBytes(rng, 1 + rng.int(16))]);
        break;
      case 10: // insert a dictionary token
        b = Buffer.concat([b.subarray(0, at), pick(rng, dict), b.subarray(at)]);
        break;
      default: {
        // overwrite with a dictionary token
        const tok = pick(rng, dict);
        b = Buffer.concat([b.subarray(0, at), tok, b.subarray(Math.min(b.length, at + tok.length))]);
      }
    }
    if (b.length > maxLength) b = b.subarray(0, maxLength);
  }
  if (b.equals(input)) b = Buffer.concat([b, Buffer.from([rng.int(256)])]);
  return { bytes: Buffer.from(b), huge };
}

/** JSON values that break validators: wrong types, edges of safe integers, -0, deep nesting. */
export function hostileJsonValue(rng: Rng): unknown {
  switch (rng.int(16)) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 0;
    case 2:
      return -1;
    case 3:
      return 1.5;
    case 4:
      return 2 ** 53;
    case 5:
      return 2 ** 64;
    case 6:
      return 1e300;
    case 7:
      return '';
    case 8:
      return randomString(rng);
    case 9:
      return [];
    case 10:
      return {};
    case 11:
      return [randomString(rng), rng.int(10)];
    case 12:
      return { [randomString(rng, 4)]: rng.int(100) };
    case 13:
      return String(rng.int(1000));
    case 14:
      return rng.int(2 ** 32);
    default:
      // Deeper than JSON.stringify can go, now and then.
      return new DeepNesting(rng.int(4) === 0 ? 12_000 : 20);
  }
}

/**
 * Stands for `depth` nested arrays in a JSON value: `jsonText` writes it as
 * `[[[…0…]]]`, which `JSON.stringify` could not do past a few thousand levels.
 */
export class DeepNesting {
  constructor(readonly depth: number) {}
}

/** `JSON.stringify(value)`, writing each DeepNesting as its nested arrays. */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof DeepNesting ? `\u0000deep${v.depth}\u0000` : v)) ?? 'null';
  return text.replace(/"\\u0000deep(\d+)\\u0000"/g, (_m, n: string) => `${'['.repeat(Number(n))}0${']'.repeat(Number(n))}`);
}

/**
 * A copy of the JSON value `value` with 1 to 3 structural mutations: a member or element
 * replaced by a hostile value, deleted, or added, or a key renamed. Write it with `jsonText`.
 */
export function mutateJson(rng: Rng, value: unknown): unknown {
  const root = { v: structuredClone(value) as unknown };
  const ops = 1 + rng.int(3);
  for (let k = 0; k < ops; k++) {
    // Walk down a random path, stopping at a random depth.
    let parent: Record<string, unknown> | unknown[] = root as Record<string, unknown>;
    let key: string | number = 'v';
    for (let depth = 0; depth < 6; depth++) {
      const cur: unknown = (parent as Record<string, unknown>)[key as string];
      if (cur === null || typeof cur !== 'object' || cur instanceof DeepNesting || rng.int(3) === 0) break;
      const keys: (string | number)[] = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
      if (keys.length === 0) break;
      parent = cur as Record<string, unknown>;
      key = pick(rng, keys);
    }
    const target = parent as Record<string | number, unknown>;
    switch (rng.int(4)) {
      case 0:
        if (Array.isArray(target)) target.splice(key as number, 1);
        else delete target[key];
        break;
      case 1: {
        const cur = target[key];
        if (cur instanceof DeepNesting) target[key] = hostileJsonValue(rng);
        else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) (cur as Record<string, unknown>)[pick(rng, ['extra', '__proto__', 'constructor', randomString(rng, 4)])] = hostileJsonValue(rng);
        else if (Array.isArray(cur)) cur.push(hostileJsonValue(rng));
        else target[key] = hostileJsonValue(rng);
        break;
      }
      case 2:
        if (!Array.isArray(target) && key !== 'v') {
          const v = target[key];
          delete target[key];
          target[pick(rng, [String(key).toLowerCase(), String(key).toUpperCase(), `${String(key)} `, ''])] = v;
        } else target[key] = hostileJsonValue(rng);
        break;
      default:
        target[key] = hostileJsonValue(rng);
    }
  }
  return root.v;
}

// ---- chunkings ----

/** Chunks of `input` cut at random points; sizes lean small but sometimes span much of it. */
export function randomSplit(rng: Rng, input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const max = rng.int(4) === 0 ? input.length : 16;
    const n = 1 + rng.int(Math.max(1, Math.min(max, input.length - at)));
    out.push(input.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** One-byte chunks. */
export function bytewise(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

/**
 * The ways to feed `input` to a streaming decoder besides whole: at random points, and
 * for one short input in four also byte by byte. Each chunk is a fresh copy, so a decoder
 * that keeps a view of a chunk it should have copied shows.
 */
export function chunkings(rng: Rng, input: Buffer): Buffer[][] {
  const copy = (chunks: Buffer[]): Buffer[] => chunks.map((c) => Buffer.from(c));
  const out = [copy(randomSplit(rng, input))];
  if (input.length <= 256 && rng.int(4) === 0) out.push(copy(bytewise(input)));
  return out;
}

// ---- allocation ----

/** Bytes a decoder may allocate beyond 64 × its input before it counts as unbounded. */
export const ALLOCATION_SLACK = 64 * 1024 * 1024;

type Allocator = (size: number, ...rest: never[]) => Buffer;
const ALLOCATORS = ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const;

/**
 * Records the largest size asked of `Buffer.alloc`, `allocUnsafe` and `allocUnsafeSlow`
 * until the returned function is called (which restores them and returns it). Unlike a
 * memory delta, a garbage collection in between cannot hide a large request.
 */
function watchBufferAllocations(): () => number {
  let largest = 0;
  const saved = ALLOCATORS.map((name) => Buffer[name] as Allocator);
  ALLOCATORS.forEach((name, i) => {
    const original = saved[i]!;
    (Buffer as unknown as Record<string, Allocator>)[name] = (size: number, ...rest: never[]) => {
      if (size > largest) largest = size;
      return original.call(Buffer, size, ...rest);
    };
  });
  return () => {
    ALLOCATORS.forEach((name, i) => ((Buffer as unknown as Record<string, Allocator>)[name] = saved[i]!));
    return largest;
  };
}

/**
 * Runs `fn` and fails unless the largest Buffer it asked for, the growth of the memory
 * outside the JS heap (ArrayBuffers, as V8 counts it) and the growth of the JS heap are
 * each at most `ALLOCATION_SLACK + 64 × inputBytes`. Results are kept alive until
 * measured, so a decoder holding a buffer sized by a declared length shows, even if it
 * never writes to it.
 */
export function boundedAllocation<T>(inputBytes: number, fn: () => T): T {
  const before = v8.getHeapStatistics();
  const stop = watchBufferAllocations();
  let largest: number;
  let value: T;
  try {
    value = fn();
  } finally {
    largest = stop();
  }
  checkGrowth(inputBytes, before, v8.getHeapStatistics(), largest);
  return value;
}

/** `boundedAllocation` for an asynchronous decoder (nothing else may run meanwhile). */
export async function boundedAllocationAsync<T>(inputBytes: number, fn: () => Promise<T>): Promise<T> {
  const before = v8.getHeapStatistics();
  const stop = watchBufferAllocations();
  let largest: number;
  let value: T;
  try {
    value = await fn();
  } finally {
    largest = stop();
  }
  checkGrowth(inputBytes, before, v8.getHeapStatistics(), largest);
  return value;
}

function checkGrowth(inputBytes: number, before: v8.HeapInfo, after: v8.HeapInfo, largest: number): void {
  const bound = ALLOCATION_SLACK + 64 * inputBytes;
  check(largest <= bound, () => `asked for a Buffer of ${largest} bytes for ${inputBytes} bytes of input (bound ${bound})`);
  const buffers = after.external_memory - before.external_memory;
  const heap = after.used_heap_size - before.used_heap_size;
  check(buffers <= bound, () => `allocated ${buffers} bytes of buffers for ${inputBytes} bytes of input (bound ${bound})`);
  check(heap <= bound, () => `grew the heap by ${heap} bytes for ${inputBytes} bytes of input (bound ${bound})`);
}

// ---- corpus ----

/** One kept input of a decoder's corpus. */
export interface CorpusEntry {
  /** Short kebab-case name. */
  name: string;
  /** The input bytes in hex. */
  hex: string;
  /** Why it is kept: a bug it found, or the edge it pins. */
  note?: string;
  /** The oracle's summary of the outcome, when pinned. */
  expect?: string;
  /**
   * A known limitation this input shows and where it is described: its outcome is not
   * pinned (the corpus rewrite leaves `expect` out), only the oracle's checks run.
   */
  known?: string;
}

/** Where the corpora live. */
export const CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fuzz-corpus');

/** The corpus of `decoder` (`test/fixtures/fuzz-corpus/<decoder>.json`). */
export function loadCorpus(decoder: string): CorpusEntry[] {
  const file = path.join(CORPUS_DIR, `${decoder}.json`);
  const entries = JSON.parse(fs.readFileSync(file, 'utf8')) as CorpusEntry[];
  const names = new Set<string>();
  for (const e of entries) {
    if (typeof e.name !== 'string' || typeof e.hex !== 'string' || !/^([0-9a-f]{2})*$/.test(e.hex)) throw new TypeError(`${file}: malformed entry ${JSON.stringify(e)}`);
    if (names.has(e.name)) throw new TypeError(`${file}: duplicate name ${e.name}`);
    names.add(e.name);
  }
  return entries;
}

/** Set to 1 to rewrite each corpus file with the outcomes of this run as `expect` (then review the diff). */
const REWRITE = process.env.BITRAFT_FUZZ_CORPUS_WRITE === '1';

function checkEntry(t: Test, decoder: string, e: CorpusEntry, outcome: { summary: string } | { err: unknown }): void {
  if ('err' in outcome) t.fail(`${decoder} corpus ${e.name}: ${describe(outcome.err)}\ninput (hex): ${e.hex}`);
  else if (REWRITE) {
    if (e.known === undefined) e.expect = outcome.summary;
  } else if (e.expect !== undefined) t.equal(outcome.summary, e.expect, `${decoder} corpus ${e.name}`);
}

function finishCorpus(t: Test, decoder: string, entries: CorpusEntry[]): void {
  if (REWRITE) fs.writeFileSync(path.join(CORPUS_DIR, `${decoder}.json`), `${JSON.stringify(entries, null, 2)}\n`);
  t.pass(`${decoder}: replayed ${entries.length} corpus inputs`);
}

/**
 * Replays the corpus of `decoder` through `oracle` (the same checks the fuzzer runs, with
 * a fixed seed for the chunkings) and compares each pinned summary; with
 * `BITRAFT_FUZZ_CORPUS_WRITE=1`, pins the summaries of this run instead.
 */
export function replayCorpus(t: Test, decoder: string, oracle: (input: Buffer, rng: Rng) => string): void {
  const entries = loadCorpus(decoder);
  for (const e of entries) {
    let outcome: { summary: string } | { err: unknown };
    try {
      outcome = { summary: oracle(Buffer.from(e.hex, 'hex'), seededRng(1)) };
    } catch (err) {
      outcome = { err };
    }
    checkEntry(t, decoder, e, outcome);
  }
  finishCorpus(t, decoder, entries);
}

/** `replayCorpus` for an asynchronous oracle. */
export async function replayCorpusAsync(t: Test, decoder: string, oracle: (input: Buffer, rng: Rng) => Promise<string>): Promise<void> {
  const entries = loadCorpus(decoder);
  for (const e of entries) {
    let outcome: { summary: string } | { err: unknown };
    try {
      outcome = { summary: await oracle(Buffer.from(e.hex, 'hex'), seededRng(1)) };
    } catch (err) {
      outcome = { err };
    }
    checkEntry(t, decoder, e, outcome);
  }
  finishCorpus(t, decoder, entries);
}
