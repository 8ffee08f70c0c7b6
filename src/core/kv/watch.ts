import { createHash } from 'node:crypto';
import { arrayReply, bulkReply } from '../resp/replies.js';
import type { KvCommand } from './command-types.js';
import type { KeySpace } from './key-space.js';

/**
 * WATCH as compare-and-set. A watched key is remembered by a digest of what it holds —
 * its value and expiry, or nothing — read (through the log's read path, like GET) when
 * WATCH runs. EXEC puts the digests first in the transaction's log entry
 * (`WATCH_CHECK_COMMAND key digest …`), and when the entry is applied the transaction
 * runs only if every watched key still has its digest; otherwise EXEC answers null and
 * nothing runs. The check depends only on the replicated state at that point of the log,
 * so every replica decides alike. Unlike Redis, a key changed and then changed back to
 * exactly what it held does not abort the transaction.
 */

/** The internal read behind WATCH: `RAFTWATCH key …` answers each key's digest. */
export const WATCH_COMMAND = 'raftwatch';

/** The check a transaction entry starts with when keys were watched: `RAFTWATCHED key digest …`. */
export const WATCH_CHECK_COMMAND = 'raftwatched';

/** The digest of `key` as it stands: 16 bytes of SHA-256 over its expiry and value, or empty when absent (or expired). */
export function keyDigest(keys: KeySpace, key: Buffer): Buffer {
  const value = keys.get(key);
  if (value === undefined) return Buffer.alloc(0);
  const expiry = Buffer.alloc(8);
  expiry.writeBigUInt64LE(BigInt(Math.max(0, keys.expiryOf(key))));
  return createHash('sha256').update(expiry).update(value).digest().subarray(0, 16);
}

/** Whether every `key digest` pair of a `RAFTWATCHED` command's arguments (`args[1…]`) still holds. */
export function watchedUnchanged(keys: KeySpace, args: readonly Buffer[]): boolean {
  for (let i = 1; i + 1 < args.length; i += 2) if (!keyDigest(keys, args[i]!).equals(args[i + 1]!)) return false;
  return args.length % 2 === 1;
}

/** RAFTWATCH, for the command table. */
export const WATCH_READ: KvCommand = {
  name: WATCH_COMMAND,
  keys: [1, -1, 1],
  arity: -2,
  write: false,
  exec: (keys, args) => arrayReply(args.slice(1).map((k) => bulkReply(keyDigest(keys, k)))),
};
