/**
 * Tests of src/core/raft/log.ts (RaftLog): the view over persisted and unstable entries
 * (firstIndex, lastIndex, term at every boundary: index 0, compacted, beyond the end,
 * persisted entries superseded by the unstable tail), the commit/applying/applied
 * cursors and their clamping at construction, append and maybeAppend (conflicting
 * suffixes, duplicates, commits capped at the last new entry, the refusal to overwrite a
 * committed entry), slices with byte limits, findConflictByTerm, the hand-out and
 * acknowledgement of unstable entries and snapshots (including entries replaced in
 * between), restore from a snapshot, and a seeded model test against a plain array.
 */
import t, { type Test } from 'tap';
import { RaftLog } from '../../../src/core/raft/log.js';
import { MemoryStorage } from '../../../src/core/raft/storage.js';
import type { ConfState, Entry, SnapshotMeta } from '../../../src/core/raft/types.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';

/** An entry whose data is `size` bytes (a tag of its index and term, then filler). */
const ent = (index: number, term: number, size = 0): Entry => {
  const data = new Uint8Array(size);
  if (size > 0) data[0] = (index * 31 + term) & 0xff;
  return { index, term, type: 'command', data };
};

/** Entries `lo..hi` (inclusive), all of `term`. */
const run = (lo: number, hi: number, term: number, size = 0): Entry[] => {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, term, size));
  return out;
};

/** (index, term) pairs, for compact comparisons. */
const it = (es: readonly Entry[] | undefined): [number, number][] | undefined => es?.map((e) => [e.index, e.term]);

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: [] };

/** A storage holding `entries` (1-based, contiguous), with `commit` in its hard state. */
function stored(entries: Entry[], commit = 0): MemoryStorage {
  const s = new MemoryStorage(CONF);
  s.append(entries);
  s.setHardState({ term: entries.at(-1)?.term ?? 0, vote: '', commit });
  return s;
}

/** The log's terms from `from` to `to` (undefined where it has none). */
const terms = (log: RaftLog, from: number, to: number): (number | undefined)[] => {
  const out: (number | undefined)[] = [];
  for (let i = from; i <= to; i++) out.push(log.term(i));
  return out;
};

/** The cursors, for compact comparisons. */
const cursors = (log: RaftLog): { committed: number; applying: number; applied: number } => ({
  committed: log.committed,
  applying: log.applying,
  applied: log.applied,
});

t.test('an empty log', async (t) => {
  const log = new RaftLog(new MemoryStorage(), 0);
  t.equal(log.firstIndex(), 1);
  t.equal(log.lastIndex(), 0);
  t.equal(log.lastTerm(), 0);
  t.equal(log.persistedLastIndex(), 0);
  t.equal(log.term(0), 0);
  t.equal(log.term(1), undefined);
  t.equal(log.term(-1), undefined);
  t.ok(log.matchTerm(0, 0));
  t.notOk(log.matchTerm(0, 1));
  t.notOk(log.matchTerm(1, 0), 'a missing entry matches no term, not even 0');
  t.same(cursors(log), { committed: 0, applying: 0, applied: 0 });
  t.notOk(log.hasUnstable());
  t.notOk(log.hasCommitted());
  t.same(log.takeUnstable(), []);
  t.same(log.takeCommitted(Infinity), []);
  t.equal(log.takeSnapshot(), undefined);
  t.same(log.entriesFrom(1, Infinity), [], 'nothing from 1 on');
  t.same(log.entriesFrom(5, Infinity), []);
  t.same(log.slice(1, 1, Infinity), []);
  t.same(log.findConflictByTerm(0, 0), { index: 0, term: 0 });
  t.same(log.findConflictByTerm(10, 5), { index: 0, term: 0 });
  t.ok(log.isUpToDate(0, 0), 'an empty log is as up to date as an empty log');
  log.commitTo(3);
  t.equal(log.committed, 0, 'commit is capped at the last index');
});

t.test('construction from storage clamps the cursors', async (t) => {
  const entries = run(1, 5, 1, 1);
  {
    const log = new RaftLog(stored(entries, 3), 1);
    t.same(cursors(log), { committed: 3, applying: 1, applied: 1 });
    t.equal(log.firstIndex(), 1);
    t.equal(log.lastIndex(), 5);
    t.equal(log.persistedLastIndex(), 5, 'everything in storage is persisted');
    t.notOk(log.hasUnstable());
    t.ok(log.hasCommitted());
  }
  {
    const log = new RaftLog(stored(entries, 9), 7);
    t.same(cursors(log), { committed: 5, applying: 5, applied: 5 }, 'commit capped at lastIndex, applied at commit');
  }
  {
    const s = stored(entries, 0);
    s.compact(3, CONF);
    const log = new RaftLog(s, 0);
    t.same(cursors(log), { committed: 3, applying: 3, applied: 3 }, 'the snapshot counts as committed and applied');
    t.equal(log.firstIndex(), 4);
    t.equal(log.lastIndex(), 5);
  }
  {
    const s = stored(entries, 4);
    s.compact(2, CONF);
    const log = new RaftLog(s, 3);
    t.same(cursors(log), { committed: 4, applying: 3, applied: 3 });
  }
  {
    const s = new MemoryStorage(CONF);
    s.applySnapshot({ index: 10, term: 3, conf: CONF });
    const log = new RaftLog(s, 0);
    t.same(cursors(log), { committed: 10, applying: 10, applied: 10 });
    t.equal(log.firstIndex(), 11);
    t.equal(log.lastIndex(), 10);
    t.equal(log.lastTerm(), 3, 'the term of an empty compacted log is the snapshot term');
    t.equal(log.term(0), 0, 'index 0 has term 0 even when compacted');
    t.equal(log.term(9), undefined);
    t.equal(log.term(10), 3);
    t.equal(log.term(11), undefined);
    t.equal(log.entriesFrom(10, Infinity), undefined, 'the snapshot index is compacted');
    t.same(log.entriesFrom(11, Infinity), []);
  }
});

