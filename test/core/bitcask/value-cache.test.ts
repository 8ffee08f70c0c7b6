import t from 'tap';
import { ENTRY_OVERHEAD, ValueCache } from '../../../src/core/bitcask/value-cache.js';
import { seededRng } from '../../../src/core/support/rng.js';

const value = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);
/** A capacity holding exactly `n` values of `size` bytes. */
const capacityFor = (n: number, size: number): number => n * (size + ENTRY_OVERHEAD);

t.test('set, get, replace and drop keep the counters exact', async (t) => {
  const cache = new ValueCache(1 << 20);
  t.equal(cache.get(3), undefined);
  cache.set(3, value(10));
  t.same(cache.get(3), value(10));
  t.equal(cache.size, 1);
  t.equal(cache.bytes, 10 + ENTRY_OVERHEAD);
  cache.set(3, value(20, 2));
  t.same(cache.get(3), value(20, 2), 'a new value replaces the old one');
  t.equal(cache.size, 1);
  t.equal(cache.bytes, 20 + ENTRY_OVERHEAD);
  cache.drop(3);
  cache.drop(3);
  cache.drop(99);
  t.equal(cache.get(3), undefined);
  t.equal(cache.size, 0);
  t.equal(cache.bytes, 0);
});

t.test('slots far apart are held densely and found again', async (t) => {
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
  const cache = new ValueCache(256 * (100 + ENTRY_OVERHEAD));
  cache.set(1, value(100));
  t.ok(cache.get(1), 'a value of 1/256 of the capacity is cached');
  cache.set(2, value(101));
  t.equal(cache.get(2), undefined, 'a larger one is not');
  cache.set(1, value(101));
  t.equal(cache.get(1), undefined, 'replacing a cached value with a too-big one drops it');
  t.equal(cache.bytes, 0);
});

t.test('eviction keeps the bytes within capacity and spares values read since the hand passed', async (t) => {
  // 256 * ENTRY_OVERHEAD bytes, so empty values (cost ENTRY_OVERHEAD) are cacheable and 256 fit.
  const cache = new ValueCache(capacityFor(256, 0));
  for (let slot = 0; slot < 256; slot++) cache.set(slot, value(0));
  t.equal(cache.size, 256);
  t.equal(cache.bytes, cache.capacity, 'full');
  cache.get(0);
  cache.get(1);
  cache.set(256, value(0));
  t.equal(cache.size, 256, 'one value made room');
  t.ok(cache.get(0) && cache.get(1), 'values read since the last sweep are spared');
  t.equal(cache.get(2), undefined, 'the first unread value after the hand is evicted');
  cache.set(257, value(0));
  t.equal(cache.get(3), undefined, 'the hand moves on');
  t.ok(cache.get(257));
  t.ok(cache.bytes <= cache.capacity);
});

t.test('the hand wraps around and clears reference bits it passes', async (t) => {
  const cache = new ValueCache(capacityFor(256, 0));
  for (let slot = 0; slot < 256; slot++) cache.set(slot, value(0));
  for (let slot = 0; slot < 256; slot++) cache.get(slot);
  cache.set(300, value(0));
  t.equal(cache.size, 256, 'with every value referenced, a full sweep clears the bits, then evicts');
  t.equal(cache.get(0), undefined, 'the oldest position goes first after the wrap');
  t.ok(cache.get(300));
});

t.test('clear forgets everything and the cache is usable after', async (t) => {
  const cache = new ValueCache(capacityFor(256, 0));
  for (let slot = 0; slot < 100; slot++) cache.set(slot, value(0));
  cache.get(5);
  cache.clear();
  t.equal(cache.size, 0);
  t.equal(cache.bytes, 0);
  t.equal(cache.get(5), undefined);
  cache.set(5, value(0));
  t.ok(cache.get(5));
});

t.test('random operations agree with a model and never exceed the capacity', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const rng = seededRng(seed);
    const capacity = capacityFor(40, 8);
    const cache = new ValueCache(capacity);
    const latest = new Map<number, Buffer>();
    let problems = 0;
    for (let i = 0; i < 20_000; i++) {
      const slot = rng.int(200);
      const op = rng.float();
      if (op < 0.45) {
        const v = value(rng.int(16), i & 0xff);
        cache.set(slot, v);
        latest.set(slot, v);
      } else if (op < 0.6) {
        cache.drop(slot);
        latest.delete(slot);
      } else {
        const got = cache.get(slot);
        if (got !== undefined && got !== latest.get(slot)) problems++;
      }
      if (cache.bytes > capacity || cache.bytes < 0 || cache.size < 0) problems++;
    }
    t.equal(problems, 0, `seed ${seed}: every hit is the latest value, bytes within capacity`);
  }
});
