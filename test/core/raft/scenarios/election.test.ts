/**
 * §5.2 Leader election, with the extensions of §9.6 (pre-vote) and check-quorum: how a
 * cluster picks a leader, and why a node that cannot win does not disturb one that rules.
 */
import t from 'tap';
import { RaftNode } from '../../../../src/core/raft/node.js';
import { MemoryStorage } from '../../../../src/core/raft/storage.js';
import type { VoteResponse } from '../../../../src/core/raft/types.js';
import { seededRng } from '../../../../src/core/support/rng.js';
import { Cluster, from, is } from './harness.js';

t.test('§5.2 first election: the first node to time out wins and everyone follows it', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  let ticks = 0;
  while (!c.leader()) {
    c.run(1);
    ticks++;
  }
  t.ok(ticks >= 10 && ticks < 20, `a follower times out in [electionTicks, 2·electionTicks): ${ticks}`);
  const leader = c.leader()!;
  for (const id of ['a', 'b', 'c']) {
    t.equal(c.raft(id).term, 2, `${id}: term 2, the first after the bootstrap term (the pre-vote round does not raise it)`);
    t.equal(c.raft(id).leader, leader, `${id} follows ${leader}`);
  }
  t.equal(c.raft(leader).status().commit, 4, "the leader's no-op (index 4, after the 3 bootstrap entries) commits");
  c.run(30);
  t.equal(c.leader(), leader, 'heartbeats keep the others from timing out');
  t.equal(c.raft(leader).term, 2);
});

t.test('§5.2 split votes are resolved by randomized timeouts', async (t) => {
  const splitVote = (seed: number): Cluster => {
    const c = new Cluster(['a', 'b', 'c', 'd'], { settings: { preVote: false }, seed });
    // a and c time out together; b hears a first, d hears c first: 2 votes each, neither wins.
    c.raft('a').campaign();
    c.raft('c').campaign();
    c.deliver(is('vote', 'a', 'b'));
    c.deliver(is('vote', 'c', 'd'));
    c.stabilize();
    return c;
  };
  const c = splitVote(2);
  t.equal(c.leader(), undefined, 'no majority for anyone in term 2');
  t.same(
    ['a', 'b', 'c', 'd'].map((id) => c.raft(id).status().vote),
    ['a', 'a', 'c', 'c'],
  );
  t.same(
    ['a', 'b', 'c', 'd'].map((id) => c.raft(id).role),
    ['follower', 'follower', 'follower', 'follower'],
    'the candidates saw they lost',
  );
  // Each node waits a random time: here b times out alone and wins term 3.
  while (!c.leader()) c.run(1);
  t.equal(c.leader(), 'b');
  t.equal(c.raft('b').term, 3, 'one extra term was enough');
  const campaigners = new Set(c.sent.filter((m) => m.type === 'vote' && m.term === 3).map((m) => m.from));
  t.same([...campaigners], ['b'], 'only b campaigned in term 3');
  // Two nodes may still draw the same timeout and split again, but never for long.
  for (let seed = 1; seed <= 30; seed++) {
    const s = splitVote(seed);
    let ticks = 0;
    while (!s.leader()) {
      s.run(1);
      ticks++;
    }
    t.ok(s.raft(s.leader()!).term <= 5 && ticks < 80, `seed ${seed}: leader in term ${s.raft(s.leader()!).term} after ${ticks} ticks`);
  }
});

t.test('§5.2 a candidate steps down when it learns of a leader or a newer term', async (t) => {
  const c = new Cluster(['a', 'b', 'c'], { settings: { preVote: false } });
  // a and b both stand in term 2; b's requests are lost, a wins with c's vote.
  c.raft('a').campaign();
  c.raft('b').campaign();
  c.drop(from('b'));
  c.deliver(is('vote', 'a', 'c'));
  c.deliver(is('vote-resp'));
  t.equal(c.raft('a').role, 'leader');
  t.equal(c.raft('b').role, 'candidate');
  // The leader's first append reaches b: a leader of b's own term exists, so b follows it.
  c.stabilize();
  t.equal(c.raft('b').role, 'follower');
  t.equal(c.raft('b').leader, 'a');
  t.equal(c.raft('b').term, 2);

  // c stands three times, its requests lost: it reaches term 5, still a candidate.
  for (let i = 0; i < 3; i++) {
    c.raft('c').campaign();
    c.drop(from('c'));
  }
  t.equal(c.raft('c').term, 5);
  // Its answer to a's heartbeat carries term 5: the leader of term 2 steps down.
  c.tick(1, ['a']);
  c.deliver(is('heartbeat', 'a', 'c'));
  t.equal(c.raft('c').role, 'candidate', 'a heartbeat of an older term does not stop a candidate');
  c.deliver(is('append-resp', 'c', 'a'));
  t.equal(c.raft('a').role, 'follower');
  t.equal(c.raft('a').term, 5);
  // A vote request of a newer term turns a candidate into a follower that may grant it.
  c.raft('b').campaign();
  t.equal(c.raft('b').term, 3);
  c.deliver(is('vote', 'b', 'c'));
  t.equal(c.raft('c').role, 'candidate', 'a request of an older term is ignored');
  c.raft('a').campaign();
  c.deliver(is('vote', 'a', 'c'));
  t.equal(c.raft('c').role, 'follower', 'c saw term 6');
  t.equal(c.raft('c').term, 6);
  t.equal(c.raft('c').status().vote, 'a');
});

