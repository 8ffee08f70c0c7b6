import t, { type Test } from 'tap';
import { KeyDir, keyFromString, keyToString, type KeyRange, type KeyString, NO_FILE } from '../../../src/core/bitcask/keydir.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';

interface Loc {
  file: number;
  offset: number;
  size: number;
}

/**
 * The model: a Map of locations by key and, for walks, the keys sorted by comparing
 * their bytes with Buffer.compare (independent of how KeyDir orders its strings).
 */
class Model {
  private readonly locs = new Map<KeyString, Loc>();
  private cache: { s: KeyString; b: Buffer }[] | undefined;

  get map(): ReadonlyMap<KeyString, Loc> {
    return this.locs;
  }

  set(key: KeyString, loc: Loc): void {
    if (!this.locs.has(key)) this.cache = undefined;
    this.locs.set(key, loc);
  }

  delete(key: KeyString): boolean {
    this.cache = undefined;
    return this.locs.delete(key);
  }

  private entries(): { s: KeyString; b: Buffer }[] {
    this.cache ??= [...this.locs.keys()].map((s) => ({ s, b: keyFromString(s) })).sort((x, y) => Buffer.compare(x.b, y.b));
    return this.cache;
  }

  sorted(): KeyString[] {
    return this.entries().map((e) => e.s);
  }

  /** The expected walk: a binary search of the byte-sorted array for the pivot. */
  walk(range: KeyRange = {}): KeyString[] {
    const all = this.entries();
    const inclusive = range.inclusive ?? true;
    if (range.from === undefined) return range.reverse ? this.sorted().reverse() : this.sorted();
    const from = keyFromString(range.from);
    // lo = index of the first key >= from
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(all[mid]!.b, from) < 0) lo = mid + 1;
      else hi = mid;
    }
    const found = lo < all.length && Buffer.compare(all[lo]!.b, from) === 0;
    if (range.reverse) {
      const last = found && inclusive ? lo : lo - 1;
      return all
        .slice(0, last + 1)
        .map((e) => e.s)
        .reverse();
    }
    const first = found && !inclusive ? lo + 1 : lo;
    return all.slice(first).map((e) => e.s);
  }
}

/** Compares two long lists without tap's deep diff (slow on tens of thousands of items). */
function sameList(t: Test, actual: KeyString[], expected: KeyString[], what: string): void {
  let first = -1;
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n && first < 0; i++) if (actual[i] !== expected[i]) first = i;
  t.equal(actual.length, expected.length, `${what}: length`);
  t.equal(first, -1, `${what}: index of the first difference (-1: none)`);
}

const k = (...bytes: number[]): KeyString => keyToString(Buffer.from(bytes));

/** The keydir driven with latin1 string keys (converted to bytes at each call). */
class StringKeyDir extends KeyDir {
  slotOf(key: KeyString): number {
    return this.slot(keyFromString(key));
  }
  add(key: KeyString, file: number, offset: number, size: number): number {
    const bytes = keyFromString(key);
    return this.insert(bytes, 0, bytes.length, file, offset, size);
  }
  set(key: KeyString, file: number, offset: number, size: number): number {
    const slot = this.slotOf(key);
    if (slot < 0) return this.add(key, file, offset, size);
    this.update(slot, file, offset, size);
    return slot;
  }
  remove(key: KeyString): boolean {
    return this.delete(keyFromString(key));
  }
  /** Every live key with its slot. */
  entries(): [KeyString, number][] {
    const out: [KeyString, number][] = [];
    this.forEachSlot((slot) => out.push([keyToString(this.keyOf(slot)), slot]));
    return out;
  }
}
const hex = (ks: KeyString[]): string[] => ks.map((s) => keyFromString(s).toString('hex'));

/** Checks every lookup of the keydir against the model. */
function checkLookups(t: Test, kd: StringKeyDir, model: Model, what: string): void {
  t.equal(kd.size, model.map.size, `${what}: size`);
  let bad = 0;
  const slots = new Set<number>();
  for (const [key, loc] of model.map) {
    const s = kd.slotOf(key);
    if (s < 0 || kd.fileOf(s) !== loc.file || kd.offsetOf(s) !== loc.offset || kd.sizeOf(s) !== loc.size) bad++;
    slots.add(s);
  }
  t.equal(bad, 0, `${what}: every location matches`);
  t.equal(slots.size, model.map.size, `${what}: slots are distinct`);
  const entries = [...kd.entries()];
  t.equal(entries.length, model.map.size, `${what}: entries count`);
  t.ok(
    entries.every(([key, s]) => model.map.has(key) && kd.slotOf(key) === s),
    `${what}: entries agree with slot()`,
  );
}


