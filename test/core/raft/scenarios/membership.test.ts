/**
 * §6 Cluster membership changes, one server at a time (§4 of the dissertation): learners
 * catch up without a vote, one change is in flight at a time, removed nodes (the leader
 * included) leave cleanly, and a new node learns the membership from the log or a snapshot.
 */
import t from 'tap';
import { encodeConfChange } from '../../../../src/core/raft/conf-change.js';
import type { ConfChange, ProposalOutcome } from '../../../../src/core/raft/types.js';
import { Cluster, from, is, to } from './harness.js';

/** Proposes `cc` on `id`, lets the cluster settle (with two heartbeats) and returns the outcome. */
function changeAndSettle(c: Cluster, id: string, cc: ConfChange): ProposalOutcome | undefined {
  const p = c.change(id, cc);
  c.stabilize();
  c.run(2);
  return c.peer(id).proposals.get(p);
}

t.test('§6 a one-node cluster grows to three: add each node as a learner, then promote it', async (t) => {
  const c = new Cluster(['a']);
  c.elect('a');
  t.equal(c.raft('a').role, 'leader', 'a single voter elects itself');
  c.propose('a', 'before');
  c.stabilize();
  for (const id of ['b', 'c']) {
    c.add(id); // empty: it knows no members and waits to be contacted
    t.equal(changeAndSettle(c, 'a', { op: 'add-learner', node: id, context: `${id}.example:4920` })?.kind, 'committed');
    t.same(c.peer(id).applied, ['before'], `${id} was sent the log at the next heartbeat`);
    const voters = id === 'b' ? ['a'] : ['a', 'b'];
    t.same(c.raft(id).status().conf, { voters, learners: [id] }, `${id} learned the membership from it`);
    t.equal(changeAndSettle(c, 'a', { op: 'promote', node: id })?.kind, 'committed');
  }
  const three = { voters: ['a', 'b', 'c'], learners: [] };
  for (const id of ['a', 'b', 'c']) {
    t.same(c.raft(id).status().conf, three, `${id} sees three voters`);
    t.same(c.peer(id).storage.initialState().conf, three, `${id} persisted them`);
  }
  // The new voters can elect a leader without a.
  c.crash('a');
  c.runUntil(() => c.leader() !== undefined);
  t.ok(['b', 'c'].includes(c.leader()!));
});

t.test('§6 nodes that join through the log learn the founders: they never form a quorum of their own', async (t) => {
  // a, b and c found the cluster: their logs start with an add-voter entry for each of them,
  // which d and e replay like any other change.
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  for (const id of ['d', 'e']) {
    c.add(id);
    t.equal(changeAndSettle(c, 'a', { op: 'add-learner', node: id })?.kind, 'committed');
    t.equal(changeAndSettle(c, 'a', { op: 'promote', node: id })?.kind, 'committed');
  }
  const five = { voters: ['a', 'b', 'c', 'd', 'e'], learners: [] };
  for (const id of ['d', 'e']) t.same(c.raft(id).status().conf, five, `${id} knows all five voters`);
  // Cut off together, d and e are 2 of 5: they elect no one; a, b and c carry on.
  c.partition(['a', 'b', 'c'], ['d', 'e']);
  c.run(60);
  t.notOk(c.raft('d').role === 'leader' || c.raft('e').role === 'leader');
  const x = c.propose('a', 'x');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed');
  c.heal();
  c.run(3);
  t.same(c.peer('e').applied, ['x']);
});

