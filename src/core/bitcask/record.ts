import { crc32 } from '../support/crc32.js';

/**
 * One Bitcask data record, laid out little-endian:
 *
 * | offset | size | field                                              |
 * |--------|------|----------------------------------------------------|
 * | 0      | 4    | record CRC-32 over bytes 4..end (header, key, value) |
 * | 4      | 4    | header CRC-32 over bytes 8..21                      |
 * | 8      | 1    | flags (bit 0: tombstone; bit 1: expires; others 0)  |
 * | 9      | 4    | timestamp, seconds since the epoch                  |
 * | 13     | 4    | key length                                          |
 * | 17     | 4    | length of the rest (0 for a tombstone)              |
 * | 21     | k    | key                                                 |
 * | 21+k   | 8    | only if it expires: expiry, ms since the epoch (u64) |
 * | …      | v    | value                                               |
 *
 * The header CRC lets a decoder reject a damaged length field before trusting it, so
 * every single-bit flip is reported as `corrupt`, while a record cut short is `incomplete`.
 * A tombstone is a flag, never an empty value, so `SET k ""` survives a reopen. A key
 * that expires carries its expiry in its record, so it survives a reopen and a merge
 * (which copies records as they are).
 */
export const RECORD_HEADER_SIZE = 21;

/** Flag bit marking a delete. */
export const FLAG_TOMBSTONE = 1;

/** Flag bit marking a key that expires: its expiry precedes the value. */
export const FLAG_EXPIRES = 2;

const KNOWN_FLAGS = FLAG_TOMBSTONE | FLAG_EXPIRES;

/** Bytes of the expiry field of a record that expires. */
export const EXPIRY_SIZE = 8;

/** Latest expiry a record can carry (ms since the epoch): the largest safe integer. */
export const MAX_EXPIRY_MS = Number.MAX_SAFE_INTEGER;

/**
 * Total encoded size of a record with these key and value lengths, and an expiry
 * field when `expiresAt` (ms since the epoch; 0: never) is set.
 */
export function recordSize(keyLength: number, valueLength: number, expiresAt = 0): number {
  return RECORD_HEADER_SIZE + keyLength + valueLength + (expiresAt > 0 ? EXPIRY_SIZE : 0);
}

/**
 * Encodes a record into `out` at `offset` (which must have room for `recordSize`)
 * and returns the number of bytes written. A tombstone must have an empty value and no
 * expiry; `expiresAt` (ms since the epoch, 0: never) must be a safe integer.
 */
export function encodeRecordInto(
  out: Buffer,
  offset: number,
  key: Uint8Array,
  value: Uint8Array,
  tombstone: boolean,
  tstampSeconds: number,
  expiresAt = 0,
): number {
  if (tombstone && (value.length !== 0 || expiresAt !== 0)) throw new TypeError('a tombstone carries no value and no expiry');
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new TypeError(`bad expiry ${expiresAt}`);
  const extra = expiresAt > 0 ? EXPIRY_SIZE : 0;
  out[offset + 8] = (tombstone ? FLAG_TOMBSTONE : 0) | (extra ? FLAG_EXPIRES : 0);
  out.writeUInt32LE(tstampSeconds >>> 0, offset + 9);
  out.writeUInt32LE(key.length, offset + 13);
  out.writeUInt32LE(extra + value.length, offset + 17);
  out.writeUInt32LE(crc32(out.subarray(offset + 8, offset + RECORD_HEADER_SIZE)), offset + 4);
  let p = offset + RECORD_HEADER_SIZE;
  out.set(key, p);
  p += key.length;
  if (extra) {
    out.writeUInt32LE(expiresAt % 2 ** 32, p);
    out.writeUInt32LE(Math.floor(expiresAt / 2 ** 32), p + 4);
    p += EXPIRY_SIZE;
  }
  out.set(value, p);
  const end = p + value.length;
  out.writeUInt32LE(crc32(out.subarray(offset + 4, end)), offset);
  return end - offset;
}

