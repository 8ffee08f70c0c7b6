import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { encodeStateRecord, openStateInput, readStateBatches, readStateRecords, writeStateFile, type StateRecord } from '../../../src/core/snapshot/index.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE, independentStateBin } from '../../helpers/state-bin.js';

const FIXTURE = GO_SNAPSHOT_FIXTURE;


async function collect(input: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, options = {}): Promise<{ records: [string, string][]; count: number }> {
  const records: [string, string][] = [];
  const it = readStateRecords(input, options);
  for (;;) {
    const next = await it.next();
    if (next.done) return { records, count: next.value };
    records.push([next.value.key.toString('hex'), next.value.value.toString('hex')]);
  }
}

/** Chunks of `data` of random sizes (seeded). */
function* randomChunks(data: Buffer, seed: number, max = 100): Generator<Buffer> {
  const rng = seededRng(seed);
  for (let at = 0; at < data.length; ) {
    const n = 1 + rng.int(max);
    yield data.subarray(at, at + n);
    at += n;
  }
}

t.test('the Go fixture is reproduced exactly, in file order', async (t) => {
  const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'contents.json'), 'utf8')) as {
    record_count: number;
    record_order_in_state_bin_hex: string[];
    keys: { key_hex: string; value_hex: string }[];
  };
  const { input, file } = await openStateInput(path.join(FIXTURE, 'state.bin'));
  t.equal(file, path.join(FIXTURE, 'state.bin'));
  const { records, count } = await collect(input);
  t.equal(count, 1000);
  t.equal(contents.record_count, 1000);
  t.same(
    records.map(([k]) => k),
    contents.record_order_in_state_bin_hex,
  );
  const expected = new Map(contents.keys.map((k) => [k.key_hex, k.value_hex]));
  t.equal(expected.size, 1000);
  t.same(new Map(records), expected);
  t.ok(records.some(([k, v]) => k === '' && v.length > 0), 'has the empty key');
  t.ok(records.some(([, v]) => v === ''), 'has an empty value');
  t.ok(records.some(([, v]) => v.length === 2 * 65536), 'has the 64 KiB value');
});

t.test('a state.bin from an independent encoder parses, whole and in random chunks', async (t) => {
  const rng = seededRng(7);
  const pairs: [Buffer, Buffer][] = [[Buffer.alloc(0), Buffer.alloc(0)]];
  for (let i = 0; i < 300; i++) {
    const key = Buffer.from(Array.from({ length: rng.int(40) }, () => rng.int(256)));
    const value = Buffer.from(Array.from({ length: rng.int(10) === 0 ? rng.int(5000) : rng.int(50) }, () => rng.int(256)));
    pairs.push([key, value]);
  }
  const bin = independentStateBin(pairs);
  const expected = pairs.map(([k, v]) => [k.toString('hex'), v.toString('hex')]);
  t.same(await collect(Readable.from([bin])), { records: expected, count: pairs.length });
  t.same(await collect(randomChunks(bin, 1)), { records: expected, count: pairs.length });
  const few = pairs.slice(0, 30);
  t.same(await collect(randomChunks(independentStateBin(few), 2, 3)), { records: expected.slice(0, 30), count: 30 }, 'tiny chunks');
});

t.test('an empty gzip stream holds 0 records', async (t) => {
  t.same(await collect(Readable.from([zlib.gzipSync(Buffer.alloc(0))])), { records: [], count: 0 });
});

