/**
 * §8 Client interaction, and the operations around it: every proposal's single outcome,
 * linearizable reads through ReadIndex, leadership transfer (§3.10 of the dissertation)
 * and InstallSnapshot (§7) for a follower behind the compacted log.
 */
import t from 'tap';
import type { Message } from '../../../../src/core/raft/types.js';
import { Cluster, from, is, to } from './harness.js';

/** Marks assertions that fail because of a core bug (see the report): they run, and fail as `# TODO`. */

// ---- proposals ----

t.test('§8 a proposal is committed at (index, term), or dropped with a hint where the leader is', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  const early = c.propose('b', 'early');
  c.handleReadies();
  t.same(c.peer('b').proposals.get(early), { id: early, kind: 'dropped', reason: 'not-leader', leader: undefined }, 'no leader known yet');
  c.elect('a');
  const x = c.propose('a', 'x');
  const y = c.propose('b', 'y');
  c.stabilize();
  t.same(c.peer('a').proposals.get(x), { id: x, kind: 'committed', index: 5, term: 2 });
  t.same(c.peer('b').proposals.get(y), { id: y, kind: 'dropped', reason: 'not-leader', leader: 'a' }, 'ask a instead');
  t.same(c.peer('b').applied, ['x']);
});

t.test('§8 a deposed leader’s entry that another leader overwrote is dropped as superseded', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('a');
  const lost = c.propose('a', 'lost');
  c.stabilize();
  c.runUntil(() => c.leader() !== undefined && c.leader() !== 'a');
  const leader = c.leader()!;
  c.propose(leader, 'kept');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(lost), undefined, 'no outcome while it may still commit');
  c.heal();
  c.runUntil(() => c.peer('a').proposals.has(lost));
  t.match(c.peer('a').proposals.get(lost), { kind: 'dropped', reason: 'superseded' });
  const outcome = c.peer('a').proposals.get(lost);
  t.equal(outcome?.kind === 'dropped' ? outcome.leader : undefined, leader, 'retry at the new leader');
  t.same(c.peer('a').applied, ['kept']);
});

t.test('§8 a deposed leader still learns that its entry committed under the next leader', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const x = c.propose('a', 'x');
  c.deliver(is('append', 'a')); // b and c store x...
  c.drop(); // ...but their acknowledgements are lost
  c.isolate('a');
  c.runUntil(() => c.leader() !== undefined && c.leader() !== 'a');
  t.same(c.peer(c.leader()!).applied, ['x'], 'the new leader commits x with its no-op');
  t.equal(c.peer('a').proposals.get(x), undefined);
  c.heal();
  c.runUntil(() => c.peer('a').proposals.has(x));
  t.same(c.peer('a').proposals.get(x), { id: x, kind: 'committed', index: 5, term: 2 });
});

t.test('§8 an entry swallowed by a snapshot has an unknown outcome', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const x = c.propose('a', 'x');
  c.deliver(is('append', 'a'));
  c.drop();
  c.isolate('a');
  c.runUntil(() => c.leader() !== undefined && c.leader() !== 'a');
  const leader = c.leader()!;
  c.propose(leader, 'y');
  c.stabilize();
  c.compact(leader);
  // a's log is repaired with a snapshot that covers x: a cannot tell whether x is its own entry.
  c.heal();
  c.runUntil(() => c.peer('a').proposals.has(x));
  t.ok(c.sent.some(is('snapshot', leader, 'a')));
  t.same(c.peer('a').proposals.get(x), { id: x, kind: 'unknown', index: 5 });
  t.same(c.peer('a').applied, ['x', 'y'], 'it did commit, as the state shows');
});