t.test('term across storage and the unstable tail', async (t) => {
  const s = stored(run(1, 5, 1), 2);
  s.compact(2, CONF);
  const log = new RaftLog(s, 2);
  log.append(run(6, 7, 2));
  t.same(terms(log, 0, 8), [0, undefined, 1, 1, 1, 1, 2, 2, undefined]);
  t.equal(log.lastTerm(), 2);
  t.equal(log.persistedLastIndex(), 5);

  // Replacing persisted entries: the stale ones in storage are no longer part of the log.
  t.equal(log.append(run(4, 4, 3)), 4);
  t.same(terms(log, 0, 8), [0, undefined, 1, 1, 3, undefined, undefined, undefined, undefined]);
  t.equal(log.lastIndex(), 4);
  t.equal(log.persistedLastIndex(), 3);
  t.equal(log.lastTerm(), 3);
});

t.test('isUpToDate', async (t) => {
  const log = new RaftLog(stored([...run(1, 2, 1), ...run(3, 4, 2)]), 0);
  t.ok(log.isUpToDate(4, 2), 'same last entry');
  t.ok(log.isUpToDate(5, 2), 'same term, longer');
  t.notOk(log.isUpToDate(3, 2), 'same term, shorter');
  t.ok(log.isUpToDate(1, 3), 'higher term, shorter');
  t.notOk(log.isUpToDate(9, 1), 'lower term, longer');
  t.notOk(log.isUpToDate(0, 0));
});

t.test('append', async (t) => {
  const log = new RaftLog(stored(run(1, 3, 1)), 0);
  t.equal(log.append([]), undefined, 'appending nothing');
  t.equal(log.lastIndex(), 3);
  t.notOk(log.hasUnstable());

  t.equal(log.append(run(4, 6, 1)), undefined, 'extending replaces nothing');
  t.same(terms(log, 1, 7), [1, 1, 1, 1, 1, 1, undefined]);
  t.ok(log.hasUnstable());
  t.equal(log.append(run(7, 7, 2)), undefined);
  t.equal(log.lastIndex(), 7);
  t.equal(log.append(run(7, 7, 3)), 7, 'replacing the last entry');
  t.equal(log.term(7), 3);

  t.equal(log.append(run(5, 5, 3)), 5, 'replacing an unstable suffix');
  t.same(terms(log, 1, 7), [1, 1, 1, 1, 3, undefined, undefined]);
  t.equal(log.persistedLastIndex(), 3);

  t.equal(log.append(run(4, 5, 4)), 4, 'replacing from the first unstable entry');
  t.same(terms(log, 1, 6), [1, 1, 1, 4, 4, undefined]);

  t.equal(log.append(run(2, 2, 5)), 2, 'replacing persisted entries');
  t.same(terms(log, 1, 4), [1, 5, undefined, undefined]);
  t.equal(log.persistedLastIndex(), 1);
  t.same(it(log.takeUnstable()), [[2, 5]]);

  t.equal(log.append(run(3, 4, 5)), undefined);
  t.same(it(log.takeUnstable()), [[3, 5], [4, 5]], 'only what was not handed out yet');
});

