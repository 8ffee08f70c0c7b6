import { crc32 } from '../support/crc32.js';

/**
 * One Bitcask data record, laid out little-endian:
 *
 * | offset | size | field                                              |
 * |--------|------|----------------------------------------------------|
 * | 0      | 4    | record CRC-32 over bytes 4..end (header, key, value) |
 * | 4      | 4    | header CRC-32 over bytes 8..21                      |
 * | 8      | 1    | flags (bit 0: tombstone; other bits must be 0)      |
 * | 9      | 4    | timestamp, seconds since the epoch                  |
 * | 13     | 4    | key length                                          |
 * | 17     | 4    | value length (0 for a tombstone)                    |
 * | 21     | k    | key                                                 |
 * | 21+k   | v    | value                                               |
 *
 * The header CRC lets a decoder reject a damaged length field before trusting it, so
 * every single-bit flip is reported as `corrupt`, while a record cut short is `incomplete`.
 * A tombstone is a flag, never an empty value, so `SET k ""` survives a reopen.
 */
export const RECORD_HEADER_SIZE = 21;

/** Flag bit marking a delete. */
export const FLAG_TOMBSTONE = 1;

const KNOWN_FLAGS = FLAG_TOMBSTONE;

/** Total encoded size of a record with these key and value lengths. */
export function recordSize(keyLength: number, valueLength: number): number {
  return RECORD_HEADER_SIZE + keyLength + valueLength;
}

/**
 * Encodes a record into `out` at `offset` (which must have room for `recordSize`)
 * and returns the number of bytes written. A tombstone must have an empty value.
 */
export function encodeRecordInto(
  out: Buffer,
  offset: number,
  key: Uint8Array,
  value: Uint8Array,
  tombstone: boolean,
  tstampSeconds: number,
): number {
  if (tombstone && value.length !== 0) throw new TypeError('a tombstone carries no value');
  out[offset + 8] = tombstone ? FLAG_TOMBSTONE : 0;
  out.writeUInt32LE(tstampSeconds >>> 0, offset + 9);
  out.writeUInt32LE(key.length, offset + 13);
  out.writeUInt32LE(value.length, offset + 17);
  out.writeUInt32LE(crc32(out.subarray(offset + 8, offset + RECORD_HEADER_SIZE)), offset + 4);
  out.set(key, offset + RECORD_HEADER_SIZE);
  out.set(value, offset + RECORD_HEADER_SIZE + key.length);
  const end = offset + RECORD_HEADER_SIZE + key.length + value.length;
  out.writeUInt32LE(crc32(out.subarray(offset + 4, end)), offset);
  return end - offset;
}

/** Encodes a record into a new buffer. */
export function encodeRecord(key: Uint8Array, value: Uint8Array, tombstone: boolean, tstampSeconds: number): Buffer {
  const out = Buffer.allocUnsafe(recordSize(key.length, value.length));
  encodeRecordInto(out, 0, key, value, tombstone, tstampSeconds);
  return out;
}

/** A record decoded in place: `keyStart..valueStart` is the key, `valueStart..end` the value. */
export interface DecodedRecord {
  kind: 'ok';
  tombstone: boolean;
  tstamp: number;
  keyStart: number;
  valueStart: number;
  end: number;
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
  if (crc32(buf.subarray(offset + 4, end)) !== buf.readUInt32LE(offset)) {
    return { kind: 'corrupt', reason: 'record checksum mismatch' };
  }
  return {
    kind: 'ok',
    tombstone,
    tstamp: buf.readUInt32LE(offset + 9),
    keyStart: offset + RECORD_HEADER_SIZE,
    valueStart: offset + RECORD_HEADER_SIZE + keyLength,
    end,
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