t.test('§6 learners neither vote nor count towards a quorum', async (t) => {
  const c = new Cluster(['a', 'b']);
  c.elect('a');
  c.add('l');
  t.equal(changeAndSettle(c, 'a', { op: 'add-learner', node: 'l' })?.kind, 'committed');
  c.crash('b');
  const x = c.propose('a', 'x');
  c.stabilize();
  t.same(c.logOf('l'), ['2:noop', '2:config', '2:x'], 'the learner stores x');
  t.equal(c.peer('a').proposals.get(x), undefined, 'but a and the learner are not a majority of {a, b}');
  c.restart('b');
  c.run(1);
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed', 'a and b are, once b is back');
  // A learner never stands for election, however long it hears nothing...
  c.isolate('l');
  c.tick(100, ['l']);
  t.equal(c.raft('l').role, 'follower');
  t.equal(c.raft('l').term, 2);
  t.notOk(
    c.sent.some((m) => m.type === 'vote' && (m.from === 'l' || m.to === 'l')),
    'and nobody ever asks it for a vote',
  );
  // ...nor keeps a leader in office: answers from a learner are no quorum.
  c.heal();
  c.crash('b');
  c.run(25);
  t.equal(c.raft('a').role, 'follower', 'check-quorum counts voters only');
});

t.test('§6 one change at a time: a second is refused with conf-pending while the first is unapplied', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.add('d');
  c.add('e');
  const first = c.change('a', { op: 'add-learner', node: 'd' });
  const second = c.change('a', { op: 'add-learner', node: 'e' });
  c.stabilize();
  t.equal(c.peer('a').proposals.get(first)?.kind, 'committed');
  t.same(c.peer('a').proposals.get(second), { id: second, kind: 'dropped', reason: 'conf-pending', leader: 'a' });
  t.equal(changeAndSettle(c, 'a', { op: 'add-learner', node: 'e' })?.kind, 'committed', 'once applied, the next may start');
  t.same(c.raft('a').status().conf.learners, ['d', 'e']);

  // A new leader accepts no change before it applied everything its predecessors logged.
  const n = new Cluster(['a', 'b', 'c'], { settings: { checkQuorum: false } });
  n.elect('a');
  n.propose('a', 'x');
  n.deliver(is('append', 'a'));
  n.drop();
  n.crash('a');
  n.raft('b').campaign();
  n.stabilize((m) => m.type === 'vote' || m.type === 'vote-resp');
  t.equal(n.raft('b').role, 'leader');
  const early = n.change('b', { op: 'remove', node: 'a' });
  n.stabilize();
  t.match(n.peer('b').proposals.get(early), { kind: 'dropped', reason: 'conf-pending' }, 'x (from term 2) was not applied yet');
  t.same(n.peer('b').applied, ['x']);
  t.equal(changeAndSettle(n, 'b', { op: 'remove', node: 'a' })?.kind, 'committed');
});

t.test('§6 changes that make no sense are refused with invalid-conf', async (t) => {
  const c = new Cluster(['a', 'b']);
  c.elect('a');
  c.add('l');
  changeAndSettle(c, 'a', { op: 'add-learner', node: 'l' });
  const last = c.raft('a').status().lastIndex;
  const invalid: ConfChange[] = [
    { op: 'add-learner', node: 'b' }, // already a voter
    { op: 'add-learner', node: 'l' }, // already a learner
    { op: 'add-voter', node: 'b' }, // already a voter
    { op: 'promote', node: 'b' }, // not a learner
    { op: 'promote', node: 'z' }, // not a member
    { op: 'remove', node: 'z' }, // not a member
  ];
  const ids = invalid.map((cc) => c.change('a', cc));
  c.stabilize();
  for (const [i, id] of ids.entries()) {
    t.same(c.peer('a').proposals.get(id), { id, kind: 'dropped', reason: 'invalid-conf', leader: 'a' }, JSON.stringify(invalid[i]));
  }
  t.equal(c.raft('a').status().lastIndex, last, 'nothing reached the log');
  // The last voter cannot be removed.
  const solo = new Cluster(['a']);
  solo.elect('a');
  t.match(changeAndSettle(solo, 'a', { op: 'remove', node: 'a' }), { kind: 'dropped', reason: 'invalid-conf' });
  // add-voter adds a voter in one step (for bootstrapping).
  solo.add('b');
  t.equal(changeAndSettle(solo, 'a', { op: 'add-voter', node: 'b' })?.kind, 'committed');
  t.same(solo.raft('b').status().conf.voters, ['a', 'b']);
});