t.test('insert, lookup, update, set, delete', async (t) => {
  const kd = new StringKeyDir();
  t.equal(kd.size, 0);
  t.equal(kd.slotOf('a'), -1);
  t.equal(kd.remove('a'), false);
  const a = kd.add('a', 1, 100, 30);
  t.equal(kd.slotOf('a'), a);
  t.equal(kd.fileOf(a), 1);
  t.equal(kd.offsetOf(a), 100);
  t.equal(kd.sizeOf(a), 30);
  const b = kd.add('b', 2, 200, 40);
  t.not(a, b);
  t.equal(kd.size, 2);
  kd.update(a, 3, 300, 50);
  t.equal(kd.fileOf(a), 3);
  t.equal(kd.offsetOf(a), 300);
  t.equal(kd.sizeOf(a), 50);
  t.equal(kd.fileOf(b), 2, 'other slots untouched');
  t.equal(kd.set('a', 4, 400, 60), a, 'set of an existing key keeps its slot');
  t.equal(kd.offsetOf(a), 400);
  const c = kd.set('c', 5, 500, 70);
  t.equal(kd.slotOf('c'), c, 'set of a new key inserts');
  t.equal(kd.size, 3);
  // Full 32-bit values survive (file numbers up to the one below NO_FILE, which marks a free slot).
  kd.update(c, NO_FILE - 1, 0xffffffff, 0xffffffff);
  t.equal(kd.fileOf(c), NO_FILE - 1);
  t.equal(kd.offsetOf(c), 0xffffffff);
  t.equal(kd.sizeOf(c), 0xffffffff);
  t.equal(kd.remove('b'), true);
  t.equal(kd.remove('b'), false);
  t.equal(kd.slotOf('b'), -1);
  t.equal(kd.size, 2);
  t.same([...kd.keys()], ['a', 'c']);
});

t.test('a freed slot is reused', async (t) => {
  const kd = new StringKeyDir();
  for (let i = 0; i < 10; i++) kd.add(`k${i}`, i, i, i);
  const freed = kd.slotOf('k4');
  kd.remove('k4');
  const again = kd.add('new', 9, 9, 9);
  t.equal(again, freed, 'the new key takes the freed slot');
  t.equal(kd.slotOf('new'), freed);
  t.equal(kd.fileOf(freed), 9);
  t.equal(kd.slotOf('k4'), -1);
  // The reused slot does not disturb its neighbours.
  for (let i = 0; i < 10; i++) if (i !== 4) t.equal(kd.fileOf(kd.slotOf(`k${i}`)), i);
  const next = kd.add('newer', 1, 1, 1);
  t.notOk([...Array(10).keys()].some((i) => i !== 4 && kd.slotOf(`k${i}`) === next), 'then a fresh slot');
});

t.test('growth beyond the initial 1024 slots keeps every location', async (t) => {
  const kd = new StringKeyDir();
  const model = new Model();
  for (let i = 0; i < 5000; i++) {
    const loc = { file: i % 7, offset: i * 1000 + 3, size: 4_000_000_000 - i };
    kd.add(`key-${i}`, loc.file, loc.offset, loc.size);
    model.set(`key-${i}`, loc);
  }
  checkLookups(t, kd, model, 'after 5000 inserts');
  sameList(t, [...kd.keys()], model.walk(), 'walk');
});