t.test('§8 a leader that removes itself still gives every proposal it accepted an outcome', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const removal = c.change('a', { op: 'remove', node: 'a' });
  c.deliver(is('append', 'a')); // b and c store the removal
  const x = c.propose('a', 'x');
  // Their answers reach a before it hands out x: the removal commits, x goes out with the notice.
  for (const m of c.drop(is('append-resp'))) c.raft('a').step(m);
  c.stabilize();
  t.equal(c.peer('a').proposals.get(removal)?.kind, 'committed');
  t.equal(c.raft('a').role, 'follower', 'a applied its removal and stepped down');
  t.same(c.logOf('b'), ['2:noop', '2:config', '2:x'], 'x is in the others’ logs');
  // The others elect a leader among themselves, which commits x; nobody talks to a any more.
  c.runUntil(() => c.leader() === 'b' || c.leader() === 'c');
  c.run(20);
  t.same(c.peer('b').applied, ['x']);
  t.same(c.peer('a').proposals.get(x), { id: x, kind: 'unknown', index: c.raft('a').status().lastIndex }, 'x has an outcome on a: unknown, since it may commit without a');
  // Proposals made after the removal are refused at once.
  const late = c.propose('a', 'late');
  c.handleReadies();
  t.match(c.peer('a').proposals.get(late), { kind: 'dropped', reason: 'removed' });
  const lateRead = c.raft('a').readIndex();
  c.handleReadies();
  t.match(c.peer('a').reads.get(lateRead), { kind: 'dropped', reason: 'removed' }, 'and so are reads');
});

// ---- ReadIndex ----

t.test('§8 ReadIndex: quorum reads wait for one heartbeat round, shared by all reads asked meanwhile', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.propose('a', 'x');
  c.stabilize();
  const a = c.raft('a');
  const reads = [a.readIndex(), a.readIndex(), a.readIndex('quorum')];
  const rd = c.handleReady('a')!;
  t.same(rd.reads, [], 'not yet');
  const heartbeats = rd.messages.filter(is('heartbeat'));
  t.equal(heartbeats.length, 2, 'one heartbeat per follower for three reads');
  // One follower's answer makes a majority with the leader.
  c.deliver(is('heartbeat', 'a', 'b'));
  c.deliver(is('heartbeat-resp', 'b', 'a'));
  for (const id of reads) t.same(c.peer('a').reads.get(id), { id, kind: 'ready', index: 5 }, 'read at the commit index');
  // A late answer from c changes nothing.
  c.stabilize();
  t.equal(c.peer('a').reads.size, 3);
  // A read asked once a round is on its way waits for the next round.
  const first = a.readIndex();
  c.handleReadies();
  const second = a.readIndex();
  c.handleReadies();
  const rounds = c.queue.filter(is('heartbeat', 'a', 'b')).map((m) => m.type === 'heartbeat' && m.context);
  t.equal(rounds.length, 2);
  c.deliver(is('heartbeat', 'a', 'b'));
  const [answer1, answer2] = c.drop(is('heartbeat-resp', 'b', 'a'));
  c.queue.push(answer1!);
  c.deliver();
  t.equal(c.peer('a').reads.get(first)?.kind, 'ready', 'the first round is confirmed');
  t.equal(c.peer('a').reads.get(second), undefined, 'the second is not yet');
  c.queue.push(answer2!);
  c.deliver();
  t.equal(c.peer('a').reads.get(second)?.kind, 'ready');
  // A single voter needs no round.
  const solo = new Cluster(['a']);
  solo.elect('a');
  const r = solo.raft('a').readIndex();
  solo.handleReadies();
  t.same(solo.peer('a').reads.get(r), { id: r, kind: 'ready', index: 2 });
});

t.test('§8 ReadIndex: a new leader answers reads only after its no-op commits', async (t) => {
  const c = new Cluster(['a', 'b', 'c'], { settings: { checkQuorum: false } });
  c.elect('a');
  c.propose('a', 'x');
  c.stabilize();
  c.crash('a');
  c.raft('b').campaign();
  c.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
  const b = c.raft('b');
  t.equal(b.role, 'leader');
  // b does not know yet whether x is the last committed entry: its no-op will tell.
  const quorum = b.readIndex();
  const local = b.readIndex('local');
  c.handleReadies();
  t.equal(c.queue.filter(is('heartbeat')).length, 0, 'no read round yet');
  t.equal(c.peer('b').reads.size, 0);
  c.stabilize();
  t.same(c.peer('b').reads.get(local), { id: local, kind: 'ready', index: 6 }, 'local: as soon as the no-op commits');
  t.same(c.peer('b').reads.get(quorum), { id: quorum, kind: 'ready', index: 6 }, 'quorum: one round later');
});