t.test('§6 removing a follower: the rest carry on without it', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  t.equal(changeAndSettle(c, 'a', { op: 'remove', node: 'c' })?.kind, 'committed');
  for (const id of ['a', 'b', 'c']) t.same(c.raft(id).status().conf.voters, ['a', 'b'], `${id} applied the removal`);
  t.same(Object.keys(c.raft('a').status().progress), ['a', 'b'], 'the leader stops replicating to c');
  // c no longer campaigns; a and b commit on their own.
  c.run(50);
  t.equal(c.raft('c').role, 'follower');
  t.equal(c.raft('a').role, 'leader');
  c.crash('c');
  const x = c.propose('a', 'x');
  c.stabilize();
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed');
});

t.test('§6 removing the leader: it commits its removal, steps down, and the rest elect a new one', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const p = c.change('a', { op: 'remove', node: 'a' });
  c.stabilize();
  t.equal(c.peer('a').proposals.get(p)?.kind, 'committed', 'the leader still counts in the old membership');
  t.equal(c.raft('a').role, 'follower', 'applying its own removal, it steps down');
  t.same(c.raft('a').status().conf.voters, ['b', 'c']);
  c.runUntil(() => c.leader() !== undefined);
  const leader = c.leader()!;
  t.ok(['b', 'c'].includes(leader));
  t.same(Object.keys(c.raft(leader).status().progress).sort(), ['b', 'c']);
  c.run(50);
  t.equal(c.leader(), leader, 'a never campaigns again');
  t.equal(c.raft('a').role, 'follower');
});

t.test('§6 removing a dead voter lowers the quorum at once: entries waiting on it commit', async (t) => {
  const c = new Cluster(['a', 'b', 'c', 'd']);
  c.elect('a');
  c.crash('d');
  const removal = c.change('a', { op: 'remove', node: 'd' });
  c.handleReadies();
  const x = c.propose('a', 'x');
  // b stores the removal and x; c only the removal.
  c.drop((m) => m.type === 'append' && m.to === 'c' && m.entries.some((e) => e.type === 'command'));
  c.deliver(to('b', 'c'));
  // Their answers arrive together: a, b and c (3 of 4) hold the removal, only a and b hold x.
  c.deliver(from('b', 'c'));
  t.equal(c.peer('a').proposals.get(removal)?.kind, 'committed');
  t.same(c.raft('a').status().conf.voters, ['a', 'b', 'c']);
  // Once the removal applies, a and b are 2 of 3: x commits with no further answer.
  t.equal(c.raft('a').status().commit, c.raft('a').status().lastIndex);
  c.handleReadies();
  t.equal(c.peer('a').proposals.get(x)?.kind, 'committed');
});

t.test('§6 a new, empty node learns the membership from a snapshot', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  for (const v of ['x', 'y', 'z']) c.propose('a', v);
  c.stabilize();
  c.add('d');
  const p = c.change('a', { op: 'add-learner', node: 'd' });
  c.stabilize();
  t.equal(c.peer('a').proposals.get(p)?.kind, 'committed');
  // The leader compacts its log (membership included) into a snapshot before d is contacted.
  c.compact('a');
  t.equal(c.peer('a').storage.firstIndex(), 9, 'bootstrap 1-3, no-op 4, x y z, the change at 8: all gone');
  c.run(2);
  const sent = c.sent.filter(is('snapshot', 'a', 'd'));
  t.equal(sent.length, 1, 'd is sent the snapshot, not the log');
  t.same(c.peer('d').storage.snapshot(), { index: 8, term: 2, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } });
  t.same(c.raft('d').status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] }, 'd knows it is a learner');
  t.same(c.peer('d').applied, ['x', 'y', 'z'], 'and holds the state up to the snapshot');
  t.equal(changeAndSettle(c, 'a', { op: 'promote', node: 'd' })?.kind, 'committed');
  t.same(c.raft('d').status().conf.voters, ['a', 'b', 'c', 'd']);
});

