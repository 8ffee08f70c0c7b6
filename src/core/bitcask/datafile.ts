import fs from 'node:fs';
import type { FileId } from './file-id.js';
import { decodeRecord, encodeRecordInto, peekRecordSize, RECORD_HEADER_SIZE, recordSize, type DecodedRecord } from './record.js';

const WRITE_BUFFER_SIZE = 1 << 20;
/** Bytes `scanRecords` reads at a time. */
export const SCAN_CHUNK_SIZE = 1 << 20;

/** A record seen by `scanRecords`; `buf` subarrays are only valid during the callback. */
export interface ScannedRecord {
  offset: number;
  record: DecodedRecord;
  buf: Buffer;
}

/** Where and why a scan stopped before the end of the file. */
export interface ScanProblem {
  offset: number;
  kind: 'incomplete' | 'corrupt';
  reason: string;
}

/** How far a scan got: `next` is the offset after the last whole record read. */
export interface ScanResult {
  next: number;
  /** Set when the scan stopped at a bad spot rather than at the end or the budget. */
  problem?: ScanProblem;
}

/**
 * Reads the records of `fd[start..fileSize)` in order, calling `onRecord` for each, and
 * stops at the end of the file, at the first bad spot, or once at least `budget` bytes
 * were read (so a caller can yield and resume from `next`). Reads into `buffer` when
 * given (`SCAN_CHUNK_SIZE` bytes, reused across calls), else into a new one.
 */
export function scanRecords(
  fd: number,
  fileSize: number,
  onRecord: (r: ScannedRecord) => void,
  start = 0,
  budget = Number.POSITIVE_INFINITY,
  buffer?: Buffer,
): ScanResult {
  // A small file is read whole: no 1 MiB buffer for each of many small files.
  let chunk = buffer ?? Buffer.allocUnsafe(Math.max(0, Math.min(SCAN_CHUNK_SIZE, fileSize - start)));
  let chunkStart = 0;
  let chunkLen = 0;
  let pos = start;
  const stopAt = start + budget;
  const fill = (at: number, want: number): void => {
    const need = Math.min(want, fileSize - at);
    if (chunk.length < need) chunk = Buffer.allocUnsafe(need);
    chunkStart = at;
    chunkLen = readFully(fd, chunk, Math.min(chunk.length, fileSize - at), at);
  };
  while (pos < fileSize && pos < stopAt) {
    let rel = pos - chunkStart;
    if (pos < chunkStart || rel >= chunkLen || chunkLen - rel < recordSize(0, 0)) {
      fill(pos, SCAN_CHUNK_SIZE);
      rel = 0;
    }
    let result = decodeRecord(chunk, rel, chunkLen);
    if (result.kind === 'incomplete' && chunkStart + chunkLen < fileSize) {
      const size = peekRecordSize(chunk, rel, chunkLen);
      if (size > fileSize - pos) return { next: pos, problem: { offset: pos, kind: 'incomplete', reason: CUT_SHORT } };
      fill(pos, Math.max(size, SCAN_CHUNK_SIZE));
      rel = 0;
      result = decodeRecord(chunk, 0, chunkLen);
    }
    if (result.kind === 'incomplete') return { next: pos, problem: { offset: pos, kind: 'incomplete', reason: CUT_SHORT } };
    if (result.kind === 'corrupt') return { next: pos, problem: { offset: pos, kind: 'corrupt', reason: result.reason } };
    onRecord({ offset: pos, record: result, buf: chunk });
    pos += result.size;
  }
  return { next: pos };
}

const CUT_SHORT = 'record cut short by end of file';

/**
 * The offset of the first whole record that passes its checksums after the bad record at
 * `bad` in `fd[0..fileSize)`, or undefined when there is none. Tells damage in the middle
 * of a file (valid records follow the bad one) from a torn tail (nothing valid follows).
 * When the bad record's header checks out, the search starts after the end it gives —
 * its value may hold any bytes, a whole encoded record included — else right after
 * `bad`. Tries every offset, so it reads the rest of the file once; a record larger than
 * the read window is read on its own.
 */
export function findValidRecord(fd: number, bad: number, fileSize: number): number | undefined {
  const header = Buffer.alloc(RECORD_HEADER_SIZE);
  const claimed = peekRecordSize(header, 0, readFully(fd, header, Math.min(RECORD_HEADER_SIZE, fileSize - bad), bad));
  const from = claimed > 0 ? bad + claimed : bad + 1;
  const window = Buffer.allocUnsafe(Math.max(0, Math.min(SCAN_CHUNK_SIZE + RECORD_HEADER_SIZE, fileSize - from)));
  for (let base = from; base + RECORD_HEADER_SIZE <= fileSize; base += SCAN_CHUNK_SIZE) {
    const len = readFully(fd, window, Math.min(window.length, fileSize - base), base);
    for (let rel = 0; rel < SCAN_CHUNK_SIZE && rel + RECORD_HEADER_SIZE <= len; rel++) {
      const size = peekRecordSize(window, rel, len);
      if (size < 0 || size > fileSize - base - rel) continue;
      let whole: Buffer;
      if (rel + size <= len) {
        whole = window.subarray(rel, rel + size);
      } else {
        whole = Buffer.allocUnsafe(size);
        readFully(fd, whole, size, base + rel);
      }
      if (decodeRecord(whole, 0).kind === 'ok') return base + rel;
    }
  }
  return undefined;
}