t.test('§5.2 a vote is persisted before it is sent: a restarted node cannot vote twice in a term', async (t) => {
  const c = new Cluster(['a', 'b', 'c'], { settings: { preVote: false } });
  c.raft('a').campaign();
  c.deliver(is('vote', 'a', 'b'));
  const [grant] = c.drop(is('vote-resp', 'b', 'a')) as VoteResponse[];
  t.ok(grant?.granted, 'b granted its vote to a in term 2');
  t.same(c.peer('b').storage.initialState().hardState, { term: 2, vote: 'a', commit: 3 }, 'and had stored it before replying');
  c.crash('b');
  c.restart('b');
  // c stands in term 2 as well: b remembers its vote.
  c.raft('c').campaign();
  c.deliver(is('vote', 'c', 'b'));
  const [answer] = c.drop(is('vote-resp', 'b', 'c')) as VoteResponse[];
  t.equal(answer?.granted, false, 'b refuses a second vote in term 2');
  t.equal(c.raft('b').status().vote, 'a');
  // b may repeat its vote for a, though (the reply may have been lost).
  c.drop();
  c.raft('b').step({ type: 'vote', from: 'a', to: 'b', term: 2, pre: false, lastIndex: 3, lastTerm: 1, transfer: false });
  c.handleReady('b');
  t.equal((c.drop(is('vote-resp', 'b', 'a'))[0] as VoteResponse).granted, true);

  // A vote whose Ready was never handled was never sent: a crash forgets it, and that is safe.
  const d = new Cluster(['a', 'b', 'c'], { settings: { preVote: false } });
  d.raft('a').campaign();
  d.handleReady('a');
  d.raft('b').step(d.drop(is('vote', 'a', 'b'))[0]!);
  d.crash('b');
  d.restart('b');
  t.same(d.raft('b').status().vote, '', 'b never told anyone it voted');
  d.raft('c').campaign();
  d.deliver(is('vote', 'c', 'b'));
  t.equal((d.drop(is('vote-resp', 'b', 'c'))[0] as VoteResponse).granted, true, 'so it may vote for c');
});

t.test('§9.6 pre-vote: a node isolated for long rejoins without raising the term or disturbing the leader', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  c.run(200);
  t.equal(c.raft('c').term, 2, 'c never won a pre-vote, so it never raised its term');
  t.equal(c.raft('c').role, 'pre-candidate');
  t.ok(c.sent.some((m) => m.type === 'vote' && m.from === 'c' && m.pre && m.term === 3), 'it kept asking');
  c.heal();
  c.run(2);
  t.equal(c.leader(), 'a', 'the leader was never disturbed');
  for (const id of ['a', 'b', 'c']) t.equal(c.raft(id).term, 2);
  t.equal(c.raft('c').leader, 'a', 'c follows the leader again');

  // Without pre-vote, the same isolation drives c's term up, and its return deposes the leader.
  const d = new Cluster(['a', 'b', 'c'], { settings: { preVote: false } });
  d.elect('a');
  d.isolate('c');
  d.run(200);
  t.ok(d.raft('c').term > 5, `c's term ran away: ${d.raft('c').term}`);
  d.heal();
  d.run(1);
  t.not(d.raft('a').role, 'leader', 'its answer to a heartbeat carried the newer term');
  while (!d.leader()) d.run(1);
  t.ok(d.raft(d.leader()!).term > 5, 'a new election in an even newer term');
});