t.test('§6 a node that crashed between persisting a change and applying it replays it harmlessly', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  c.add('d');
  c.change('a', { op: 'add-learner', node: 'd' });
  c.deliver(is('append', 'a')); // b and c store the change
  c.deliver(is('append-resp')); // a commits it, applies it, and tells b and c
  t.same(c.raft('a').status().conf.learners, ['d']);
  // b hears that it committed: it persists the new membership, then dies before applying.
  c.raft('b').step(c.drop(is('append', 'a', 'b'))[0]!);
  const rd = c.raft('b').ready();
  t.same(rd.conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  c.persist('b', rd);
  const applied = c.peer('b').appliedIndex;
  c.crash('b');
  // It restarts with the new membership and replays the entry, which changes nothing.
  c.restart('b');
  t.equal(c.peer('b').appliedIndex, applied + 1, 'the change was applied while starting');
  t.same(c.raft('b').status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  t.same(c.peer('b').storage.initialState().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
});

t.test('§6 a config entry the core cannot decode (a newer version wrote it) is skipped', async (t) => {
  const c = new Cluster(['a']);
  c.elect('a');
  const storage = c.peer('a').storage;
  const bad = new TextEncoder().encode('{"op":"split-brain","node":"a"}');
  storage.append([{ index: 3, term: 2, type: 'config', data: bad }]);
  storage.append([{ index: 4, term: 2, type: 'config', data: encodeConfChange({ op: 'add-learner', node: 'l' }) }]);
  storage.setHardState({ term: 2, vote: 'a', commit: 4 });
  c.crash('a');
  c.restart('a');
  c.handleReadies();
  t.same(c.raft('a').status().conf, { voters: ['a'], learners: ['l'] }, 'the next one applies as usual');
});

t.test('a message meant for someone else (a reused address) is ignored', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const r = c.raft('b');
  const before = r.status();
  r.step({ type: 'heartbeat', from: 'x', to: 'old-b', term: 9, commit: 0, context: 0 });
  r.step({ type: 'heartbeat', from: 'b', to: 'b', term: 9, commit: 0, context: 0 });
  t.same(r.status(), before);
  t.equal(r.hasReady(), false);
});

t.test('§6 a node that knows no cluster yet grants no vote: a removed node cannot win with a wiped member that rejoins under the same id', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  // c is cut off and removed; it never learns, and still counts {a, b, c} as its voters.
  c.isolate('c');
  t.equal(changeAndSettle(c, 'a', { op: 'remove', node: 'c' })?.kind, 'committed');
  t.equal(changeAndSettle(c, 'a', { op: 'remove', node: 'b' })?.kind, 'committed');
  // b's directory is wiped; it starts again, empty, under the same id, and can reach only c.
  c.crash('b');
  c.add('b');
  const wiped = c.sent.length;
  const grantedBy = (id: string, since: number): boolean => c.sent.slice(since).some((m) => m.type === 'vote-resp' && m.from === id && m.granted);
  c.partition(['a'], ['b', 'c']);
  c.run(100);
  t.ok(c.sent.slice(wiped).some((m) => m.type === 'vote' && m.from === 'c' && m.to === 'b'), 'c asked b for votes');
  t.notOk(grantedBy('b', wiped), 'the empty node granted no vote, not even a pre-vote');
  t.not(c.raft('c').role, 'leader', 'the removed node did not become a leader');
  t.equal(c.raft('a').role, 'leader', 'a still leads');
  // Once added, b learns the membership from the leader and votes again.
  c.heal();
  t.equal(changeAndSettle(c, 'a', { op: 'add-learner', node: 'b' })?.kind, 'committed');
  t.equal(changeAndSettle(c, 'a', { op: 'promote', node: 'b' })?.kind, 'committed');
  c.crash('a');
  c.restart('a');
  const restarted = c.sent.length;
  c.runUntil(() => c.leader() !== undefined && c.leader() !== 'c');
  const winner = c.leader()!;
  t.ok(grantedBy(winner === 'a' ? 'b' : 'a', restarted), `${winner} is elected with the vote of the other voter of {a, b}`);
});
