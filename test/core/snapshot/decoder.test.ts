import t from 'tap';
import { DEFAULT_MAX_FIELD_BYTES, StateRecordDecoder, type StateRecord } from '../../../src/core/snapshot/index.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { seededRng } from '../../../src/core/support/rng.js';

/** Independent encoder of the decompressed layout: u64-LE length-prefixed key, then value. */
function raw(pairs: [Buffer | string, Buffer | string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    for (const field of [Buffer.from(k), Buffer.from(v)]) {
      const len = Buffer.alloc(8);
      len.writeUInt32LE(field.length, 0);
      parts.push(len, field);
    }
  }
  return Buffer.concat(parts);
}

const PAIRS: [Buffer | string, Buffer | string][] = [
  ['', 'value of the empty key'],
  ['empty value', ''],
  ['', ''],
  [Buffer.from([0, 1, 2, 0x0d, 0x0a, 0xff]), Buffer.from([0xfe, 0, 0x80])],
  ['k', 'v'],
  ['big', Buffer.alloc(5000, 'xyz')],
  ['last', 'one'],
];
const DATA = raw(PAIRS);

/** Decodes `data` cut at `cuts` (sorted offsets), copying every record at once. */
function decode(data: Buffer, cuts: number[], options = {}): { records: [string, string][]; end: number } {
  const d = new StateRecordDecoder({ file: 'state.bin', ...options });
  const records: [string, string][] = [];
  const take = (batch: StateRecord[]): void => {
    for (const r of batch) records.push([r.key.toString('hex'), r.value.toString('hex')]);
  };
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    // Each chunk is a fresh copy, so slices into an old one would show if reused wrongly.
    take(d.write(Buffer.from(data.subarray(from, cut))));
    from = cut;
  }
  return { records, end: d.end() };
}