t.test('binary keys walk in byte order', async (t) => {
  const keys = [
    k(),
    k(0x00),
    k(0x00, 0x00),
    k(0x00, 0xff),
    k(0x01),
    k(0x41), // 'A'
    k(0x5a),
    k(0x61), // 'a'
    k(0x61, 0x00),
    k(0x7f),
    k(0x80),
    k(0xc3, 0xa9), // 'é' in UTF-8
    k(0xe2, 0x82, 0xac), // '€' in UTF-8
    k(0xfe),
    k(0xff),
    k(0xff, 0x00),
    k(0xff, 0xff),
  ];
  const expected = [...keys]; // listed in byte order
  const kd = new StringKeyDir();
  const model = new Model();
  const rng = seededRng(11);
  const shuffled = [...keys];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  for (const key of shuffled) {
    kd.add(key, 0, 0, 0);
    model.set(key, { file: 0, offset: 0, size: 0 });
  }
  t.same(hex(model.walk()), hex(expected), 'the model agrees with the hand-sorted list');
  t.same(hex([...kd.keys()]), hex(expected), 'forward');
  t.same(hex([...kd.keys({ reverse: true })]), hex([...expected].reverse()), 'reverse');
  // Not the order of a locale comparison or of UTF-8 decoded text.
  const localeOrder = [...keys].sort((a, b) => a.localeCompare(b));
  t.notSame(hex(localeOrder), hex(expected), 'locale order would differ');
  const utf8Order = [...keys].sort((a, b) => {
    const x = keyFromString(a).toString('utf8');
    const y = keyFromString(b).toString('utf8');
    return x < y ? -1 : x > y ? 1 : 0;
  });
  t.notSame(hex(utf8Order), hex(expected), 'decoded UTF-8 order would differ');

  // From the empty key, which is the smallest key of all.
  t.same(hex([...kd.keys({ from: '' })]), hex(expected));
  t.same(hex([...kd.keys({ from: '', inclusive: false })]), hex(expected.slice(1)));
  t.same(hex([...kd.keys({ from: '', reverse: true })]), hex(['']));
  t.same([...kd.keys({ from: '', reverse: true, inclusive: false })], []);
  kd.remove('');
  t.same(hex([...kd.keys({ from: '' })]), hex(expected.slice(1)), 'absent empty key as a pivot');
  t.same([...kd.keys({ from: '', reverse: true })], []);
  // From past the largest key and before the smallest.
  t.same([...kd.keys({ from: k(0xff, 0xff, 0xff) })], []);
  t.same(hex([...kd.keys({ from: k(0xff, 0xff, 0xff), reverse: true })]), hex(expected.slice(1).reverse()));
});

t.test('walks match a sorted model over random operations', async (t) => {
  const alphabet = [0x00, 0x01, 0x61, 0x7f, 0x80, 0xfe, 0xff];
  const randomKey = (rng: Rng): KeyString => {
    const n = rng.int(5);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = alphabet[rng.int(alphabet.length)]!;
    return keyToString(b);
  };
  for (let seed = 1; seed <= 6; seed++) {
    const rng = seededRng(seed);
    const kd = new StringKeyDir();
    const model = new Model();
    let mismatches = 0;
    for (let step = 0; step < 400; step++) {
      const key = randomKey(rng);
      const op = rng.int(10);
      if (op < 5) {
        const loc = { file: rng.int(100), offset: rng.int(2 ** 32), size: rng.int(2 ** 32) };
        const s = kd.set(key, loc.file, loc.offset, loc.size);
        if (kd.slotOf(key) !== s) mismatches++;
        model.set(key, loc);
      } else if (op < 8) {
        if (kd.remove(key) !== model.delete(key)) mismatches++;
      } else {
        const range: KeyRange = { reverse: rng.int(2) === 1 };
        if (rng.int(4) !== 0) range.from = rng.int(2) === 0 ? randomKey(rng) : model.sorted()[rng.int(model.map.size)] ?? '';
        if (rng.int(3) !== 0) range.inclusive = rng.int(2) === 0;
        if (hex([...kd.keys(range)]).join() !== hex(model.walk(range)).join()) {
          mismatches++;
          t.comment(`seed ${seed} step ${step}: walk ${JSON.stringify(range)} differs`);
        }
      }
    }
    t.equal(mismatches, 0, `seed ${seed}: no mismatches`);
    checkLookups(t, kd, model, `seed ${seed}`);
    t.same(hex([...kd.keys()]), hex(model.walk()), `seed ${seed}: full walk`);
    t.same(hex([...kd.keys({ reverse: true })]), hex(model.walk({ reverse: true })), `seed ${seed}: full reverse walk`);
    // Every existing key and every gap as a pivot, both directions, both inclusivities.
    let pivotMismatches = 0;
    const pivots = [...model.sorted(), ...Array.from({ length: 30 }, () => randomKey(rng))];
    for (const from of pivots) {
      for (const reverse of [false, true]) {
        for (const inclusive of [undefined, true, false]) {
          const range: KeyRange = inclusive === undefined ? { from, reverse } : { from, reverse, inclusive };
          if (hex([...kd.keys(range)]).join() !== hex(model.walk(range)).join()) pivotMismatches++;
        }
      }
    }
    t.equal(pivotMismatches, 0, `seed ${seed}: walks from every pivot`);
  }
});