t.test('§9.6 pre-vote: a node that missed some terms learns the current one from the refusals', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  // Leadership moves twice while c is away: the others reach term 4.
  c.raft('a').transferLeadership('b');
  c.stabilize();
  c.raft('b').transferLeadership('a');
  c.stabilize();
  t.equal(c.raft('a').term, 4);
  t.equal(c.raft('c').term, 2);
  c.heal();
  c.raft('c').campaign();
  c.deliver(is('vote', 'c'));
  const refusals = c.queue.filter(is('vote-resp', undefined, 'c'));
  t.same(
    refusals.map((m) => m.type === 'vote-resp' && [m.granted, m.term]),
    [
      [false, 4],
      [false, 4],
    ],
    'a pre-vote for term 3 is refused by nodes in term 4, who say so',
  );
  c.deliver(is('vote-resp', undefined, 'c'));
  t.equal(c.raft('c').term, 4);
  t.equal(c.raft('c').role, 'follower');
  t.equal(c.leader(), 'a');
});

t.test('§5.2 a node that stood down ignores late answers to the leader it was', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.tick(1, ['a']);
  c.deliver(is('heartbeat', 'a'));
  const late = c.drop(is('heartbeat-resp')); // held up in the network
  c.tick(20, ['a']);
  t.equal(c.raft('a').role, 'follower', 'hearing nothing, a stepped down');
  c.raft('a').campaign();
  c.drop(from('a'));
  t.equal(c.raft('a').role, 'pre-candidate');
  c.queue.push(...late);
  c.deliver();
  t.equal(c.raft('a').role, 'pre-candidate', 'answers to its old heartbeats change nothing');
  t.equal(c.raft('a').term, 2);
});

t.test('check-quorum: a leader cut off from the majority steps down within an election timeout', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // Just before a check-quorum round (every electionTicks), a loses the others.
  c.run(9);
  c.isolate('a');
  c.tick(1, ['a']);
  t.equal(c.raft('a').role, 'leader', 'it heard from a quorum in the round that just ended');
  c.tick(9, ['a']);
  t.equal(c.raft('a').role, 'leader');
  c.tick(1, ['a']);
  t.equal(c.raft('a').role, 'follower', 'one election timeout later it steps down');
  t.equal(c.raft('a').leader, undefined);
  t.equal(c.raft('a').term, 2, 'stepping down does not raise its term');
  // Meanwhile the majority elects a new leader; a follows it once reconnected.
  c.run(30);
  const leader = c.leader()!;
  t.not(leader, 'a');
  c.heal();
  c.run(2);
  t.equal(c.raft('a').leader, leader);

  // Without check-quorum, an isolated leader believes in itself forever.
  const d = new Cluster(['a', 'b', 'c'], { settings: { checkQuorum: false } });
  d.elect('a');
  d.isolate('a');
  d.tick(100, ['a']);
  t.equal(d.raft('a').role, 'leader');
});

t.test("vote requests inside a leader's lease are ignored", async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // c's pre-vote while a is alive gets no answer.
  c.raft('c').campaign();
  t.equal(c.raft('c').role, 'pre-candidate');
  t.equal(c.deliver(is('vote', 'c')).length, 2);
  t.equal(c.queue.filter(is('vote-resp')).length, 0);
  // Nor does a real vote request of a newer term (c campaigns without pre-vote).
  c.crash('c');
  c.restart('c', { preVote: false });
  c.raft('c').campaign();
  t.equal(c.raft('c').term, 3);
  const requests = c.deliver(is('vote', 'c'));
  t.equal(requests.length, 2);
  t.equal(c.queue.filter(is('vote-resp')).length, 0, 'neither the leader nor b answers');
  t.equal(c.raft('a').role, 'leader');
  t.equal(c.raft('a').term, 2, 'and neither raises its term');
  t.equal(c.raft('b').term, 2);

  // Once the leader is gone for an election timeout, the lease has expired: b may grant.
  c.crash('a');
  c.tick(10, ['b']);
  t.equal(c.raft('b').leader, 'a', 'b still remembers the leader');
  c.raft('c').campaign();
  t.equal(c.raft('c').term, 4);
  c.deliver(is('vote', 'c', 'b'));
  t.equal((c.drop(is('vote-resp', 'b', 'c'))[0] as VoteResponse).granted, true);
});

t.test('settings: the heartbeat must come more often than the election timeout', async (t) => {
  const make = (electionTicks: number, heartbeatTicks: number): RaftNode =>
    new RaftNode({ id: 'a', storage: new MemoryStorage(), rng: seededRng(1), electionTicks, heartbeatTicks });
  t.throws(() => make(5, 5), RangeError);
  t.throws(() => make(5, 0), RangeError);
  t.ok(make(5, 4));
  // A node that is no voter (here: one that knows no members yet) never campaigns.
  const newcomer = make(5, 1);
  newcomer.campaign();
  for (let i = 0; i < 100; i++) newcomer.tick();
  t.equal(newcomer.role, 'follower');
  t.equal(newcomer.hasReady(), false);
});
