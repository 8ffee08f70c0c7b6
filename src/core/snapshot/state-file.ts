import fs from 'node:fs';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import { BitraftError, CorruptionError } from '../support/errors.js';
import { StateRecordDecoder, type StateRecord } from './decoder.js';

/** Options of `readStateBatches`. */
export interface ReadStateOptions {
  /** Names the input in errors; default `state.bin`. */
  file?: string;
  /** Largest key or value length accepted; see `DEFAULT_MAX_FIELD_BYTES`. */
  maxFieldBytes?: number;
}

/** Decompressed bytes per gunzip output chunk: large enough that per-chunk overhead vanishes. */
const GUNZIP_CHUNK = 256 * 1024;

/**
 * Streams the records of a `state.bin` (a gzip stream of u64-LE length-prefixed key/value
 * pairs, see SPEC §3) from `input` (a file or stdin stream, or any iterable of compressed
 * chunks), in batches: each batch holds the records completed by one decompressed chunk,
 * in file order, and is valid until the next one is requested. Memory stays bounded by one
 * chunk plus one record. Ends normally after the last record; throws a `CorruptionError`
 * (code CORRUPT) when the gzip layer fails (not gzip, bad checksum, cut off: the message
 * says it is a gzip problem, with the compressed byte offset), when a length is impossible,
 * or when the stream ends inside a record (offsets in the decompressed stream). An empty
 * gzip stream holds 0 records.
 */
export async function* readStateBatches(input: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, options: ReadStateOptions = {}): AsyncGenerator<StateRecord[], number> {
  const file = options.file ?? 'state.bin';
  const decoder = new StateRecordDecoder({ file, maxFieldBytes: options.maxFieldBytes });
  const gunzip = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK });
  let compressed = 0;
  let inputError: unknown;
  const feed = async (): Promise<void> => {
    try {
      for await (const chunk of input) {
        if (gunzip.destroyed) break;
        compressed += (chunk as Buffer).length;
        if (!gunzip.write(chunk)) await drainOrClose(gunzip);
      }
      gunzip.end();
    } catch (err) {
      // An error of the input itself (e.g. EISDIR): reported instead of gunzip's.
      inputError = err;
      gunzip.destroy(err as Error);
    }
  };
  const feeding = feed();
  const chunks = gunzip[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = (await chunks.next()) as IteratorResult<Buffer>;
      } catch (err) {
        await feeding;
        throw describeGzipFailure(file, err, inputError, compressed);
      }
      if (next.done) break;
      const batch = decoder.write(next.value);
      if (batch.length > 0) yield batch;
    }
  } finally {
    if (!gunzip.destroyed) gunzip.destroy();
  }
  await feeding;
  return decoder.end();
}

/** Resolves when `stream` drains or closes (a destroyed stream never drains). */
function drainOrClose(stream: zlib.Gunzip): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Turns a failure while reading or gunzipping into the error reported to the user. */
function describeGzipFailure(file: string, err: unknown, inputError: unknown, compressed: number): Error {
  if (inputError !== undefined) return new BitraftError('IO', `cannot read snapshot ${file}: ${(inputError as Error).message}`, { cause: inputError });
  return new CorruptionError(file, compressed, `not a valid gzip stream (gzip error: ${(err as Error).message}; the offset counts compressed bytes read)`);
}

/**
 * Streams the records of `input` one by one; same contract as `readStateBatches` (which it
 * wraps), returning the number of records. Keys and values may be slices of a shared chunk:
 * copy them to keep them past the next iteration.
 */
export async function* readStateRecords(input: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, options: ReadStateOptions = {}): AsyncGenerator<StateRecord, number> {
  const batches = readStateBatches(input, options);
  for (;;) {
    const next = await batches.next();
    if (next.done) return next.value;
    yield* next.value;
  }
}

/**
 * Opens `path` for `readStateBatches`/`readStateRecords`, or stdin for `-`. A missing file
 * is a BitraftError (INVALID_ARGUMENT) naming it, not a raw ENOENT.
 */
export async function openStateInput(path: string): Promise<{ input: Readable; file: string }> {
  if (path === '-') return { input: process.stdin, file: '<stdin>' };
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BitraftError('INVALID_ARGUMENT', `cannot read snapshot ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  return { input: handle.createReadStream({ highWaterMark: 256 * 1024 }), file: path };
}

/** Encodes one record in the state.bin layout (uncompressed): u64-LE key length, key, u64-LE value length, value. */
export function encodeStateRecord(key: Buffer, value: Buffer): Buffer {
  const out = Buffer.allocUnsafe(16 + key.length + value.length);
  out.writeBigUInt64LE(BigInt(key.length), 0);
  key.copy(out, 8);
  out.writeBigUInt64LE(BigInt(value.length), 8 + key.length);
  value.copy(out, 16 + key.length);
  return out;
}

/**
 * Writes `records` to `output` as a `state.bin` (gzip of `encodeStateRecord`s), respecting
 * backpressure, batching small records, and ends `output` once it has flushed everything.
 * Resolves with the number of records written; rejects if `output` or the iterable fails.
 */
export async function writeStateFile(records: Iterable<StateRecord> | AsyncIterable<StateRecord>, output: Writable, options: { level?: number } = {}): Promise<number> {
  const gzip = zlib.createGzip({ level: options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION });
  const piped = new Promise<void>((resolve, reject) => {
    gzip.once('error', reject);
    output.once('error', reject);
    output.once('finish', resolve);
  });
  piped.catch(() => {});
  gzip.pipe(output);
  let count = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const ok = gzip.write(pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
    if (!ok) await Promise.race([once(gzip, 'drain'), piped]);
  };
  try {
    for await (const { key, value } of records) {
      const encoded = encodeStateRecord(key, value);
      pending.push(encoded);
      pendingBytes += encoded.length;
      count++;
      if (pendingBytes >= 64 * 1024) await flush();
    }
    if (pendingBytes > 0) await flush();
  } catch (err) {
    gzip.destroy();
    throw err;
  }
  gzip.end();
  await piped;
  return count;
}
