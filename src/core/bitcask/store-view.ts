import { BitraftError, CorruptionError } from '../support/errors.js';
import { readFully, type DataFile } from './datafile.js';
import { NO_FILE, type LocationSnapshot } from './keydir.js';
import { decodeRecord, peekRecordSize, RECORD_HEADER_SIZE, type DecodedRecord } from './record.js';

/** One key and its value, as a view gives them, with its expiry (ms since the epoch; 0: never). */
export interface ViewRecord {
  key: Buffer;
  value: Buffer;
  expiresAt: number;
}

/** A key that expires, and when (ms since the epoch). */
export interface ExpiringKey {
  key: Buffer;
  expiresAt: number;
}

/** How large the batches of `StoreView.batches` are. */
export interface ViewBatchOptions {
  /** Most records in a batch (default 4096). */
  maxKeys?: number;
  /** A batch ends once its keys and values reach this many bytes (default 1 MiB); a single larger record is a batch of its own. */
  maxBytes?: number;
}

const DEFAULT_MAX_KEYS = 4096;
const DEFAULT_MAX_BYTES = 1 << 20;
/** Largest read into the scratch buffer. */
const MAX_RUN = 1 << 20;
/** Largest gap of dead bytes read over to join two live records into one read. */
const MAX_GAP = 16 << 10;
/** Bytes read past the last record start of a run, to take that record in the same read. */
const TAIL = 4096;

/**
 * A point-in-time view of a store (`Bitcask.openView`): every key that was live when it
 * was opened, with the value it had then, while writes, rotations and merges go on.
 *
 * It holds a copy of the keydir's record locations of that moment and the data files
 * they point into: records never change, and the store keeps those files (a merge
 * defers deleting its inputs, a replace its old files) until every view opened before
 * is closed — so close a view as soon as it is done. `batches` closes it when the walk
 * ends, fails, or its consumer stops early; `close` is idempotent. Closing the store
 * closes its views: a walk then fails with `CLOSED`.
 */
export class StoreView {
  /** Number of keys the view holds: the store's live keys when it was opened. */
  readonly size: number;
  /** Resolves once the view is closed. */
  readonly closed: Promise<void>;
  private closedError: BitraftError | undefined;
  private started = false;
  private resolveClosed!: () => void;

  /**
   * @internal Created by `Bitcask.openView`. `expiring` lists the keys of the view that
   * expire, which its records also say one by one.
   */
  constructor(
    private readonly locations: LocationSnapshot,
    private readonly files: readonly (DataFile | undefined)[],
    private readonly onClose: (view: StoreView) => void,
    readonly expiring: readonly ExpiringKey[] = [],
  ) {
    this.size = locations.size;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Whether the view is closed (by `close`, by the end of `batches`, or by the store closing). */
  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  /**
   * Every record of the view, once each, in batches of at most `maxKeys` records and
   * about `maxBytes` bytes of keys and values. Order: by data file, and by offset within
   * a file (so the files are read front to back, many records a read) — not key order.
   * Yields to the event loop (`setImmediate`) after each batch so other I/O proceeds.
   * Each record is checked (`CorruptionError` if its checksum fails); the value cache is
   * not touched. The buffers are the caller's.
   *
   * May be called once. The view closes when the walk ends or fails, or when the
   * consumer stops early; a walk of a closed view (or of a store closed meanwhile)
   * fails with `CLOSED`.
   */
  async *batches(opts: ViewBatchOptions = {}): AsyncGenerator<ViewRecord[]> {
    const maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_MAX_KEYS);
    const maxBytes = Math.max(1, opts.maxBytes ?? DEFAULT_MAX_BYTES);
    if (this.started) throw new BitraftError('INVALID_ARGUMENT', 'a view can be walked only once');
    this.started = true;
    try {
      this.checkOpen();
      const records = this.records();
      for (;;) {
        const batch: ViewRecord[] = [];
        let bytes = 0;
        let done = false;
        while (batch.length < maxKeys && bytes < maxBytes) {
          const step = records.next();
          if (step.done) {
            done = true;
            break;
          }
          batch.push(step.value);
          bytes += step.value.key.length + step.value.value.length;
        }
        if (batch.length > 0) yield batch;
        if (done) return;
        await new Promise((resolve) => setImmediate(resolve));
        this.checkOpen();
      }
    } finally {
      this.close();
    }
  }

  /** Releases the view: the store may delete the files it kept for it. Idempotent. */
  close(): void {
    this.closeWith(new BitraftError('CLOSED', 'the view is closed'));
  }

  /** @internal Closes the view because its store is closing: a walk then fails with `err`. */
  closeWith(err: BitraftError): void {
    if (this.closedError) return;
    this.closedError = err;
    this.onClose(this);
    this.resolveClosed();
  }

  private checkOpen(): void {
    if (this.closedError) throw this.closedError;
  }

