import t from 'tap';
import { crc32 } from '../../../src/core/support/crc32.js';

t.test('known vectors', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.equal(crc32(Buffer.alloc(0)), 0);
  t.equal(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  t.equal(crc32(new Uint8Array([0])), 0xd202ef8d);
  t.equal(crc32(Buffer.alloc(32, 0xff)), 0xff6cab0b);
});

t.test('accepts plain Uint8Array views and continues from an initial value', async (t) => {
  const all = Buffer.from('123456789');
  const backing = new Uint8Array(20);
  backing.set(all, 5);
  t.equal(crc32(backing.subarray(5, 14)), 0xcbf43926, 'a view at an offset');
  for (let cut = 0; cut <= all.length; cut++) {
    t.equal(crc32(all.subarray(cut), crc32(all.subarray(0, cut))), 0xcbf43926, `split at ${cut}`);
  }
  t.equal(crc32(Buffer.alloc(0), 0x12345678), 0x12345678, 'no data keeps the running value');
});

t.test('every single-bit flip changes the checksum', async (t) => {
  const data = Buffer.from('bitraft stores keys and values in bitcask');
  const base = crc32(data);
  let same = 0;
  for (let i = 0; i < data.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      data[i]! ^= 1 << bit;
      if (crc32(data) === base) same++;
      data[i]! ^= 1 << bit;
    }
  }
  t.equal(same, 0);
  t.equal(crc32(data), base, 'data restored');
});
