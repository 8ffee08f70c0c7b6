/**
 * Tests of src/core/raft/storage.ts: the empty constants, LogRangeError, MemoryStorage
 * (the empty log, term/entries bounds with COMPACTED and UNAVAILABLE codes, appends that
 * replace a suffix or skip what a snapshot covers, compaction, installing a snapshot)
 * and limitSize (a byte budget that always keeps at least one entry).
 */
import t, { type Test } from 'tap';
import { BitraftError, hasCode } from '../../../src/core/support/errors.js';
import { EMPTY_CONF, EMPTY_HARD_STATE, LogRangeError, MemoryStorage, limitSize } from '../../../src/core/raft/storage.js';
import type { ConfState, Entry } from '../../../src/core/raft/types.js';

/** An entry whose data is `size` bytes. */
const ent = (index: number, term: number, size = 0): Entry => ({ index, term, type: 'command', data: new Uint8Array(size).fill(index & 0xff) });

/** Entries `lo..hi` (inclusive), all of `term`. */
const run = (lo: number, hi: number, term: number, size = 0): Entry[] => {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, term, size));
  return out;
};

/** (index, term) pairs, for compact comparisons. */
const it = (es: readonly Entry[]): [number, number][] => es.map((e) => [e.index, e.term]);

/** Asserts that `fn` throws a LogRangeError with `code` about `index`. */
function throwsRange(t: Test, fn: () => unknown, code: 'COMPACTED' | 'UNAVAILABLE', index: number, msg?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof LogRangeError, msg ?? `throws LogRangeError ${code} ${index}`);
  t.ok(hasCode(caught, code), `code is ${code}`);
  const what = code === 'COMPACTED' ? 'compacted' : 'not available';
  t.equal((caught as Error).message, `log index ${index} is ${what}`);
}

/** Terms of every index from `snapshot().index` to `lastIndex()`. */
const terms = (s: MemoryStorage): number[] => {
  const out: number[] = [];
  for (let i = s.firstIndex() - 1; i <= s.lastIndex(); i++) out.push(s.term(i));
  return out;
};

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: ['d'] };

t.test('the empty constants', async (t) => {
  t.same(EMPTY_HARD_STATE, { term: 0, vote: '', commit: 0 });
  t.same(EMPTY_CONF, { voters: [], learners: [] });
});

t.test('LogRangeError', async (t) => {
  const c = new LogRangeError('COMPACTED', 7);
  t.ok(c instanceof BitraftError);
  t.ok(c instanceof Error);
  t.equal(c.code, 'COMPACTED');
  t.equal(c.name, 'LogRangeError');
  t.equal(c.message, 'log index 7 is compacted');
  const u = new LogRangeError('UNAVAILABLE', 0);
  t.equal(u.code, 'UNAVAILABLE');
  t.equal(u.message, 'log index 0 is not available');
  t.ok(hasCode(u, 'UNAVAILABLE'));
  t.notOk(hasCode(u, 'COMPACTED'));
});

t.test('a new MemoryStorage is the empty log', async (t) => {
  const s = new MemoryStorage();
  t.same(s.initialState(), { hardState: EMPTY_HARD_STATE, conf: EMPTY_CONF });
  t.equal(s.firstIndex(), 1);
  t.equal(s.lastIndex(), 0);
  t.equal(s.term(0), 0, 'index 0 has term 0');
  throwsRange(t, () => s.term(1), 'UNAVAILABLE', 1);
  throwsRange(t, () => s.term(-1), 'COMPACTED', -1);
  t.same(s.entries(1, 1, Infinity), [], 'an empty range');
  throwsRange(t, () => s.entries(0, 1, Infinity), 'COMPACTED', 0);
  throwsRange(t, () => s.entries(1, 2, Infinity), 'UNAVAILABLE', 1);
  t.same(s.snapshot(), { index: 0, term: 0, conf: EMPTY_CONF });
});

t.test('the initial membership', async (t) => {
  const s = new MemoryStorage(CONF);
  t.same(s.initialState(), { hardState: EMPTY_HARD_STATE, conf: CONF });
  t.same(s.snapshot(), { index: 0, term: 0, conf: CONF });
});