t.test('maybeAppend', async (t) => {
  const base = (): RaftLog => {
    const log = new RaftLog(stored([...run(1, 3, 1), ...run(4, 5, 2)], 1), 1);
    return log;
  };

  t.test('a mismatch appends nothing', async (t) => {
    const log = base();
    t.equal(log.maybeAppend(5, 1, 5, run(6, 6, 2)), undefined, 'wrong prevTerm');
    t.equal(log.maybeAppend(6, 2, 5, run(7, 7, 2)), undefined, 'prevIndex beyond the end');
    t.equal(log.maybeAppend(3, 2, 5, []), undefined);
    t.equal(log.lastIndex(), 5);
    t.equal(log.committed, 1, 'a rejected append commits nothing');
    t.notOk(log.hasUnstable());
  });

  t.test('an empty append only commits', async (t) => {
    const log = base();
    t.equal(log.maybeAppend(3, 1, 5, []), 3);
    t.equal(log.committed, 3, 'capped at the last new index, not the leader commit');
    t.equal(log.lastIndex(), 5, 'nothing truncated');
    t.equal(log.maybeAppend(0, 0, 2, []), 0);
    t.equal(log.committed, 3, 'never lowered');
  });

  t.test('appending at the end', async (t) => {
    const log = base();
    t.equal(log.maybeAppend(5, 2, 4, run(6, 7, 3)), 7);
    t.equal(log.lastIndex(), 7);
    t.equal(log.committed, 4);
    t.same(it(log.takeUnstable()), [[6, 3], [7, 3]]);
    t.equal(log.maybeAppend(7, 3, 100, []), 7);
    t.equal(log.committed, 7);
  });

  t.test('duplicates are skipped and a longer log is kept', async (t) => {
    const log = base();
    t.equal(log.maybeAppend(1, 1, 2, [ent(2, 1), ent(3, 1)]), 3);
    t.equal(log.lastIndex(), 5, 'a stale, shorter append does not truncate');
    t.notOk(log.hasUnstable(), 'nothing new to persist');
    t.equal(log.committed, 2);
    t.equal(log.maybeAppend(3, 1, 9, [ent(4, 2), ent(5, 2), ent(6, 2)]), 6, 'matching prefix, then new entries');
    t.same(it(log.takeUnstable()), [[6, 2]], 'only the new entry');
    t.equal(log.committed, 6);
  });

  t.test('a conflicting suffix is truncated', async (t) => {
    const log = base();
    t.equal(log.maybeAppend(2, 1, 3, [ent(3, 1), ent(4, 3)]), 4);
    t.same(terms(log, 1, 6), [1, 1, 1, 3, undefined, undefined]);
    t.equal(log.lastIndex(), 4);
    t.equal(log.committed, 3);
    t.equal(log.persistedLastIndex(), 3);
    t.same(it(log.takeUnstable()), [[4, 3]]);
  });

  t.test('overwriting a committed entry throws', async (t) => {
    const log = base();
    log.commitTo(4);
    t.throws(() => log.maybeAppend(2, 1, 5, [ent(3, 1), ent(4, 3)]), {
      message: 'raft: entry 4 conflicts with the committed log (committed 4)',
    });
    t.same(terms(log, 1, 5), [1, 1, 1, 2, 2], 'the log is unchanged');
    t.equal(log.committed, 4);
    t.equal(log.maybeAppend(3, 1, 5, [ent(4, 2), ent(5, 3)]), 5, 'the first uncommitted entry may be replaced');
    t.same(terms(log, 1, 5), [1, 1, 1, 2, 3]);
  });

  t.test('entries behind a snapshot count as conflicting', async (t) => {
    const s = stored(run(1, 5, 1), 5);
    s.compact(4, CONF);
    const log = new RaftLog(s, 4);
    t.throws(() => log.maybeAppend(0, 0, 5, run(1, 5, 1)), { message: 'raft: entry 1 conflicts with the committed log (committed 5)' });
    t.equal(log.maybeAppend(4, 1, 5, [ent(5, 1), ent(6, 1)]), 6);
    t.same(it(log.takeUnstable()), [[6, 1]]);
  });
});

t.test('slice and entriesFrom', async (t) => {
  // Storage 1..4 (2 bytes each, compacted at 1), unstable 5..7 (3 bytes each).
  const s = stored(run(1, 4, 1, 2), 1);
  s.compact(1, CONF);
  const log = new RaftLog(s, 1);
  log.append(run(5, 7, 2, 3));
  t.equal(log.slice(1, 3, Infinity), undefined, 'compacted');
  t.equal(log.entriesFrom(1, Infinity), undefined);
  t.equal(log.entriesFrom(0, Infinity), undefined);
  t.same(it(log.entriesFrom(2, Infinity)), [[2, 1], [3, 1], [4, 1], [5, 2], [6, 2], [7, 2]]);
  t.same(it(log.entriesFrom(6, Infinity)), [[6, 2], [7, 2]]);
  t.same(log.entriesFrom(8, Infinity), []);
  t.same(it(log.slice(2, 4, Infinity)), [[2, 1], [3, 1]], 'only persisted entries');
  t.same(it(log.slice(5, 7, Infinity)), [[5, 2], [6, 2]], 'only unstable entries');
  t.same(it(log.slice(3, 6, Infinity)), [[3, 1], [4, 1], [5, 2]], 'across both');
  t.same(it(log.slice(6, 100, Infinity)), [[6, 2], [7, 2]], 'hi beyond the end is clamped');
  t.same(log.slice(3, 3, Infinity), []);
  t.same(log.slice(6, 6, Infinity), []);
  t.same(log.slice(5, 4, Infinity), []);
  t.same(log.entriesFrom(5, 0)?.[0], ent(5, 2, 3), 'entries come back whole');

  // Byte limits.
  t.same(it(log.slice(2, 8, 0)), [[2, 1]], 'at least one entry');
  t.same(it(log.slice(2, 8, 3)), [[2, 1]], 'cut inside the persisted part');
  t.same(it(log.slice(2, 8, 6)), [[2, 1], [3, 1], [4, 1]], 'the persisted part exactly');
  t.same(it(log.slice(2, 8, 8)), [[2, 1], [3, 1], [4, 1]], 'cut at the boundary');
  t.same(it(log.slice(2, 8, 9)), [[2, 1], [3, 1], [4, 1], [5, 2]], 'cut inside the unstable part');
  t.same(it(log.slice(2, 8, 15)), [[2, 1], [3, 1], [4, 1], [5, 2], [6, 2], [7, 2]]);
  t.same(it(log.slice(5, 8, 5)), [[5, 2]]);
  t.same(it(log.entriesFrom(6, 0)), [[6, 2]]);

  // Reads never return what the unstable tail superseded.
  log.append(run(3, 3, 3, 1));
  t.same(it(log.entriesFrom(2, Infinity)), [[2, 1], [3, 3]]);
  t.same(it(log.slice(2, 5, Infinity)), [[2, 1], [3, 3]]);
});

