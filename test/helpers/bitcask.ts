import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bitcask, LOCK_FILE, type BitcaskOptions } from '../../src/core/bitcask/index.js';
import { parseDataFileName, compareFileIds } from '../../src/core/bitcask/file-id.js';

/** Helpers shared by the Bitcask engine tests. Keys and values are latin1, one char per byte. */

/** A latin1 string as bytes. */
export function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Bytes as a latin1 string (the keydir's key form). */
export function s(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
}

/** Every live key and value of an open store, keys as latin1 strings. */
export function readAll(store: Bitcask): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of store.entries()) out.set(s(k), Buffer.from(v));
  return out;
}

/** Opens `dir`, reads everything, closes. */
export async function contentsOf(dir: string, opts: BitcaskOptions = {}): Promise<Map<string, Buffer>> {
  const store = await Bitcask.open(dir, opts);
  try {
    return readAll(store);
  } finally {
    await store.close();
  }
}

/** A readable, comparable form of contents: hex key → value (short values in full, long ones by digest). */
export function printable(m: Map<string, Buffer>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [...m.keys()].sort()) {
    const v = m.get(k)!;
    out[`${JSON.stringify(k)}`] = v.length <= 40 ? `${v.length}:${v.toString('hex')}` : `${v.length}:sha1=${sha1(v)}`;
  }
  return out;
}

/** The first difference between two contents, or undefined when equal. */
export function diffContents(actual: Map<string, Buffer>, expected: Map<string, Buffer>): string | undefined {
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (a === undefined) return `key ${JSON.stringify(k)} missing (expected ${v.length} bytes)`;
    if (!a.equals(v)) return `key ${JSON.stringify(k)}: got ${a.length} bytes ${preview(a)}, expected ${v.length} bytes ${preview(v)}`;
  }
  for (const [k, a] of actual) {
    if (!expected.has(k)) return `unexpected key ${JSON.stringify(k)} (${a.length} bytes ${preview(a)})`;
  }
  return undefined;
}

function preview(v: Buffer): string {
  return v.subarray(0, 16).toString('hex') + (v.length > 16 ? '…' : '');
}

export function sha1(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}

/** Copies a store directory as a crash would leave it: every file, minus the lock of this (live) process. */
export function copyStoreDir(src: string, dst: string): void {
  fs.cpSync(src, dst, { recursive: true });
  fs.rmSync(path.join(dst, LOCK_FILE), { force: true });
}

/** Data file names of `dir` in load order. */
export function dataFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .map((name) => ({ name, id: parseDataFileName(name) }))
    .filter((x) => x.id !== undefined)
    .sort((a, c) => compareFileIds(a.id!, c.id!))
    .map((x) => x.name);
}

/** Name → sha1 of every file in `dir` (to check that nothing changed). */
export function dirDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) out[name] = sha1(fs.readFileSync(path.join(dir, name)));
  return out;
}

/** Names in `dir` ending with `.tmp`. */
export function tmpFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
}

/** Resolves after the current event-loop turn's immediates (the store's turn-end work) ran. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Like `tmpDir`, but on a RAM file system (/dev/shm) when there is one, where fsync is
 * free: for tests of logic that open, rotate and merge thousands of times. Durability
 * tests use `tmpDir`.
 */
export function fastTmpDir(t: { teardown(fn: () => void): void }, prefix = 'bitraft-'): string {
  let base = os.tmpdir();
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    if (fs.statSync('/dev/shm').isDirectory()) base = '/dev/shm';
  } catch {
    // No RAM file system: the ordinary temp dir works, only slower.
  }
  const dir = fs.mkdtempSync(path.join(base, prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Opens a store in `dir` (closed when the test ends) and writes each of `keys` keys
 * `rounds` times (40-byte values, new ones each round), then seals the active file: every
 * round but the last is dead bytes in immutable files. Returns the store and its model.
 */
export async function overwrittenStore(
  t: { teardown(fn: () => unknown): void },
  dir: string,
  opts: BitcaskOptions,
  keys: number,
  rounds: number,
): Promise<{ store: Bitcask; model: Map<string, Buffer> }> {
  const store = await Bitcask.open(dir, opts);
  t.teardown(() => store.close().catch(() => undefined));
  const model = new Map<string, Buffer>();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < keys; i++) {
      const v = b(`${round}:${i}:`.padEnd(40, 'v'));
      store.put(b(`k${i}`), v);
      model.set(`k${i}`, v);
    }
  }
  store.rotate();
  return { store, model };
}
