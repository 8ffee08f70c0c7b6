/**
 * The storage benchmark's data: deterministic 16-byte keys and 100-byte values.
 *
 * Key `i` is a pure function of `(i, seed)`: 8 hex digits of a bijective 32-bit hash of
 * `i` (so keys never collide) followed by 8 hex digits of another hash. Writing keys in
 * index order therefore writes them in a random key order that is the same every run,
 * and a child process can rebuild any key without the rest of the set.
 */
import { seededRng } from '../src/core/support/rng.js';

/** Bytes per key. */
export const KEY_SIZE = 16;
/** Bytes per value. */
export const VALUE_SIZE = 100;
/** The fixed seed of every generated sequence. */
export const SEED = 0x5eed_b17;
/** Number of distinct values cycled through by the writes (a power of two). */
export const VALUE_POOL = 1024;

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** murmur3's 32-bit finalizer: a bijection on 32-bit integers. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function writeHex32(out: Buffer, at: number, v: number): void {
  for (let d = 7; d >= 0; d--) {
    out[at + d] = HEX[v & 15]!;
    v >>>= 4;
  }
}

/** Writes key `i` (KEY_SIZE bytes) into `out` at `at`. */
export function writeKey(i: number, seed: number, out: Buffer, at = 0): void {
  writeHex32(out, at, fmix32((i ^ seed) >>> 0));
  writeHex32(out, at + 8, fmix32((Math.imul(i, 0x9e3779b9) ^ (seed * 31)) >>> 0));
}

/** The generated data of one run. */
export interface Workload {
  count: number;
  /** `keys[i]` is key `i`; keys are written in this (random-looking, fixed) order. */
  keys: Buffer[];
  /** `VALUE_POOL` distinct random values; write `i` uses `values[i & (VALUE_POOL - 1)]`. */
  values: Buffer[];
  /** A random permutation of `0..count-1`: the order of the get phase. */
  readOrder: Uint32Array;
}

/** Builds `count` keys, the value pool and a read order, all from `seed`. */
export function makeWorkload(count: number, seed = SEED): Workload {
  const keyBytes = Buffer.allocUnsafe(count * KEY_SIZE);
  const keys = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) {
    writeKey(i, seed, keyBytes, i * KEY_SIZE);
    keys[i] = keyBytes.subarray(i * KEY_SIZE, (i + 1) * KEY_SIZE);
  }
  const rng = seededRng(seed);
  const valueBytes = Buffer.allocUnsafe(VALUE_POOL * VALUE_SIZE);
  for (let i = 0; i < valueBytes.length; i++) valueBytes[i] = rng.int(256);
  const values = Array.from({ length: VALUE_POOL }, (_, j) => valueBytes.subarray(j * VALUE_SIZE, (j + 1) * VALUE_SIZE));
  return { count, keys, values, readOrder: permutation(count, seed + 1) };
}

/** A random permutation of `0..n-1` (Fisher–Yates) from `seed`. */
export function permutation(n: number, seed: number): Uint32Array {
  const rng = seededRng(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
