import t, { type Test } from 'tap';
import {
  FLAG_TOMBSTONE,
  RECORD_HEADER_SIZE,
  decodeRecord,
  encodeRecord,
  encodeRecordInto,
  peekRecordSize,
  recordSize,
  type DecodeResult,
  type DecodedRecord,
} from '../../../src/core/bitcask/record.js';
import { crc32 } from '../../../src/core/support/crc32.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';

interface Case {
  name: string;
  key: Buffer;
  value: Buffer;
  tombstone: boolean;
  tstamp: number;
  /** Expiry, ms since the epoch; absent: never. */
  expiresAt?: number;
}

const randomBytes = (rng: Rng, n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
};

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const CASES: Case[] = [
  { name: 'plain', key: Buffer.from('k'), value: Buffer.from('v'), tombstone: false, tstamp: 1_700_000_000 },
  { name: 'empty key', key: Buffer.alloc(0), value: Buffer.from('value'), tombstone: false, tstamp: 1 },
  { name: 'empty value', key: Buffer.from('key'), value: Buffer.alloc(0), tombstone: false, tstamp: 2 },
  { name: 'empty key and value', key: Buffer.alloc(0), value: Buffer.alloc(0), tombstone: false, tstamp: 0 },
  { name: 'tombstone', key: Buffer.from('gone'), value: Buffer.alloc(0), tombstone: true, tstamp: 3 },
  { name: 'tombstone of empty key', key: Buffer.alloc(0), value: Buffer.alloc(0), tombstone: true, tstamp: 4 },
  { name: 'binary bytes', key: allBytes, value: Buffer.from(allBytes).reverse(), tombstone: false, tstamp: 0xffffffff },
  { name: 'random', key: randomBytes(seededRng(1), 40), value: randomBytes(seededRng(2), 300), tombstone: false, tstamp: 99 },
  { name: 'expires', key: Buffer.from('k'), value: Buffer.from('v'), tombstone: false, tstamp: 5, expiresAt: 1_700_000_000_123 },
  { name: 'expires, empty value', key: Buffer.from('k'), value: Buffer.alloc(0), tombstone: false, tstamp: 5, expiresAt: 1 },
  { name: 'expires at the latest', key: Buffer.alloc(0), value: Buffer.from('v'), tombstone: false, tstamp: 5, expiresAt: Number.MAX_SAFE_INTEGER },
];

/** A few cases small enough to try every truncation and every bit flip on. */
const SMALL = CASES.filter((c) => c.key.length + c.value.length <= 600);

function expectOk(t: Test, r: DecodeResult, what: string): DecodedRecord {
  if (r.kind !== 'ok') {
    t.fail(`${what}: expected ok, got ${JSON.stringify(r)}`);
    throw new Error('stop');
  }
  return r;
}

function checkDecoded(t: Test, buf: Buffer, r: DecodeResult, c: Case, offset = 0): void {
  const d = expectOk(t, r, c.name);
  t.equal(d.tombstone, c.tombstone, `${c.name}: tombstone`);
  t.equal(d.tstamp, c.tstamp, `${c.name}: tstamp`);
  t.equal(d.keyStart, offset + RECORD_HEADER_SIZE, `${c.name}: keyStart`);
  t.equal(d.keyEnd, d.keyStart + c.key.length, `${c.name}: keyEnd`);
  t.equal(d.valueStart, d.keyEnd + (c.expiresAt ? 8 : 0), `${c.name}: valueStart`);
  t.equal(d.expiresAt, c.expiresAt ?? 0, `${c.name}: expiresAt`);
  t.equal(d.size, recordSize(c.key.length, c.value.length, c.expiresAt), `${c.name}: size`);
  t.equal(d.end, offset + d.size, `${c.name}: end`);
  t.ok(buf.subarray(d.keyStart, d.keyEnd).equals(c.key), `${c.name}: key bytes`);
  t.ok(buf.subarray(d.valueStart, d.end).equals(c.value), `${c.name}: value bytes`);
}

/** Rewrites both checksums after a header edit so that only the edit itself can be objected to. */
function fixCrcs(buf: Buffer, offset = 0): void {
  buf.writeUInt32LE(crc32(buf.subarray(offset + 8, offset + RECORD_HEADER_SIZE)), offset + 4);
  const size = RECORD_HEADER_SIZE + buf.readUInt32LE(offset + 13) + buf.readUInt32LE(offset + 17);
  buf.writeUInt32LE(crc32(buf.subarray(offset + 4, offset + size)), offset);
}