/** Encodes a record into a new buffer. */
export function encodeRecord(key: Uint8Array, value: Uint8Array, tombstone: boolean, tstampSeconds: number, expiresAt = 0): Buffer {
  const out = Buffer.allocUnsafe(recordSize(key.length, value.length, expiresAt));
  encodeRecordInto(out, 0, key, value, tombstone, tstampSeconds, expiresAt);
  return out;
}

/**
 * A record decoded in place: `keyStart..keyEnd` is the key, `valueStart..end` the value;
 * `expiresAt` is its expiry (ms since the epoch), or 0 when it never expires.
 */
export interface DecodedRecord {
  kind: 'ok';
  tombstone: boolean;
  tstamp: number;
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  end: number;
  expiresAt: number;
  /** Encoded size of the whole record. */
  size: number;
}

/** The outcome of decoding at an offset: a record, too few bytes yet, or damaged bytes. */
export type DecodeResult = DecodedRecord | { kind: 'incomplete' } | { kind: 'corrupt'; reason: string };

const INCOMPLETE = { kind: 'incomplete' } as const;

/**
 * Decodes the record starting at `offset` in `buf[0..limit)`. Never throws on bad
 * bytes: a record cut short is `incomplete`, a checksum or flag mismatch is `corrupt`.
 */
export function decodeRecord(buf: Buffer, offset: number, limit = buf.length): DecodeResult {
  if (limit - offset < RECORD_HEADER_SIZE) return INCOMPLETE;
  const headerCrc = buf.readUInt32LE(offset + 4);
  if (crc32(buf.subarray(offset + 8, offset + RECORD_HEADER_SIZE)) !== headerCrc) {
    return { kind: 'corrupt', reason: 'header checksum mismatch' };
  }
  const flags = buf[offset + 8]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) return { kind: 'corrupt', reason: `unknown flags 0x${flags.toString(16)}` };
  const keyLength = buf.readUInt32LE(offset + 13);
  const valueLength = buf.readUInt32LE(offset + 17);
  const tombstone = (flags & FLAG_TOMBSTONE) !== 0;
  if (tombstone && valueLength !== 0) return { kind: 'corrupt', reason: 'tombstone with a value' };
  const size = RECORD_HEADER_SIZE + keyLength + valueLength;
  if (limit - offset < size) return INCOMPLETE;
  const end = offset + size;
  const expires = (flags & FLAG_EXPIRES) !== 0;
  if (expires && (tombstone || valueLength < EXPIRY_SIZE)) return { kind: 'corrupt', reason: 'bad expiry field' };
  if (crc32(buf.subarray(offset + 4, end)) !== buf.readUInt32LE(offset)) {
    return { kind: 'corrupt', reason: 'record checksum mismatch' };
  }
  const keyEnd = offset + RECORD_HEADER_SIZE + keyLength;
  const expiresAt = expires ? buf.readUInt32LE(keyEnd) + buf.readUInt32LE(keyEnd + 4) * 2 ** 32 : 0;
  if (expires && (expiresAt === 0 || expiresAt > MAX_EXPIRY_MS)) return { kind: 'corrupt', reason: `bad expiry ${expiresAt}` };
  return {
    kind: 'ok',
    tombstone,
    tstamp: buf.readUInt32LE(offset + 9),
    keyStart: offset + RECORD_HEADER_SIZE,
    keyEnd,
    valueStart: keyEnd + (expires ? EXPIRY_SIZE : 0),
    end,
    expiresAt,
    size,
  };
}

/**
 * Reads only the header at `offset` and returns the record's total size, or -1 when
 * the header is incomplete or fails its checksum. Lets a file scanner know how many
 * bytes to fetch before decoding the whole record.
 */
export function peekRecordSize(buf: Buffer, offset: number, limit = buf.length): number {
  if (limit - offset < RECORD_HEADER_SIZE) return -1;
  if (crc32(buf.subarray(offset + 8, offset + RECORD_HEADER_SIZE)) !== buf.readUInt32LE(offset + 4)) return -1;
  return RECORD_HEADER_SIZE + buf.readUInt32LE(offset + 13) + buf.readUInt32LE(offset + 17);
}
