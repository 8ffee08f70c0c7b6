/**
 * Unit tests of the value cache (value-cache.ts): copies in and out, replacing and
 * dropping, the size limits, the ring overwriting its oldest values, values never
 * wrapping around the end, hot values refreshed before they are overwritten, and a
 * seeded model run in which every hit must be the latest value of its slot.
 */
import t from 'tap';
import { ValueCache } from '../../../src/core/bitcask/value-cache.js';
import { seededRng } from '../../../src/core/support/rng.js';

const value = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

t.test('set copies in, get copies out, replace and drop', async (t) => {
  const cache = new ValueCache(1 << 20);
  t.equal(cache.get(3), undefined);
  t.equal(cache.get(5000), undefined, 'a slot beyond any seen is a miss');
  const input = Buffer.from('xhello');
  cache.set(3, input.subarray(1));
  input.fill(0);
  const got = cache.get(3)!;
  t.same(got, Buffer.from('hello'), 'the cache keeps a copy of what it was given');
  got.fill(0);
  t.same(cache.get(3), Buffer.from('hello'), 'and hands out copies');
  t.equal(cache.size, 1);
  t.equal(cache.bytes, 5);
  cache.set(3, value(20, 2));
  t.same(cache.get(3), value(20, 2), 'a new value replaces the old one');
  t.equal(cache.size, 1);
  t.equal(cache.bytes, 25, 'the replaced bytes stay in the ring until overwritten');
  cache.drop(3);
  cache.drop(3);
  cache.drop(99_999);
  t.equal(cache.get(3), undefined);
  t.equal(cache.size, 0);
  cache.set(4, value(0));
  t.same(cache.get(4), value(0), 'an empty value is cached too');
});

t.test('slots far apart are found again', async (t) => {
  const cache = new ValueCache(1 << 20);
  cache.set(50_000, value(1, 5));
  cache.set(7, value(1, 7));
  t.same(cache.get(50_000), value(1, 5));
  t.same(cache.get(7), value(1, 7));
  t.equal(cache.get(49_999), undefined);
});

t.test('a capacity of 0 caches nothing, and big values are never cached', async (t) => {
  const off = new ValueCache(0);
  off.set(1, value(0));
  t.equal(off.get(1), undefined);
  t.equal(off.size, 0);
  t.equal(off.bytes, 0);
  const cache = new ValueCache(256 * 100);
  cache.set(1, value(100));
  t.ok(cache.get(1), 'a value of 1/256 of the capacity is cached');
  cache.set(2, value(101));
  t.equal(cache.get(2), undefined, 'a larger one is not');
  cache.set(1, value(101));
  t.equal(cache.get(1), undefined, 'replacing a cached value with a too-big one drops it');
});

t.test('the ring overwrites its oldest values first', async (t) => {
  const cache = new ValueCache(256 * 10); // 256 values of 10 bytes fit
  for (let slot = 0; slot < 256; slot++) cache.set(slot, value(10, slot));
  t.equal(cache.size, 256);
  t.equal(cache.bytes, cache.capacity, 'full');
  cache.set(256, value(10, 1));
  t.equal(cache.get(0), undefined, 'the oldest value was overwritten');
  t.same(cache.get(1), value(10, 1), 'the next one is intact');
  t.same(cache.get(256), value(10, 1));
  t.equal(cache.size, 256);
  t.equal(cache.bytes, cache.capacity);
});

t.test('a value never wraps around the end: the tail is skipped', async (t) => {
  const cache = new ValueCache(256 * 10);
  for (let slot = 0; slot < 255; slot++) cache.set(slot, value(10, slot)); // 2550 of 2560 bytes
  cache.set(255, value(8, 255)); // 2558: two bytes left
  cache.set(300, value(10, 3)); // does not fit in 2 bytes: starts the next lap
  t.same(cache.get(300), value(10, 3));
  t.equal(cache.get(0), undefined, 'the first value of the ring was overwritten');
  t.same(cache.get(1), value(10, 1), 'the one after it was not');
  t.same(cache.get(255), value(8, 255), 'the last value before the skipped tail survives');
});

t.test('a hit close to being overwritten is written again at the head', async (t) => {
  const cache = new ValueCache(256 * 10);
  for (let slot = 0; slot < 256; slot++) cache.set(slot, value(10, slot));
  // Slot 0 is the oldest: reading it moves it to the head.
  t.same(cache.get(0), value(10, 0));
  for (let slot = 1000; slot < 1100; slot++) cache.set(slot, value(10, 1));
  t.same(cache.get(0), value(10, 0), 'refreshed, it survived the writes that overwrote its old place');
  t.equal(cache.get(1), undefined, 'an unread neighbour did not');
  t.same(cache.get(200), value(10, 200), 'a recent value is read without being moved');
});

t.test('clear forgets everything and the cache is usable after', async (t) => {
  const cache = new ValueCache(1 << 16);
  for (let slot = 0; slot < 100; slot++) cache.set(slot, value(3));
  cache.clear();
  t.equal(cache.size, 0);
  t.equal(cache.get(5), undefined);
  cache.set(5, value(3, 9));
  t.same(cache.get(5), value(3, 9));
});

t.test('random operations: every hit is the latest value of its slot', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const rng = seededRng(seed);
    const cache = new ValueCache(256 * 16);
    const latest = new Map<number, Buffer>();
    let problems = 0;
    let hits = 0;
    for (let i = 0; i < 20_000; i++) {
      const slot = rng.int(600);
      const op = rng.float();
      if (op < 0.45) {
        const v = value(rng.int(17), i & 0xff);
        cache.set(slot, v);
        latest.set(slot, v);
      } else if (op < 0.55) {
        cache.drop(slot);
        latest.delete(slot);
      } else {
        const got = cache.get(slot);
        if (got !== undefined) {
          hits++;
          if (!got.equals(latest.get(slot) ?? Buffer.from('missing'))) problems++;
        }
      }
      if (cache.bytes > cache.capacity) problems++;
    }
    t.equal(problems, 0, `seed ${seed}: every hit is the latest value, bytes within capacity`);
    t.ok(hits > 1000, `seed ${seed}: the cache was exercised (${hits} hits)`);
  }
});