/** Reads `length` bytes at `position` into `buf`, looping over short reads; returns bytes read. */
export function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `buf[0..length)` at `position`, looping over short writes. */
export function writeFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) done += fs.writeSync(fd, buf, done, length - done, position + done);
}

/**
 * One data file. Immutable files are only read. The active file also appends: records
 * go to a write buffer that `flush` hands to the OS in one write, and reads of records
 * still in the buffer are served from it. The file descriptor stays open until `close`.
 */
export class DataFile {
  readonly id: FileId;
  readonly path: string;
  readonly fd: number;
  /** Bytes handed to the OS; records below this offset are in the file. */
  private written: number;
  private buffer: Buffer | undefined;
  private buffered = 0;

  private constructor(id: FileId, path: string, fd: number, size: number, writable: boolean) {
    this.id = id;
    this.path = path;
    this.fd = fd;
    this.written = size;
    if (writable) this.buffer = Buffer.allocUnsafe(WRITE_BUFFER_SIZE);
  }

  /** Opens an existing file read-only. */
  static openReadOnly(id: FileId, path: string): DataFile {
    const fd = fs.openSync(path, 'r');
    return new DataFile(id, path, fd, fs.fstatSync(fd).size, false);
  }

  /** Opens (creating if needed) a file for appending; appends start at `size`, anything after is cut. */
  static openAppendable(id: FileId, path: string, size?: number): DataFile {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    const actual = fs.fstatSync(fd).size;
    const keep = size ?? actual;
    if (actual !== keep) fs.ftruncateSync(fd, keep);
    return new DataFile(id, path, fd, keep, true);
  }

  /** Whether this file accepts appends. */
  get appendable(): boolean {
    return this.buffer !== undefined;
  }

  /** Logical size: bytes in the file plus bytes still buffered. */
  get size(): number {
    return this.written + this.buffered;
  }

  /** Bytes not yet handed to the OS. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Appends one record (with an expiry when `expiresAt`, ms since the epoch, is not 0)
   * and returns its offset. Large records bypass the buffer.
   */
  appendRecord(key: Uint8Array, value: Uint8Array, tombstone: boolean, tstamp: number, expiresAt = 0): number {
    const buffer = this.buffer;
    if (!buffer) throw new TypeError(`${this.path} is not open for appends`);
    const size = recordSize(key.length, value.length, expiresAt);
    if (this.buffered + size > buffer.length) this.flush();
    const offset = this.size;
    if (size > buffer.length) {
      const rec = Buffer.allocUnsafe(size);
      encodeRecordInto(rec, 0, key, value, tombstone, tstamp, expiresAt);
      this.writeAt(rec, size, offset);
      this.written += size;
      return offset;
    }
    encodeRecordInto(buffer, this.buffered, key, value, tombstone, tstamp, expiresAt);
    this.buffered += size;
    return offset;
  }

  /** Appends an already encoded record (`bytes` exactly, e.g. copied by a merge) and returns its offset. */
  appendEncoded(bytes: Buffer): number {
    const buffer = this.buffer;
    if (!buffer) throw new TypeError(`${this.path} is not open for appends`);
    if (this.buffered + bytes.length > buffer.length) this.flush();
    const offset = this.size;
    if (bytes.length > buffer.length) {
      this.writeAt(bytes, bytes.length, offset);
      this.written += bytes.length;
      return offset;
    }
    bytes.copy(buffer, this.buffered);
    this.buffered += bytes.length;
    return offset;
  }

  /**
   * Hands buffered records to the OS. On failure (a full disk) the file is cut back to
   * its last whole record and the buffer is kept, so a later flush can retry.
   */
  flush(): void {
    if (this.buffered === 0 || !this.buffer) return;
    this.writeAt(this.buffer, this.buffered, this.written);
    this.written += this.buffered;
    this.buffered = 0;
  }

  /** Reads `length` bytes at `offset`, from the write buffer when they are still there. */
  read(offset: number, length: number): Buffer {
    if (offset >= this.written && this.buffer) {
      const start = offset - this.written;
      return Buffer.from(this.buffer.subarray(start, Math.max(start, Math.min(start + length, this.buffered))));
    }
    const out = Buffer.allocUnsafe(length);
    const n = readFully(this.fd, out, length, offset);
    return n === length ? out : out.subarray(0, n);
  }

  /** Flushes and waits for the data to be on stable storage. */
  syncNow(): void {
    this.flush();
    fs.fdatasyncSync(this.fd);
  }

  /** Stops appends: flushes and drops the write buffer. */
  seal(): void {
    this.flush();
    this.buffer = undefined;
  }

  /** Closes the descriptor, always; buffered bytes are flushed first (a flush error is raised after closing). */
  close(): void {
    try {
      if (this.buffer) this.flush();
    } finally {
      this.buffer = undefined;
      fs.closeSync(this.fd);
    }
  }

  private writeAt(buf: Buffer, length: number, position: number): void {
    try {
      writeFully(this.fd, buf, length, position);
    } catch (err) {
      try {
        fs.ftruncateSync(this.fd, this.written);
      } catch {
        // The write error is the one worth reporting.
      }
      throw err;
    }
  }
}
