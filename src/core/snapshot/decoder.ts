import { CorruptionError } from '../support/errors.js';

/** One key/value pair of a snapshot's state. The buffers may share memory with the input chunk. */
export interface StateRecord {
  key: Buffer;
  value: Buffer;
}

/** Largest key or value the reader accepts by default (512 MiB); a larger length is reported as corrupt. */
export const DEFAULT_MAX_FIELD_BYTES = 512 * 1024 * 1024;

/** Options of `StateRecordDecoder`. */
export interface StateDecoderOptions {
  /** Names the input in errors (a path, or `<stdin>`). */
  file: string;
  /** Largest key or value length accepted; default `DEFAULT_MAX_FIELD_BYTES`. */
  maxFieldBytes?: number;
}

const enum Phase {
  KeyLength,
  Key,
  ValueLength,
  Value,
}

const LENGTH_BYTES = 8;
/** The first size of the buffer of a field split across chunks, unless the field is smaller. */
const MIN_PARTIAL = 64 * 1024;

/**
 * Incremental decoder of the *decompressed* `state.bin` record stream:
 * `[u64 LE key length][key][u64 LE value length][value]` repeated, no header or trailer.
 * Feed it chunks split anywhere with `write`; it returns every record completed by the
 * chunk. Memory is bounded by one record, and by what has arrived: a field split across
 * chunks is copied into a buffer that grows with the bytes received (doubling from 64 KiB,
 * ending at exactly the field's length), so an announced length never allocates more
 * than twice the bytes that arrived plus 64 KiB; a complete field is a zero-copy slice of
 * the chunk. A length above `maxFieldBytes` (or beyond 2^53) throws a `CorruptionError`
 * at the offset of that length field in the decompressed stream, before anything is
 * allocated; `end` throws one if the stream stops inside a record.
 */
export class StateRecordDecoder {
  private readonly file: string;
  private readonly maxFieldBytes: number;
  private phase = Phase.KeyLength;
  /** Decompressed bytes consumed so far. */
  private consumed = 0;
  /** Decompressed offset at which the current record starts. */
  private recordStart = 0;
  private recordCount = 0;
  /** A length field split across chunks. */
  private readonly lengthBytes = Buffer.alloc(LENGTH_BYTES);
  private lengthFill = 0;
  /** A key or value split across chunks (its buffer, possibly not yet of its full length), and how much of it is filled. */
  private partial: Buffer | undefined;
  private partialFill = 0;
  private fieldLength = 0;
  private key: Buffer = Buffer.alloc(0);
  /** A fault found after some records of a chunk: thrown by the next `write` or `end`. */
  private failure: Error | undefined;

  constructor(options: StateDecoderOptions) {
    this.file = options.file;
    this.maxFieldBytes = options.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  }

  /** Number of complete records decoded so far. */
  get records(): number {
    return this.recordCount;
  }

  /** Decompressed bytes consumed so far. */
  get offset(): number {
    return this.consumed;
  }

  /**
   * Decodes `chunk` (the next decompressed bytes) and returns the records it completes, in
   * order. On a fault, the records before it are returned first and the error is thrown by
   * the next `write` or `end` call (so callers see every good record before the error).
   */
  write(chunk: Buffer): StateRecord[] {
    if (this.failure) throw this.failure;
    const out: StateRecord[] = [];
    try {
      this.decode(chunk, out);
    } catch (err) {
      if (out.length === 0) throw err;
      this.failure = err as Error;
    }
    return out;
  }

