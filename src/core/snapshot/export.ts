import { isUtf8 } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import type { StateRecord } from './decoder.js';
import { withExpiries } from './expiry-records.js';
import { readStateBatches } from './state-file.js';

/** Output formats of `exportSnapshot`. */
export type SnapshotFormat = 'resp' | 'json';

/** Options of `exportSnapshot`. */
export interface ExportOptions {
  /** Names the input in errors. */
  file: string;
  /**
   * `resp` (default): `SET key value` commands (`SET key value PXAT ms` for a key that
   * expires); `json`: one object per line (see `jsonLine`).
   */
  format?: SnapshotFormat;
  /** Strip the leading `k` byte of kvnode keys; keys without it are skipped and counted. */
  kvnode?: boolean;
  /** Only count the records; nothing is written. */
  countOnly?: boolean;
  /** Largest key or value length accepted by the reader. */
  maxFieldBytes?: number;
  /** Called after every batch with the records seen so far (for progress displays). */
  onProgress?: (records: number) => void;
}

/** What `exportSnapshot` did. */
export interface ExportReport {
  /** Records written (or counted with `countOnly`), after the kvnode filter. */
  records: number;
  /** Records skipped by the kvnode filter (keys not starting with `k`). */
  skipped: number;
  /** Bytes written to the output. */
  bytes: number;
}

/** Size of the chunks handed to the output stream. */
const OUT_CHUNK = 1024 * 1024;
const K = 0x6b;

const SET_HEADER = Buffer.from('*3\r\n$3\r\nSET\r\n$', 'latin1');

/**
 * Streams the snapshot read from `input` (see `readStateBatches`) to `output` as RESP
 * `SET` commands or JSON lines, in constant memory: output is batched into chunks of about
 * 1 MiB and the reader waits while `output` applies backpressure. Binary keys and values
 * are copied byte for byte. Resolves once everything is written (it does not end `output`);
 * rejects with the reader's error (CORRUPT for a bad or truncated snapshot, after writing
 * the records before the fault) or with `output`'s error (e.g. EPIPE).
 */
export async function exportSnapshot(input: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, output: Writable | undefined, options: ExportOptions): Promise<ExportReport> {
  const report: ExportReport = { records: 0, skipped: 0, bytes: 0 };
  const sink = options.countOnly || output === undefined ? undefined : new ChunkedWriter(output);
  const encode = options.format === 'json' ? encodeJson : encodeResp;
  let seen = 0;
  try {
    for await (const batch of withExpiries(readStateBatches(input, { file: options.file, maxFieldBytes: options.maxFieldBytes }), options.file)) {
      seen += batch.length;
      for (const record of batch) {
        let key = record.key;
        if (options.kvnode) {
          if (key.length === 0 || key[0] !== K) {
            report.skipped++;
            continue;
          }
          key = key.subarray(1);
        }
        report.records++;
        if (sink) encode(sink, key, record.value, record.expiresAt);
      }
      if (sink) await sink.settle();
      options.onProgress?.(seen);
    }
  } finally {
    if (sink) {
      await sink.flush();
      report.bytes = sink.bytes;
      sink.dispose();
    }
  }
  return report;
}

/** Appends `SET key value` (with `PXAT expiresAt` when it is not 0) in RESP to `sink`. */
function encodeResp(sink: ChunkedWriter, key: Buffer, value: Buffer, expiresAt: number): void {
  const klen = String(key.length);
  const vlen = String(value.length);
  const size = SET_HEADER.length + klen.length + 2 + key.length + 3 + vlen.length + 2 + value.length + 2;
  if (size > OUT_CHUNK || expiresAt > 0) {
    // A huge record (its key and value go out as they are, without another copy), or one that expires.
    const ms = String(expiresAt);
    sink.push(Buffer.from(`*${expiresAt > 0 ? 5 : 3}\r\n$3\r\nSET\r\n$${klen}\r\n`, 'latin1'));
    sink.push(key);
    sink.push(Buffer.from(`\r\n$${vlen}\r\n`, 'latin1'));
    sink.push(value);
    sink.push(Buffer.from(expiresAt > 0 ? `\r\n$4\r\nPXAT\r\n$${ms.length}\r\n${ms}\r\n` : '\r\n', 'latin1'));
    return;
  }
  const buf = sink.reserve(size);
  let at = sink.used;
  at += SET_HEADER.copy(buf, at);
  at += buf.write(klen, at, 'latin1');
  buf[at++] = 13;
  buf[at++] = 10;
  at += key.copy(buf, at);
  buf[at++] = 13;
  buf[at++] = 10;
  buf[at++] = 36;
  at += buf.write(vlen, at, 'latin1');
  buf[at++] = 13;
  buf[at++] = 10;
  at += value.copy(buf, at);
  buf[at++] = 13;
  buf[at++] = 10;
  sink.used = at;
}

