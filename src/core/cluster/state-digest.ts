import { createHash } from 'node:crypto';
import type { StoreView } from '../bitcask/index.js';

/** A digest of a node's key/value state at one applied log index. */
export interface StateDigest {
  /** The applied index the state was captured at. */
  index: number;
  /** Number of keys. */
  keys: number;
  /**
   * 64 hex digits: the XOR over every record of SHA-256(u32 key length, key, value, and
   * — for a key that expires — its expiry as a u64 big-endian, after a NUL). It
   * does not depend on the order records are read in, so two nodes whose stores hold the
   * same keys and values have the same digest whatever their files look like.
   */
  digest: string;
}

/**
 * Digests `view` (a point-in-time view of the store, captured at `index`); reads every
 * record, yielding to the event loop between batches, and closes the view.
 */
export async function digestView(view: StoreView, index: number): Promise<StateDigest> {
  const acc = Buffer.alloc(32);
  const len = Buffer.alloc(4);
  let keys = 0;
  for await (const batch of view.batches()) {
    for (const { key, value, expiresAt } of batch) {
      len.writeUInt32BE(key.length);
      const hash = createHash('sha256').update(len).update(key).update(value);
      if (expiresAt > 0) hash.update(expiryBytes(expiresAt));
      const h = hash.digest();
      for (let i = 0; i < 32; i++) acc[i]! ^= h[i]!;
      keys++;
    }
  }
  return { index, keys, digest: acc.toString('hex') };
}

/** A NUL, then `expiresAt` as a u64 big-endian. */
function expiryBytes(expiresAt: number): Buffer {
  const out = Buffer.alloc(9);
  out.writeBigUInt64BE(BigInt(expiresAt), 1);
  return out;
}