t.test('gzip errors are CORRUPT and say it is a gzip problem', async (t) => {
  const good = independentStateBin([[Buffer.from('key'), Buffer.alloc(1000, 'v')]]);
  await t.rejects(collect(Readable.from([Buffer.from('this is not gzip at all')]), { file: 'x.bin' }), {
    code: 'CORRUPT',
    file: 'x.bin',
    message: /corrupt data in x\.bin at offset \d+: not a valid gzip stream \(gzip error: incorrect header check/,
  });
  await t.rejects(collect(Readable.from([Buffer.alloc(0)])), { code: 'CORRUPT', message: /gzip error: unexpected end of file/ }, 'empty file');
  await t.rejects(collect(Readable.from([good.subarray(0, good.length - 5)])), { code: 'CORRUPT', offset: good.length - 5, message: /gzip error: unexpected end of file/ }, 'cut gzip');
  const badCrc = Buffer.from(good);
  badCrc[badCrc.length - 6] ^= 0xff;
  await t.rejects(collect(Readable.from([badCrc])), { code: 'CORRUPT', message: /gzip error: incorrect data check/ }, 'bad CRC');
});

t.test('a decompressed stream cut inside a record is an error, not a partial result', async (t) => {
  const whole = Buffer.concat([encodeStateRecord(Buffer.from('a'), Buffer.from('1')), encodeStateRecord(Buffer.from('b'), Buffer.from('22'))]);
  const cut = zlib.gzipSync(whole.subarray(0, whole.length - 1));
  const seen: string[] = [];
  await t.rejects(
    (async () => {
      for await (const r of readStateRecords(Readable.from([cut]), { file: 'cut.bin' })) seen.push(r.key.toString());
    })(),
    { code: 'CORRUPT', offset: 18, message: /cut\.bin at offset 18: truncated: record 2 at decompressed byte 18 is cut off in its value/ },
  );
  t.same(seen, ['a']);
});

t.test('maxFieldBytes is passed to the decoder', async (t) => {
  const bin = zlib.gzipSync(encodeStateRecord(Buffer.from('key'), Buffer.alloc(100)));
  await t.rejects(collect(Readable.from([bin]), { maxFieldBytes: 99 }), { code: 'CORRUPT', message: /value length of 100 bytes/ });
});

t.test('a big input flows with backpressure to a slow consumer; stopping early releases the input', async (t) => {
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 0; i < 2000; i++) pairs.push([Buffer.from(`key:${i}`), Buffer.alloc(4000, i % 251)]);
  const bin = independentStateBin(pairs);
  let n = 0;
  for await (const batch of readStateBatches(randomChunks(bin, 3, 64 * 1024))) {
    n += batch.length;
    await new Promise((r) => setImmediate(r));
  }
  t.equal(n, 2000);
  const input = new PassThrough();
  input.end(bin);
  for await (const r of readStateRecords(input)) {
    t.equal(r.key.toString(), 'key:0');
    break;
  }
  await new Promise((r) => setTimeout(r, 50));
  t.ok(input.destroyed, 'input destroyed after an early stop');
});

t.test('openStateInput: stdin for -, clear errors for unreadable paths', async (t) => {
  const stdin = await openStateInput('-');
  t.equal(stdin.input, process.stdin);
  t.equal(stdin.file, '<stdin>');
  const dir = tmpDir(t);
  await t.rejects(openStateInput(path.join(dir, 'missing.bin')), { code: 'INVALID_ARGUMENT', message: `cannot read snapshot ${path.join(dir, 'missing.bin')}: no such file` });
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  await t.rejects(openStateInput(path.join(dir, 'file', 'below')), { code: 'INVALID_ARGUMENT', message: /cannot read snapshot .*: ENOTDIR/ });
  const { input, file } = await openStateInput(dir);
  await t.rejects(collect(input, { file }), { code: 'IO', message: `cannot read snapshot ${dir}: EISDIR: illegal operation on a directory, read` });
});

t.test('writeStateFile writes what the reader (and plain gunzip) read back', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'state.bin');
  const records: StateRecord[] = [
    { key: Buffer.alloc(0), value: Buffer.from('empty key') },
    { key: Buffer.from([0xff, 0, 0x0d]), value: Buffer.alloc(0) },
    ...Array.from({ length: 3000 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(100, i) })),
  ];
  async function* slowly(): AsyncGenerator<StateRecord> {
    yield* records;
  }
  t.equal(await writeStateFile(slowly(), fs.createWriteStream(file)), records.length);
  const back = await collect(fs.createReadStream(file));
  t.same(back.records, records.map((r) => [r.key.toString('hex'), r.value.toString('hex')]));
  t.same(zlib.gunzipSync(fs.readFileSync(file)), Buffer.concat(records.map((r) => encodeStateRecord(r.key, r.value))));
  const empty = path.join(dir, 'empty.bin');
  t.equal(await writeStateFile([], fs.createWriteStream(empty), { level: 1 }), 0);
  t.same(await collect(fs.createReadStream(empty)), { records: [], count: 0 });
});

t.test('writeStateFile waits for a slow output and reports failures', async (t) => {
  const chunks: Buffer[] = [];
  const slow = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      setTimeout(cb, 1);
    },
  });
  const rng = seededRng(9);
  const records = Array.from({ length: 400 }, (_, i) => ({ key: Buffer.from(`r${i}`), value: Buffer.from(Array.from({ length: 1000 }, () => rng.int(256))) }));
  t.equal(await writeStateFile(records, slow, { level: 0 }), 400);
  t.equal((await collect(Readable.from(chunks))).count, 400);

  const failing = new Writable({
    write(_chunk, _enc, cb) {
      cb(new Error('disk full'));
    },
  });
  await t.rejects(writeStateFile(records, failing, { level: 0 }), { message: 'disk full' });

  function* throwing(): Generator<StateRecord> {
    yield records[0]!;
    throw new Error('source failed');
  }
  await t.rejects(writeStateFile(throwing(), new PassThrough()), { message: 'source failed' });
});
