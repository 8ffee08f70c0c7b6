import t from 'tap';
import { halfSipHash, hashKey, randomHashSeed, type HashSeed } from '../../../src/core/bitcask/key-hash.js';

/** The reference test key: bytes 00..07. */
const REFERENCE_KEY: HashSeed = [0x03020100, 0x07060504];
/** HalfSipHash-2-4, 32-bit output, of the messages 00, 00 01, 00 01 02, … (lengths 0..15), as published with the reference code (bytes little-endian). */
const REFERENCE_VECTORS = [
  'a9359f5b', '27475ab8', 'fa62a603', '8afee704', '2a6e4689', 'c5fab669', '5863fc23', '8bcf63c5',
  'd0b8848f', 'f806e779', '94b07934', '08083050', '57f0872f', '77e663ff', 'd6fff87c', '74fe2b97',
];
const SEED: HashSeed = [0x12345678, 0x9abcdef0];

const message = (len: number): Buffer => Buffer.from(Array.from({ length: len }, (_, i) => i));
const le = (v: number): string => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b.toString('hex');
};

t.test('the algorithm reproduces the published HalfSipHash-2-4 vectors, every tail length', async (t) => {
  REFERENCE_VECTORS.forEach((want, len) => t.equal(le(halfSipHash(message(len), 0, len, REFERENCE_KEY, 2, 4)), want, `${len} bytes`));
});

t.test('hashes exactly the given range; the result is a signed 32-bit integer', async (t) => {
  const backing = Buffer.from('##The quick brown fox##');
  const alone = Buffer.from('The quick brown fox');
  t.equal(hashKey(backing, 2, backing.length - 2, SEED), hashKey(alone, 0, alone.length, SEED));
  const u8 = new Uint8Array(backing.buffer, backing.byteOffset, backing.length);
  t.equal(hashKey(u8, 2, 21, SEED), hashKey(backing, 2, 21, SEED), 'a plain Uint8Array hashes the same');
  t.equal(hashKey(Buffer.alloc(0), 0, 0, SEED), hashKey(Buffer.from('x'), 1, 1, SEED), 'the empty key anywhere');
  const seen = new Set<number>();
  for (let len = 0; len <= 9; len++) seen.add(hashKey(Buffer.alloc(len, 0), 0, len, SEED));
  t.equal(seen.size, 10, 'zero-filled keys of lengths 0..9 all differ (the length is mixed in)');
  const v = hashKey(Buffer.from('anything'), 0, 8, SEED);
  t.equal(v, v | 0, 'an int32');
});

t.test('the seed decides the hash', async (t) => {
  const key = Buffer.from('user:1000');
  t.not(hashKey(key, 0, key.length, SEED), hashKey(key, 0, key.length, [SEED[0], SEED[1] ^ 1]), 'one bit of the seed changes it');
  const a = randomHashSeed();
  const b = randomHashSeed();
  t.ok(a.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff), 'random seeds are two 32-bit words');
  t.notSame(a, b, 'and differ between calls');
});

t.test('low bits spread: sequential keys fill 64 buckets evenly', async (t) => {
  const buckets = new Uint32Array(64);
  for (let i = 0; i < 64_000; i++) {
    const key = Buffer.from(`key:${i}`);
    buckets[hashKey(key, 0, key.length, SEED) & 63]!++;
  }
  t.ok(Math.min(...buckets) > 800 && Math.max(...buckets) < 1200, `${Math.min(...buckets)}..${Math.max(...buckets)} per bucket`);
});