t.test('§8 ReadIndex: reads are refused off the leader and dropped when the leader is deposed', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const off = c.raft('b').readIndex();
  c.handleReadies();
  t.same(c.peer('b').reads.get(off), { id: off, kind: 'dropped', reason: 'not-leader', leader: 'a' });
  // a starts a round, but its heartbeats are lost and it is cut off: check-quorum deposes it.
  const r = c.raft('a').readIndex();
  c.drop(is('heartbeat'));
  c.isolate('a');
  c.runUntil(() => c.peer('a').reads.has(r));
  t.same(c.peer('a').reads.get(r), { id: r, kind: 'dropped', reason: 'not-leader', leader: undefined });
  t.not(c.raft('a').role, 'leader');
});

t.test('§8 ReadIndex: local reads return at once while the leader holds a lease', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  t.equal(c.raft('a').immediateReadIndex('local'), undefined, 'no lease, no immediate read');
  const early = c.raft('a').readIndex('local');
  let rd = c.handleReady('a')!;
  t.same(rd.reads, [], 'right after an election no heartbeat round is acknowledged yet: no lease');
  t.ok(rd.messages.some((m) => m.type === 'heartbeat'), 'so the read waits for a heartbeat round');
  c.stabilize();
  t.same(c.peer('a').reads.get(early), { id: early, kind: 'ready', index: 4 });
  t.equal(c.raft('a').immediateReadIndex('local'), 4, 'with the lease, a local read can be served synchronously');
  t.equal(c.raft('a').immediateReadIndex(), undefined, 'a quorum read always needs a round with the peers');
  t.equal(c.raft('b').immediateReadIndex('local'), undefined, 'never on a follower');
  const r = c.raft('a').readIndex('local');
  rd = c.handleReady('a')!;
  t.same(rd.reads, [{ id: r, kind: 'ready', index: 4 }], 'with the lease, at once');
  t.same(rd.messages, [], 'no round trip');
  c.isolate('a');
  c.run(9); // an election timeout (10 ticks) less one
  const late = c.raft('a').readIndex('local');
  c.handleReadies();
  t.not(c.peer('a').reads.get(late)?.kind, 'ready', 'an election timeout after the last acknowledged round, the lease is gone');
  t.equal(c.raft('a').immediateReadIndex('local'), undefined, 'and so is the immediate read');
});

t.test('§8 ReadIndex: the only voter reads at once, once its term has a committed entry and while it does not hand over', async (t) => {
  const c = new Cluster(['a']);
  t.equal(c.raft('a').immediateReadIndex(), undefined, 'not leading yet');
  c.raft('a').campaign();
  t.equal(c.raft('a').role, 'leader');
  t.equal(c.raft('a').immediateReadIndex(), undefined, 'its no-op is not committed yet');
  c.stabilize();
  t.equal(c.raft('a').immediateReadIndex(), 2, 'quorum reads need no round trip with one voter');
  t.equal(c.raft('a').immediateReadIndex('local'), 2);
  const three = new Cluster(['a', 'b', 'c']);
  three.elect('a');
  three.raft('a').readIndex('local'); // a heartbeat round the followers acknowledge: the lease
  three.stabilize();
  t.equal(three.raft('a').immediateReadIndex('local'), 4);
  three.raft('a').transferLeadership('b');
  t.equal(three.raft('a').immediateReadIndex('local'), undefined, 'not while handing leadership over');
});

t.test('§8 ReadIndex: local reads must stop before a new leader can be elected', async (t) => {
  // The lease behind local reads: followers ignore elections for an election timeout after
  // hearing from the leader, so a leader that heard from a quorum less than that ago is
  // still the only one. Clocks here are perfect: every node ticks in step.
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.propose('a', 'v1');
  c.stabilize();
  c.run(1); // the last round of heartbeats a gets answers to
  c.isolate('a');
  const ticks = c.runUntil(() => c.leader() === 'b' || c.leader() === 'c');
  const leader = c.leader()!;
  c.propose(leader, 'v2');
  c.stabilize();
  t.same(c.peer(leader).applied, ['v1', 'v2'], `${ticks} ticks later, v2 is committed by ${leader}`);
  const local = c.raft('a').readIndex('local');
  const quorum = c.raft('a').readIndex('quorum');
  c.handleReadies();
  t.equal(c.peer('a').reads.get(quorum), undefined, 'a quorum read on a waits (and will be dropped)');
  t.not(c.peer('a').reads.get(local)?.kind, 'ready', `a local read on a must not see only v1`);
  t.same(c.peer('a').applied, ['v1']);
});

