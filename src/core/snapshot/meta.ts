import fs from 'node:fs';
import path from 'node:path';
import { CorruptionError } from '../support/errors.js';
import { decodePeers, encodePeers } from './peers-codec.js';
import { crc32 } from '../support/crc32.js';

/** Name of a snapshot's metadata file inside its directory. */
export const META_FILE = 'meta.json';
/** Name of a snapshot's state file (gzip, Go bitraft format) inside its directory. */
export const STATE_FILE = 'state.bin';

/** Cluster membership recorded with a snapshot. */
export interface SnapshotConf {
  voters: string[];
  learners: string[];
}

/** What a snapshot's meta.json says about it. */
export interface SnapshotFileMeta {
  /** `<term>-<index>-<ms>`, also the name of the snapshot's directory (see `snapshotId`). */
  id: string;
  /** Raft index of the last entry the snapshot covers. */
  index: number;
  /** Raft term of that entry. */
  term: number;
  /** Membership as of that entry. */
  conf: SnapshotConf;
  /** Bytes of state.bin. */
  size: number;
  /** Base64 of the 8-byte big-endian CRC-64/ECMA of state.bin (see `crc64Bytes`). */
  crc: string;
}

/** The id (and directory name) of a snapshot taken at (`term`, `index`) at `ms` ms since the epoch: `<term>-<index>-<ms>`. */
export function snapshotId(term: number, index: number, ms: number): string {
  return `${term}-${index}-${ms}`;
}

/**
 * The parts of a snapshot id, or undefined unless `id` is exactly `<term>-<index>-<ms>` in
 * canonical decimal (no sign, no leading zeros, each a safe integer); so a valid id is
 * always a plain directory name.
 */
export function parseSnapshotId(id: string): { term: number; index: number; ms: number } | undefined {
  const m = /^(0|[1-9]\d{0,15})-(0|[1-9]\d{0,15})-(0|[1-9]\d{0,15})$/.exec(id);
  if (!m) return undefined;
  const [term, index, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index) || !Number.isSafeInteger(ms)) return undefined;
  return { term, index, ms };
}

/**
 * The meta.json text of `meta`: the Go original's fields `ID`, `Index`, `Term`, `Peers`
 * (base64 of the msgpack array of the voters, as hashicorp/raft wrote it), `Size`, `CRC`,
 * plus `Membership: { Voters, Learners }` so that learners survive. One line of JSON.
 */
export function encodeSnapshotMeta(meta: SnapshotFileMeta): string {
  return `${JSON.stringify({
    ID: meta.id,
    Index: meta.index,
    Term: meta.term,
    Peers: encodePeers(meta.conf.voters).toString('base64'),
    Size: meta.size,
    CRC: meta.crc,
    Membership: { Voters: meta.conf.voters, Learners: meta.conf.learners },
    MetaCRC: metaCrc(meta),
  })}\n`;
}

/**
 * CRC-32 of the fields a snapshot is used by — id, index, term, membership, size and
 * state.bin's CRC — so that damage to meta.json itself (a voter's address, say) is
 * detected too; state.bin's own CRC cannot see it. Written as `MetaCRC`, which the Go
 * bitraft ignores; a meta.json without it (the Go original's) is not checked this way.
 */
function metaCrc(meta: SnapshotFileMeta): number {
  return crc32(Buffer.from(JSON.stringify([meta.id, meta.index, meta.term, meta.conf.voters, meta.conf.learners, meta.size, meta.crc]), 'utf8'));
}

/**
 * Parses and checks a meta.json, ours or the Go original's (which has no `Membership`:
 * the voters then come from `Peers`, with no learners). Every field is checked: `ID` a
 * valid id agreeing with `Term` and `Index`; `Index`, `Term`, `Size` non-negative safe
 * integers (`-0` reads as 0); `CRC` canonical base64 of 8 bytes; `Peers` (when present)
 * base64 of a msgpack array of strings; `Membership` (when present) arrays of strings.
 * Unknown fields are ignored. Any fault throws a `CorruptionError` naming `where` (the
 * file) and the field, quoting at most the first 100 characters of a bad value; whatever
 * the text (e.g. a value nested too deep for `JSON.stringify`), nothing else is thrown.
 */
export function decodeSnapshotMeta(text: string, where: string): SnapshotFileMeta {
  const fail = (reason: string): never => {
    throw new CorruptionError(where, 0, reason);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) return fail('not a JSON object');
  const integer = (field: string): number => {
    const v = json[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(`field ${field} must be a non-negative integer, got ${shown(v)}`);
    return v === 0 ? 0 : v; // -0 (from the text "-0") reads as 0
  };
  const index = integer('Index');
  const term = integer('Term');
  const size = integer('Size');
  const id = json.ID;
  const parsed = typeof id === 'string' ? parseSnapshotId(id) : undefined;
  if (parsed === undefined) return fail(`field ID must be <term>-<index>-<ms>, got ${shown(id)}`);
  if (parsed.term !== term || parsed.index !== index) fail(`field ID ${id} disagrees with Term ${term} and Index ${index}`);
  const crc = json.CRC;
  if (typeof crc !== 'string' || Buffer.from(crc, 'base64').length !== 8 || Buffer.from(crc, 'base64').toString('base64') !== crc) {
    return fail(`field CRC must be base64 of 8 bytes, got ${shown(crc)}`);
  }
  const peers = json.Peers === undefined ? undefined : decodePeersField(json.Peers, fail);
  let conf: SnapshotConf;
  if (json.Membership !== undefined) {
    const m = json.Membership;
    if (!isObject(m)) return fail('field Membership must be an object');
    conf = { voters: stringArray(m.Voters, 'Membership.Voters', fail), learners: stringArray(m.Learners, 'Membership.Learners', fail) };
  } else {
    if (peers === undefined) return fail('has neither Membership nor Peers');
    conf = { voters: peers, learners: [] };
  }
  const meta: SnapshotFileMeta = { id: id as string, index, term, conf, size, crc };
  if (json.MetaCRC !== undefined && json.MetaCRC !== metaCrc(meta)) fail('field MetaCRC does not match the other fields: meta.json is damaged');
  return meta;
}

function decodePeersField(value: unknown, fail: (reason: string) => never): string[] {
  // Go writes a nil []byte as null.
  if (value === null) return [];
  if (typeof value !== 'string') return fail(`field Peers must be a base64 string, got ${shown(value)}`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) return fail('field Peers is not valid base64');
  try {
    return decodePeers(bytes);
  } catch (err) {
    return fail(`field Peers is not a msgpack array of strings: ${(err as Error).message}`);
  }
}

function stringArray(value: unknown, field: string, fail: (reason: string) => never): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return fail(`field ${field} must be an array of strings`);
  return value as string[];
}

/** Longest quote of a bad value in an error message. */
const MAX_SHOWN = 100;

/** `v` as JSON for an error message, cut to MAX_SHOWN characters; never throws. */
function shown(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    return 'a value nested too deep to show';
  }
  if (text === undefined) return 'undefined';
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Writes `meta` as `<dir>/meta.json` and fsyncs the file (not `dir`). */
export async function writeSnapshotMetaFile(dir: string, meta: SnapshotFileMeta): Promise<void> {
  const handle = await fs.promises.open(path.join(dir, META_FILE), 'w');
  try {
    await handle.writeFile(encodeSnapshotMeta(meta));
    await handle.sync();
  } finally {
    await handle.close();
  }
}