t.test('more than 65,536 inserts go through the pending batch', async (t) => {
  const kd = new StringKeyDir();
  const model = new Model();
  const rng = seededRng(5);
  const N = 70_000;
  const keyOf = (i: number): KeyString => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE((i * 2654435761) >>> 0); // scrambled insertion order
    return keyToString(b);
  };
  for (let i = 0; i < N; i++) {
    const key = keyOf(i);
    kd.add(key, i & 0xff, i, i + 1);
    model.set(key, { file: i & 0xff, offset: i, size: i + 1 });
    // Delete some keys while they are still pending, and some re-inserted after.
    if (i % 1000 === 999) {
      const victim = keyOf(i - rng.int(500));
      kd.remove(victim);
      model.delete(victim);
      if (rng.int(2) === 0) {
        kd.add(victim, 1, 2, 3);
        model.set(victim, { file: 1, offset: 2, size: 3 });
      }
    }
  }
  checkLookups(t, kd, model, '70,000 inserts');
  const walk = [...kd.keys()];
  t.equal(walk.length, model.map.size);
  sameList(t, walk, model.walk(), 'sorted walk');
  t.equal(new Set(walk).size, walk.length, 'no key twice');
  const from = model.sorted()[12345]!;
  t.same(hex([...kd.keys({ from, reverse: true })].slice(0, 50)), hex(model.walk({ from, reverse: true }).slice(0, 50)));
});

t.test('keys deleted during a walk are skipped; keys added keep the walk ordered', async (t) => {
  for (const reverse of [false, true]) {
    const kd = new StringKeyDir();
    const model = new Model();
    for (let i = 0; i < 200; i++) {
      const key = `k${String(i).padStart(3, '0')}`;
      kd.add(key, 0, i, 1);
      model.set(key, { file: 0, offset: i, size: 1 });
    }
    const before = model.walk({ reverse });
    const deleted = new Set<KeyString>();
    const seen: KeyString[] = [];
    let n = 0;
    for (const key of kd.keys({ reverse })) {
      seen.push(key);
      n++;
      if (n === 10) {
        // Delete the current key and every third of the keys still ahead.
        kd.remove(key);
        for (let j = 11; j < before.length; j += 3) {
          kd.remove(before[j]!);
          deleted.add(before[j]!);
        }
      }
      if (n === 20) {
        // Add keys ahead of and behind the cursor.
        for (const extra of ['k000x', 'k150x', 'k999', 'a', 'z']) kd.add(extra, 0, 0, 0);
      }
    }
    const original = new Set(before);
    const expected = before.filter((key) => !deleted.has(key));
    t.same(
      seen.filter((key) => original.has(key)),
      expected,
      `${reverse ? 'reverse' : 'forward'}: every surviving key once, deleted ones skipped`,
    );
    t.notOk(seen.some((key) => deleted.has(key)));
    const cmp = (a: KeyString, b: KeyString) => Buffer.compare(keyFromString(a), keyFromString(b));
    t.ok(
      seen.every((key, i) => i === 0 || (reverse ? cmp(seen[i - 1]!, key) > 0 : cmp(seen[i - 1]!, key) < 0)),
      'strictly ordered',
    );
  }
});

t.test('a key deleted and re-inserted before a walk appears once', async (t) => {
  const kd = new StringKeyDir();
  kd.add('x', 1, 1, 1);
  kd.add('y', 1, 1, 1);
  kd.remove('x');
  kd.add('x', 2, 2, 2);
  t.same([...kd.keys()], ['x', 'y']);
  kd.remove('x');
  t.same([...kd.keys()], ['y']);
  kd.add('x', 3, 3, 3);
  t.same([...kd.keys()], ['x', 'y']);
  t.equal(kd.fileOf(kd.slotOf('x')), 3);
});

t.test('deleting every key empties everything and the keydir stays usable', async (t) => {
  const kd = new StringKeyDir();
  for (let i = 0; i < 3000; i++) kd.add(`k${i}`, 1, i, 1);
  [...kd.keys()]; // move the keys into the tree
  for (let i = 3000; i < 3100; i++) kd.add(`k${i}`, 1, i, 1); // and leave some pending
  for (let i = 0; i < 3100; i++) kd.remove(`k${i}`);
  t.equal(kd.size, 0);
  t.equal(kd.slotOf('k1'), -1);
  t.same([...kd.keys()], []);
  t.same([...kd.keys({ reverse: true })], []);
  t.same([...kd.entries()], []);
  const model = new Model();
  for (let i = 0; i < 1500; i++) {
    kd.add(`n${i}`, 2, i, 7);
    model.set(`n${i}`, { file: 2, offset: i, size: 7 });
  }
  checkLookups(t, kd, model, 'after deleting all');
  t.same([...kd.keys()], model.walk());
  t.equal(kd.slotOf('k3050'), -1, 'pending keys deleted before the walk are gone');
  t.ok(kd.snapshotLocations().files.length <= 3100, 'freed slots were reused');
});

