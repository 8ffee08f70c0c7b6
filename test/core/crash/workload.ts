/**
 * What the crash workloads share: the oracle of a key/value store's acknowledged writes,
 * the simulation of the crashed process (its lock is stale), and the loop that checks
 * every crash state of a recording and reports the counts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { LOCK_FILE } from '../../../src/core/bitcask/index.js';
import type { StateRecord } from '../../../src/core/snapshot/index.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { crashStates, type CrashFsRecorder, type CrashState, type CrashStateOptions } from '../../helpers/crash-fs.js';
import { fastTmpDir } from '../../helpers/bitcask.js';

/** A pid no process has (above Linux's largest): what the lock of a crashed process names. */
export const DEAD_PID = 99_999_999;

/**
 * Makes `storeDir` look as a crash of this process leaves it: a lock naming this process
 * (alive, since the crash is simulated) names a dead one instead, as it would after a real
 * crash; the store's open then takes it over.
 */
export function asAfterCrash(storeDir: string): void {
  const lock = path.join(storeDir, LOCK_FILE);
  if (fs.existsSync(lock) && fs.readFileSync(lock, 'latin1').trim() === String(process.pid)) fs.writeFileSync(lock, `${DEAD_PID}\n`);
}

/** `size` bytes derived from `tag`, so that every write's value differs. */
export function value(tag: number, size: number): Buffer {
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = (tag * 131 + i * 7 + (i >> 8)) & 0xff;
  return v;
}

/** `n` records of incompressible bytes, so state.bin spans several KiB. */
export function records(seed: number, n: number): StateRecord[] {
  const rng = seededRng(seed);
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rng.int(256)));
  return Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`key${i}`), value: bytes(200 + rng.int(600)) }));
}

/** The records in batches of 5, as an async iterable. */
export async function* batches(recs: StateRecord[]): AsyncGenerator<StateRecord[]> {
  for (let i = 0; i < recs.length; i += 5) yield recs.slice(i, i + 5);
}

interface Write {
  key: string;
  /** undefined for a delete. */
  value: Buffer | undefined;
  /** Log position when issued: no state before it can hold the write. */
  pos: number;
  /** Index of the mark that acknowledged it. */
  ack?: number;
}

/**
 * The writes made to a key/value store and which were acknowledged. In a crash state
 * after `k` operations, a key must hold the value of its last write acknowledged before
 * `k`, or of a write issued after that one (not acknowledged: it may or may not have
 * reached the disk); a key never acknowledged may also still hold its initial value.
 */
export class KvOracle {
  private readonly byKey = new Map<string, Write[]>();
  private readonly writes: Write[] = [];

  /** `initial`: the durable contents when recording began. */
  constructor(private readonly initial: ReadonlyMap<string, Buffer> = new Map()) {}

  /** Writes issued so far: pass it to `ack` to acknowledge those issued before a sync was called. */
  get issued(): number {
    return this.writes.length;
  }

  /** Notes a put (`value`) or a delete (undefined) of `key`, issued now. */
  write(rec: CrashFsRecorder, key: string, value: Buffer | undefined): void {
    const w: Write = { key, value, pos: rec.position };
    this.writes.push(w);
    let list = this.byKey.get(key);
    if (!list) this.byKey.set(key, (list = []));
    list.push(w);
  }

  /** Acknowledges the first `upTo` writes (those issued before the sync that just resolved), with a mark. */
  ack(rec: CrashFsRecorder, upTo: number, label: string): void {
    const mark = rec.mark(label);
    for (const w of this.writes.slice(0, upTo)) w.ack ??= mark;
  }

  /** The values `key` may hold after `k` operations (undefined: absent). */
  allowed(key: string, k: number): (Buffer | undefined)[] {
    const ws = (this.byKey.get(key) ?? []).filter((w) => w.pos <= k);
    let last = -1;
    ws.forEach((w, i) => {
      if (w.ack !== undefined && w.ack < k) last = i;
    });
    const values = ws.slice(Math.max(0, last)).map((w) => w.value);
    return last < 0 ? [this.initial.get(key), ...values] : values;
  }

  /** The first key whose value `contents` may not hold after `k` operations, described; undefined when all are allowed. */
  check(contents: ReadonlyMap<string, Buffer>, k: number): string | undefined {
    const keys = new Set([...this.byKey.keys(), ...this.initial.keys(), ...contents.keys()]);
    for (const key of [...keys].sort()) {
      const actual = contents.get(key);
      const allowed = this.allowed(key, k);
      if (allowed.some((v) => (v === undefined ? actual === undefined : actual !== undefined && v.equals(actual)))) continue;
      return `key ${JSON.stringify(key)} holds ${show(actual)}; allowed: ${allowed.map(show).join(' or ')}`;
    }
    return undefined;
  }
}

function show(v: Buffer | undefined): string {
  return v === undefined ? 'nothing' : `${v.length} bytes ${v.subarray(0, 8).toString('hex')}${v.length > 8 ? '…' : ''}`;
}

/** What `checkCrashStates` found. */
export interface CrashReport {
  operations: number;
  candidates: number;
  distinct: number;
  checked: number;
  vulnerabilities: string[];
}

/**
 * Stops `rec`, materialises every crash state of its log and runs `check` on each: it
 * returns what is wrong, or undefined; a throw counts as a failed reopen. Prints the
 * counts as a comment and asserts that no state is vulnerable.
 */
export async function checkCrashStates(
  t: Test,
  name: string,
  rec: CrashFsRecorder,
  check: (state: CrashState) => Promise<string | undefined>,
  options: CrashStateOptions = {},
): Promise<CrashReport> {
  rec.stop();
  const states = crashStates(rec.log, rec.initial, { base: fastTmpDir(t, 'crash-states-'), ...options });
  const vulnerabilities: string[] = [];
  let checked = 0;
  for (const state of states) {
    checked++;
    let problem: string | undefined;
    try {
      problem = await check(state);
    } catch (err) {
      problem = `reopen failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (problem !== undefined) vulnerabilities.push(`k=${state.k} ${state.kind} (${state.describe}): ${problem}`);
  }
  const report = { operations: rec.operations, candidates: states.candidates, distinct: states.distinct, checked, vulnerabilities };
  t.comment(
    `${name}: ${report.operations} operations recorded, ${report.candidates} crash states enumerated (${report.distinct} distinct), ${checked} checked, ${vulnerabilities.length} vulnerabilities`,
  );
  t.same(vulnerabilities.slice(0, 20), [], `${name}: every crash state reopens with every acknowledged write`);
  return report;
}