t.test('setHardState and setConf', async (t) => {
  const s = new MemoryStorage(CONF);
  s.setHardState({ term: 3, vote: 'b', commit: 2 });
  t.same(s.initialState(), { hardState: { term: 3, vote: 'b', commit: 2 }, conf: CONF });
  const next: ConfState = { voters: ['a', 'b', 'c', 'd'], learners: [] };
  s.setConf(next);
  t.same(s.initialState(), { hardState: { term: 3, vote: 'b', commit: 2 }, conf: next });
  t.same(s.snapshot().conf, CONF, 'the snapshot keeps the membership it was taken with');
});

t.test('append, term and entries', async (t) => {
  const s = new MemoryStorage();
  s.append([]);
  t.equal(s.lastIndex(), 0, 'appending nothing changes nothing');
  s.append(run(1, 3, 1, 2));
  t.equal(s.firstIndex(), 1);
  t.equal(s.lastIndex(), 3);
  t.same(terms(s), [0, 1, 1, 1]);
  s.append(run(4, 5, 2, 2));
  t.same(terms(s), [0, 1, 1, 1, 2, 2], 'appending at lastIndex() + 1 extends');
  t.same(it(s.entries(1, 6, Infinity)), [[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);
  t.same(it(s.entries(2, 4, Infinity)), [[2, 1], [3, 1]]);
  t.same(s.entries(3, 3, Infinity), []);
  t.same(s.entries(4, 5, Infinity)[0], ent(4, 2, 2), 'entries come back whole');
  throwsRange(t, () => s.entries(2, 7, Infinity), 'UNAVAILABLE', 6);
  throwsRange(t, () => s.term(6), 'UNAVAILABLE', 6);

  // Size limits: 2 bytes each.
  t.same(it(s.entries(1, 6, 0)), [[1, 1]], 'at least one entry');
  t.same(it(s.entries(1, 6, 3)), [[1, 1]]);
  t.same(it(s.entries(1, 6, 4)), [[1, 1], [2, 1]], 'a budget met exactly is kept');
  t.same(it(s.entries(1, 6, 9)), [[1, 1], [2, 1], [3, 1], [4, 2]]);
  t.same(it(s.entries(1, 6, 10)), [[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);

  // The result is a copy: changing it leaves the log as it was.
  const got = s.entries(1, 6, Infinity);
  got.length = 0;
  t.equal(s.entries(1, 6, Infinity).length, 5);

  // Replacing a suffix truncates what followed.
  s.append(run(3, 3, 3));
  t.same(terms(s), [0, 1, 1, 3]);
  t.equal(s.lastIndex(), 3);
  // Replacing from the first index.
  s.append(run(1, 2, 4));
  t.same(terms(s), [0, 4, 4]);
  // Replacing the last entry only.
  s.append(run(2, 2, 5));
  t.same(terms(s), [0, 4, 5]);

  // A gap is refused and changes nothing.
  throwsRange(t, () => s.append(run(4, 5, 5)), 'UNAVAILABLE', 3);
  t.same(terms(s), [0, 4, 5]);
});

t.test('compact', async (t) => {
  const s = new MemoryStorage(CONF);
  s.append([...run(1, 3, 1, 1), ...run(4, 6, 2, 1)]);
  s.compact(0, { voters: ['z'], learners: [] });
  t.equal(s.firstIndex(), 1, 'compacting at the snapshot index is a no-op');
  t.same(s.snapshot(), { index: 0, term: 0, conf: CONF }, 'not even the snapshot membership changes');
  s.compact(3, { voters: ['a'], learners: [] });
  t.equal(s.firstIndex(), 4);
  t.equal(s.lastIndex(), 6);
  t.same(s.snapshot(), { index: 3, term: 1, conf: { voters: ['a'], learners: [] } });
  t.same(s.initialState().conf, CONF, 'the current membership is not the snapshot one');
  t.equal(s.term(3), 1, 'the snapshot index still answers its term');
  throwsRange(t, () => s.term(2), 'COMPACTED', 2);
  throwsRange(t, () => s.entries(3, 5, Infinity), 'COMPACTED', 3);
  throwsRange(t, () => s.entries(1, 5, Infinity), 'COMPACTED', 1);
  t.same(it(s.entries(4, 7, Infinity)), [[4, 2], [5, 2], [6, 2]]);
  t.same(it(s.entries(4, 7, 1)), [[4, 2]]);

  s.compact(2, CONF);
  t.equal(s.firstIndex(), 4, 'compacting below the snapshot is a no-op');
  s.compact(3, CONF);
  t.same(s.snapshot(), { index: 3, term: 1, conf: { voters: ['a'], learners: [] } }, 'so is compacting at it');

  throwsRange(t, () => s.compact(7, CONF), 'UNAVAILABLE', 7);
  t.equal(s.firstIndex(), 4, 'a failed compaction changes nothing');
  t.same(s.snapshot(), { index: 3, term: 1, conf: { voters: ['a'], learners: [] } });

  // Appending entries the snapshot covers skips them; the rest lands normally.
  s.append([ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 7)]);
  t.same(terms(s), [1, 2, 7], 'index 4 replaced by itself, 5 replaced, 6 truncated');
  s.append(run(1, 3, 9));
  t.same(terms(s), [1, 2, 7], 'entries wholly covered by the snapshot are ignored');

  s.compact(5, CONF);
  t.equal(s.firstIndex(), 6);
  t.equal(s.lastIndex(), 5, 'compacting the last entry leaves an empty log');
  t.equal(s.term(5), 7);
  t.same(s.snapshot(), { index: 5, term: 7, conf: CONF });
  t.same(s.entries(6, 6, Infinity), []);
  throwsRange(t, () => s.entries(6, 7, Infinity), 'UNAVAILABLE', 6);
  throwsRange(t, () => s.append(run(7, 7, 7)), 'UNAVAILABLE', 6);
  s.append(run(6, 6, 8));
  t.same(terms(s), [7, 8]);
});

t.test('applySnapshot replaces the whole log', async (t) => {
  const s = new MemoryStorage(CONF);
  s.setHardState({ term: 2, vote: 'a', commit: 4 });
  s.append(run(1, 5, 2));
  const conf: ConfState = { voters: ['x', 'y'], learners: [] };
  s.applySnapshot({ index: 10, term: 4, conf });
  t.equal(s.firstIndex(), 11);
  t.equal(s.lastIndex(), 10);
  t.equal(s.term(10), 4);
  throwsRange(t, () => s.term(9), 'COMPACTED', 9);
  throwsRange(t, () => s.term(11), 'UNAVAILABLE', 11);
  t.same(s.snapshot(), { index: 10, term: 4, conf });
  t.same(s.initialState(), { hardState: { term: 2, vote: 'a', commit: 4 }, conf }, 'the membership is the snapshot one; the hard state stays');
  throwsRange(t, () => s.append(run(12, 12, 4)), 'UNAVAILABLE', 11);
  s.append(run(11, 12, 5));
  t.same(terms(s), [4, 5, 5]);

  // A snapshot behind the log still replaces all of it.
  s.applySnapshot({ index: 3, term: 1, conf: CONF });
  t.equal(s.firstIndex(), 4);
  t.equal(s.lastIndex(), 3);
  t.same(terms(s), [1]);
  t.same(s.initialState().conf, CONF);
});

t.test('limitSize', async (t) => {
  const sized = (...sizes: number[]): Entry[] => sizes.map((n, i) => ent(i + 1, 1, n));
  const idx = (es: Entry[]): number[] => es.map((e) => e.index);
  t.same(limitSize([], 0), [], 'nothing stays nothing');
  t.same(idx(limitSize(sized(10), 0)), [1], 'a single entry over the budget is kept');
  t.same(idx(limitSize(sized(10, 1), 5)), [1], 'the first entry alone may exceed the budget');
  t.same(idx(limitSize(sized(2, 3, 4), 5)), [1, 2], 'exactly at the budget');
  t.same(idx(limitSize(sized(2, 3, 4), 8)), [1, 2]);
  t.same(idx(limitSize(sized(2, 3, 4), 9)), [1, 2, 3]);
  t.same(idx(limitSize(sized(2, 3, 4), Infinity)), [1, 2, 3]);
  t.same(idx(limitSize(sized(0, 0, 0), 0)), [1, 2, 3], 'empty entries never exceed a zero budget');
  t.same(idx(limitSize(sized(0, 0, 1, 0), 0)), [1, 2]);
  t.same(idx(limitSize(sized(5, 0, 0), 4)), [1], 'past the budget, even empty entries stop');
  t.same(idx(limitSize(sized(4, 0, 0, 1), 4)), [1, 2, 3], 'only bytes count, not entries');
  const all = sized(1, 1);
  t.same(limitSize(all, 2), all);
  t.same(all.length, 2, 'the input is not modified');
  t.same(idx(limitSize(all, 1)), [1]);
  t.same(all.length, 2, 'the input is not modified by a cut either');
});
