/**
 * Tests of src/core/raft/quorum.ts: majority sizes, committedIndex (odd and even voter
 * counts, missing voters, numeric rather than textual ordering, against a brute-force
 * model) and tally (won, lost, pending; votes of non-voters ignored).
 */
import t from 'tap';
import { committedIndex, majority, tally } from '../../../src/core/raft/quorum.js';
import { seededRng } from '../../../src/core/support/rng.js';

/** A match function over a record; voters not in it count as 0. */
const matchOf =
  (m: Record<string, number>) =>
  (id: string): number =>
    m[id] ?? 0;

t.test('majority', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 8].map(majority), [1, 1, 2, 2, 3, 3, 4, 4, 5]);
});

t.test('committedIndex', async (t) => {
  t.equal(committedIndex([], () => 9), 0, 'no voters: 0');
  t.equal(committedIndex(['a'], matchOf({ a: 7 })), 7, 'a single voter alone');
  t.equal(committedIndex(['a', 'b'], matchOf({ a: 7, b: 3 })), 3, 'two voters need both');
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 5, b: 3, c: 1 })), 3);
  t.equal(committedIndex(['c', 'a', 'b'], matchOf({ a: 1, b: 5, c: 3 })), 3, 'the order of voters does not matter');
  t.equal(committedIndex(['a', 'b', 'c', 'd'], matchOf({ a: 5, b: 4, c: 3, d: 2 })), 3, 'four voters need three');
  t.equal(committedIndex(['a', 'b', 'c', 'd', 'e'], matchOf({ a: 9, b: 9, c: 2, d: 1, e: 0 })), 2);
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 4, b: 4, c: 4 })), 4);
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 8 })), 0, 'missing voters count as 0');
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 8, c: 6 })), 6);
  t.equal(committedIndex(['a', 'b', 'c', 'd'], matchOf({ a: 8, c: 6 })), 0, 'half is not a majority');
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 100, b: 10, c: 9 })), 10, 'indexes compare as numbers, not as text');
  t.equal(committedIndex(['a', 'b', 'c'], matchOf({ a: 2, b: 10, c: 1 })), 2);

  const asked: string[] = [];
  committedIndex(['x', 'y', 'z'], (id) => {
    asked.push(id);
    return 1;
  });
  t.same(asked.sort(), ['x', 'y', 'z'], 'each voter asked once');

  // Against a brute-force model: the largest index that at least a majority has reached.
  const rng = seededRng(11);
  for (let round = 0; round < 500; round++) {
    const n = 1 + rng.int(7);
    const voters = Array.from({ length: n }, (_, i) => `n${i}`);
    const m: Record<string, number> = {};
    for (const v of voters) if (rng.int(5) > 0) m[v] = rng.int(30);
    let want = 0;
    for (let idx = 0; idx <= 30; idx++) {
      if (voters.filter((v) => (m[v] ?? 0) >= idx).length >= majority(n)) want = idx;
    }
    const got = committedIndex(voters, matchOf(m));
    if (got !== want) {
      t.fail('committedIndex differs from the model', { voters, m, got, want });
      return;
    }
  }
  t.pass('500 random quorums agree with the model');
});

t.test('tally', async (t) => {
  const votes = (v: Record<string, boolean>): Map<string, boolean> => new Map(Object.entries(v));
  const three = ['a', 'b', 'c'];
  t.equal(tally(three, votes({})), 'pending');
  t.equal(tally(three, votes({ a: true })), 'pending');
  t.equal(tally(three, votes({ a: true, b: true })), 'won');
  t.equal(tally(three, votes({ a: true, b: true, c: false })), 'won');
  t.equal(tally(three, votes({ a: false })), 'pending');
  t.equal(tally(three, votes({ a: true, b: false })), 'pending');
  t.equal(tally(three, votes({ a: false, b: false })), 'lost');
  t.equal(tally(three, votes({ a: true, b: false, c: false })), 'lost');
  t.equal(tally(three, votes({ x: true, y: true, z: true })), 'pending', 'votes of non-voters are ignored');
  t.equal(tally(three, votes({ a: true, x: true, y: true })), 'pending');
  t.equal(tally(three, votes({ a: false, b: false, x: true, y: true })), 'lost');

  const four = ['a', 'b', 'c', 'd'];
  t.equal(tally(four, votes({ a: true, b: true })), 'pending', 'half is not a majority');
  t.equal(tally(four, votes({ a: true, b: true, c: true })), 'won');
  t.equal(tally(four, votes({ a: false })), 'pending');
  t.equal(tally(four, votes({ a: false, b: false })), 'lost', 'with half against, a majority is impossible');
  t.equal(tally(four, votes({ a: true, b: true, c: false })), 'pending');

  t.equal(tally(['a'], votes({ a: true })), 'won', 'a single voter elects itself');
  t.equal(tally(['a'], votes({ a: false })), 'lost');
  t.equal(tally(['a'], votes({})), 'pending');
  t.equal(tally([], votes({ a: true })), 'lost', 'nobody can win without voters');
});
