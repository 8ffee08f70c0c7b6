import fs from 'node:fs';
import { crc32 } from '../support/crc32.js';
import { writeFully } from './datafile.js';

/**
 * Hint files list the records of one data file without their values, so opening a
 * store reads keys and locations only. Layout (little-endian):
 *
 * - magic `BKH1`
 * - per record: flags u8 (bit 0 tombstone, bit 1 expires; the other bits are 0), tstamp
 *   u32, key length u32, offset u32, record size u32, key bytes, then — only when it
 *   expires — the expiry (ms since the epoch) as two u32, low word first
 * - trailer: entry count u32, size of the data file it describes u32, CRC-32 of every
 *   byte before it u32
 *
 * A hint is trusted only when its CRC matches and it describes a data file of exactly
 * the size on disk; otherwise the data file is scanned instead.
 */
const MAGIC = Buffer.from('BKH1', 'latin1');
const ENTRY_HEADER = 17;
/** The flag bit of a tombstone. */
const TOMBSTONE = 1;
/** The flag bit of a key that expires: its expiry follows the key. */
const EXPIRES = 2;
const EXPIRY_BYTES = 8;
const TRAILER = 12;
const BUFFER_SIZE = 1 << 20;

/** One hint entry; `key` is only valid during the callback that receives it. */
export interface HintEntry {
  tombstone: boolean;
  tstamp: number;
  /** Expiry of the key, ms since the epoch; 0 when it never expires. */
  expiresAt: number;
  key: Buffer;
  offset: number;
  size: number;
}

/** What `checkHint` learned of an intact hint: enough for `HintWriter.resume` to extend it. */
export interface HintState {
  /** Number of entries. */
  count: number;
  /** Where the entries end and the trailer starts. */
  entriesEnd: number;
  /** CRC-32 of the bytes before the trailer. */
  crc: number;
  /** Bytes of all the entries' keys together. */
  keyBytes: number;
}

/**
 * Writes a hint file incrementally to `<path>.tmp`; `finish` seals it with its trailer,
 * fsyncs and renames it into place, `abort` removes it.
 */
export class HintWriter {
  readonly path: string;
  private readonly tmpPath: string;
  private readonly fd: number;
  private fdClosed = false;
  private buf = Buffer.allocUnsafe(BUFFER_SIZE);
  private len = 0;
  private pos = 0;
  private crc = 0;
  private count = 0;