t.test('sizes and header layout', async (t) => {
  t.equal(RECORD_HEADER_SIZE, 21);
  t.equal(FLAG_TOMBSTONE, 1);
  t.equal(recordSize(0, 0), 21);
  t.equal(recordSize(3, 5), 29);
  const buf = encodeRecord(Buffer.from('abc'), Buffer.from('hello'), false, 0x01020304);
  t.equal(buf.length, 29);
  t.equal(buf[8], 0, 'flags');
  t.equal(buf.readUInt32LE(9), 0x01020304, 'tstamp LE');
  t.equal(buf.readUInt32LE(13), 3, 'key length');
  t.equal(buf.readUInt32LE(17), 5, 'value length');
  t.equal(buf.readUInt32LE(4), crc32(buf.subarray(8, 21)), 'header crc');
  t.equal(buf.readUInt32LE(0), crc32(buf.subarray(4)), 'record crc');
  t.equal(buf.subarray(21, 24).toString(), 'abc');
  t.equal(buf.subarray(24).toString(), 'hello');
  const tomb = encodeRecord(Buffer.from('abc'), Buffer.alloc(0), true, 7);
  t.equal(tomb[8], FLAG_TOMBSTONE);
  t.equal(tomb.readUInt32LE(17), 0);
});

t.test('round trip', async (t) => {
  for (const c of CASES) {
    const buf = encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt);
    t.equal(buf.length, recordSize(c.key.length, c.value.length, c.expiresAt));
    checkDecoded(t, buf, decodeRecord(buf, 0), c);
    t.equal(peekRecordSize(buf, 0), buf.length, `${c.name}: peek`);
  }
});

t.test('round trip of a large value', async (t) => {
  const rng = seededRng(3);
  const c: Case = { name: 'large', key: randomBytes(rng, 100), value: randomBytes(rng, 3 * (1 << 20) + 17), tombstone: false, tstamp: 5 };
  const buf = encodeRecord(c.key, c.value, false, c.tstamp);
  checkDecoded(t, buf, decodeRecord(buf, 0), c);
  t.equal(peekRecordSize(buf, 0, RECORD_HEADER_SIZE), buf.length, 'peek needs the header only');
  // Truncations of a large record never look at the body: check a spread of cut points.
  for (const cut of [0, 1, 20, 21, 22, 121, 122, 1 << 20, buf.length - 2, buf.length - 1]) {
    t.same(decodeRecord(buf, 0, cut), { kind: 'incomplete' }, `cut at ${cut}`);
  }
  for (const at of [0, 4, 8, 13, 17, 21, 500, 1 << 20, buf.length - 1]) {
    buf[at]! ^= 0x10;
    t.equal(decodeRecord(buf, 0).kind, 'corrupt', `flip at ${at}`);
    buf[at]! ^= 0x10;
  }
  checkDecoded(t, buf, decodeRecord(buf, 0), c);
});

t.test('timestamps are stored as unsigned 32-bit seconds', async (t) => {
  for (const [given, stored] of [
    [0, 0],
    [0xffffffff, 0xffffffff],
    [2 ** 32 + 5, 5],
    [-1, 0xffffffff],
  ] as const) {
    const buf = encodeRecord(Buffer.from('k'), Buffer.from('v'), false, given);
    t.equal(expectOk(t, decodeRecord(buf, 0), 'tstamp').tstamp, stored, `tstamp ${given}`);
  }
});

t.test('a tombstone with a value cannot be encoded', async (t) => {
  t.throws(() => encodeRecord(Buffer.from('k'), Buffer.from('v'), true, 0), TypeError);
  const out = Buffer.alloc(64, 0xaa);
  t.throws(() => encodeRecordInto(out, 0, Buffer.from('k'), Buffer.from('v'), true, 0), TypeError);
  t.ok(out.equals(Buffer.alloc(64, 0xaa)), 'nothing was written');
});

t.test('encodeRecordInto writes at an offset and only its own bytes', async (t) => {
  for (const c of CASES) {
    const size = recordSize(c.key.length, c.value.length, c.expiresAt);
    const out = Buffer.alloc(size + 30, 0xee);
    const n = encodeRecordInto(out, 13, c.key, c.value, c.tombstone, c.tstamp, c.expiresAt);
    t.equal(n, size);
    t.ok(out.subarray(0, 13).equals(Buffer.alloc(13, 0xee)), `${c.name}: prefix untouched`);
    t.ok(out.subarray(13 + size).equals(Buffer.alloc(17, 0xee)), `${c.name}: suffix untouched`);
    t.ok(out.subarray(13, 13 + size).equals(encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt)), `${c.name}: same bytes as encodeRecord`);
    checkDecoded(t, out, decodeRecord(out, 13, 13 + size), c, 13);
  }
});