t.test('an empty keydir walks nothing', async (t) => {
  const kd = new StringKeyDir();
  for (const range of [{}, { reverse: true }, { from: 'a' }, { from: 'a', reverse: true }, { from: '', inclusive: false }]) {
    t.same([...kd.keys(range)], [], JSON.stringify(range));
  }
});

t.test('keyToString and keyFromString round trip every byte value', async (t) => {
  let bad = 0;
  for (let b = 0; b < 256; b++) {
    const s = keyToString(Buffer.from([b]));
    if (s.length !== 1 || s.charCodeAt(0) !== b) bad++;
    if (!keyFromString(s).equals(Buffer.from([b]))) bad++;
  }
  t.equal(bad, 0, 'one char per byte, with the byte as its code');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
  const s = keyToString(all);
  t.equal(s.length, 256);
  t.ok(keyFromString(s).equals(all));
  t.equal(keyToString(Buffer.alloc(0)), '');
  t.equal(keyFromString('').length, 0);
  // A view into a larger buffer converts only its own bytes.
  const backing = Buffer.from('xxxxhello-worldyyyy');
  t.equal(keyToString(backing.subarray(4, 15)), 'hello-world');
  const u8 = new Uint8Array(backing.buffer, backing.byteOffset + 4, 5);
  t.equal(keyToString(u8), 'hello');
  // String order of converted keys is byte order.
  for (let i = 0; i < 255; i++) {
    if (!(keyToString(Buffer.from([i])) < keyToString(Buffer.from([i + 1])))) bad++;
  }
  t.equal(bad, 0);
});

t.test('a freed slot points at no file, so a merge holding its number skips it', async (t) => {
  const kd = new StringKeyDir();
  const a = kd.add('a', 3, 100, 40);
  const b = kd.add('b', 3, 140, 40);
  kd.remove('a');
  t.equal(kd.fileOf(a), NO_FILE);
  t.equal(kd.fileOf(b), 3);
});

t.test('once walked, inserts reach the ordered index in batches, also past 65,536', async (t) => {
  const kd = new StringKeyDir();
  kd.add('start', 1, 0, 1);
  t.same([...kd.keys()], ['start']);
  const n = 70_000;
  for (let i = 0; i < n; i++) kd.add(`k${String(i).padStart(6, '0')}`, 1, i, 1);
  const walked = [...kd.keys()];
  t.equal(walked.length, n + 1);
  t.equal(walked[0], 'k000000');
  t.equal(walked.at(-1), 'start');
});

t.test('snapshotLocations copies the location of every slot, free ones marked NO_FILE', async (t) => {
  const kd = new StringKeyDir();
  t.same(kd.snapshotLocations(), { files: new Uint32Array(0), offsets: new Uint32Array(0), size: 0 });
  for (let i = 0; i < 5; i++) kd.add(`k${i}`, i, i * 10, 7);
  kd.remove('k2');
  const snap = kd.snapshotLocations();
  t.equal(snap.size, 4);
  t.same([...snap.files], [0, 1, NO_FILE, 3, 4]);
  t.same([...snap.offsets], [0, 10, 20, 30, 40]);
  kd.update(kd.slotOf('k0'), 9, 99, 7);
  kd.add('new', 8, 80, 7);
  t.same([...snap.files], [0, 1, NO_FILE, 3, 4], 'a copy: later changes do not reach it');
  t.same([...snap.offsets], [0, 10, 20, 30, 40]);
});

