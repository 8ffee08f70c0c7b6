/**
 * §5.4 Safety: the election restriction, committing only through entries of the current
 * term (Figure 8), committed entries outliving their leaders, and the leader counting its
 * own copy only once it is on disk. (The harness also checks, throughout, that no two
 * leaders share a term and that every node applies the same entry at each index.)
 */
import t from 'tap';
import type { VoteResponse } from '../../../../src/core/raft/types.js';
import { carries, Cluster, is } from './harness.js';

t.test('§5.4.1 a node whose log is out of date cannot win an election', async (t) => {
  for (const preVote of [true, false]) {
    const c = new Cluster(['a', 'b', 'c'], { settings: { preVote, checkQuorum: false } });
    c.elect('a');
    c.isolate('c');
    c.propose('a', 'x');
    c.stabilize();
    t.same(c.peer('b').applied, ['x']);
    // The leader dies; c, which missed x, asks b for its vote first.
    c.crash('a');
    c.heal();
    c.raft('c').campaign();
    c.deliver(is('vote', 'c', 'b'));
    const [answer] = c.drop(is('vote-resp', 'b', 'c')) as VoteResponse[];
    t.equal(answer?.granted, false, `${preVote ? 'pre-vote' : 'vote'}: b's log ends in a later entry, so b refuses`);
    // However long it tries, c never wins; b does, and x survives.
    c.runUntil(() => c.leader() !== undefined);
    t.equal(c.leader(), 'b');
    c.runUntil(() => c.peer('c').applied.length === 1);
    t.same(c.peer('c').applied, ['x']);
  }
});

/**
 * Figure 8 of the paper, with five nodes. The paper's indexes 1, 2, 3 are 6, 7 (+8), 9 here:
 * the log starts with 5 bootstrap entries, and each new leader appends a no-op first. Terms
 * are one higher (the bootstrap entries are term 1). Appends carry one entry at a time
 * (`maxMsgBytes: 0`), so the test decides exactly which entry reaches whom. No leases: the
 * paper's plain algorithm.
 */
function figure8(): Cluster {
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`figure 8 setup: ${what}`);
  };
  const c = new Cluster(['s1', 's2', 's3', 's4', 's5'], { settings: { preVote: false, checkQuorum: false, maxMsgBytes: 0 } });
  c.elect('s1'); // term 2: index 6 (no-op) commits everywhere
  // (a) s1 leads term 3 (votes of s2, s3); its no-op (7) reaches s2 only; X (8) stays on s1.
  c.crash('s1');
  c.restart('s1');
  c.raft('s1').campaign();
  c.deliver(is('vote', 's1', 's2'));
  c.deliver(is('vote', 's1', 's3'));
  c.drop(is('vote'));
  c.deliver(is('vote-resp'));
  expect(c.raft('s1').role === 'leader', 's1 leads term 3');
  c.propose('s1', 'X');
  c.deliver(is('append', 's1', 's2'));
  c.drop();
  // (b) s1 crashes; s5 leads term 4 (votes of s3, s4), appends its no-op and Y locally only.
  c.crash('s1');
  c.raft('s5').campaign();
  c.drop();
  c.raft('s5').campaign();
  c.deliver(is('vote', 's5', 's3'));
  c.deliver(is('vote', 's5', 's4'));
  c.drop(is('vote'));
  c.deliver(is('vote-resp'));
  expect(c.raft('s5').role === 'leader' && c.raft('s5').term === 4, 's5 leads term 4');
  c.propose('s5', 'Y');
  c.drop();
  c.crash('s5');
  // (c) s1 restarts and leads term 5 (after a lost attempt in term 4), with s2 and s3.
  c.restart('s1');
  c.raft('s1').campaign();
  c.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
  c.raft('s1').campaign();
  c.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
  expect(c.raft('s1').role === 'leader' && c.raft('s1').term === 5, 's1 leads term 5');
  c.isolate('s4');
  // Its first probes miss on s2 and s3; then X travels, but s1's no-op (9) is held back.
  c.deliver(is('append', 's1'));
  c.stabilize((m) => !carries(9)(m));
  return c;
}

t.test('§5.4.2 Figure 8: an entry of an earlier term is not committed by being on a majority', async (t) => {
  const c = figure8();
  t.same(c.logOf('s1'), ['2:noop', '3:noop', '3:X', '5:noop']);
  t.same(c.logOf('s2'), ['2:noop', '3:noop', '3:X']);
  t.same(c.logOf('s3'), ['2:noop', '3:noop', '3:X']);
  const progress = c.raft('s1').status().progress;
  t.same([progress.s2?.match, progress.s3?.match], [8, 8], 's1 knows X (index 8, term 3) is on s1, s2 and s3');
  t.equal(c.raft('s1').status().commit, 6, 'yet it does not count it as committed');
  // (d) Rightly so: s1 crashes, s5 returns and wins term 6 with s2, s3 and s4 — its last
  // term (4) beats theirs (3) — and replaces X everywhere.
  c.crash('s1');
  c.drop();
  c.heal();
  c.restart('s5');
  c.raft('s5').campaign();
  c.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
  c.raft('s5').campaign();
  c.stabilize();
  t.equal(c.raft('s5').role, 'leader');
  t.equal(c.raft('s5').term, 6);
  for (const id of ['s2', 's3', 's4', 's5']) {
    t.same(c.logOf(id), ['2:noop', '4:noop', '4:Y', '6:noop'], `${id}: X is gone`);
    t.same(c.peer(id).applied, ['Y']);
  }
});