// ---- leadership transfer ----

t.test('§3.10 leadership transfer to an up-to-date follower', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.propose('a', 'x');
  c.stabilize();
  c.raft('a').transferLeadership('b');
  t.equal(c.raft('a').status().transferee, 'b');
  // Meanwhile the old leader accepts neither writes nor reads.
  const p = c.propose('a', 'during');
  const r = c.raft('a').readIndex();
  const rd = c.handleReady('a')!;
  t.same(rd.proposals, [{ id: p, kind: 'dropped', reason: 'transferring', leader: 'a' }]);
  t.same(rd.reads, [{ id: r, kind: 'dropped', reason: 'transferring', leader: 'a' }]);
  t.same(
    rd.messages.map((m) => [m.type, m.to]),
    [['timeout-now', 'b']],
    'b has everything: it is told to stand at once',
  );
  c.stabilize();
  t.equal(c.leader(), 'b');
  t.equal(c.raft('b').term, 3);
  t.equal(c.raft('a').leader, 'b');
  t.ok(
    c.sent.some((m) => m.type === 'vote' && m.from === 'b' && !m.pre && m.transfer),
    'b skips the pre-vote, and its request overrides the lease',
  );
});

t.test('§3.10 a transfer arriving with a commit the target has not applied yet: it stands once applied', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.propose('a', 'x');
  c.deliver((m) => m.type === 'append'); // x reaches b and c
  c.deliver((m) => m.type === 'append-resp'); // a commits x; its next appends carry the commit
  c.raft('a').transferLeadership('b'); // b has every entry: timeout-now goes right behind them
  c.handleReadies();
  const toB = c.queue.filter((m) => m.to === 'b').map((m) => m.type);
  t.same(toB.slice(-2), ['append', 'timeout-now'], 'the commit and the order to stand arrive together');
  c.deliver((m) => m.to === 'b');
  t.same(c.peer('b').applied, ['x'], 'b applied x first');
  t.equal(c.raft('b').role, 'candidate', 'then stood, without waiting for an election timeout');
  c.stabilize();
  t.equal(c.leader(), 'b');

  // An order to stand that cannot be followed within an election timeout is forgotten.
  const d = new Cluster(['a', 'b', 'c']);
  d.elect('a');
  d.propose('a', 'y');
  d.deliver((m) => m.type === 'append');
  d.deliver((m) => m.type === 'append-resp');
  d.handleReadies();
  const b = d.raft('b');
  for (const m of d.queue.filter((q) => q.to === 'b')) b.step(m);
  b.step({ type: 'timeout-now', from: 'a', to: 'b', term: b.term });
  for (let i = 0; i <= 10; i++) b.tick();
  d.queue.length = 0;
  d.handleReady('b');
  t.not(b.role, 'candidate', 'too late: it stays a follower');
});

t.test('§3.10 leadership transfer to a lagging follower: it is brought up to date first', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.stabilize();
  c.heal();
  const mark = c.sent.length;
  c.raft('a').transferLeadership('c');
  c.stabilize();
  t.equal(c.leader(), 'c');
  const toC = c.sent.slice(mark).filter((m) => m.from === 'a' && m.to === 'c');
  const firstTimeout = toC.findIndex(is('timeout-now'));
  t.ok(toC.slice(0, firstTimeout).some((m) => m.type === 'append' && m.entries.length === 5), 'the missing entries went first');
  t.same(c.peer('c').applied, ['x0', 'x1', 'x2', 'x3', 'x4']);
});

