/**
 * §5.3 Log replication: how a leader's entries reach the followers, commit, and replace
 * whatever a follower held that the leader does not — cheaply, in batches, and without a
 * slow follower swamping the leader.
 */
import t from 'tap';
import type { AppendMessage } from '../../../../src/core/raft/types.js';
import { between, Cluster, from, is, to } from './harness.js';

t.test('§5.3 an entry commits once a majority stores it; the rest catch up later', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  const x = c.propose('a', 'x');
  c.stabilize();
  t.same(c.peer('a').proposals.get(x), { id: x, kind: 'committed', index: 5, term: 2 }, 'a and b are a majority');
  t.same(c.peer('a').applied, ['x']);
  t.same(c.peer('b').applied, ['x'], 'the followers apply once they hear of the commit');
  t.same(c.peer('c').applied, []);
  t.same(c.logOf('c'), ['2:noop'], 'c has only the no-op of term 2 (index 4, after the bootstrap entries)');
  // Back online, c answers a heartbeat; the leader sees it lags and sends what it lacks.
  c.heal();
  c.run(1);
  t.same(c.logOf('c'), ['2:noop', '2:x']);
  t.same(c.peer('c').applied, ['x']);
});

t.test('§5.3 lost appends and acknowledgements are repaired at the next heartbeat', async (t) => {
  // a pipelines appends to followers it knows to be up to date; the heartbeat answers show
  // which of them still lag, whatever was lost on the way.
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // With c down, one lost acknowledgement from b must not stall x.
  c.crash('c');
  const x = c.propose('a', 'x');
  c.deliver(is('append', 'a', 'b'));
  t.equal(c.drop(is('append-resp', 'b', 'a')).length, 1);
  c.run(2);
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed');
  // c returns; y and the commit notice after it are lost on the way to c.
  c.restart('c');
  c.run(2);
  c.propose('a', 'y');
  c.stabilize((m) => m.to !== 'c');
  t.same(
    c.drop(to('c')).map((m) => m.type === 'append' && m.entries.length),
    [1, 0],
  );
  c.run(2);
  t.same(c.peer('c').applied, ['x', 'y']);

  // A window full of lost appends (maxInflightMsgs) does not shut the follower out.
  const d = new Cluster(['a', 'b', 'c'], { settings: { maxInflightMsgs: 2 } });
  d.elect('a');
  for (const v of ['1', '2']) {
    d.propose('a', v);
    d.drop(to('c'));
  }
  d.propose('a', '3');
  d.run(3);
  t.same(d.peer('c').applied, ['1', '2', '3']);
});

t.test('§5.3 a follower’s conflicting uncommitted suffix is overwritten by the leader’s log', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // a loses the others but still accepts proposals: they can never commit.
  c.isolate('a');
  c.propose('a', 'lost-1');
  c.propose('a', 'lost-2');
  c.stabilize();
  t.same(c.logOf('a'), ['2:noop', '2:lost-1', '2:lost-2']);
  // b and c elect a new leader, which commits its own entries at the same indexes.
  c.runUntil(() => c.leader() !== undefined && c.leader() !== 'a');
  const leader = c.leader()!;
  const term = c.raft(leader).term;
  c.propose(leader, 'won-1');
  c.stabilize();
  t.same(c.logOf(leader), ['2:noop', `${term}:noop`, `${term}:won-1`]);
  // a comes back: its entries 5 and 6 conflict with the leader's and are replaced.
  c.heal();
  c.runUntil(() => c.peer('a').applied.length === 1);
  t.same(c.logOf('a'), ['2:noop', `${term}:noop`, `${term}:won-1`]);
  t.same(c.peer('a').applied, ['won-1'], 'a never applied its own lost entries');
});