t.test('§5.4.2 Figure 8: once an entry of the current term commits, the earlier ones commit with it', async (t) => {
  const c = figure8();
  // (e) s1's no-op reaches s2 and s3: index 9 (term 5) is on a majority, and X with it.
  c.deliver(carries(9));
  c.stabilize();
  t.equal(c.raft('s1').status().commit, 9);
  t.same(c.peer('s1').applied, ['X']);
  // Now s5 cannot win: s2 and s3 hold an entry of term 5, later than anything s5 has.
  c.crash('s1');
  c.heal();
  c.restart('s5');
  for (let i = 0; i < 3; i++) {
    c.raft('s5').campaign();
    c.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
    t.not(c.raft('s5').role, 'leader');
  }
  c.runUntil(() => c.leader() !== undefined);
  t.ok(['s2', 's3'].includes(c.leader()!), `the new leader (${c.leader()}) has X`);
  c.runUntil(() => ['s2', 's3', 's4', 's5'].every((id) => c.peer(id).applied.length === 1));
  for (const id of ['s2', 's3', 's4', 's5']) t.same(c.peer(id).applied, ['X'], `${id} applied X`);
});

t.test('§5.4.3 committed entries survive any number of leader crashes', async (t) => {
  const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
  const committed: string[] = [];
  let down: string | undefined;
  for (let round = 0; round < 4; round++) {
    c.runUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    const ids = [0, 1, 2].map((i) => c.propose(leader, `r${round}-${i}`));
    c.stabilize();
    for (const id of ids) t.equal(c.peer(leader).proposals.get(id)?.kind, 'committed');
    committed.push(...[0, 1, 2].map((i) => `r${round}-${i}`));
    // The leader dies right after committing; the previous victim comes back.
    c.crash(leader);
    if (down !== undefined) c.restart(down);
    down = leader;
  }
  c.restart(down!);
  c.runUntil(() => c.live().every((id) => c.peer(id).applied.length === committed.length));
  for (const id of c.live()) t.same(c.peer(id).applied, committed, `${id} has every committed entry, in order`);
});

t.test('§5.4 the leader counts itself towards a commit only once its own copy is on disk', async (t) => {
  // One node: the entry commits in the Ready after the one that persisted it.
  const solo = new Cluster(['a']);
  solo.elect('a');
  const a = solo.raft('a');
  solo.propose('a', 'x');
  const rd = a.ready();
  t.same(
    rd.entries.map((e) => e.index),
    [3],
  );
  t.same(rd.committed, [], 'not committed while it is only being written');
  t.equal(a.status().commit, 2);
  t.throws(() => a.ready(), /advance/, 'one Ready at a time');
  solo.handle('a', rd);
  t.equal(a.status().commit, 3, 'advance() says it is on disk: now it commits');
  t.same(solo.handleReady('a')?.committed.map((e) => e.index), [3]);

  // Three nodes, the driver sending the leader's appends while its own write is in flight
  // (allowed by §10.2.1): one follower's acknowledgement is not a majority yet.
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.propose('a', 'y');
  const leader = c.raft('a');
  const pending = leader.ready();
  c.raft('b').step(pending.messages.find(is('append', 'a', 'b'))!);
  c.deliver(is('append-resp', 'b', 'a'));
  t.equal(leader.status().progress.b?.match, 5, 'b has y');
  t.equal(leader.status().commit, 4, 'b alone is no majority: the leader’s copy is not durable yet');
  c.handle('a', pending);
  t.equal(leader.status().commit, 5, 'with its own write done, a and b are a majority');
  c.stabilize();
  t.same(c.peer('c').applied, ['y']);
});

t.test('§5.4 a follower’s claim to hold more than the leader’s log is not counted towards a commit', async (t) => {
  // Only a leader elected unsafely could hear it; counting it would commit what no majority holds.
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('a');
  const x = c.propose('a', 'x');
  c.handleReadies();
  c.drop();
  const a = c.raft('a');
  const last = a.status().lastIndex;
  a.step({ type: 'append-resp', from: 'b', to: 'a', term: a.term, index: last + 10, reject: false, hintIndex: 0, hintTerm: 0 });
  c.handleReadies();
  t.equal(c.peer('a').proposals.get(x), undefined, 'x is not committed');
  t.equal(a.status().commit, last - 1, 'the commit index did not move');
  // The true acknowledgement does count.
  a.step({ type: 'append-resp', from: 'b', to: 'a', term: a.term, index: last, reject: false, hintIndex: 0, hintTerm: 0 });
  c.handleReadies();
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed');
});