/**
 * One JSON line for a record: `{"key":"…","value":"…"}` when the bytes are valid UTF-8,
 * with `key64`/`value64` (standard base64) in place of a field that is not; so every
 * record round-trips byte for byte. A key that expires gets `"expiresAt":<ms since the epoch>`.
 */
export function jsonLine(record: StateRecord & { expiresAt?: number }): string {
  const key = isUtf8(record.key) ? `"key":${JSON.stringify(record.key.toString('utf8'))}` : `"key64":"${record.key.toString('base64')}"`;
  const value = isUtf8(record.value) ? `"value":${JSON.stringify(record.value.toString('utf8'))}` : `"value64":"${record.value.toString('base64')}"`;
  const expiry = record.expiresAt ? `,"expiresAt":${record.expiresAt}` : '';
  return `{${key},${value}${expiry}}\n`;
}

function encodeJson(sink: ChunkedWriter, key: Buffer, value: Buffer, expiresAt: number): void {
  const line = Buffer.from(jsonLine({ key, value, expiresAt }), 'utf8');
  if (line.length > OUT_CHUNK) {
    sink.push(line);
    return;
  }
  const buf = sink.reserve(line.length);
  sink.used += line.copy(buf, sink.used);
}

/**
 * Batches small writes into ~1 MiB chunks for a Writable and waits for 'drain' when it
 * applies backpressure; the first error of the stream (or of a write to it) is rethrown by
 * `settle`/`flush`, and nothing more is written after it.
 */
class ChunkedWriter {
  private chunk = Buffer.allocUnsafe(OUT_CHUNK);
  /** Bytes of `chunk` filled. */
  used = 0;
  bytes = 0;
  private error: Error | undefined;
  private waiting = false;
  private readonly onError = (err: Error): void => {
    this.error ??= err;
    this.wake?.();
  };
  private wake: (() => void) | undefined;
  /** Also catches writes to a stream destroyed earlier, which emits no 'error'. */
  private readonly onWritten = (err?: Error | null): void => {
    if (err) this.onError(err);
  };

  constructor(private readonly output: Writable) {
    output.on('error', this.onError);
  }

  /** The current chunk, flushed first if it has less than `size` bytes free. */
  reserve(size: number): Buffer {
    if (this.used + size > OUT_CHUNK) this.emit();
    return this.chunk;
  }

  /** Writes `buf` (after the pending bytes) without copying it. */
  push(buf: Buffer): void {
    this.emit();
    this.send(buf);
  }

  /** Waits while the output is over its high-water mark; rethrows an output error. */
  async settle(): Promise<void> {
    if (this.waiting && !this.error) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.output.once('drain', resolve);
      });
      this.output.off('drain', this.wake!);
      this.wake = undefined;
      this.waiting = false;
    }
    if (this.error) throw this.error;
  }

  /** Writes the pending bytes, then `settle`s. */
  async flush(): Promise<void> {
    this.emit();
    await this.settle();
  }

  dispose(): void {
    this.output.off('error', this.onError);
    // A late EPIPE after we are done must not become an uncaught exception.
    this.output.on('error', () => {});
  }

  private emit(): void {
    if (this.used === 0) return;
    this.send(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(OUT_CHUNK);
    this.used = 0;
  }

  private send(buf: Buffer): void {
    if (this.error) return;
    this.bytes += buf.length;
    if (!this.output.write(buf, this.onWritten)) this.waiting = true;
  }
}