t.test('the byte API takes keys straight out of a larger buffer', async (t) => {
  const kd = new KeyDir();
  const buf = Buffer.from('..alpha..beta..');
  const a = kd.insert(buf, 2, 7, 1, 10, 20);
  t.equal(kd.slot(Buffer.from('alpha')), a, 'found by an exact key');
  t.equal(kd.slot(buf, 2, 7), a, 'and by a range of the buffer');
  t.equal(kd.slot(buf, 2, 6), -1, 'a prefix is another key');
  const b = kd.insert(buf, 9, 13, 1, 30, 20);
  t.same(kd.keyOf(b), Buffer.from('beta'), 'keyOf copies the key out');
  buf.fill(0); // the keydir kept its own copy
  t.equal(kd.slot(Buffer.from('alpha')), a);
  t.equal(kd.slot(Buffer.from('beta')), b);
  t.equal(kd.delete(Buffer.from('xxbetaxx'), 2, 6), true, 'delete by a range');
  t.equal(kd.slot(Buffer.from('beta')), -1);
  const empty = kd.insert(Buffer.alloc(0), 0, 0, 2, 0, 21);
  t.equal(kd.slot(Buffer.from('abc'), 1, 1), empty, 'the empty key, also as an empty range');
  t.same([...kd.keys()], ['', 'alpha']);
  t.equal(kd.delete(Buffer.alloc(0)), true);
  t.same([...kd.keys()], ['alpha'], 'deleting a walked key updates the tree');
});

t.test('reserve sizes the keydir for a known number of keys without changing its contents', async (t) => {
  const kd = new KeyDir();
  kd.insert(Buffer.from('before'), 0, 6, 1, 1, 1);
  kd.reserve(5000, 5000 * 8);
  const model = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    const key = Buffer.from(`key:${i}`);
    model.set(key.toString('latin1'), kd.insert(key, 0, key.length, 2, i, 9));
  }
  kd.reserve(10, 10); // smaller than what is there: nothing to do
  let bad = 0;
  for (const [key, slot] of model) if (kd.slot(keyFromString(key)) !== slot || kd.offsetOf(slot) !== Number(key.slice(4))) bad++;
  t.equal(bad, 0, 'every key at its slot and location');
  t.equal(kd.fileOf(kd.slot(Buffer.from('before'))), 1, 'the key from before kept its location');
  t.equal(kd.size, 5001);
});

t.test('the ordered index built in steps while keys are added and deleted', async (t) => {
  const randomKey = (rng: Rng): KeyString => keyToString(Buffer.from([rng.int(40), rng.int(4)]));
  for (let seed = 1; seed <= 8; seed++) {
    const rng = seededRng(100 + seed);
    const kd = new StringKeyDir();
    const model = new Model();
    const write = (): void => {
      const key = randomKey(rng);
      if (rng.int(3) === 0) {
        kd.remove(key);
        model.delete(key);
      } else {
        kd.set(key, 1, rng.int(1000), 10);
        model.set(key, { file: 1, offset: 0, size: 10 });
      }
    };
    for (let i = 0; i < 120; i++) write();
    t.notOk(kd.ordered, `seed ${seed}: not built before a walk asks`);
    let steps = 0;
    while (!kd.buildOrdered(1 + rng.int(12))) {
      steps++;
      for (let i = rng.int(6); i > 0; i--) write();
    }
    t.ok(kd.ordered, `seed ${seed}: built after ${steps} steps`);
    t.ok(kd.buildOrdered(1), 'and stays built');
    sameList(t, [...kd.keys()], model.walk(), `seed ${seed}: walk`);
    sameList(t, [...kd.keys({ reverse: true })], model.walk({ reverse: true }), `seed ${seed}: reverse walk`);
  }
});

t.test('a key deleted during the build and added again stays; a walk finishes a build begun', async (t) => {
  const kd = new StringKeyDir();
  for (const key of ['a', 'b', 'c', 'd']) kd.add(key, 1, 0, 1);
  t.notOk(kd.buildOrdered(2), 'slots 0 and 1 read');
  kd.remove('a');
  kd.add('a', 1, 0, 1);
  kd.remove('b');
  kd.remove('c');
  t.same([...kd.keys()], ['a', 'd'], 'the walk finishes the build');
  t.ok(kd.ordered);
});

t.test('a walk finishes a build whose keys are being inserted into the tree', async (t) => {
  const kd = new StringKeyDir();
  for (const key of ['c', 'a', 'b']) kd.add(key, 1, 0, 1);
  t.notOk(kd.buildOrdered(3), 'the slots read');
  t.notOk(kd.buildOrdered(3), 'sorted: the tree is filled next');
  t.notOk(kd.buildOrdered(1), "'a' inserted");
  kd.remove('b');
  kd.add('e', 1, 0, 1);
  t.same([...kd.keys()], ['a', 'c', 'e']);
  t.ok(kd.ordered);
});