t.test('decoding at a non-zero offset and with a limit', async (t) => {
  const rng = seededRng(4);
  for (const c of CASES) {
    const rec = encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt);
    const prefix = randomBytes(rng, 1 + rng.int(50));
    const suffix = randomBytes(rng, 1 + rng.int(50));
    const buf = Buffer.concat([prefix, rec, suffix]);
    const at = prefix.length;
    checkDecoded(t, buf, decodeRecord(buf, at), c, at);
    checkDecoded(t, buf, decodeRecord(buf, at, at + rec.length), c, at);
    t.equal(peekRecordSize(buf, at, at + RECORD_HEADER_SIZE), rec.length);
    t.same(decodeRecord(buf, at, at + rec.length - 1), { kind: 'incomplete' }, `${c.name}: limit one short`);
    t.equal(peekRecordSize(buf, at, at + RECORD_HEADER_SIZE - 1), -1);
    t.same(decodeRecord(buf, at, at), { kind: 'incomplete' }, 'nothing before the limit');
    t.same(decodeRecord(buf, buf.length), { kind: 'incomplete' }, 'offset at the end');
    t.same(decodeRecord(buf, at + 5, at), { kind: 'incomplete' }, 'offset past the limit');
    t.equal(peekRecordSize(buf, buf.length + 3), -1);
  }
});

t.test('every truncation is incomplete', async (t) => {
  for (const c of SMALL) {
    const rec = encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt);
    // Same bytes after the cut point as before, so only the limit hides them.
    const padded = Buffer.concat([rec, rec]);
    let bad = 0;
    for (let cut = 0; cut < rec.length; cut++) {
      const short = Buffer.from(rec.subarray(0, cut));
      let r: DecodeResult;
      try {
        r = decodeRecord(short, 0);
      } catch (err) {
        t.fail(`${c.name}: threw at cut ${cut}: ${String(err)}`);
        continue;
      }
      if (r.kind !== 'incomplete') bad++;
      if (decodeRecord(padded, 0, cut).kind !== 'incomplete') bad++;
      const expectedPeek = cut < RECORD_HEADER_SIZE ? -1 : rec.length;
      if (peekRecordSize(short, 0) !== expectedPeek) bad++;
    }
    t.equal(bad, 0, `${c.name}: all ${rec.length} cuts incomplete`);
  }
});

t.test('every single-bit flip is corrupt', async (t) => {
  for (const c of SMALL) {
    const rec = encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt);
    const failures: string[] = [];
    for (let i = 0; i < rec.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(rec);
        damaged[i]! ^= 1 << bit;
        let r: DecodeResult;
        try {
          r = decodeRecord(damaged, 0);
        } catch (err) {
          failures.push(`byte ${i} bit ${bit} threw ${String(err)}`);
          continue;
        }
        if (r.kind !== 'corrupt') failures.push(`byte ${i} bit ${bit}: ${r.kind}`);
        else if (typeof r.reason !== 'string' || r.reason.length === 0) failures.push(`byte ${i} bit ${bit}: no reason`);
        // A damaged header makes peek refuse to trust the lengths.
        if (i >= 4 && i < RECORD_HEADER_SIZE && peekRecordSize(damaged, 0) !== -1) failures.push(`peek trusted byte ${i} bit ${bit}`);
      }
    }
    t.same(failures, [], `${c.name}: all ${rec.length * 8} flips corrupt`);
  }
});

t.test('unknown flag bits are corrupt even with valid checksums', async (t) => {
  for (const tombstone of [false, true]) {
    const rec = encodeRecord(Buffer.from('key'), Buffer.alloc(0), tombstone, 10);
    const base = rec[8]!;
    // Control: the checksum fix-up alone leaves a valid record.
    const control = Buffer.from(rec);
    fixCrcs(control);
    t.equal(decodeRecord(control, 0).kind, 'ok');
    // Bit 1 (expires) on these records has no room for its 8 bytes: corrupt too.
    for (let bit = 1; bit < 8; bit++) {
      const bad = Buffer.from(rec);
      bad[8] = base | (1 << bit);
      fixCrcs(bad);
      t.equal(peekRecordSize(bad, 0), rec.length, 'the header checksum holds');
      const r = decodeRecord(bad, 0);
      t.equal(r.kind, 'corrupt', `flag bit ${bit}, tombstone ${tombstone}`);
    }
    const all = Buffer.from(rec);
    all[8] = 0xff;
    fixCrcs(all);
    t.equal(decodeRecord(all, 0).kind, 'corrupt', 'all flag bits');
  }
});

