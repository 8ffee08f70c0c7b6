import t, { type Test } from 'tap';
import { hashKey, type HashSeed } from '../../../src/core/bitcask/key-hash.js';
import { KeyTable, type KeyTableOptions } from '../../../src/core/bitcask/key-table.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';

/** Keys as latin1 strings in the model; bytes for the table. */
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Checks every key of the model, some absent keys, and the slot set, against the table. */
function check(t: Test, table: KeyTable, model: Map<string, number>, absent: string[], what: string): void {
  let bad = 0;
  for (const [key, slot] of model) {
    if (table.find(bytes(key)) !== slot) bad++;
    if (table.keyString(slot) !== key || !table.keyBytes(slot).equals(bytes(key))) bad++;
  }
  for (const key of absent) if (!model.has(key) && table.find(bytes(key)) !== -1) bad++;
  t.equal(bad, 0, `${what}: every key at its slot, absent keys absent`);
  t.equal(table.size, model.size, `${what}: size`);
  const slots: number[] = [];
  table.forEachSlot((slot) => slots.push(slot));
  const expected = [...model.values()].sort((a, b) => a - b);
  t.same(
    slots.sort((a, b) => a - b),
    expected,
    `${what}: forEachSlot gives the live slots once each`,
  );
  t.ok(slots.every((s) => s < table.slotLimit && table.slotLimit <= table.slotCapacity), `${what}: slots below the limit`);
}

/** A random key over a small alphabet (binary bytes, the empty key, and some long keys). */
function randomKey(rng: Rng, maxLen: number): string {
  const alphabet = [0x00, 0x01, 0x61, 0x7f, 0x80, 0xff];
  const n = rng.int(10) === 0 ? 33 + rng.int(60) : rng.int(maxLen + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(alphabet[rng.int(alphabet.length)]!);
  return s;
}

function randomOps(t: Test, seed: number, opts: KeyTableOptions, steps: number, maxLen: number): void {
  const rng = seededRng(seed);
  const table = new KeyTable(opts);
  const model = new Map<string, number>();
  let bad = 0;
  for (let step = 0; step < steps; step++) {
    const key = randomKey(rng, maxLen);
    const op = rng.int(10);
    const at = rng.int(4);
    // Pass the key as a range of a larger buffer now and then.
    const padded = Buffer.concat([Buffer.alloc(at, 0xee), bytes(key), Buffer.alloc(2, 0xee)]);
    if (op < 5) {
      const found = table.find(padded, at, at + key.length);
      if (found !== (model.get(key) ?? -1)) bad++;
      if (found < 0) {
        const slot = table.add(padded, at, at + key.length);
        if ([...model.values()].includes(slot)) bad++; // a live key's slot was handed out again
        model.set(key, slot);
      }
    } else if (op < 9) {
      const removed = table.remove(padded, at, at + key.length);
      if (removed !== (model.get(key) ?? -1)) bad++;
      model.delete(key);
    } else if (table.find(bytes(key)) !== (model.get(key) ?? -1)) {
      bad++;
    }
  }
  t.equal(bad, 0, `seed ${seed}: every operation agreed with the model`);
  check(t, table, model, Array.from({ length: 50 }, () => randomKey(rng, maxLen)), `seed ${seed}`);
}

t.test('random operations match a Map, collisions forced by a tiny table', async (t) => {
  // Few distinct keys on 2 initial buckets: long probe runs that wrap around the end.
  for (let seed = 1; seed <= 8; seed++) randomOps(t, seed, { slots: 1, buckets: 2, arenaBytes: 1, minCompactBytes: 0 }, 3000, 2);
});

t.test('random operations match a Map while the table grows and compacts', async (t) => {
  for (let seed = 11; seed <= 14; seed++) randomOps(t, seed, { slots: 1, buckets: 2, arenaBytes: 1, minCompactBytes: 64 }, 20_000, 6);
});

/** The seed of the collision test. */
const SEED: HashSeed = [0x2545f491, 0x4f6cdd1d];

/** Two different keys `prefix + <5 chars>` whose hashes under `SEED` are equal (a birthday search over 32 bits). */
function collidingPair(prefix: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const key = prefix + i.toString(36).padStart(5, '0');
    const h = hashKey(bytes(key), 0, key.length, SEED);
    const twin = seen.get(h);
    if (twin !== undefined) return [twin, key];
    seen.set(h, key);
  }
}

t.test('two different keys with the same hash and length are told apart by their bytes', async (t) => {
  for (const [a, b] of [collidingPair(''), collidingPair('x'.repeat(40))]) {
    t.equal(hashKey(bytes(a), 0, a.length, SEED), hashKey(bytes(b), 0, b.length, SEED), `${a.length}-byte keys collide`);
    const table = new KeyTable({ buckets: 2, hashSeed: SEED });
    const sa = table.add(bytes(a));
    t.equal(table.find(bytes(b)), -1, 'the twin is absent');
    t.equal(table.remove(bytes(b)), -1, 'and removing it removes nothing');
    const sb = table.add(bytes(b));
    t.not(sa, sb);
    t.equal(table.find(bytes(a)), sa);
    t.equal(table.find(bytes(b)), sb);
    t.equal(table.remove(bytes(a)), sa);
    t.equal(table.find(bytes(b)), sb, 'the twin moved back into place');
  }
});

