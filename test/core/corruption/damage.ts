/**
 * The damage of the corruption campaign: which file of a node's directory, and how — one
 * bit flipped, one byte set to another value, or the last 1 to 1,024 bytes cut off.
 */
import type { Rng } from '../../../src/core/support/rng.js';

/** The kinds of files damaged. */
export const FILE_KINDS = ['data', 'hint', 'log', 'snapshot', 'raft-state'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

/** The kinds of damage. */
export const MUTATIONS = ['bit flip', 'byte set', 'truncation'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** One damage to one file. */
export interface Damage {
  readonly kind: FileKind;
  /** Path relative to the node's directory. */
  readonly file: string;
  readonly mutation: Mutation;
  /** The byte changed, or (truncation) the new size of the file. */
  readonly offset: number;
  /** bit flip: the bit (0–7); byte set: the new value; truncation: the bytes cut. */
  readonly arg: number;
}

/** The kind of a file of a node's directory (by its path relative to it), or undefined for others. */
export function kindOf(rel: string): FileKind | undefined {
  if (/^\d{10}(\.\d{6})?\.data$/.test(rel)) return 'data';
  if (/^\d{10}(\.\d{6})?\.hint$/.test(rel)) return 'hint';
  if (rel === 'raft/log') return 'log';
  if (rel === 'raft/state' || rel === 'raft/applied') return 'raft-state';
  if (/^snapshots\/[^/]+\/(state\.bin|meta\.json)$/.test(rel)) return 'snapshot';
  return undefined;
}

/**
 * A damage to a file of `kind` among `files`, drawn from `rng`: the file uniformly (for
 * data files, the active one `active` half of the time), the mutation uniformly, the byte
 * uniformly, a truncation of 1 to min(1,024, size) bytes.
 */
export function drawDamage(rng: Rng, files: ReadonlyMap<string, Buffer>, kind: FileKind, active: string): Damage {
  const names = [...files.keys()].filter((f) => kindOf(f) === kind && files.get(f)!.length > 0).sort();
  if (names.length === 0) throw new Error(`test bug: no ${kind} file`);
  const file = kind === 'data' && rng.int(2) === 0 ? active : names[rng.int(names.length)]!;
  const size = files.get(file)!.length;
  const mutation = MUTATIONS[rng.int(MUTATIONS.length)]!;
  if (mutation === 'truncation') {
    const cut = 1 + rng.int(Math.min(1024, size));
    return { kind, file, mutation, offset: size - cut, arg: cut };
  }
  const offset = rng.int(size);
  if (mutation === 'bit flip') return { kind, file, mutation, offset, arg: rng.int(8) };
  const old = files.get(file)![offset]!;
  return { kind, file, mutation, offset, arg: (old + 1 + rng.int(255)) & 0xff };
}

/** `bytes` with `d` applied (a copy). */
export function applyDamage(bytes: Buffer, d: Damage): Buffer {
  if (d.mutation === 'truncation') return Buffer.from(bytes.subarray(0, d.offset));
  const out = Buffer.from(bytes);
  out[d.offset] = d.mutation === 'bit flip' ? out[d.offset]! ^ (1 << d.arg) : d.arg;
  return out;
}

/** `d` in words, for failure messages. */
export function describeDamage(d: Damage): string {
  if (d.mutation === 'truncation') return `${d.file}: last ${d.arg} bytes cut (new size ${d.offset})`;
  if (d.mutation === 'bit flip') return `${d.file}: bit ${d.arg} of byte ${d.offset} flipped`;
  return `${d.file}: byte ${d.offset} set to 0x${d.arg.toString(16).padStart(2, '0')}`;
}