t.test('commitTo', async (t) => {
  const log = new RaftLog(stored(run(1, 5, 1)), 0);
  log.commitTo(2);
  t.equal(log.committed, 2);
  log.commitTo(1);
  t.equal(log.committed, 2, 'never lowered');
  log.commitTo(2);
  t.equal(log.committed, 2);
  log.commitTo(50);
  t.equal(log.committed, 5, 'capped at lastIndex');
  log.append(run(6, 6, 1));
  log.commitTo(6);
  t.equal(log.committed, 6, 'unstable entries can commit');
});

t.test('findConflictByTerm', async (t) => {
  // Terms by index: 1 1 2 2 3 3 (4 and up unstable).
  const s = stored([...run(1, 2, 1), ...run(3, 4, 2)]);
  const log = new RaftLog(s, 0);
  log.append(run(5, 6, 3));
  t.same(log.findConflictByTerm(6, 3), { index: 6, term: 3 });
  t.same(log.findConflictByTerm(6, 4), { index: 6, term: 3 });
  t.same(log.findConflictByTerm(6, 2), { index: 4, term: 2 }, 'skips the whole later term');
  t.same(log.findConflictByTerm(6, 1), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(6, 0), { index: 0, term: 0 }, 'down to index 0');
  t.same(log.findConflictByTerm(3, 5), { index: 3, term: 2 });
  t.same(log.findConflictByTerm(100, 2), { index: 4, term: 2 }, 'an index beyond the end starts at the end');
  t.same(log.findConflictByTerm(0, 9), { index: 0, term: 0 });

  // With the log compacted at 2 (term 1): nothing is known below 2.
  const c = stored([...run(1, 2, 1), ...run(3, 4, 2), ...run(5, 6, 3)]);
  c.compact(2, CONF);
  const clog = new RaftLog(c, 2);
  t.same(clog.findConflictByTerm(6, 1), { index: 2, term: 1 }, 'the compaction point answers its term');
  t.same(clog.findConflictByTerm(6, 0), { index: 1, term: 0 }, 'below the compaction point the term is unknown');
  t.same(clog.findConflictByTerm(1, 5), { index: 1, term: 0 });
});