t.test('§5.3 fast back-off: a long divergent log is repaired in a couple of round trips', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // a, cut off, piles up 100 entries of term 2 that will never commit.
  c.isolate('a');
  for (let i = 0; i < 100; i++) c.propose('a', `stale-${i}`);
  c.stabilize();
  // b (or c) leads term 3 and commits 50 entries, then hands leadership to the other (term 4).
  c.runUntil(() => c.leader() === 'b' || c.leader() === 'c');
  const first = c.leader()!;
  const second = first === 'b' ? 'c' : 'b';
  for (let i = 0; i < 50; i++) c.propose(first, `new-${i}`);
  c.stabilize();
  c.raft(first).transferLeadership(second);
  c.stabilize();
  t.equal(c.leader(), second);
  t.equal(c.raft(second).term, 4);
  t.equal(c.raft(second).status().lastIndex, 56, "3 bootstrap entries, the no-ops of terms 2 and 3, 50 entries, the no-op of term 4");
  // a returns. The leader probes at its last index; a's answer names the term it holds
  // there (2), and the leader skips every entry of a later term at once.
  const mark = c.sent.length;
  c.heal();
  c.runUntil(() => c.peer('a').applied.length === 50);
  const traffic = c.sent.slice(mark).filter(between(second, 'a'));
  const appends = traffic.filter(is('append', second, 'a')) as AppendMessage[];
  const rejects = traffic.filter((m) => m.type === 'append-resp' && m.reject);
  t.equal(rejects.length, 1, 'one rejected probe (one per term of the divergence, not one per entry)');
  t.equal(appends.length, 2, 'the probe and one append with everything');
  t.same(
    appends.map((m) => [m.prevIndex, m.entries.length]),
    [
      [55, 1],
      [4, 52],
    ],
  );
  t.equal(c.logOf('a').length, 53);
  t.equal(c.peer('a').applied.length, 50);
});

t.test('§5.3 batching: proposals made between two Readies go out as one append per follower', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  for (let i = 0; i < 10; i++) c.propose('a', `x${i}`);
  const rd = c.handleReady('a')!;
  t.equal(rd.entries.length, 10, 'one write to the local log');
  const appends = rd.messages.filter(is('append')) as AppendMessage[];
  t.same(
    appends.map((m) => [m.to, m.entries.length]),
    [
      ['b', 10],
      ['c', 10],
    ],
  );
  c.stabilize();
  t.equal(c.peer('c').applied.length, 10);

  // A message carries at most maxMsgBytes of data (but always one entry): a long catch-up is split.
  const d = new Cluster(['a', 'b', 'c'], { settings: { maxMsgBytes: 10 } });
  d.elect('a');
  d.isolate('c');
  for (let i = 0; i < 6; i++) d.propose('a', `4byt`);
  d.stabilize();
  d.heal();
  const mark = d.sent.length;
  d.propose('a', 'last-entry-is-big');
  d.runUntil(() => d.peer('c').applied.length === 7);
  const catchUp = d.sent.slice(mark).filter(is('append', 'a', 'c')) as AppendMessage[];
  const bytes = (m: AppendMessage): number => m.entries.reduce((n, e) => n + e.data.length, 0);
  t.ok(
    catchUp.every((m) => m.entries.length <= 1 || bytes(m) <= 10),
    'no message carries over 10 bytes, unless it is a single entry',
  );
  t.same(
    catchUp.filter((m) => m.entries.length > 1).map((m) => m.entries.length),
    [2, 2, 2],
    'the six 4-byte entries travel two by two',
  );
  t.ok(catchUp.some((m) => m.entries.length === 1 && bytes(m) > 10), 'the big one alone');
});

