import t from 'tap';
import { KeyArena, MAX_ARENA_BYTES } from '../../../src/core/bitcask/key-arena.js';

t.test('append copies ranges, growing the buffer; equals compares in place', async (t) => {
  const arena = new KeyArena(4);
  const src = Buffer.from('..hello..');
  const a = arena.append(src, 2, 7);
  const long = Buffer.alloc(100, 7);
  long[99] = 8;
  const b = arena.append(long, 0, 100);
  const c = arena.append(src, 0, 0);
  t.same([a, b, c], [0, 5, 105]);
  t.equal(arena.used, 105);
  t.ok(arena.bytes.length >= 105);
  src.fill(0);
  t.equal(arena.bytes.toString('latin1', 0, 5), 'hello', 'a copy, not a view');
  t.ok(arena.equals(0, Buffer.from('hello'), 0, 5));
  t.notOk(arena.equals(0, Buffer.from('help!'), 0, 5), 'short keys: differing byte');
  t.ok(arena.equals(5, long, 0, 100), 'long keys compare natively');
  const other = Buffer.from(long);
  other[99] = 9;
  t.notOk(arena.equals(5, other, 0, 100), 'long keys: differing last byte');
  t.ok(arena.equals(105, Buffer.alloc(0), 0, 0), 'the empty key');
  t.equal(MAX_ARENA_BYTES, 2 ** 32 - 1);
});

t.test('a full arena refuses an append and stays unchanged', async (t) => {
  const arena = new KeyArena(2, 10);
  arena.append(Buffer.from('abcdef'), 0, 6);
  t.throws(() => arena.append(Buffer.from('ghijk'), 0, 5), RangeError);
  t.equal(arena.used, 6);
  t.equal(arena.append(Buffer.from('ghij'), 0, 4), 6, 'an append that fits still works');
  t.equal(arena.bytes.length, 10, 'growth is capped at maxBytes');
  t.equal(new KeyArena(100, 10).bytes.length, 10, 'so is the initial size');
});

t.test('garbage makes the arena wasteful past half and the threshold; compactInto sizes a fresh one', async (t) => {
  const arena = new KeyArena(16, 1000, 10);
  arena.append(Buffer.alloc(40), 0, 40);
  arena.release(9);
  t.notOk(arena.wasteful, 'below the threshold');
  arena.release(11);
  t.notOk(arena.wasteful, 'exactly half');
  arena.release(1);
  t.ok(arena.wasteful);
  const fresh = arena.compactInto(19);
  t.equal(fresh.used, 0);
  t.equal(fresh.garbage, 0);
  t.equal(fresh.maxBytes, 1000);
  t.equal(fresh.minCompactBytes, 10);
  t.ok(fresh.bytes.length >= 19, 'room for the live keys');
});

t.test('reserve grows to a total size at once, keeping the contents', async (t) => {
  const arena = new KeyArena(4, 100);
  arena.append(Buffer.from('abc'), 0, 3);
  arena.reserve(50);
  t.equal(arena.bytes.length, 50);
  t.equal(arena.bytes.toString('latin1', 0, 3), 'abc');
  arena.reserve(20);
  t.equal(arena.bytes.length, 50, 'never shrinks');
  arena.reserve(500);
  t.equal(arena.bytes.length, 100, 'capped at maxBytes');
});