t.test('hand-out and acknowledgement of unstable entries', async (t) => {
  t.test('in order', async (t) => {
    const s = stored(run(1, 2, 1));
    const log = new RaftLog(s, 0);
    log.append(run(3, 5, 1));
    t.ok(log.hasUnstable());
    const a = log.takeUnstable();
    t.same(it(a), [[3, 1], [4, 1], [5, 1]]);
    t.notOk(log.hasUnstable(), 'handed out');
    t.same(log.takeUnstable(), []);
    log.append(run(6, 6, 2));
    t.ok(log.hasUnstable());
    const b = log.takeUnstable();
    t.same(it(b), [[6, 2]]);

    s.append(a);
    log.stableTo(5, 2);
    t.equal(log.persistedLastIndex(), 2, 'wrong term: ignored');
    log.stableTo(5, 1);
    t.equal(log.persistedLastIndex(), 5);
    t.same(terms(log, 1, 7), [1, 1, 1, 1, 1, 2, undefined], 'still the same log');
    log.stableTo(5, 1);
    t.equal(log.persistedLastIndex(), 5, 'acknowledging twice is harmless');
    log.stableTo(2, 1);
    t.equal(log.persistedLastIndex(), 5, 'below the unstable tail: ignored');
    s.append(b);
    log.stableTo(6, 2);
    t.equal(log.persistedLastIndex(), 6);
    t.equal(log.lastIndex(), 6);
    t.same(it(log.entriesFrom(1, Infinity)), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 2]], 'now read from storage');
    t.notOk(log.hasUnstable());
  });

  t.test('only handed-out entries can be acknowledged', async (t) => {
    const log = new RaftLog(new MemoryStorage(), 0);
    log.append(run(1, 3, 1));
    log.stableTo(2, 1);
    t.equal(log.persistedLastIndex(), 0, 'not handed out yet');
    const a = log.takeUnstable();
    t.equal(a.length, 3);
    log.append(run(4, 4, 1));
    log.stableTo(4, 1);
    t.equal(log.persistedLastIndex(), 0, 'entry 4 was not handed out');
    log.stableTo(2, 1);
    t.equal(log.persistedLastIndex(), 2, 'a prefix of what was handed out');
    t.same(it(log.takeUnstable()), [[4, 1]], 'the hand-out count survives a partial acknowledgement');
    log.stableTo(4, 1);
    t.equal(log.persistedLastIndex(), 4);
  });

  t.test('an unstable suffix replaced between hand-out and acknowledgement', async (t) => {
    const s = stored(run(1, 2, 1));
    const log = new RaftLog(s, 0);
    log.append(run(3, 5, 1));
    const a = log.takeUnstable();
    t.equal(log.append(run(4, 4, 2)), 4);
    t.ok(log.hasUnstable(), 'the replacement waits to be handed out');
    s.append(a);
    log.stableTo(5, 1);
    t.equal(log.persistedLastIndex(), 2, 'entry 5 is no longer in the log: ignored');
    t.same(terms(log, 3, 5), [1, 2, undefined]);
    log.stableTo(3, 1);
    t.equal(log.persistedLastIndex(), 3, 'entry 3 was handed out and is still there');
    const b = log.takeUnstable();
    t.same(it(b), [[4, 2]]);
    s.append(b);
    log.stableTo(4, 2);
    t.equal(log.persistedLastIndex(), 4);
    t.equal(log.lastIndex(), 4);
    t.same(terms(log, 1, 5), [1, 1, 1, 2, undefined]);
  });

  t.test('the same index acknowledged with the old term after a replacement', async (t) => {
    const s = stored(run(1, 2, 1));
    const log = new RaftLog(s, 0);
    log.append(run(3, 5, 1));
    const a = log.takeUnstable();
    log.append(run(5, 5, 2));
    const b = log.takeUnstable();
    t.same(it(b), [[5, 2]]);
    s.append(a);
    log.stableTo(5, 1);
    t.equal(log.persistedLastIndex(), 2, 'the term tells the old entry 5 from the new one');
    s.append(b);
    log.stableTo(5, 2);
    t.equal(log.persistedLastIndex(), 5);
  });

  t.test('persisted entries replaced between hand-out and acknowledgement', async (t) => {
    const s = stored(run(1, 2, 1));
    const log = new RaftLog(s, 0);
    log.append(run(3, 4, 1));
    const a = log.takeUnstable();
    t.equal(log.append(run(2, 2, 3)), 2);
    t.equal(log.persistedLastIndex(), 1);
    s.append(a);
    log.stableTo(4, 1);
    t.equal(log.persistedLastIndex(), 1, 'ignored: the tail moved below what was handed out');
    t.same(terms(log, 1, 4), [1, 3, undefined, undefined], 'the stale persisted entries stay hidden');
    const b = log.takeUnstable();
    t.same(it(b), [[2, 3]]);
    s.append(b);
    log.stableTo(2, 3);
    t.equal(log.persistedLastIndex(), 2);
    t.equal(log.lastIndex(), 2);
    t.same(terms(log, 1, 3), [1, 3, undefined]);
  });
});

t.test('takeCommitted, hasCommitted and appliedTo', async (t) => {
  const log = new RaftLog(stored(run(1, 4, 1, 4), 0), 0);
  log.append(run(5, 6, 2, 4));
  t.notOk(log.hasCommitted());
  t.same(log.takeCommitted(Infinity), []);
  log.commitTo(6);
  t.ok(log.hasCommitted());
  t.same(it(log.takeCommitted(0)), [[1, 1]], 'at least one');
  t.same(cursors(log), { committed: 6, applying: 1, applied: 0 });
  t.same(it(log.takeCommitted(8)), [[2, 1], [3, 1]]);
  t.same(it(log.takeCommitted(8)), [[4, 1], [5, 2]], 'across persisted and unstable entries');
  t.ok(log.hasCommitted());
  t.same(it(log.takeCommitted(Infinity)), [[6, 2]]);
  t.notOk(log.hasCommitted());
  t.same(log.takeCommitted(Infinity), []);
  t.same(cursors(log), { committed: 6, applying: 6, applied: 0 });
  log.appliedTo(3);
  t.equal(log.applied, 3);
  log.appliedTo(2);
  t.equal(log.applied, 3, 'never lowered');
  log.appliedTo(6);
  t.same(cursors(log), { committed: 6, applying: 6, applied: 6 });
});