t.test('growth keeps every key; removal shifts entries back (no tombstones)', async (t) => {
  const table = new KeyTable({ slots: 1, buckets: 2, arenaBytes: 1 });
  const model = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) model.set(`key:${i}`, table.add(bytes(`key:${i}`)));
  check(t, table, model, ['key:10000', 'key:', ''], 'after 10,000 adds');
  for (let i = 0; i < 10_000; i += 2) {
    t.equal(table.remove(bytes(`key:${i}`)), model.get(`key:${i}`));
    model.delete(`key:${i}`);
  }
  check(t, table, model, ['key:0', 'key:9998'], 'after removing half');
  // Every bucket is either empty or holds a live key: no tombstones were left.
  let occupied = 0;
  table.forEachSlot(() => occupied++);
  t.equal(occupied, model.size);
});

t.test('the arena is compacted once garbage passes half, and slots keep their keys', async (t) => {
  const table = new KeyTable({ minCompactBytes: 1000 });
  const model = new Map<string, number>();
  const long = (i: number): string => `${String(i).padStart(8, '0')}:${'v'.repeat(100)}`;
  for (let i = 0; i < 200; i++) model.set(long(i), table.add(bytes(long(i))));
  const full = table.arenaUsed;
  t.equal(full, 200 * 109);
  for (let i = 0; i < 150; i++) {
    table.remove(bytes(long(i)));
    model.delete(long(i));
  }
  t.ok(table.arenaUsed < full / 2, `compacted (${table.arenaUsed} of ${full} bytes used)`);
  check(t, table, model, [long(0), long(149)], 'after compaction');
  for (let i = 1000; i < 1100; i++) model.set(long(i), table.add(bytes(long(i))));
  check(t, table, model, [], 'adds after compaction');
});

t.test('binary, empty and very long keys', async (t) => {
  const table = new KeyTable({ buckets: 4 });
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const huge = Buffer.alloc(1 << 20, 0xab);
  const hugeTwin = Buffer.from(huge);
  hugeTwin[hugeTwin.length - 1] = 0xac;
  const keys = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([0xff]), all, huge, hugeTwin];
  const slots = keys.map((k) => table.add(k));
  t.equal(new Set(slots).size, keys.length);
  for (let i = 0; i < keys.length; i++) {
    t.equal(table.find(keys[i]!), slots[i], `key ${i} found`);
    t.ok(table.keyBytes(slots[i]!).equals(keys[i]!), `key ${i} bytes`);
  }
  t.equal(table.keyString(slots[4]!), all.toString('latin1'), 'latin1: one char per byte');
  t.equal(table.find(Buffer.alloc(1 << 20, 0xab), 0, (1 << 20) - 1), -1, 'a long prefix is another key');
  t.equal(table.remove(Buffer.alloc(0)), slots[0]);
  t.equal(table.find(Buffer.alloc(0)), -1);
  t.equal(table.find(huge), slots[5], 'others unaffected');
});

t.test('a full arena refuses an add and leaves the table unchanged', async (t) => {
  const table = new KeyTable({ arenaBytes: 4, maxArenaBytes: 8 });
  const a = table.add(bytes('abcd'));
  t.throws(() => table.add(bytes('efghi')), RangeError);
  t.equal(table.size, 1);
  t.equal(table.find(bytes('efghi')), -1);
  t.equal(table.add(bytes('efgh')), a + 1, 'the next slot was not used up');
});

t.test('reserve allocates once for a known number of keys', async (t) => {
  const table = new KeyTable({ slots: 1, buckets: 2, arenaBytes: 1 });
  table.add(bytes('first'));
  table.reserve(1000, 8000);
  t.equal(table.slotCapacity, 1000);
  for (let i = 0; i < 999; i++) table.add(bytes(`k${i}`));
  t.equal(table.slotCapacity, 1000, 'no growth for the reserved keys');
  t.equal(table.find(bytes('first')), 0);
  table.reserve(10, 10);
  t.equal(table.slotCapacity, 1000, 'a smaller reservation changes nothing');
  const model = new Map<string, number>([['first', 0]]);
  for (let i = 0; i < 999; i++) model.set(`k${i}`, table.find(bytes(`k${i}`)));
  check(t, table, model, ['k999'], 'after reserve');
});

t.test('bucket counts must be powers of two', async (t) => {
  for (const buckets of [0, 1, 3, 1000]) t.throws(() => new KeyTable({ buckets }), RangeError, `${buckets}`);
  t.equal(new KeyTable().slotCapacity, 1024, 'defaults');
  t.equal(new KeyTable({ slots: 0 }).slotCapacity, 1, 'at least one slot');
});
