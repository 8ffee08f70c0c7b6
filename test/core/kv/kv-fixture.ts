import { Bitcask, type BitcaskOptions } from '../../../src/core/bitcask/index.js';
import { KvMachine } from '../../../src/core/kv/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

/**
 * Helpers of the key/value tests. Arguments given as strings are latin1 (one char per
 * byte), so '\xff' is the byte 0xff.
 */

/** A reply as plain data, for `t.strictSame`: bulk → latin1 string, null bulk → null. */
export type Plain = string | number | bigint | null | { simple: string } | { error: string } | { nullArray: true } | Plain[];

export function plain(r: Reply): Plain {
  switch (r.type) {
    case 'simple':
      return { simple: r.value };
    case 'error':
      return { error: r.text };
    case 'integer':
      return r.value;
    case 'bulk':
      return r.value.toString('latin1');
    case 'null-bulk':
      return null;
    case 'null-array':
      return { nullArray: true };
    case 'array':
      return r.items.map(plain);
  }
}

/** Expected `+OK`. */
export const OK_: Plain = { simple: 'OK' };

/** Expected error reply. */
export function err(text: string): Plain {
  return { error: text };
}

/** Latin1 string (or bytes) as bytes. */
export function b(s: string | Buffer): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
}

/** Arguments as Buffers. */
export function argv(...args: (string | Buffer)[]): Buffer[] {
  return args.map(b);
}

/** A KvMachine over a fresh Bitcask in a temp dir, closed when the test ends. */
export interface KvFixture {
  dir: string;
  store: Bitcask;
  machine: KvMachine;
  /** The machine's clock, ms since the epoch: set `ms` to move time. */
  clock: { ms: number };
  /** `machine.apply(args)` as plain data, as an entry stamped with `clock.ms`. */
  run(...args: (string | Buffer)[]): Plain;
  /** `machine.read(args)` as plain data (at the machine's read time). */
  read(...args: (string | Buffer)[]): Plain;
  /** `machine.check(args)` as plain data (undefined when accepted). */
  check(...args: (string | Buffer)[]): Plain | undefined;
  /** Every live key → value, keys and values as latin1. */
  contents(): Record<string, string>;
}

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export async function openKv(t: Teardown, opts: BitcaskOptions = {}, dir: string = tmpDir(t)): Promise<KvFixture> {
  const store = await Bitcask.open(dir, { sync: 'none', ...opts });
  t.teardown(() => store.close());
  return fixtureOf(dir, store);
}

/** The time a fixture's clock starts at: 2023-11-14T22:13:20Z. */
export const FIXTURE_START_MS = 1_700_000_000_000;

export function fixtureOf(dir: string, store: Bitcask): KvFixture {
  const clock = { ms: FIXTURE_START_MS };
  const machine = new KvMachine(store, () => clock.ms);
  return {
    dir,
    store,
    machine,
    clock,
    run: (...args) => plain(machine.apply(argv(...args), undefined, clock.ms)),
    read: (...args) => plain(machine.read(argv(...args))),
    check: (...args) => {
      const r = machine.check(argv(...args));
      return r === undefined ? undefined : plain(r);
    },
    contents: () => {
      const out: Record<string, string> = {};
      for (const [k, v] of store.entries()) out[k.toString('latin1')] = v.toString('latin1');
      return out;
    },
  };
}