t.test('restore from a snapshot', async (t) => {
  const conf: ConfState = { voters: ['a', 'b'], learners: ['c'] };
  const meta: SnapshotMeta = { index: 10, term: 4, conf };

  const s = stored(run(1, 5, 1), 3);
  const log = new RaftLog(s, 2);
  log.append(run(6, 7, 2));
  const before = log.takeUnstable();
  t.equal(before.length, 2);
  log.restore(meta);
  t.equal(log.firstIndex(), 11);
  t.equal(log.lastIndex(), 10);
  t.equal(log.lastTerm(), 4);
  t.same(cursors(log), { committed: 10, applying: 10, applied: 10 });
  t.same(terms(log, 0, 11), [0, ...Array<undefined>(9).fill(undefined), 4, undefined], 'only the snapshot index is known');
  t.equal(log.entriesFrom(5, Infinity), undefined, 'everything up to the snapshot is gone');
  t.same(log.entriesFrom(11, Infinity), []);
  t.same(log.findConflictByTerm(10, 3), { index: 9, term: 0 });
  t.same(log.findConflictByTerm(10, 4), { index: 10, term: 4 });
  t.notOk(log.hasCommitted());
  t.ok(log.hasUnstable(), 'the snapshot waits to be handed out');
  t.same(log.takeUnstable(), [], 'the unstable entries were discarded');

  // Acknowledging the discarded entries or an unseen snapshot does nothing.
  s.append(before);
  log.stableTo(7, 2);
  log.stableSnapshotTo(10);
  t.ok(log.hasUnstable(), 'not handed out yet: the acknowledgement is ignored');
  t.equal(log.lastIndex(), 10);

  // Entries after the snapshot.
  t.equal(log.maybeAppend(10, 4, 11, run(11, 12, 4)), 12);
  t.equal(log.committed, 11);
  t.same(terms(log, 9, 13), [undefined, 4, 4, 4, undefined]);

  t.same(log.takeSnapshot(), meta);
  t.equal(log.takeSnapshot(), undefined, 'handed out once');
  t.ok(log.hasUnstable(), 'entries still wait');
  const entries = log.takeUnstable();
  t.same(it(entries), [[11, 4], [12, 4]]);
  t.notOk(log.hasUnstable());

  // The caller installs the snapshot, then the entries.
  log.stableSnapshotTo(9);
  t.equal(log.firstIndex(), 11, 'another index: ignored');
  s.applySnapshot(meta);
  log.stableSnapshotTo(10);
  t.equal(log.firstIndex(), 11);
  t.equal(log.term(10), 4, 'now read from storage');
  t.equal(log.term(9), undefined);
  s.append(entries);
  log.stableTo(12, 4);
  t.equal(log.persistedLastIndex(), 12);
  t.equal(log.lastIndex(), 12);
  t.same(it(log.entriesFrom(11, Infinity)), [[11, 4], [12, 4]]);
  t.same(it(log.takeCommitted(Infinity)), [[11, 4]]);
  log.stableSnapshotTo(10);
  t.equal(log.lastIndex(), 12, 'a repeated acknowledgement is harmless');
  t.notOk(log.hasUnstable());
});

t.test('a second snapshot replaces one handed out but not yet installed', async (t) => {
  const s = new MemoryStorage(CONF);
  const log = new RaftLog(s, 0);
  const first: SnapshotMeta = { index: 5, term: 2, conf: CONF };
  const second: SnapshotMeta = { index: 8, term: 3, conf: CONF };
  log.restore(first);
  t.same(log.takeSnapshot(), first);
  t.notOk(log.hasUnstable());
  log.restore(second);
  t.ok(log.hasUnstable(), 'the second must be handed out');
  s.applySnapshot(first);
  log.stableSnapshotTo(5);
  t.equal(log.firstIndex(), 9, 'the first snapshot is no longer the pending one');
  t.equal(log.term(5), undefined);
  t.same(log.takeSnapshot(), second);
  s.applySnapshot(second);
  log.stableSnapshotTo(8);
  t.equal(log.term(8), 3);
  t.equal(log.lastIndex(), 8);
  t.equal(log.takeSnapshot(), undefined);
});

// ---- model test ----

/**
 * The model: the whole log as an array (model[i] is the term at index i, for
 * i ≥ `first - 1`), the cursors, and the caller's disk (a real MemoryStorage fed in
 * Ready order). Terms only grow, so an (index, term) pair always names one entry
 * together with its whole prefix (Raft's log matching property).
 */
interface Model {
  /** Terms by index; entries below `first - 1` are undefined. */
  terms: (number | undefined)[];
  /** Data sizes by index. */
  sizes: number[];
  first: number;
  committed: number;
  applying: number;
  applied: number;
  term: number;
  /** A restored snapshot not yet installed in storage. */
  pendingSnapshot: SnapshotMeta | undefined;
}

interface Batch {
  snapshot: SnapshotMeta | undefined;
  entries: Entry[];
}

const lastOf = (m: Model): number => m.terms.length - 1;

/** Checks the log against the model; returns the first difference (or undefined). */
function diff(log: RaftLog, m: Model, storage: MemoryStorage, rng: Rng): string | undefined {
  const last = lastOf(m);
  if (log.lastIndex() !== last) return `lastIndex ${log.lastIndex()} != ${last}`;
  if (log.firstIndex() !== m.first) return `firstIndex ${log.firstIndex()} != ${m.first}`;
  if (log.lastTerm() !== m.terms[last]) return `lastTerm ${log.lastTerm()} != ${m.terms[last]}`;
  for (let i = Math.max(1, m.first - 3); i <= last + 2; i++) {
    const want = i >= m.first - 1 ? m.terms[i] : undefined;
    if (log.term(i) !== want) return `term(${i}) ${log.term(i)} != ${want}`;
  }
  if (log.committed !== m.committed || log.applying !== m.applying || log.applied !== m.applied) {
    return `cursors ${JSON.stringify(cursors(log))} != ${JSON.stringify({ committed: m.committed, applying: m.applying, applied: m.applied })}`;
  }
  if (!(log.applied <= log.applying && log.applying <= log.committed && log.committed <= log.lastIndex())) return 'cursor order';
  // A random slice, with a random byte budget.
  const lo = m.first - 1 + rng.int(last - m.first + 3);
  const hi = lo + rng.int(last - lo + 3);
  const budget = rng.int(4) === 0 ? Infinity : rng.int(20);
  const got = log.slice(lo, hi, budget);
  if (lo < m.first) {
    if (got !== undefined) return `slice(${lo}) of a compacted index`;
  } else {
    const want: [number, number, number][] = [];
    let bytes = 0;
    for (let i = lo; i < Math.min(hi, last + 1); i++) {
      bytes += m.sizes[i]!;
      if (want.length > 0 && bytes > budget) break;
      want.push([i, m.terms[i]!, m.sizes[i]!]);
    }
    const have = got?.map((e) => [e.index, e.term, e.data.length]);
    if (JSON.stringify(have) !== JSON.stringify(want)) return `slice(${lo}, ${hi}, ${budget}) ${JSON.stringify(have)} != ${JSON.stringify(want)}`;
  }
  // Whatever is reported persisted is on disk and matches the log.
  if (!m.pendingSnapshot) {
    const p = log.persistedLastIndex();
    if (p > storage.lastIndex()) return `persistedLastIndex ${p} beyond the disk (${storage.lastIndex()})`;
    for (let i = storage.firstIndex() - 1; i <= p; i++) {
      if (storage.term(i) !== m.terms[i]) return `disk term(${i}) ${storage.term(i)} != ${m.terms[i]}`;
    }
  }
  return undefined;
}

