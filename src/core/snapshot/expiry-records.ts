import { CorruptionError } from '../support/errors.js';
import { EXPIRY_RECORD_KEY, isReservedKey } from '../support/reserved-keys.js';
import type { StateRecord } from './decoder.js';

/**
 * Expiries in a `state.bin`, bitraft's documented extension of the Go format.
 *
 * The Go format has no place for a key's expiry, so a snapshot carries the expiries of
 * its expiring keys in records of its own, *before* the key/value records: each has the
 * reserved key `EXPIRY_KEY` and a value listing entries `[u32 LE key length][key][u64 LE
 * expiry, ms since the epoch]`. The key/value records are exactly the Go format's, so a
 * Go node (or any reader of the Go format) still reads every key — its keys just never
 * expire, and it holds one more key, `EXPIRY_KEY`. bitraft refuses to store a key named
 * `EXPIRY_KEY`, so such a record is never a user's key.
 */

/** The reserved key of the expiry records of a `state.bin` (see `EXPIRY_RECORD_KEY`). */
export const EXPIRY_KEY: Buffer = EXPIRY_RECORD_KEY;

/** Most bytes of expiry entries in one record. */
const MAX_RECORD_BYTES = 1 << 20;
const ENTRY_OVERHEAD = 12;

/** A key and when it expires (ms since the epoch, > 0). */
export interface KeyExpiry {
  key: Buffer;
  expiresAt: number;
}

/** Whether `key` is `EXPIRY_KEY`. */
export const isExpiryKey: (key: Uint8Array) => boolean = isReservedKey;

/** The expiry records listing `expiring` (none when it is empty), each of about 1 MiB at most. */
export function encodeExpiryRecords(expiring: Iterable<KeyExpiry>): StateRecord[] {
  const out: StateRecord[] = [];
  let parts: Buffer[] = [];
  let bytes = 0;
  const seal = (): void => {
    out.push({ key: EXPIRY_KEY, value: Buffer.concat(parts, bytes) });
    parts = [];
    bytes = 0;
  };
  for (const { key, expiresAt } of expiring) {
    if (bytes > 0 && bytes + ENTRY_OVERHEAD + key.length > MAX_RECORD_BYTES) seal();
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(key.length);
    const tail = Buffer.allocUnsafe(8);
    tail.writeUInt32LE(expiresAt % 2 ** 32, 0);
    tail.writeUInt32LE(Math.floor(expiresAt / 2 ** 32), 4);
    parts.push(head, key, tail);
    bytes += ENTRY_OVERHEAD + key.length;
  }
  if (bytes > 0) seal();
  return out;
}

/**
 * The entries of one expiry record's `value`. Throws a `CorruptionError` (naming `file`)
 * when the value is not a whole number of well-formed entries or an expiry is not a
 * positive safe integer.
 */
export function decodeExpiryRecord(value: Buffer, file: string): KeyExpiry[] {
  const out: KeyExpiry[] = [];
  let p = 0;
  while (p < value.length) {
    if (value.length - p < ENTRY_OVERHEAD) throw malformed(file, p);
    const keyLength = value.readUInt32LE(p);
    if (keyLength > value.length - p - ENTRY_OVERHEAD) throw malformed(file, p);
    const key = value.subarray(p + 4, p + 4 + keyLength);
    const at = p + 4 + keyLength;
    const expiresAt = value.readUInt32LE(at) + value.readUInt32LE(at + 4) * 2 ** 32;
    if (expiresAt === 0 || !Number.isSafeInteger(expiresAt)) throw malformed(file, p);
    out.push({ key, expiresAt });
    p = at + 8;
  }
  return out;
}

function malformed(file: string, at: number): CorruptionError {
  return new CorruptionError(file, at, `malformed expiry record: bad entry at byte ${at} of its value`);
}

/** A record of a snapshot's state with its expiry (ms since the epoch; 0: never). */
export interface ExpiringStateRecord extends StateRecord {
  expiresAt: number;
}

/**
 * The key/value records of `batches` (a `state.bin` read in order) with their expiries:
 * expiry records are taken out and their entries given to the records of their keys that
 * follow. Memory holds the expiries read. Throws a `CorruptionError` (naming
 * `file`) for a malformed expiry record. Returns the inner generator's return value.
 */
export async function* withExpiries<R>(batches: AsyncGenerator<StateRecord[], R>, file: string): AsyncGenerator<ExpiringStateRecord[], R> {
  const expiries = new Map<string, number>();
  try {
    for (;;) {
      const step = await batches.next();
      if (step.done) return step.value;
      const out: ExpiringStateRecord[] = [];
      for (const record of step.value) {
        if (isExpiryKey(record.key)) {
          for (const e of decodeExpiryRecord(record.value, file)) expiries.set(e.key.toString('latin1'), e.expiresAt);
          continue;
        }
        const expiresAt = expiries.size > 0 ? (expiries.get(record.key.toString('latin1')) ?? 0) : 0;
        out.push({ key: record.key, value: record.value, expiresAt });
      }
      yield out;
    }
  } finally {
    await batches.return(undefined as R);
  }
}
