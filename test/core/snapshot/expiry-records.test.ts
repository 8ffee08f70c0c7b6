/**
 * Expiries in a state.bin (expiry-records.ts): the records of the reserved key come
 * first and list the expiring keys; the key/value records stay the Go format's. Also
 * `exportSnapshot` (parse-snapshot) turning them into `SET … PXAT` and `expiresAt`.
 */
import { Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { encodeCommand } from '../../../src/core/resp/index.js';
import {
  decodeExpiryRecord,
  encodeExpiryRecords,
  encodeStateRecord,
  EXPIRY_KEY,
  exportSnapshot,
  isExpiryKey,
  withExpiries,
  type StateRecord,
} from '../../../src/core/snapshot/index.js';

const T = 1_700_000_000_000;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

async function* batches(...list: StateRecord[][]): AsyncGenerator<StateRecord[], number> {
  for (const batch of list) yield batch;
  return 42;
}

t.test('the reserved key, and the encoding of one record', async (t) => {
  t.strictSame(EXPIRY_KEY, b('\0bitraft:expiry'));
  t.ok(isExpiryKey(b('\0bitraft:expiry')));
  t.notOk(isExpiryKey(b('\0bitraft:expiry2')));
  t.notOk(isExpiryKey(b('\0bitraft:expirz')));
  t.strictSame(encodeExpiryRecords([]), [], 'nothing expires: no record, a pure Go state.bin');
  const [r, ...rest] = encodeExpiryRecords([
    { key: b('k'), expiresAt: T },
    { key: b(''), expiresAt: Number.MAX_SAFE_INTEGER },
  ]);
  t.equal(rest.length, 0);
  const expected = Buffer.alloc(4 + 1 + 8 + 4 + 8);
  expected.writeUInt32LE(1, 0);
  expected.write('k', 4, 'latin1');
  expected.writeBigUInt64LE(BigInt(T), 5);
  expected.writeUInt32LE(0, 13);
  expected.writeBigUInt64LE(BigInt(Number.MAX_SAFE_INTEGER), 17);
  t.strictSame(r, { key: EXPIRY_KEY, value: expected }, 'the documented layout');
  t.strictSame(decodeExpiryRecord(r!.value, 'f'), [
    { key: b('k'), expiresAt: T },
    { key: b(''), expiresAt: Number.MAX_SAFE_INTEGER },
  ]);
});

t.test('many expiries are split into records of about 1 MiB', async (t) => {
  const keys = Array.from({ length: 30_000 }, (_, i) => ({ key: Buffer.alloc(40, i % 251), expiresAt: T + i }));
  const records = encodeExpiryRecords(keys);
  t.equal(records.length, 2);
  t.ok(records.every((r) => r.value.length <= 1 << 20));
  t.strictSame(records.flatMap((r) => decodeExpiryRecord(r.value, 'f')), keys);
});

t.test('a malformed expiry record is corruption, naming the file', async (t) => {
  const good = encodeExpiryRecords([{ key: b('key'), expiresAt: T }])[0]!.value;
  t.throws(() => decodeExpiryRecord(good.subarray(0, good.length - 1), 'state.bin'), { code: 'CORRUPT', message: /state\.bin.*malformed expiry record/ });
  const longKey = Buffer.from(good);
  longKey.writeUInt32LE(100, 0);
  t.throws(() => decodeExpiryRecord(longKey, 'f'), { code: 'CORRUPT' });
  const zero = Buffer.from(good);
  zero.fill(0, 7);
  t.throws(() => decodeExpiryRecord(zero, 'f'), { code: 'CORRUPT' }, 'an expiry of 0');
  const huge = Buffer.from(good);
  huge.fill(0xff, 7);
  t.throws(() => decodeExpiryRecord(huge, 'f'), { code: 'CORRUPT' }, 'beyond 2^53');
  t.strictSame(decodeExpiryRecord(Buffer.alloc(0), 'f'), []);
});

t.test('withExpiries gives the records their expiry and takes the expiry records out', async (t) => {
  const [x] = encodeExpiryRecords([
    { key: b('a'), expiresAt: T + 1 },
    { key: b('c'), expiresAt: T + 3 },
  ]);
  const out: unknown[] = [];
  const it = withExpiries(batches([x!, { key: b('a'), value: b('1') }], [{ key: b('b'), value: b('2') }, { key: b('c'), value: b('3') }]), 'f');
  for (;;) {
    const step = await it.next();
    if (step.done) {
      t.equal(step.value, 42, 'the inner return value');
      break;
    }
    out.push(step.value.map((r) => [r.key.toString(), r.value.toString(), r.expiresAt]));
  }
  t.strictSame(out, [[['a', '1', T + 1]], [['b', '2', 0], ['c', '3', T + 3]]]);
  // Stopping early closes the input.
  let closed = false;
  async function* input(): AsyncGenerator<StateRecord[], number> {
    try {
      yield [{ key: b('a'), value: b('1') }];
      yield [{ key: b('b'), value: b('2') }];
      return 0;
    } finally {
      closed = true;
    }
  }
  for await (const batch of withExpiries(input(), 'f')) {
    t.equal(batch.length, 1);
    break;
  }
  t.ok(closed, 'the input was closed');
  const bad: StateRecord = { key: EXPIRY_KEY, value: Buffer.alloc(3) };
  await t.rejects(withExpiries(batches([bad]), 'state.bin').next(), { code: 'CORRUPT' });
});

/** A Writable collecting what it gets. */
function sink(): { stream: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, data: () => Buffer.concat(chunks) };
}

const stateBin = (records: StateRecord[]): Buffer => zlib.gzipSync(Buffer.concat(records.map((r) => encodeStateRecord(r.key, r.value))));

t.test('parse-snapshot: SET … PXAT for a key that expires, expiresAt in JSON; the expiry records are not keys', async (t) => {
  const records = [
    ...encodeExpiryRecords([{ key: b('e'), expiresAt: T }]),
    { key: b('e'), value: b('ev') },
    { key: b('p'), value: b('pv') },
  ];
  const resp = sink();
  const report = await exportSnapshot(Readable.from([stateBin(records)]), resp.stream, { file: 'x' });
  t.strictSame(resp.data(), Buffer.concat([encodeCommand(['SET', 'e', 'ev', 'PXAT', String(T)]), encodeCommand(['SET', 'p', 'pv'])]));
  t.equal(report.records, 2, 'the expiry record is not counted');
  const json = sink();
  await exportSnapshot(Readable.from([stateBin(records)]), json.stream, { file: 'x', format: 'json' });
  t.equal(json.data().toString(), `{"key":"e","value":"ev","expiresAt":${T}}\n{"key":"p","value":"pv"}\n`);
  const count = await exportSnapshot(Readable.from([stateBin(records)]), undefined, { file: 'x', countOnly: true });
  t.equal(count.records, 2);
  const huge = sink();
  const big = Buffer.alloc(2 << 20, 0x61);
  await exportSnapshot(Readable.from([stateBin([...encodeExpiryRecords([{ key: b('big'), expiresAt: T }]), { key: b('big'), value: big }])]), huge.stream, { file: 'x' });
  t.strictSame(huge.data(), encodeCommand(['SET', 'big', big, 'PXAT', String(T)]), 'a huge record that expires');
});