const EXPECTED = PAIRS.map(([k, v]) => [Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex')]);

t.test('decodes whole, byte by byte and at random split points', async (t) => {
  t.same(decode(DATA, []), { records: EXPECTED, end: PAIRS.length });
  t.same(decode(DATA, Array.from({ length: DATA.length - 1 }, (_, i) => i + 1)), { records: EXPECTED, end: PAIRS.length }, 'byte by byte');
  const rng = seededRng(42);
  for (let round = 0; round < 300; round++) {
    const n = rng.int(12);
    const cuts = Array.from({ length: n }, () => rng.int(DATA.length + 1)).sort((a, b) => a - b);
    const got = decode(DATA, cuts);
    if (JSON.stringify(got.records) !== JSON.stringify(EXPECTED)) t.fail(`cuts ${cuts.join(',')}`);
  }
  t.pass('300 random splits');
});

t.test('empty chunks and an empty stream are fine; counters track progress', async (t) => {
  const d = new StateRecordDecoder({ file: 'x' });
  t.same(d.write(Buffer.alloc(0)), []);
  t.equal(d.end(), 0);
  const e = new StateRecordDecoder({ file: 'x' });
  e.write(DATA.subarray(0, 20));
  t.equal(e.records, 0);
  t.equal(e.offset, 20);
  e.write(DATA.subarray(20));
  t.equal(e.records, PAIRS.length);
  t.equal(e.offset, DATA.length);
});

t.test('every truncation is an error at the start of the cut record, naming the part', async (t) => {
  // Offsets at which records start.
  const starts: number[] = [0];
  for (const [k, v] of PAIRS) starts.push(starts.at(-1)! + 16 + Buffer.from(k).length + Buffer.from(v).length);
  for (let cut = 1; cut < DATA.length; cut++) {
    const whole = starts.indexOf(cut) >= 0;
    for (const split of [[], [Math.floor(cut / 2)]]) {
      const d = new StateRecordDecoder({ file: 'snap/state.bin' });
      let from = 0;
      for (const c of [...split, cut]) {
        d.write(DATA.subarray(from, c));
        from = c;
      }
      if (whole) {
        t.equal(d.end(), starts.indexOf(cut));
        continue;
      }
      const recordIndex = starts.filter((s) => s < cut).length - 1;
      try {
        d.end();
        t.fail(`truncation at ${cut} not detected`);
      } catch (err) {
        if (!(err instanceof CorruptionError) || err.offset !== starts[recordIndex] || !err.message.includes(`record ${recordIndex + 1} at decompressed byte ${starts[recordIndex]}`) || !err.message.includes(`ends at decompressed byte ${cut}`)) {
          t.fail(`truncation at ${cut}: ${String(err)}`);
        }
      }
    }
  }
  const d = new StateRecordDecoder({ file: 'snap/state.bin' });
  d.write(DATA.subarray(0, 3));
  t.throws(() => d.end(), { code: 'CORRUPT', file: 'snap/state.bin', offset: 0, message: /truncated: record 1 at decompressed byte 0 is cut off in its key length/ });
  for (const [cut, part] of [
    [8 + 0 + 3, 'value length'],
    [8 + 0 + 8 + 5, 'value'],
  ] as const) {
    const e = new StateRecordDecoder({ file: 's' });
    e.write(DATA.subarray(0, cut));
    t.throws(() => e.end(), { message: new RegExp(`cut off in its ${part};`) });
  }
  const f = new StateRecordDecoder({ file: 's' });
  f.write(raw([['abcdef', 'v']]).subarray(0, 11));
  t.throws(() => f.end(), { message: /cut off in its key;/ });
});

t.test('an impossible length is corrupt at its offset, before any allocation', async (t) => {
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(0xffff_ffff_ffff_fff0n, 0);
  // As the first record (fast path), and split so the slow path reads the length.
  for (const cuts of [[], [3], [1, 2, 3, 4, 5, 6, 7]]) {
    const d = new StateRecordDecoder({ file: 'f' });
    t.throws(
      () => {
        let from = 0;
        for (const c of [...cuts, huge.length]) {
          d.write(huge.subarray(from, c));
          from = c;
        }
      },
      { code: 'CORRUPT', offset: 0, message: /record 1 at decompressed byte 0 has a key length of 18446744073709551600 bytes at decompressed byte 0, above the limit of 536870912/ },
    );
  }
  // A bad value length after two good records.
  const good = raw([['a', 'b'], ['cc', 'dd']]);
  const bad = Buffer.concat([good, raw([['key', '']]).subarray(0, 11), Buffer.from([0, 0, 0, 0x40, 0, 0, 0, 0])]);
  const valueLengthAt = good.length + 11;
  for (const cuts of [[], [good.length + 2], [valueLengthAt + 4]]) {
    const d = new StateRecordDecoder({ file: 'f' });
    const err = t.throws(() => {
      let from = 0;
      for (const c of [...cuts, bad.length]) {
        d.write(bad.subarray(from, c));
        from = c;
      }
      d.end();
    }) as CorruptionError;
    t.equal(err.offset, valueLengthAt, `cuts ${cuts.join(',')}`);
    t.match(err.message, `record 3 at decompressed byte ${good.length} has a value length of 1073741824 bytes at decompressed byte ${valueLengthAt}`);
  }
  t.equal(DEFAULT_MAX_FIELD_BYTES, 512 * 1024 * 1024);
});

t.test('maxFieldBytes sets the limit; a field at the limit is accepted', async (t) => {
  const data = raw([['0123456789', 'abc']]);
  t.same(decode(data, [], { maxFieldBytes: 10 }).records, [[Buffer.from('0123456789').toString('hex'), Buffer.from('abc').toString('hex')]]);
  t.throws(() => decode(data, [], { maxFieldBytes: 9 }), { code: 'CORRUPT', message: /key length of 10 bytes .* above the limit of 9/ });
});

t.test('records before a fault in the same chunk are returned first; the fault comes next', async (t) => {
  const good = raw([['a', '1'], ['b', '2']]);
  const bad = Buffer.concat([good, Buffer.alloc(8, 0xff)]);
  const d = new StateRecordDecoder({ file: 'f' });
  t.same(
    d.write(bad).map((r) => r.key.toString()),
    ['a', 'b'],
  );
  t.equal(d.records, 2);
  t.throws(() => d.end(), { code: 'CORRUPT', offset: good.length });
  t.throws(() => d.write(Buffer.alloc(1)), { code: 'CORRUPT', offset: good.length }, 'and keeps failing');
  const e = new StateRecordDecoder({ file: 'f' });
  e.write(bad);
  t.throws(() => e.write(Buffer.alloc(0)), { code: 'CORRUPT' }, 'thrown by the next write');
});