  /**
   * Starts a new, empty hint; with `resume`, the intact hint now at `path` (as
   * `checkHint` described it) is moved to `<path>.tmp` and extended instead, so its
   * entries are not written again. A failure to resume leaves the old hint at one of
   * the two names, or at neither: never a damaged file under `path`.
   */
  constructor(path: string, resume?: HintState) {
    this.path = path;
    this.tmpPath = `${path}.tmp`;
    if (!resume) {
      this.fd = fs.openSync(this.tmpPath, 'w', 0o644);
      this.append(MAGIC);
      return;
    }
    fs.renameSync(path, this.tmpPath);
    this.fd = fs.openSync(this.tmpPath, 'r+');
    try {
      // Drop the trailer: entries are appended where it was, and finish writes a new one.
      fs.ftruncateSync(this.fd, resume.entriesEnd);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.pos = resume.entriesEnd;
    this.crc = resume.crc;
    this.count = resume.count;
  }

  /** Adds the entry for one record; `expiresAt` is its expiry (ms since the epoch), 0 for none. */
  add(tombstone: boolean, tstamp: number, key: Uint8Array, offset: number, size: number, expiresAt = 0): void {
    const need = ENTRY_HEADER + key.length + (expiresAt > 0 ? EXPIRY_BYTES : 0);
    if (this.len + need > this.buf.length) this.drain();
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
    const b = this.buf;
    let p = this.len;
    b[p] = (tombstone ? TOMBSTONE : 0) | (expiresAt > 0 ? EXPIRES : 0);
    b.writeUInt32LE(tstamp >>> 0, p + 1);
    b.writeUInt32LE(key.length, p + 5);
    b.writeUInt32LE(offset, p + 9);
    b.writeUInt32LE(size, p + 13);
    p += ENTRY_HEADER;
    b.set(key, p);
    p += key.length;
    if (expiresAt > 0) {
      b.writeUInt32LE(expiresAt % 2 ** 32, p);
      b.writeUInt32LE(Math.floor(expiresAt / 2 ** 32), p + 4);
      p += EXPIRY_BYTES;
    }
    this.len = p;
    this.count++;
  }

  /** Writes the trailer for a data file of `dataSize` bytes, fsyncs, and renames into place. */
  finish(dataSize: number): void {
    const trailer = Buffer.allocUnsafe(TRAILER);
    trailer.writeUInt32LE(this.count, 0);
    trailer.writeUInt32LE(dataSize, 4);
    try {
      this.drain();
      this.crc = crc32(trailer.subarray(0, 8), this.crc);
      trailer.writeUInt32LE(this.crc, 8);
      writeFully(this.fd, trailer, TRAILER, this.pos);
      fs.fdatasyncSync(this.fd);
    } finally {
      this.closeFd();
    }
    fs.renameSync(this.tmpPath, this.path);
  }

  /** Closes (once) and removes the unfinished file; safe after a failed `finish`. */
  abort(): void {
    try {
      this.closeFd();
    } finally {
      fs.rmSync(this.tmpPath, { force: true });
    }
  }

  private closeFd(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    fs.closeSync(this.fd);
  }

  private append(data: Buffer): void {
    data.copy(this.buf, this.len);
    this.len += data.length;
  }

  /** Writes the buffer out; it always holds the magic or an entry when called. */
  private drain(): void {
    writeFully(this.fd, this.buf, this.len, this.pos);
    this.crc = crc32(this.buf.subarray(0, this.len), this.crc);
    this.pos += this.len;
    this.len = 0;
  }
}

/**
 * Checks a whole hint file in memory. Returns the reason it cannot be trusted, or
 * its state when it is intact and describes a data file of `dataSize` bytes. Intact means
 * the CRC matches, the data size is `dataSize`, the entries exactly fill the space before
 * the trailer, their count is the trailer's, and no entry sets a flag bit other than the
 * tombstone's and the expiry's (not both), and every expiry is from 1 to 2^53 - 1.
 */
export function checkHint(data: Buffer, dataSize: number): HintState | string {
  if (data.length < MAGIC.length + TRAILER || !data.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a hint file';
  const t = data.length - TRAILER;
  const entriesCrc = crc32(data.subarray(0, t));
  if (crc32(data.subarray(t, t + 8), entriesCrc) !== data.readUInt32LE(t + 8)) return 'checksum mismatch';
  if (data.readUInt32LE(t + 4) !== dataSize) return `describes ${data.readUInt32LE(t + 4)} data bytes, file has ${dataSize}`;
  let p = MAGIC.length;
  let count = 0;
  let keyBytes = 0;
  while (p < t) {
    if (t - p < ENTRY_HEADER) return 'truncated entry';
    const flags = data[p]!;
    if ((flags & ~(TOMBSTONE | EXPIRES)) !== 0 || flags === (TOMBSTONE | EXPIRES)) return `unknown flags 0x${flags.toString(16).padStart(2, '0')}`;
    const keyLength = data.readUInt32LE(p + 5);
    keyBytes += keyLength;
    p += ENTRY_HEADER + keyLength;
    if (flags & EXPIRES) {
      // An expiry is from 1 to 2^53 - 1 ms: the high word holds at most 21 bits.
      if (t - p < EXPIRY_BYTES) return 'truncated entry';
      const low = data.readUInt32LE(p);
      const high = data.readUInt32LE(p + 4);
      if (high > 0x1fffff || (high === 0 && low === 0)) return `bad expiry in entry ${count}`;
      p += EXPIRY_BYTES;
    }
    count++;
  }
  if (p !== t || count !== data.readUInt32LE(t)) return 'entry count mismatch';
  return { count, entriesEnd: t, crc: entriesCrc, keyBytes };
}

/** `checkHint` as a yes/no: the reason a hint cannot be trusted, or undefined when it is intact. */
export function validateHint(data: Buffer, dataSize: number): string | undefined {
  const checked = checkHint(data, dataSize);
  return typeof checked === 'string' ? checked : undefined;
}

/** Calls `onEntry` for every entry of a hint that `validateHint` accepted. */
export function forEachHint(data: Buffer, onEntry: (e: HintEntry) => void): void {
  forEachHintRaw(data, (tombstone, tstamp, keyStart, keyEnd, offset, size, expiresAt) =>
    onEntry({ tombstone, tstamp, offset, size, key: data.subarray(keyStart, keyEnd), expiresAt }),
  );
}

/**
 * The allocation-free form of `forEachHint` for loading a store: the key is given as
 * `data[keyStart..keyEnd)`. `tombstone` is the flags' tombstone bit; `expiresAt` the
 * key's expiry (ms since the epoch), 0 when it never expires.
 */
export function forEachHintRaw(
  data: Buffer,
  onEntry: (tombstone: boolean, tstamp: number, keyStart: number, keyEnd: number, offset: number, size: number, expiresAt: number) => void,
): void {
  const t = data.length - TRAILER;
  let p = MAGIC.length;
  while (p < t) {
    const flags = data[p]!;
    const keyStart = p + ENTRY_HEADER;
    const keyEnd = keyStart + data.readUInt32LE(p + 5);
    const expires = (flags & EXPIRES) !== 0;
    const expiresAt = expires ? data.readUInt32LE(keyEnd) + data.readUInt32LE(keyEnd + 4) * 2 ** 32 : 0;
    onEntry((flags & TOMBSTONE) !== 0, data.readUInt32LE(p + 1), keyStart, keyEnd, data.readUInt32LE(p + 9), data.readUInt32LE(p + 13), expiresAt);
    p = keyEnd + (expires ? EXPIRY_BYTES : 0);
  }
}