  private decode(chunk: Buffer, out: StateRecord[]): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.phase === Phase.KeyLength && this.lengthFill === 0 && end - pos >= LENGTH_BYTES) {
        // Fast path: a whole record inside the chunk is sliced without copying.
        const klen = this.checkedLength(chunk, pos, this.consumed, 'key');
        const vpos = pos + LENGTH_BYTES + klen;
        if (vpos + LENGTH_BYTES <= end) {
          const vlen = this.checkedLength(chunk, vpos, this.consumed + (vpos - pos), 'value');
          const stop = vpos + LENGTH_BYTES + vlen;
          if (stop <= end) {
            out.push({ key: chunk.subarray(pos + LENGTH_BYTES, vpos), value: chunk.subarray(vpos + LENGTH_BYTES, stop) });
            this.recordCount++;
            this.consumed += stop - pos;
            this.recordStart = this.consumed;
            pos = stop;
            continue;
          }
        }
      }
      pos = this.step(chunk, pos, out);
    }
  }

  /**
   * Declares the end of the decompressed stream: throws a pending fault, or a
   * `CorruptionError` at the start of the unfinished record if the stream stops inside
   * one. Returns the number of records.
   */
  end(): number {
    if (this.failure) throw this.failure;
    if (this.phase !== Phase.KeyLength || this.lengthFill !== 0) {
      const part = ['key length', 'key', 'value length', 'value'][this.phase];
      throw new CorruptionError(
        this.file,
        this.recordStart,
        `truncated: record ${this.recordCount + 1} at decompressed byte ${this.recordStart} is cut off in its ${part}; the stream ends at decompressed byte ${this.consumed}`,
      );
    }
    return this.recordCount;
  }

  /** Slow path: consumes part of a record that may be split across chunks; returns the new position. */
  private step(chunk: Buffer, pos: number, out: StateRecord[]): number {
    if (this.phase === Phase.KeyLength || this.phase === Phase.ValueLength) {
      const take = Math.min(LENGTH_BYTES - this.lengthFill, chunk.length - pos);
      const fieldStart = this.consumed - this.lengthFill;
      chunk.copy(this.lengthBytes, this.lengthFill, pos, pos + take);
      this.lengthFill += take;
      this.consumed += take;
      if (this.lengthFill === LENGTH_BYTES) {
        this.lengthFill = 0;
        const isKey = this.phase === Phase.KeyLength;
        this.fieldLength = this.checkedLength(this.lengthBytes, 0, fieldStart, isKey ? 'key' : 'value');
        this.phase = isKey ? Phase.Key : Phase.Value;
        if (this.fieldLength === 0) this.finishField(Buffer.alloc(0), out);
      }
      return pos + take;
    }
    const available = chunk.length - pos;
    if (this.partial === undefined && available >= this.fieldLength) {
      this.consumed += this.fieldLength;
      this.finishField(chunk.subarray(pos, pos + this.fieldLength), out);
      return pos + this.fieldLength;
    }
    const take = Math.min(this.fieldLength - this.partialFill, available);
    const partial = this.reserve(take);
    chunk.copy(partial, this.partialFill, pos, pos + take);
    this.partialFill += take;
    this.consumed += take;
    if (this.partialFill === this.fieldLength) this.finishField(partial, out);
    return pos + take;
  }

  /**
   * The buffer of the split field, with room for `more` bytes after those filled: it grows
   * (doubling, at least 64 KiB) with the bytes that arrive, never beyond the field's length,
   * which it reaches exactly when the field is complete.
   */
  private reserve(more: number): Buffer {
    const need = this.partialFill + more;
    const have = this.partial?.length ?? 0;
    if (this.partial !== undefined && need <= have) return this.partial;
    const grown = Buffer.allocUnsafe(Math.min(this.fieldLength, Math.max(need, 2 * have, MIN_PARTIAL)));
    this.partial?.copy(grown, 0, 0, this.partialFill);
    this.partial = grown;
    return grown;
  }

  private finishField(field: Buffer, out: StateRecord[]): void {
    this.partial = undefined;
    this.partialFill = 0;
    if (this.phase === Phase.Key) {
      this.key = field;
      this.phase = Phase.ValueLength;
      return;
    }
    out.push({ key: this.key, value: field });
    this.recordCount++;
    this.recordStart = this.consumed;
    this.phase = Phase.KeyLength;
  }

  /** Reads the u64 LE length at `buf[at]`, found at decompressed byte `offset`; throws if above the limit. */
  private checkedLength(buf: Buffer, at: number, offset: number, what: 'key' | 'value'): number {
    const length = buf.readUInt32LE(at + 4) * 2 ** 32 + buf.readUInt32LE(at);
    if (length > this.maxFieldBytes) {
      throw new CorruptionError(
        this.file,
        offset,
        `record ${this.recordCount + 1} at decompressed byte ${this.recordStart} has a ${what} length of ${buf.readBigUInt64LE(at)} bytes at decompressed byte ${offset}, above the limit of ${this.maxFieldBytes}: not a valid snapshot`,
      );
    }
    return length;
  }
}