t.test('§3.10 a transfer that does not finish within an election timeout is abandoned', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.crash('c');
  c.raft('a').transferLeadership('c');
  const refused = c.propose('a', 'refused');
  c.run(9);
  t.equal(c.raft('a').status().transferee, 'c');
  t.match(c.peer('a').proposals.get(refused), { kind: 'dropped', reason: 'transferring' });
  c.run(1);
  t.equal(c.raft('a').status().transferee, undefined, 'given up');
  t.equal(c.raft('a').role, 'leader');
  const p = c.propose('a', 'accepted');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(p)?.kind, 'committed');
});

t.test('§3.10 transfer requests that make no sense are ignored', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.add('l');
  c.change('a', { op: 'add-learner', node: 'l' });
  c.stabilize();
  c.run(1);
  const a = c.raft('a');
  c.raft('b').transferLeadership('c'); // not the leader
  a.transferLeadership('a'); // itself
  a.transferLeadership('l'); // a learner cannot lead
  a.transferLeadership('z'); // not a member
  a.campaign(); // already the leader
  t.equal(a.status().transferee, undefined);
  t.equal(c.raft('b').hasReady(), false);
  t.equal(a.hasReady(), false);
  // Asking twice sends one timeout-now; asking for another node retargets.
  a.transferLeadership('b');
  a.transferLeadership('b');
  a.transferLeadership('c');
  c.handleReadies();
  t.same(
    c.queue.filter(is('timeout-now')).map((m) => m.to),
    ['b', 'c'],
  );
  t.equal(a.status().transferee, 'c');
});

t.test('§3.10 a transfer to a node that is being removed ends when the removal applies', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.crash('c');
  const removal = c.change('a', { op: 'remove', node: 'c' });
  c.raft('a').transferLeadership('c');
  t.equal(c.raft('a').status().transferee, 'c');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(removal)?.kind, 'committed');
  t.equal(c.raft('a').status().transferee, undefined);
  const p = c.propose('a', 'x');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(p)?.kind, 'committed');
});

// ---- InstallSnapshot ----

/** A cluster where c was down while a committed x1..x5 and compacted its log. */
function behindTheSnapshot(): Cluster {
  const c = new Cluster(['a', 'b', 'c']);
  c.crash('c');
  c.elect('a');
  for (let i = 1; i <= 5; i++) c.propose('a', `x${i}`);
  c.stabilize();
  c.compact('a');
  c.restart('c');
  return c;
}

t.test('§7 InstallSnapshot: a follower behind the compacted log installs a snapshot, then catches up', async (t) => {
  const c = behindTheSnapshot();
  t.equal(c.peer('a').storage.firstIndex(), 10);
  c.run(1);
  t.equal(c.sent.filter(is('snapshot', 'a', 'c')).length, 1);
  t.same(c.peer('c').storage.snapshot(), { index: 9, term: 2, conf: { voters: ['a', 'b', 'c'], learners: [] } });
  t.same(c.peer('c').applied, ['x1', 'x2', 'x3', 'x4', 'x5'], 'the state arrives with it');
  t.equal(c.raft('c').status().applied, 9);
  t.equal(c.raft('a').status().progress.c?.state, 'replicate', 'its answer resumes normal replication');
  c.propose('a', 'y');
  c.stabilize();
  t.same(c.peer('c').applied, ['x1', 'x2', 'x3', 'x4', 'x5', 'y']);
});

t.test('§7 InstallSnapshot: the application reports a failed stream, and the snapshot is sent again', async (t) => {
  const c = behindTheSnapshot();
  c.tick(1, ['a']);
  c.deliver(is('heartbeat', 'a', 'c'));
  c.deliver(is('heartbeat-resp', 'c', 'a'));
  t.equal(c.drop(is('snapshot', 'a', 'c')).length, 1, 'the stream breaks');
  t.equal(c.raft('a').status().progress.c?.state, 'snapshot');
  c.raft('a').reportSnapshot('c', false);
  t.same(c.raft('a').status().progress.c, { match: 0, next: 1, state: 'probe' }, 'probe again from the start');
  c.run(1);
  t.equal(c.sent.filter(is('snapshot', 'a', 'c')).length, 2, 'the next heartbeat round sends it again');
  t.same(c.peer('c').applied, ['x1', 'x2', 'x3', 'x4', 'x5']);
});