/** Random operations on a RaftLog and the model; the caller's disk is fed in Ready order. */
function modelRun(t: Test, seed: number, steps: number): void {
  const rng = seededRng(seed);
  const storage = new MemoryStorage(CONF);
  const log = new RaftLog(storage, 0);
  const m: Model = { terms: [0], sizes: [0], first: 1, committed: 0, applying: 0, applied: 0, term: 1, pendingSnapshot: undefined };
  /** Batches taken and not yet persisted, oldest first. */
  const queue: Batch[] = [];
  const newEntries = (from: number, n: number): Entry[] => run(from, from + n - 1, m.term).map((e) => ({ ...e, data: new Uint8Array(rng.int(6)) }));
  const setTail = (from: number, es: Entry[]): void => {
    m.terms.length = from;
    m.sizes.length = from;
    for (const e of es) {
      m.terms.push(e.term);
      m.sizes.push(e.data.length);
    }
  };
  const persist = (b: Batch): void => {
    if (b.snapshot) {
      storage.applySnapshot(b.snapshot);
      log.stableSnapshotTo(b.snapshot.index);
    }
    if (b.entries.length > 0) {
      storage.append(b.entries);
      const e = b.entries.at(-1)!;
      log.stableTo(e.index, e.term);
    }
  };
  const ops: string[] = [];
  /** A leader's commit index: mostly a little ahead of ours, sometimes anything. */
  const leaderCommit = (last: number): number => (rng.int(4) === 0 ? rng.int(last + 5) : m.committed + rng.int(3));

  for (let step = 0; step < steps; step++) {
    const last = lastOf(m);
    const op = rng.int(100);
    if (op < 20) {
      // A leader appends at the end.
      if (rng.int(3) === 0) m.term++;
      const es = newEntries(last + 1, 1 + rng.int(3));
      ops.push(`append ${last + 1}+${es.length}@${m.term}`);
      const r = log.append(es);
      if (r !== undefined) return void t.fail(`append at the end replaced ${r}`, { seed, ops });
      setTail(last + 1, es);
    } else if (op < 35) {
      // A new leader overwrites an uncommitted suffix through maybeAppend (with a matching prefix resent).
      const firstFree = Math.max(m.committed + 1, m.first);
      if (firstFree > last) continue;
      const at = firstFree + rng.int(last - firstFree + 1);
      const prev = Math.max(m.first - 1, at - 1 - rng.int(3));
      m.term++;
      const resent: Entry[] = [];
      for (let i = prev + 1; i < at; i++) resent.push({ index: i, term: m.terms[i]!, type: 'command', data: new Uint8Array(m.sizes[i]!) });
      const es = [...resent, ...newEntries(at, 1 + rng.int(3))];
      const commit = leaderCommit(last);
      ops.push(`overwrite prev ${prev} at ${at} +${es.length - resent.length}@${m.term} commit ${commit}`);
      const got = log.maybeAppend(prev, m.terms[prev]!, commit, es);
      if (got !== prev + es.length) return void t.fail(`maybeAppend returned ${got}`, { seed, ops });
      setTail(prev + 1, es);
      m.committed = Math.max(m.committed, Math.min(commit, got));
    } else if (op < 42) {
      // A stale or duplicate append: a matching range, shorter than the log.
      if (last < m.first) continue;
      const prev = m.first - 1 + rng.int(last - m.first + 1);
      const n = rng.int(last - prev + 1);
      const es: Entry[] = [];
      for (let i = prev + 1; i <= prev + n; i++) es.push({ index: i, term: m.terms[i]!, type: 'command', data: new Uint8Array(m.sizes[i]!) });
      const commit = leaderCommit(last);
      ops.push(`resend prev ${prev} +${n} commit ${commit}`);
      const got = log.maybeAppend(prev, m.terms[prev]!, commit, es);
      if (got !== prev + n) return void t.fail(`resend returned ${got}`, { seed, ops });
      m.committed = Math.max(m.committed, Math.min(commit, got));
    } else if (op < 47) {
      // A mismatched append is refused.
      const prev = m.first - 1 + rng.int(last - m.first + 4);
      ops.push(`mismatch prev ${prev}`);
      if (log.maybeAppend(prev, m.term + 1, last + 10, newEntries(prev + 1, 1)) !== undefined) return void t.fail('mismatch accepted', { seed, ops });
    } else if (op < 55) {
      const to = leaderCommit(last);
      ops.push(`commitTo ${to}`);
      log.commitTo(to);
      if (to > m.committed) m.committed = Math.min(to, last);
    } else if (op < 70) {
      // Ready: take what is unstable.
      const snapshot = log.takeSnapshot();
      const entries = log.takeUnstable();
      ops.push(`ready ${snapshot ? `snap ${snapshot.index} ` : ''}${entries.length}`);
      if (snapshot || entries.length > 0) queue.push({ snapshot, entries });
    } else if (op < 85) {
      // The oldest Ready is persisted and acknowledged.
      const b = queue.shift();
      if (!b) continue;
      ops.push('persist');
      persist(b);
      // Installing the latest restored snapshot makes the disk the source again (an older one is superseded).
      if (b.snapshot !== undefined && b.snapshot === m.pendingSnapshot) m.pendingSnapshot = undefined;
    } else if (op < 92) {
      // Apply some committed entries.
      const budget = rng.int(12);
      const got = log.takeCommitted(budget);
      ops.push(`apply ${budget}: ${got.length}`);
      let want = 0;
      for (let bytes = 0, i = m.applying + 1; i <= m.committed; i++) {
        bytes += m.sizes[i]!;
        if (want > 0 && bytes > budget) break;
        want++;
      }
      if (got.length !== want) return void t.fail(`applied ${got.length} entries, not ${want}`, { seed, ops });
      for (let k = 0; k < got.length; k++) {
        const e = got[k]!;
        if (e.index !== m.applying + 1 + k || e.term !== m.terms[e.index]) return void t.fail(`applied ${e.index}@${e.term}`, { seed, ops });
      }
      if (got.length > 0) m.applying = got.at(-1)!.index;
      if (rng.int(2) === 0) {
        log.appliedTo(m.applying);
        m.applied = m.applying;
      }
    } else if (op < 98) {
      // Compact the disk up to what is applied and persisted.
      if (m.pendingSnapshot) continue;
      const upTo = Math.min(m.applied, log.persistedLastIndex(), storage.lastIndex());
      if (upTo < storage.firstIndex()) continue;
      const at = storage.firstIndex() + rng.int(upTo - storage.firstIndex() + 1);
      ops.push(`compact ${at}`);
      storage.compact(at, CONF);
      m.first = Math.max(m.first, at + 1);
      for (let i = 0; i < at; i++) m.terms[i] = undefined;
    } else {
      // A snapshot from the leader, ahead of the commit index.
      const index = m.committed + 1 + rng.int(last - m.committed + 3);
      m.term++;
      const meta: SnapshotMeta = { index, term: m.term, conf: CONF };
      ops.push(`restore ${index}@${m.term}`);
      log.restore(meta);
      m.terms = Array<number | undefined>(index).fill(undefined);
      m.terms.push(m.term);
      m.sizes = Array<number>(index + 1).fill(0);
      m.first = index + 1;
      m.committed = m.applying = m.applied = index;
      m.pendingSnapshot = meta;
    }
    const d = diff(log, m, storage, rng);
    if (d !== undefined) return void t.fail(d, { seed, step, ops: ops.slice(-30) });
  }

  // Drain: every Ready persisted, then a restart reads the same log back.
  for (;;) {
    const b = queue.shift();
    if (b) {
      persist(b);
      continue;
    }
    if (!log.hasUnstable()) break;
    queue.push({ snapshot: log.takeSnapshot(), entries: log.takeUnstable() });
  }
  m.pendingSnapshot = undefined;
  const d = diff(log, m, storage, rng);
  if (d !== undefined) return void t.fail(`after draining: ${d}`, { seed, ops: ops.slice(-30) });
  t.equal(log.persistedLastIndex(), lastOf(m), 'everything is persisted');
  t.equal(storage.lastIndex(), lastOf(m));
  storage.setHardState({ term: m.term, vote: '', commit: m.committed });
  const again = new RaftLog(storage, m.applied);
  t.equal(again.lastIndex(), lastOf(m), 'a restart sees the same log');
  t.equal(again.committed, m.committed);
  t.equal(again.applied, Math.max(m.applied, storage.firstIndex() - 1));
  const want: (number | undefined)[] = [];
  const have: (number | undefined)[] = [];
  for (let i = storage.firstIndex() - 1; i <= lastOf(m); i++) {
    want.push(m.terms[i]);
    have.push(again.term(i));
  }
  t.same(have, want, 'the same terms after a restart');
}

t.test('model: random appends, overwrites, hand-outs, acknowledgements, compactions and snapshots', async (t) => {
  for (let seed = 1; seed <= 60; seed++) {
    t.test(`seed ${seed}`, async (t) => modelRun(t, seed, 400));
  }
});