t.test('§5.3 the in-flight window pauses a slow follower (message count)', async (t) => {
  const c = new Cluster(['a', 'b', 'c'], { settings: { maxInflightMsgs: 2 } });
  c.elect('a');
  for (let i = 0; i < 5; i++) {
    c.propose('a', `w${i}`);
    c.handleReadies();
  }
  // b answers promptly, c not at all.
  c.stabilize((m) => m.from !== 'c' && m.to !== 'c');
  t.same(c.peer('b').applied, ['w0', 'w1', 'w2', 'w3', 'w4'], 'a majority keeps committing');
  const toC = c.queue.filter(is('append', 'a', 'c')) as AppendMessage[];
  t.same(
    toC.map((m) => m.entries.map((e) => e.index)),
    [[5], [6]],
    'two appends in flight to c, then the leader stops sending to it',
  );
  // c's first answer opens the window: everything pending goes out in one message.
  c.deliver(to('c'));
  c.deliver(from('c'));
  const next = c.queue.filter(is('append', 'a', 'c')) as AppendMessage[];
  t.same(
    next.map((m) => m.entries.map((e) => e.index)),
    [[7, 8, 9]],
  );
  c.stabilize();
  c.run(1);
  t.same(c.peer('c').applied, ['w0', 'w1', 'w2', 'w3', 'w4']);
});

t.test('§5.3 the in-flight window pauses a slow follower (bytes)', async (t) => {
  const c = new Cluster(['a', 'b', 'c'], { settings: { maxInflightBytes: 10 } });
  c.elect('a');
  for (let i = 0; i < 5; i++) {
    c.propose('a', `by${i}`);
    c.handleReadies();
  }
  c.stabilize((m) => m.from !== 'c' && m.to !== 'c');
  const toC = c.queue.filter(is('append', 'a', 'c')) as AppendMessage[];
  t.equal(toC.length, 4, '3 + 3 + 3 bytes in flight is below the limit of 10, 12 is not');
  c.stabilize();
  c.run(1);
  t.equal(c.peer('c').applied.length, 5);
});

t.test('§5.3 heartbeats never advance a follower’s commit index past what it matches', async (t) => {
  const c = new Cluster(['s1', 's2', 's3', 's4', 's5']);
  c.elect('s1');
  // s1 gets two entries to s3 only, then s1 and s3 are cut off.
  c.propose('s1', 'x');
  c.propose('s1', 'y');
  c.deliver(is('append', 's1', 's3'));
  c.drop();
  t.same(c.logOf('s3'), ['2:noop', '2:x', '2:y']);
  t.equal(c.raft('s3').status().commit, 6, 'up to the no-op (index 6, after the 5 bootstrap entries)');
  c.partition(['s1', 's3']);
  // The other three elect a leader, which commits entries of its own at indexes 7 and 8.
  c.runUntil(() => c.leader() === 's2' || c.leader() === 's4' || c.leader() === 's5');
  const leader = c.leader()!;
  c.propose(leader, 'z');
  c.stabilize();
  t.equal(c.raft(leader).status().commit, 8);
  // s3 rejoins; it hears only heartbeats at first. They carry commit 8 — but s3's entries 7
  // and 8 are not the leader's, so the commit index sent to s3 is capped at its match (0).
  c.heal();
  c.tick(1, [leader]);
  const [hb] = c.deliver(is('heartbeat', leader, 's3'));
  t.equal(hb?.type === 'heartbeat' && hb.commit, 0);
  t.equal(c.raft('s3').status().commit, 6, 's3 does not commit its stale x and y');
  t.same(c.peer('s3').applied, []);
  // Replication then repairs s3's log, and only then does it commit.
  c.stabilize();
  c.run(1);
  const term = c.raft(leader).term;
  t.same(c.logOf('s3'), ['2:noop', `${term}:noop`, `${term}:z`]);
  t.same(c.peer('s3').applied, ['z']);
});

t.test('§5.3 committed entries are handed out to apply in bounded batches', async (t) => {
  const c = new Cluster(['a'], { settings: { maxApplyBytes: 5 } });
  c.elect('a');
  for (let i = 0; i < 4; i++) c.propose('a', 'abc');
  const batches: number[] = [];
  for (let rd = c.handleReady('a'); rd; rd = c.handleReady('a')) batches.push(rd.committed.length);
  t.same(batches, [0, 1, 1, 1, 1], 'the entries persist first; then at most 5 bytes (but one entry) per Ready');
  t.same(c.peer('a').applied, ['abc', 'abc', 'abc', 'abc']);
});
