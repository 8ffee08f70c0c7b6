import { PassThrough, Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { encodeCommand } from '../../../src/core/resp/index.js';
import { encodeStateRecord, exportSnapshot, jsonLine, type StateRecord } from '../../../src/core/snapshot/index.js';

const rec = (key: Buffer | string, value: Buffer | string): StateRecord => ({ key: Buffer.from(key), value: Buffer.from(value) });

/** A state.bin of `records`, built with plain zlib. */
const stateBin = (records: StateRecord[]): Buffer => zlib.gzipSync(Buffer.concat(records.map((r) => encodeStateRecord(r.key, r.value))));

/** A Writable collecting what it gets, optionally slowly and with a tiny high-water mark. */
function sink(opts: { slow?: boolean } = {}): { stream: Writable; data: () => Buffer; writes: () => number } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: opts.slow ? 1 : 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      if (opts.slow) setTimeout(cb, 1);
      else cb();
    },
  });
  return { stream, data: () => Buffer.concat(chunks), writes: () => chunks.length };
}

const RECORDS = [
  rec('', 'value of the empty key'),
  rec('k', ''),
  rec(Buffer.from([0xff, 0x00, 0x0d, 0x0a]), Buffer.from([0x80, 0x0d, 0x0a, 0x00])),
  rec('kutf8-ключ', 'значение ✓ "quoted" \\ \n'),
  rec('plain', 'value'),
];

t.test('resp: one SET per record, byte for byte as the resp encoder writes it', async (t) => {
  const out = sink();
  const report = await exportSnapshot(Readable.from([stateBin(RECORDS)]), out.stream, { file: 'x' });
  const expected = Buffer.concat(RECORDS.map((r) => encodeCommand(['SET', r.key, r.value])));
  t.same(out.data(), expected);
  t.same(report, { records: RECORDS.length, skipped: 0, bytes: expected.length });
});

t.test('json: one object per line; base64 fields for bytes that are not UTF-8', async (t) => {
  const out = sink();
  const report = await exportSnapshot(Readable.from([stateBin(RECORDS)]), out.stream, { file: 'x', format: 'json' });
  const lines = out.data().toString('utf8').split('\n');
  t.equal(lines.pop(), '');
  t.equal(lines.length, RECORDS.length);
  t.equal(lines[0], '{"key":"","value":"value of the empty key"}');
  t.equal(lines[2], `{"key64":"${Buffer.from([0xff, 0x00, 0x0d, 0x0a]).toString('base64')}","value64":"${Buffer.from([0x80, 0x0d, 0x0a, 0x00]).toString('base64')}"}`);
  const decoded = lines.map((l) => JSON.parse(l) as Record<string, string>).map((o) => ({
    key: o.key !== undefined ? Buffer.from(o.key, 'utf8') : Buffer.from(o.key64!, 'base64'),
    value: o.value !== undefined ? Buffer.from(o.value, 'utf8') : Buffer.from(o.value64!, 'base64'),
  }));
  t.same(decoded, RECORDS, 'every record round-trips');
  t.equal(report.records, RECORDS.length);
  t.equal(jsonLine(rec('a', 'b')), '{"key":"a","value":"b"}\n');
});

t.test('kvnode strips the k byte and skips (counts) other keys', async (t) => {
  const out = sink();
  const report = await exportSnapshot(Readable.from([stateBin(RECORDS)]), out.stream, { file: 'x', kvnode: true });
  t.same(out.data(), Buffer.concat([encodeCommand(['SET', '', '']), encodeCommand(['SET', 'utf8-ключ', RECORDS[3]!.value])]));
  t.equal(report.records, 2);
  t.equal(report.skipped, 3, 'the empty key, a binary key and "plain"');
});

t.test('countOnly counts without writing; no output stream is needed', async (t) => {
  const out = sink();
  t.same(await exportSnapshot(Readable.from([stateBin(RECORDS)]), out.stream, { file: 'x', countOnly: true }), { records: 5, skipped: 0, bytes: 0 });
  t.equal(out.writes(), 0);
  t.same(await exportSnapshot(Readable.from([stateBin(RECORDS)]), undefined, { file: 'x', kvnode: true }), { records: 2, skipped: 3, bytes: 0 });
});

t.test('records larger than an output chunk go out whole (resp and json)', async (t) => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const records = [rec('small', 'x'), rec('big', big), rec('after', 'y'), rec(big.subarray(0, 2 * 1024 * 1024), 'big key')];
  const out = sink();
  await exportSnapshot(Readable.from([stateBin(records)]), out.stream, { file: 'x' });
  t.ok(out.data().equals(Buffer.concat(records.map((r) => encodeCommand(['SET', r.key, r.value])))));
  const json = sink();
  await exportSnapshot(Readable.from([stateBin(records)]), json.stream, { file: 'x', format: 'json' });
  t.ok(json.data().equals(Buffer.from(records.map(jsonLine).join(''))));
});

t.test('a slow output applies backpressure; the output is batched into large chunks', async (t) => {
  const records = Array.from({ length: 30_000 }, (_, i) => rec(`key:${i}`, `value:${i}`.repeat(5)));
  const out = sink({ slow: true });
  const progress: number[] = [];
  const report = await exportSnapshot(Readable.from([stateBin(records)]), out.stream, { file: 'x', onProgress: (n) => progress.push(n) });
  t.equal(report.records, 30_000);
  t.ok(out.data().equals(Buffer.concat(records.map((r) => encodeCommand(['SET', r.key, r.value])))));
  t.ok(out.writes() < 10, `few large writes (${out.writes()})`);
  t.equal(progress.at(-1), 30_000);
  t.ok(progress.length > 1, 'progress after every batch');
});

t.test('an output error (e.g. EPIPE) stops the export and is rethrown', async (t) => {
  const records = Array.from({ length: 50_000 }, (_, i) => rec(`key:${i}`, 'v'.repeat(50)));
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  let writes = 0;
  const broken = new Writable({
    highWaterMark: 1,
    write(_chunk, _enc, cb) {
      writes++;
      setTimeout(() => cb(epipe), 1);
    },
  });
  await t.rejects(exportSnapshot(Readable.from([stateBin(records)]), broken, { file: 'x' }), { code: 'EPIPE' });
  t.equal(writes, 1, 'nothing more is written after the error');
  t.doesNotThrow(() => broken.emit('error', epipe), 'a late error is swallowed');

  // A stream destroyed before the export starts emits no more 'error': the write fails.
  const early = new PassThrough();
  early.on('error', () => {});
  early.destroy(epipe);
  await new Promise((r) => setImmediate(r));
  await t.rejects(exportSnapshot(Readable.from([stateBin(records.slice(0, 10))]), early, { file: 'x' }), { code: 'ERR_STREAM_DESTROYED' });
});

t.test('a corrupt snapshot is rethrown after the records before the fault are written', async (t) => {
  const whole = Buffer.concat([encodeStateRecord(Buffer.from('a'), Buffer.from('1')), encodeStateRecord(Buffer.from('b'), Buffer.from('2'))]);
  const out = sink();
  await t.rejects(exportSnapshot(Readable.from([zlib.gzipSync(whole.subarray(0, whole.length - 1))]), out.stream, { file: 'cut.bin' }), {
    code: 'CORRUPT',
    message: /cut\.bin at offset 18: truncated: record 2/,
  });
  t.same(out.data(), encodeCommand(['SET', 'a', '1']));
});