t.test('§7 InstallSnapshot: a successful stream reported before the follower answers', async (t) => {
  const c = behindTheSnapshot();
  c.tick(1, ['a']);
  c.deliver(is('heartbeat', 'a', 'c'));
  c.deliver(is('heartbeat-resp', 'c', 'a'));
  c.deliver(is('snapshot', 'a', 'c'));
  c.raft('a').reportSnapshot('c', true);
  t.same(c.raft('a').status().progress.c, { match: 0, next: 10, state: 'probe' }, 'wait for c from after the snapshot');
  c.deliver(from('c'));
  t.same(c.raft('a').status().progress.c, { match: 9, next: 10, state: 'replicate' });
  // Reports that do not apply are ignored: not in snapshot state, unknown node, not the leader.
  c.raft('a').reportSnapshot('c', true);
  c.raft('a').reportSnapshot('z', false);
  c.raft('b').reportSnapshot('c', false);
  t.equal(c.raft('a').status().progress.c?.state, 'replicate');
});

t.test('§7 InstallSnapshot: a snapshot that is never reported on is offered again after five election timeouts', async (t) => {
  const c = behindTheSnapshot();
  const snapshots = (): number => c.sent.filter(is('snapshot', 'a', 'c')).length;
  c.tick(1, ['a']);
  c.deliver(is('heartbeat', 'a', 'c'));
  c.deliver(is('heartbeat-resp', 'c', 'a'));
  t.equal(c.drop(is('snapshot', 'a', 'c')).length, 1, 'lost without a trace');
  c.run(49);
  t.equal(c.raft('a').status().progress.c?.state, 'snapshot', 'the leader waits...');
  t.equal(snapshots(), 1);
  c.run(1);
  t.equal(snapshots(), 2, '...five election timeouts, then probes again, which leads to the snapshot');
  t.same(c.peer('c').applied, ['x1', 'x2', 'x3', 'x4', 'x5']);
});

t.test('§7 InstallSnapshot: a snapshot that arrives after the entries it covers only commits them', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const notC = (m: Message): boolean => m.to !== 'c';
  c.propose('a', 'x1');
  c.propose('a', 'x2');
  c.stabilize(notC);
  c.propose('a', 'x3');
  c.stabilize(notC);
  c.compact('a');
  // Held for c, in order: [x1 x2], a commit notice, [x3], another commit notice.
  const [a1, n1, a3, n2] = c.drop(to('c')) as Message[];
  t.same(
    [a1, n1, a3, n2].map((m) => m?.type === 'append' && [m.prevIndex, m.entries.length, m.commit]),
    [
      [4, 2, 4],
      [6, 0, 6],
      [6, 1, 6],
      [7, 0, 7],
    ],
  );
  // The last arrives first: c lacks 5..7, the leader backs off into its snapshot.
  c.queue.push(n2!);
  c.deliver(to('c'));
  c.deliver(from('c'));
  const [snapshot] = c.drop(is('snapshot', 'a', 'c'));
  t.ok(snapshot);
  // The entries arrive, then the snapshot: c holds its last entry (7, term 2), so it keeps its log.
  c.queue.push(a1!, a3!);
  c.deliver(to('c'));
  t.equal(c.raft('c').status().commit, 6);
  c.queue.push(snapshot!);
  c.deliver(to('c'));
  t.equal(c.raft('c').status().commit, 7, 'the snapshot only told it that 7 is committed');
  t.equal(c.peer('c').storage.snapshot().index, 0, 'nothing was installed');
  t.same(c.peer('c').applied, ['x1', 'x2', 'x3']);
  // A duplicate of the snapshot, and the stale commit notice, are answered and otherwise ignored.
  c.queue.push(snapshot!, n1!);
  c.deliver(to('c'));
  t.same(
    c.queue.filter(is('append-resp', 'c', 'a')).map((m) => m.type === 'append-resp' && [m.index, m.reject]),
    [
      [6, false],
      [7, false],
      [7, false],
      [7, false],
      [7, false],
    ],
  );
  c.stabilize();
  t.equal(c.raft('a').status().progress.c?.state, 'replicate');
  t.equal(c.raft('c').status().commit, 7);
});