  /** The records of the view, file by file in offset order. */
  private *records(): Generator<ViewRecord> {
    const { starts, offsets } = offsetsByFile(this.locations, this.files.length);
    const scratch = Buffer.allocUnsafe(MAX_RUN);
    for (let f = 0; f < this.files.length; f++) {
      if (starts[f] === starts[f + 1]) continue;
      yield* fileRecords(this.files[f]!, offsets.subarray(starts[f], starts[f + 1]), scratch);
    }
  }
}

/**
 * The records at `list` (sorted offsets) of one file. Records close together are read
 * with one read into `scratch`; a record that does not fit a run, or lies in the write
 * buffer of an active file, is read on its own through `DataFile.read`.
 */
function* fileRecords(file: DataFile, list: Uint32Array, scratch: Buffer): Generator<ViewRecord> {
  for (let i = 0; i < list.length; ) {
    const start = list[i]!;
    let j = i + 1;
    while (j < list.length && list[j]! - list[j - 1]! <= MAX_GAP && list[j]! - start <= MAX_RUN - TAIL) j++;
    // Re-read each run: a walk pauses between batches, and the active file may have flushed meanwhile.
    const onDisk = file.size - file.pendingBytes;
    const end = Math.min(onDisk, list[j - 1]! + TAIL);
    const got = end > start ? readFully(file.fd, scratch, end - start, start) : 0;
    for (; i < j; i++) {
      const rec = decodeRecord(scratch, list[i]! - start, got);
      if (rec.kind === 'ok') yield copyOut(scratch, rec);
      else if (rec.kind === 'incomplete') yield readAlone(file, list[i]!);
      else throw new CorruptionError(file.path, list[i]!, rec.reason);
    }
  }
}

/** Reads and checks the record at `offset` of `file` with two reads (header, then record). */
function readAlone(file: DataFile, offset: number): ViewRecord {
  const head = file.read(offset, RECORD_HEADER_SIZE);
  const size = peekRecordSize(head, 0);
  const raw = size < 0 ? head : file.read(offset, size);
  const rec = decodeRecord(raw, 0);
  if (rec.kind !== 'ok') throw new CorruptionError(file.path, offset, rec.kind === 'corrupt' ? rec.reason : 'record cut short');
  return copyOut(raw, rec);
}

/** Copies a decoded record's key and value out of `buf` into one new buffer. */
function copyOut(buf: Buffer, rec: DecodedRecord): ViewRecord {
  const keyLength = rec.keyEnd - rec.keyStart;
  const copy = Buffer.allocUnsafe(keyLength + rec.end - rec.valueStart);
  buf.copy(copy, 0, rec.keyStart, rec.keyEnd);
  buf.copy(copy, keyLength, rec.valueStart, rec.end);
  return { key: copy.subarray(0, keyLength), value: copy.subarray(keyLength), expiresAt: rec.expiresAt };
}

/**
 * The offsets of the live records, grouped by file (a counting sort) and sorted within
 * each: file `f`'s are `offsets[starts[f]..starts[f + 1])`.
 */
export function offsetsByFile(loc: LocationSnapshot, fileCount: number): { starts: Uint32Array; offsets: Uint32Array } {
  const starts = new Uint32Array(fileCount + 1);
  const files = loc.files;
  for (let s = 0; s < files.length; s++) if (files[s] !== NO_FILE) starts[files[s]! + 1]!++;
  for (let f = 0; f < fileCount; f++) starts[f + 1]! += starts[f]!;
  const offsets = new Uint32Array(starts[fileCount]!);
  const next = starts.slice(0, fileCount);
  for (let s = 0; s < files.length; s++) if (files[s] !== NO_FILE) offsets[next[files[s]!]!++] = loc.offsets[s]!;
  const temp = new Uint32Array(offsets.length);
  for (let f = 0; f < fileCount; f++) sortUint32(offsets.subarray(starts[f], starts[f + 1]), temp);
  return { starts, offsets };
}

const RADIX_MIN = 2048;

/**
 * Sorts `a` in place, ascending: a two-pass radix sort (16 bits a pass, `temp` at least
 * as long as `a`) for long arrays — linear, however shuffled — and the built-in sort
 * for short ones.
 */
export function sortUint32(a: Uint32Array, temp: Uint32Array): void {
  if (a.length < RADIX_MIN) {
    a.sort();
    return;
  }
  const t = temp.subarray(0, a.length);
  const count = new Uint32Array(65537);
  for (const [src, dst, shift] of [
    [a, t, 0],
    [t, a, 16],
  ] as const) {
    count.fill(0);
    for (let i = 0; i < src.length; i++) count[((src[i]! >>> shift) & 0xffff) + 1]!++;
    for (let d = 0; d < 65536; d++) count[d + 1]! += count[d]!;
    for (let i = 0; i < src.length; i++) dst[count[(src[i]! >>> shift) & 0xffff]!++] = src[i]!;
  }
}
