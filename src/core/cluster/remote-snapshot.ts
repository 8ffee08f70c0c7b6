import path from 'node:path';
import { arrayReply, bulkReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import type { StoredSnapshot } from '../snapshot/index.js';
import { parseAddress } from '../server/config.js';
import { BitraftError } from '../support/errors.js';
import { RespClient } from './resp-client.js';
import type { NodeCredentials } from './credentials.js';

/** A snapshot a running node took, as `RAFTSNAPSHOT` reports it. */
export interface RemoteSnapshot {
  /** The snapshot's directory on the node's machine. */
  path: string;
  id: string;
  index: number;
  term: number;
  /** Bytes of its state.bin. */
  size: number;
  /** Base64 of the big-endian CRC-64/ECMA of its state.bin. */
  crc: string;
  voters: string[];
  learners: string[];
}

/** Settings of `requestSnapshot`. */
export interface SnapshotRequest {
  /** The node (`host:port`). */
  target: string;
  /** How to authenticate to the node (and TLS). */
  credentials?: NodeCredentials;
  /** Give up after this long (a `TIMEOUT` error). */
  timeoutMs: number;
}

/**
 * Asks the node at `target` to take a snapshot now (`RAFTSNAPSHOT`) and resolves with
 * what it reports. Rejects with `UNAVAILABLE` (unreachable), `TIMEOUT`, or
 * `INVALID_ARGUMENT` carrying the node's error reply (a wrong password, nothing applied
 * yet, a full disk).
 */
export async function requestSnapshot(req: SnapshotRequest): Promise<RemoteSnapshot> {
  const { host, port } = parseAddress(req.target);
  const client = new RespClient({ host, port, credentials: req.credentials, name: `node ${req.target}` });
  let reply: Reply;
  try {
    reply = await client.call(['RAFTSNAPSHOT'], req.timeoutMs);
  } finally {
    client.close();
  }
  if (reply.type === 'error') throw new BitraftError('INVALID_ARGUMENT', `${req.target} refused RAFTSNAPSHOT: ${reply.text}`);
  return parseSnapshotReply(reply, req.target);
}

/**
 * A snapshot as `RAFTSNAPSHOT` answers it: a flat array of field/value pairs — `path`
 * (absolute),
 * `id`, `index`, `term`, `size`, `crc`, `voters` and `learners` (comma-separated).
 */
export function snapshotReply(s: StoredSnapshot): Reply {
  const { meta } = s;
  const pairs: [string, string][] = [
    ['path', path.resolve(s.path)],
    ['id', meta.id],
    ['index', String(meta.index)],
    ['term', String(meta.term)],
    ['size', String(meta.size)],
    ['crc', meta.crc],
    ['voters', meta.conf.voters.join(',')],
    ['learners', meta.conf.learners.join(',')],
  ];
  return arrayReply(pairs.flatMap(([k, v]) => [bulkReply(k), bulkReply(v)]));
}

/**
 * Reads `RAFTSNAPSHOT`'s field/value array; throws `PROTOCOL` for anything else, including
 * an `index`, `term` or `size` that is not a decimal integer of at most 2^53 − 1.
 */
export function parseSnapshotReply(reply: Reply, from: string): RemoteSnapshot {
  const fields = new Map<string, string>();
  if (reply.type === 'array' && reply.items.length % 2 === 0) {
    for (let i = 0; i < reply.items.length; i += 2) {
      const k = reply.items[i]!;
      const v = reply.items[i + 1]!;
      if (k.type === 'bulk' && v.type === 'bulk') fields.set(k.value.toString('utf8'), v.value.toString('utf8'));
    }
  }
  const text = (name: string): string => {
    const v = fields.get(name);
    if (v === undefined) throw new BitraftError('PROTOCOL', `${from} answered RAFTSNAPSHOT without "${name}": is it a bitraft node?`);
    return v;
  };
  const num = (name: string): number => {
    const v = text(name);
    // Digits only, and exact: past 2^53 - 1 a number would be rounded.
    const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n)) throw new BitraftError('PROTOCOL', `${from} answered RAFTSNAPSHOT with a bad "${name}": ${v}`);
    return n;
  };
  const list = (name: string): string[] => text(name).split(',').filter((s) => s !== '');
  return { path: text('path'), id: text('id'), index: num('index'), term: num('term'), size: num('size'), crc: text('crc'), voters: list('voters'), learners: list('learners') };
}