t.test('an expiry field that cannot be is corrupt: on a tombstone, too short, zero or beyond 2^53', async (t) => {
  const withFlags = (rec: Buffer, flags: number): Buffer => {
    const bad = Buffer.from(rec);
    bad[8] = flags;
    fixCrcs(bad);
    return bad;
  };
  const tomb = encodeRecord(Buffer.from('key'), Buffer.alloc(0), true, 10);
  t.match(decodeRecord(withFlags(tomb, 3), 0), { kind: 'corrupt', reason: 'bad expiry field' });
  const short = encodeRecord(Buffer.from('key'), Buffer.from('1234567'), false, 10);
  t.match(decodeRecord(withFlags(short, 2), 0), { kind: 'corrupt', reason: 'bad expiry field' }, 'a value of 7 bytes');
  const zero = encodeRecord(Buffer.from('key'), Buffer.alloc(8), false, 10);
  t.match(decodeRecord(withFlags(zero, 2), 0), { kind: 'corrupt', reason: 'bad expiry 0' });
  const huge = encodeRecord(Buffer.from('key'), Buffer.alloc(8, 0xff), false, 10);
  t.match(decodeRecord(withFlags(huge, 2), 0), { kind: 'corrupt', reason: /^bad expiry / });
  const fine = encodeRecord(Buffer.from('key'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), false, 10);
  t.match(decodeRecord(withFlags(fine, 2), 0), { kind: 'ok', expiresAt: 1, valueStart: RECORD_HEADER_SIZE + 3 + 8 }, 'control: 1 ms');
  t.throws(() => encodeRecord(Buffer.from('k'), Buffer.alloc(0), true, 0, 5), TypeError, 'a tombstone carries no expiry');
  t.throws(() => encodeRecord(Buffer.from('k'), Buffer.alloc(0), false, 0, 1.5), TypeError);
  t.throws(() => encodeRecord(Buffer.from('k'), Buffer.alloc(0), false, 0, -1), TypeError);
});

t.test('a tombstone flag on a record with a value is corrupt even with valid checksums', async (t) => {
  const rec = encodeRecord(Buffer.from('key'), Buffer.from('value'), false, 10);
  const bad = Buffer.from(rec);
  bad[8] = FLAG_TOMBSTONE;
  fixCrcs(bad);
  t.equal(decodeRecord(bad, 0).kind, 'corrupt');
  // Control: the same fix-up with the original flags decodes.
  const control = Buffer.from(rec);
  fixCrcs(control);
  t.equal(decodeRecord(control, 0).kind, 'ok');
});

t.test('a record checksum mismatch in the body is corrupt, the header still peeks', async (t) => {
  const rec = encodeRecord(Buffer.from('key'), Buffer.from('value'), false, 10);
  rec[rec.length - 1]! ^= 0xff;
  t.equal(decodeRecord(rec, 0).kind, 'corrupt');
  t.equal(peekRecordSize(rec, 0), rec.length);
});

/**
 * Decodes a stream of records delivered in chunks, the way a reader that grows its
 * buffer would: decode at the cursor, and on `incomplete` wait for more bytes.
 */
function decodeStream(t: Test, chunks: Buffer[]): { records: Case[]; kinds: string[] } {
  let buf = Buffer.alloc(0);
  let pos = 0;
  const records: Case[] = [];
  const kinds: string[] = [];
  for (const chunk of chunks) {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const r = decodeRecord(buf, pos);
      kinds.push(r.kind);
      if (r.kind === 'incomplete') break;
      if (r.kind === 'corrupt') {
        t.fail(`corrupt at ${pos}: ${r.reason}`);
        return { records, kinds };
      }
      records.push({
        name: `#${records.length}`,
        key: Buffer.from(buf.subarray(r.keyStart, r.keyEnd)),
        value: Buffer.from(buf.subarray(r.valueStart, r.end)),
        tombstone: r.tombstone,
        tstamp: r.tstamp,
        expiresAt: r.expiresAt,
      });
      pos = r.end;
    }
  }
  t.equal(pos, buf.length, 'every byte consumed');
  return { records, kinds };
}

t.test('a stream of records decodes the same whole, byte by byte and in random splits', async (t) => {
  const stream = Buffer.concat(CASES.map((c) => encodeRecord(c.key, c.value, c.tombstone, c.tstamp, c.expiresAt)));
  const expected = CASES.map((c) => [c.key, c.value, c.tombstone, c.tstamp, c.expiresAt ?? 0]);
  const project = (rs: Case[]) => rs.map((c) => [c.key, c.value, c.tombstone, c.tstamp, c.expiresAt ?? 0]);

  const whole = decodeStream(t, [stream]);
  t.same(project(whole.records), expected, 'whole');

  const bytes: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
  const byByte = decodeStream(t, bytes);
  t.same(project(byByte.records), expected, 'byte by byte');
  t.notOk(byByte.kinds.includes('corrupt'));

  for (let seed = 1; seed <= 20; seed++) {
    const rng = seededRng(seed);
    const chunks: Buffer[] = [];
    for (let p = 0; p < stream.length; ) {
      const n = Math.min(stream.length - p, rng.int(64));
      chunks.push(stream.subarray(p, p + n));
      p += n;
    }
    t.same(project(decodeStream(t, chunks).records), expected, `random splits, seed ${seed}`);
  }
});
