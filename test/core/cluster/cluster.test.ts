/**
 * Tests of Cluster (cluster.ts): real Clusters, each over its own Bitcask and KvMachine
 * in a temp directory, joined by an in-process transport that delivers messages on a
 * microtask (and can cut a node off). Covers bootstrapping and restarting a directory
 * (applied index read back, a one-node cluster renaming itself, a member of another
 * cluster waiting to be added), roles, waitForLeader, addPeer (learner → catch up →
 * voter; idempotent; TIMEOUT; NOT_LEADER), removePeer, transferLeadership, conf changes
 * queued behind a pending one, and the once-a-second log fsync of durability `medium`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { Cluster, RAFT_DIR, SNAPSHOTS_DIR, type ClusterOptions, type SnapshotSettings } from '../../../src/core/cluster/cluster.js';
import { receiveInstall } from '../../../src/core/cluster/snapshot-receiver.js';
import { encodeCommand } from '../../../src/core/kv/index.js';
import { DiskLogStore } from '../../../src/core/raft/log-store.js';
import type { Message } from '../../../src/core/raft/types.js';
import { streamLogger } from '../../../src/core/server/log.js';
import { SnapshotStore } from '../../../src/core/snapshot/index.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { ioError, patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { plain } from '../kv/kv-fixture.js';
import { openMember, set, until, type Member, type Teardown } from './cluster-member.js';
import { Net } from './in-process-net.js';

const A = '127.0.0.1:7001';
const B = '127.0.0.1:7002';
const C = '127.0.0.1:7003';

/** Opens a member in `dir` (a fresh temp dir by default); closed in teardown. */
function open(t: Teardown, net: Net, id: string, over: Partial<ClusterOptions> = {}, dir = tmpDir(t)): Promise<Member> {
  return openMember(t, { net, id, dir, cluster: over });
}

/** `from.transferLeadership(to, ms)`: checks it reports `expected` and that `from` stepped down. */
async function handOver(t: Test, from: Cluster, to: string | undefined, expected: string, ms = 2000): Promise<string | undefined> {
  const reported = await from.transferLeadership(to, ms);
  t.equal(reported, expected, 'transferLeadership resolves with the new leader');
  t.equal(from.isLeader, false, 'the old leader steps down');
  t.equal(from.leader, expected, 'and knows the new one');
  return reported;
}

/** Lines of `m` mentioning `text`. */
function lines(m: Member, text: string): string[] {
  return m.logs.filter((l) => l.includes(text));
}

/** A vote request, as a candidate at `term` with an up-to-date log would send it. */
function voteRequest(to: string, term: number): Message {
  return { type: 'vote', from: '127.0.0.1:7999', to, term, pre: false, lastIndex: 1000, lastTerm: term, transfer: true };
}

/** A (leading) and B, both voters, on one in-process network. */
async function twoVoters(t: Teardown, overA: Partial<ClusterOptions> = {}): Promise<{ net: Net; a: Member; b: Member }> {
  const net = new Net();
  const a = await open(t, net, A, overA);
  const b = await open(t, net, B, { join: true });
  a.cluster.start();
  b.cluster.start();
  await a.cluster.waitForLeader(5000);
  await a.cluster.addPeer(B, 5000);
  return { net, a, b };
}

t.test('a new directory starts a one-node cluster that leads; stop makes it Shutdown', async (t) => {
  const net = new Net();
  const a = await open(t, net, A, { rng: seededRng(7) });
  const { cluster } = a;
  t.equal(cluster.hadState, false);
  t.strictSame(lines(a, 'raft: started'), [`info  raft: started a new single-node cluster as ${A}`]);
  t.equal(cluster.roleName, 'Follower', 'nothing runs before start()');
  t.equal(cluster.isLeader, false);
  t.equal(cluster.leader, undefined);
  t.strictSame(cluster.status().conf, { voters: [A], learners: [] });
  t.equal(fs.readFileSync(path.join(a.dir, RAFT_DIR, 'applied'), 'utf8').split(' ')[0], '1', 'the bootstrap entry counts as applied');

  cluster.start();
  t.equal(await cluster.waitForLeader(5000), A);
  t.equal(cluster.roleName, 'Leader');
  t.equal(cluster.isLeader, true);
  t.equal(cluster.leader, A);
  await until('the log line', () => lines(a, 'became the leader').length > 0);
  t.match(lines(a, 'became the leader'), [/^info  raft: became the leader at term 2$/]);
  t.equal(await cluster.waitForLeader(0), A, 'a known leader resolves at once');

  const started = Date.now();
  t.equal(await cluster.waitForLeader(60, A), undefined, 'no leader but the excepted one: undefined after the wait');
  t.ok(Date.now() - started >= 55, 'waited');

  t.strictSame(plain(await set(cluster, 'k', 'v')), { simple: 'OK' });
  t.strictSame(a.kv.contents(), { k: 'v' });

  // Messages for another id are ignored; for this one they reach the core.
  cluster.receive([voteRequest('127.0.0.1:7777', 50)]);
  await sleep(20);
  t.equal(cluster.status().term, 2, 'a message for another node changes nothing');
  cluster.receive([voteRequest(A, 50)]);
  await until('the higher term', () => cluster.status().term >= 50);
  await until('re-election', () => cluster.isLeader && cluster.status().term > 50);
  t.match(lines(a, 'stepped down'), [/^info  raft: stepped down at term 50$/]);
  t.equal(lines(a, 'the leader is').length, 0, 'its own leadership is not reported as another leader');

  const waiting = cluster.waitForLeader(5000, A);
  const stopping = cluster.stop();
  t.equal(cluster.stop(), stopping, 'stop is idempotent');
  t.equal(cluster.roleName, 'Shutdown', 'Shutdown as soon as it stops');
  await stopping;
  t.equal(await waiting, undefined, 'a waiter resolves with undefined when the node stops');
  t.equal(cluster.roleName, 'Shutdown');
  t.equal(cluster.isLeader, false);
  t.equal(cluster.leader, undefined);
  t.equal(await cluster.waitForLeader(1000), undefined, 'a stopped node knows no leader');
  await t.rejects(set(cluster, 'k', 'w'), { code: 'CLOSED' });
});

t.test('the last voter cannot be removed, and only members can be', async (t) => {
  const net = new Net();
  const { cluster } = await open(t, net, A);
  cluster.start();
  await cluster.waitForLeader(5000);
  await t.rejects(cluster.removePeer(A), { code: 'DROPPED', message: 'dropped: invalid-conf' });
  await t.rejects(cluster.removePeer(B), { code: 'NOT_FOUND', message: `${B} is not a member of the cluster` });
  t.equal(await cluster.transferLeadership(undefined, 100), undefined, 'no other voter to hand leadership to');
  await t.rejects(cluster.transferLeadership(B, 100), { code: 'INVALID_ARGUMENT', message: `${B} is not a voter of the cluster` });
  t.ok(cluster.isLeader);
});

t.test('a restart reads the state back; a one-node cluster under a new address renames itself', async (t) => {
  const net = new Net();
  const dir = tmpDir(t);
  const first = await open(t, net, A, {}, dir);
  first.cluster.start();
  await first.cluster.waitForLeader(5000);
  for (let i = 0; i < 5; i++) t.strictSame(plain(await set(first.cluster, `k${i}`, `v${i}`)), { simple: 'OK' });
  const applied = first.cluster.driver.applied;
  const term = first.cluster.status().term;
  t.equal(applied, first.cluster.status().lastIndex);
  await first.close();

  const again = await open(t, net, A, {}, dir);
  t.equal(again.cluster.hadState, true);
  t.strictSame(again.logs, [], 'no new cluster, nothing renamed');
  const st = again.cluster.status();
  t.equal(st.applied, applied, 'the applied index is read back: nothing is replayed');
  t.equal(st.commit, applied, 'what the store applied counts as committed');
  t.equal(again.cluster.driver.applied, applied);
  again.cluster.start();
  t.equal(await again.cluster.waitForLeader(5000), A);
  t.ok(again.cluster.status().term > term);
  t.equal(again.kv.contents().k4, 'v4');
  await again.close();

  const renamed = await open(t, net, B, {}, dir);
  t.strictSame(renamed.logs, [`warn  raft: this single-node cluster was ${A}; it is now ${B}`]);
  t.strictSame(renamed.cluster.status().conf, { voters: [B], learners: [] });
  t.equal(renamed.cluster.status().vote, B, 'its vote for itself follows the rename');
  renamed.cluster.start();
  t.equal(await renamed.cluster.waitForLeader(5000), B);
  t.strictSame(plain(await set(renamed.cluster, 'k5', 'v5')), { simple: 'OK' });
  t.equal(Object.keys(renamed.kv.contents()).length, 6, 'the data is kept');
  await renamed.close();

  // A directory bootstrapped but never started has voted for nobody: the vote stays empty.
  const dir2 = tmpDir(t);
  const never = await open(t, net, A, {}, dir2);
  await never.close();
  const moved = await open(t, net, C, {}, dir2);
  t.match(moved.logs, [/this single-node cluster was .*7001; it is now .*7003/]);
  t.equal(moved.cluster.status().vote, '');
  moved.cluster.start();
  t.equal(await moved.cluster.waitForLeader(5000), C);
});

t.test('a member of another cluster under a new address waits to be added', async (t) => {
  const net = new Net();
  const raft = (dir: string) => path.join(dir, RAFT_DIR);

  const two = tmpDir(t);
  DiskLogStore.bootstrap(raft(two), [A, B]).close();
  const c = await open(t, net, C, {}, two);
  t.equal(c.cluster.hadState, true);
  t.strictSame(c.logs, [`warn  raft: ${C} is not a member of this directory's cluster (${A}, ${B}); waiting to be added`]);
  c.cluster.start();
  t.equal(await c.cluster.waitForLeader(150), undefined, 'it does not campaign');
  t.equal(c.cluster.roleName, 'Follower');
  t.strictSame(c.cluster.status().conf, { voters: [A, B], learners: [] }, 'the membership is left alone');
  await c.close();

  // One voter and a learner: not a one-node cluster, so no rename; the learner itself is a member.
  const withLearner = tmpDir(t);
  const s = DiskLogStore.bootstrap(raft(withLearner), [A]);
  s.setConf({ voters: [A], learners: [B] });
  s.sync(true);
  s.close();
  const other = await open(t, net, C, {}, withLearner);
  t.strictSame(other.logs, [`warn  raft: ${C} is not a member of this directory's cluster (${A}, ${B}); waiting to be added`]);
  await other.close();
  const learner = await open(t, net, B, {}, withLearner);
  t.strictSame(learner.logs, [], 'a learner of the cluster opens quietly');
  t.strictSame(learner.cluster.status().conf, { voters: [A], learners: [B] });
  await learner.close();

  // A log without any membership yet.
  const bare = tmpDir(t);
  const log = DiskLogStore.open(raft(bare));
  log.append([{ index: 1, term: 1, type: 'noop', data: new Uint8Array(0) }]);
  log.sync(true);
  log.close();
  const none = await open(t, net, C, {}, bare);
  t.strictSame(none.logs, [`warn  raft: ${C} is not a member of this directory's cluster (none); waiting to be added`]);
});

t.test('a joining node waits, empty, until the leader adds it', async (t) => {
  const net = new Net();
  const j = await open(t, net, B, { join: true });
  t.equal(j.cluster.hadState, false);
  t.strictSame(j.logs, [], 'no cluster is started');
  t.strictSame(j.cluster.status().conf, { voters: [], learners: [] });
  t.equal(fs.existsSync(path.join(j.dir, RAFT_DIR, 'applied')), false);
  j.cluster.start();
  t.equal(await j.cluster.waitForLeader(150), undefined);
  t.equal(j.cluster.roleName, 'Follower');
});

t.test('three nodes: adding, transferring leadership, removing', async (t) => {
  const net = new Net();
  const a = await open(t, net, A);
  const b = await open(t, net, B, { join: true });
  const c = await open(t, net, C, { join: true });
  b.cluster.start();
  c.cluster.start();
  const cLearnsLeader = c.cluster.waitForLeader(10_000);
  a.cluster.start();
  t.equal(await a.cluster.waitForLeader(5000), A);
  t.strictSame(plain(await set(a.cluster, 'before', '1')), { simple: 'OK' });

  await a.cluster.addPeer(B, 5000);
  t.strictSame(lines(a, B), [`info  raft: added ${B} as a learner`, `info  raft: ${B} is a voter`]);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] });
  await a.cluster.addPeer(C, 5000);
  t.equal(await cLearnsLeader, A, 'a waiter resolves once a leader is known');
  t.strictSame(a.cluster.status().conf, { voters: [A, B, C], learners: [] });
  t.strictSame(lines(b, 'the leader is'), [`info  raft: the leader is ${A}`]);
  await until('B applies the log', () => b.kv.contents().before === '1');

  await a.cluster.addPeer(B, 10);
  t.equal(lines(a, B).length, 2, 'adding a voter again changes nothing');
  await until('B knows C is a voter', () => b.cluster.status().conf.voters.includes(C));

  t.equal(b.cluster.roleName, 'Follower');
  t.equal(b.cluster.isLeader, false);
  t.equal(b.cluster.leader, A);
  await t.rejects(b.cluster.transferLeadership(undefined, 100), { code: 'NOT_LEADER' });
  await t.rejects(b.cluster.removePeer(C), { code: 'NOT_LEADER' }, 'only the leader changes the membership');
  await t.rejects(a.cluster.transferLeadership(A, 100), { code: 'INVALID_ARGUMENT' }, 'not to itself');

  // To a given voter; B, waiting for a leader other than A, sees the election in between.
  const bSeesNext = b.cluster.waitForLeader(5000, A);
  t.equal(await handOver(t, a.cluster, C, C), C);
  t.equal(await bSeesNext, C);
  t.equal(a.cluster.isLeader, false);
  t.match(lines(a, 'stepped down'), [/^info  raft: stepped down at term \d+$/]);
  t.match(lines(c, 'became the leader'), [/^info  raft: became the leader at term \d+$/]);

  // By default to the voter with the most of the log: A, while B is cut off.
  net.cut.add(B);
  t.strictSame(plain(await set(c.cluster, 'while-b-is-away', '1')), { simple: 'OK' });
  await until('A has the write', () => (c.cluster.status().progress[A]?.match ?? 0) === c.cluster.status().lastIndex);
  await until('A applied it', () => a.cluster.status().applied === c.cluster.status().lastIndex);
  t.equal(await handOver(t, c.cluster, undefined, A), A);
  net.cut.delete(B);
  await until('B follows A', () => b.cluster.leader === A);

  // A transfer to a node that cannot be reached does not happen in time.
  net.cut.add(C);
  t.equal(await a.cluster.transferLeadership(C, 150), undefined);
  t.ok(a.cluster.isLeader, 'still the leader');
  net.cut.delete(C);

  // A follower cut off campaigns (pre-vote), in vain.
  net.cut.add(B);
  await until('B campaigns', () => b.cluster.roleName === 'Candidate');
  t.equal(b.cluster.leader, undefined);
  t.equal(await b.cluster.waitForLeader(30), undefined);
  const bBack = b.cluster.waitForLeader(5000);
  net.cut.delete(B);
  t.equal(await bBack, A, 'B rejoins under A');
  t.ok(a.cluster.isLeader, 'the candidate did not disturb the leader');

  // A voter the leader has no progress for (the core always has one) counts as holding
  // none of the log: with none known, the first other voter is picked.
  const real = a.cluster.status.bind(a.cluster);
  a.cluster.status = () => ({ ...real(), progress: {} });
  t.equal(await handOver(t, a.cluster, undefined, B), B);
  a.cluster.status = real;
});

t.test('addPeer: a learner that does not catch up times out, and stays a learner', async (t) => {
  const { a, b } = await twoVoters(t);
  const X = '127.0.0.1:7010';
  const Y = '127.0.0.1:7011';
  const Z = '127.0.0.1:7012';

  const started = Date.now();
  await t.rejects(a.cluster.addPeer(X, 100), {
    code: 'TIMEOUT',
    message: new RegExp(`^${X} did not catch up with the log within 100 ms \\(at 0 of \\d+\\); it stays a learner, retry to promote it$`),
  });
  t.ok(Date.now() - started >= 100);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [X] });
  await t.rejects(a.cluster.addPeer(X, 20), { code: 'TIMEOUT' }, 'retrying waits again');
  t.equal(lines(a, `added ${X} as a learner`).length, 1, 'an existing learner is not added again');

  await a.cluster.removePeer(X);
  t.strictSame(lines(a, `removed ${X}`), [`info  raft: removed ${X}`]);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] });
  await t.rejects(a.cluster.removePeer(X), { code: 'NOT_FOUND' });

  // A learner removed while it is being waited for never catches up.
  const adding = a.cluster.addPeer(Y, 300);
  adding.catch(() => {});
  await until('Y is a learner', () => a.cluster.status().conf.learners.includes(Y));
  await a.cluster.removePeer(Y);
  await t.rejects(adding, { code: 'TIMEOUT', message: /\(at 0 of \d+\)/ });
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] });

  // Leadership lost while waiting: NOT_LEADER.
  const adding2 = a.cluster.addPeer(Z, 5000);
  adding2.catch(() => {});
  await until('Z is a learner', () => a.cluster.status().conf.learners.includes(Z));
  t.equal(await handOver(t, a.cluster, B, B), B);
  await t.rejects(adding2, { code: 'NOT_LEADER', message: 'leadership was lost while adding the node' });
  t.strictSame(b.cluster.status().conf, { voters: [A, B], learners: [Z] }, 'Z stays a learner');
  t.equal(lines(a, `${Z} is a voter`).length, 0);
});

/** A leads a one-node cluster; B, started to join, waits to be added. */
async function leaderAndJoiner(t: Test): Promise<{ net: Net; a: Member; b: Member }> {
  const net = new Net();
  const a = await open(t, net, A);
  const b = await open(t, net, B, { join: true });
  a.cluster.start();
  b.cluster.start();
  await a.cluster.waitForLeader(5000);
  return { net, a, b };
}

t.test('addPeer promotes a caught-up learner, unless it became a voter meanwhile', async (t) => {
  const { net, a } = await leaderAndJoiner(t);

  // B cannot be reached: it stays a learner.
  net.cut.add(B);
  await t.rejects(a.cluster.addPeer(B, 50), { code: 'TIMEOUT' });
  t.strictSame(a.cluster.status().conf, { voters: [A], learners: [B] });
  net.cut.delete(B);

  // Retrying promotes it once it caught up.
  await a.cluster.addPeer(B, 5000);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] });
  t.strictSame(lines(a, B), [`info  raft: added ${B} as a learner`, `info  raft: ${B} is a voter`]);

  // Another request promoted C while this one waited for it: no second promotion.
  const c = await open(t, net, C, { join: true });
  c.cluster.start();
  net.cut.add(C);
  await t.rejects(a.cluster.addPeer(C, 50), { code: 'TIMEOUT' });
  const real = a.cluster.status.bind(a.cluster);
  let promoted = false;
  a.cluster.status = () => {
    const st = real();
    // Once C caught up, report it as a voter, as if a concurrent RAFTADDPEER had promoted it.
    if ((st.progress[C]?.match ?? 0) >= st.commit) promoted = true;
    return promoted ? { ...st, conf: { voters: [...st.conf.voters, C], learners: [] } } : st;
  };
  net.cut.delete(C);
  await a.cluster.addPeer(C, 5000);
  a.cluster.status = real;
  t.ok(promoted);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [C] }, 'no promotion was proposed');
  t.strictSame(lines(a, `${C} is a voter`), [`info  raft: ${C} is a voter`]);
});

t.test('a membership change waits for the one in progress', async (t) => {
  const { a } = await twoVoters(t);
  const X = '127.0.0.1:7010';
  // Both start in the same turn: the removal is refused (conf-pending) at first, and retried.
  const adding = a.cluster.addPeer(X, 50);
  adding.catch(() => {});
  const removing = a.cluster.removePeer(B);
  await t.rejects(adding, { code: 'TIMEOUT' });
  await removing;
  t.strictSame(a.cluster.status().conf, { voters: [A], learners: [X] });
  t.strictSame(lines(a, 'removed'), [`info  raft: removed ${B}`]);
});

t.test('a change retried behind the one in progress, which did the same, succeeds', async (t) => {
  // As a request whose outcome was unknown (a leader lost) and its retry: the second is
  // refused with conf-pending, retried, and then finds the change made.
  const { net, a } = await leaderAndJoiner(t);
  net.cut.add(B);
  for (const adding of [a.cluster.addPeer(B, 50), a.cluster.addPeer(B, 50)]) {
    await t.rejects(adding, { code: 'TIMEOUT' }, 'added as a learner, which does not catch up');
  }
  t.strictSame(a.cluster.status().conf, { voters: [A], learners: [B] });
  net.cut.delete(B);
  await until('B caught up', () => (a.cluster.status().progress[B]?.match ?? 0) >= a.cluster.status().commit);
  await Promise.all([a.cluster.addPeer(B, 5000), a.cluster.addPeer(B, 5000)]);
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] }, 'promoted');
  await Promise.all([a.cluster.removePeer(B), a.cluster.removePeer(B)]);
  t.strictSame(a.cluster.status().conf, { voters: [A], learners: [] }, 'removed');
});

/**
 * Streams snapshots in process: RAFTINSTALL goes straight to the target member's
 * receiver. The first `tamper` chunks have a byte flipped on the way.
 */
function installVia(net: Net, tamper = 0): ClusterOptions['installClient'] {
  return (to) => ({
    call: (args) => {
      const target = net.members.get(to);
      if (!target || net.cut.has(to)) return Promise.reject(new BitraftError('UNAVAILABLE', `${to} is unreachable`));
      const bufs = args.map((a) => (typeof a === 'string' ? Buffer.from(a) : Buffer.from(a)));
      if (bufs[1]!.toString() === 'CHUNK' && tamper > 0) {
        tamper--;
        bufs[4]![0]! ^= 0xff;
      }
      return receiveInstall(target.incoming, bufs);
    },
    close: () => {},
  });
}

const SNAPSHOTS: SnapshotSettings = { entries: 20, logBytes: 0, retain: 2, tail: 5 };

t.test('a follower behind the compacted log installs the leader\'s snapshot: its store is replaced', async (t) => {
  const net = new Net();
  const opts = { snapshots: SNAPSHOTS, installClient: installVia(net) };
  const a = await open(t, net, A, opts);
  const c = await open(t, net, C, { ...opts, join: true });
  const b = await open(t, net, B, { ...opts, join: true });
  a.cluster.start();
  b.cluster.start();
  c.cluster.start();
  await a.cluster.waitForLeader(5000);
  await a.cluster.addPeer(C, 5000);
  await a.cluster.addPeer(B, 5000);
  for (let i = 0; i < 10; i++) await set(a.cluster, `stale${i}`, 'old');
  await until('B has the stale keys', () => b.kv.store.size === 10);
  net.cut.add(B);
  for (let i = 0; i < 10; i++) await a.cluster.driver.propose(encodeCommand([Buffer.from('DEL'), Buffer.from(`stale${i}`)]));
  for (let i = 0; i < 40; i++) await set(a.cluster, `fresh${i}`, `v${i}`);
  await until('A compacts past B', () => a.cluster.status().firstIndex > b.cluster.status().lastIndex + 1);
  t.ok(a.cluster.lastSnapshotIndex >= 40, 'A took snapshots');
  t.ok(a.cluster.snapshots.list().length <= 2, 'and keeps at most 2');
  t.match(a.cluster.logSize(), { entries: a.cluster.status().lastIndex - a.cluster.status().firstIndex + 1 });
  net.cut.delete(B);
  await until('B installs a snapshot and catches up', () => b.cluster.driver.applied === a.cluster.driver.applied, 10_000);
  t.same(b.kv.contents(), a.kv.contents(), 'the same keys: none of the stale ones survived');
  t.equal(Object.keys(b.kv.contents()).length, 40);
  t.match(lines(b, 'installed the snapshot'), [/^info  raft: installed the snapshot \d+-\d+-\d+: \d+ keys in \d+ ms$/]);
  t.ok(b.cluster.lastSnapshotIndex >= 40);
  await set(a.cluster, 'after', 'install');
  await until('B follows the log again', () => plain(b.kv.machine.read([Buffer.from('GET'), Buffer.from('after')])) === 'install');
  // A restart of B finds its store current: nothing is reloaded.
  await b.close();
  const again = await open(t, net, B, opts, b.dir);
  again.cluster.start();
  await until('B is back', () => again.cluster.driver.applied >= a.cluster.driver.applied - 1);
  t.same(lines(again, 'loaded the snapshot'), []);
});

/**
 * A leads B and C; B is cut off while 20 keys are written, and each node snapshots only on
 * demand. Snapshots are streamed in process, the first `tamper` chunks damaged on the way.
 */
async function laggingFollower(t: Teardown, tamper = 0): Promise<{ a: Member; b: Member; net: Net }> {
  const net = new Net();
  const opts = { snapshots: { ...SNAPSHOTS, entries: 0 }, installClient: installVia(net, tamper) };
  const a = await open(t, net, A, opts);
  const c = await open(t, net, C, { ...opts, join: true });
  const b = await open(t, net, B, { ...opts, join: true });
  for (const m of [a, b, c]) m.cluster.start();
  await a.cluster.waitForLeader(5000);
  await a.cluster.addPeer(C, 5000);
  await a.cluster.addPeer(B, 5000);
  net.cut.add(B);
  for (let i = 0; i < 20; i++) await set(a.cluster, `k${i}`, 'v');
  return { a, b, net };
}

t.test('a snapshot the follower finds damaged is deleted by the leader, which sends a new one', async (t) => {
  const { a, b, net } = await laggingFollower(t);
  const damaged = await a.cluster.snapshotNow();
  t.ok(a.cluster.status().firstIndex > b.cluster.status().lastIndex + 1, 'B is behind the compacted log');
  const bytes = fs.readFileSync(damaged.statePath);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.writeFileSync(damaged.statePath, bytes);
  net.cut.delete(B);
  await until('B catches up from a new snapshot', () => b.cluster.driver.applied === a.cluster.driver.applied && b.kv.store.size === 20, 10_000);
  t.match(lines(a, 'deleting the damaged snapshot'), [new RegExp(`deleting the damaged snapshot ${damaged.meta.id}`)]);
  t.notOk(fs.existsSync(damaged.path));
  t.same(b.kv.contents(), a.kv.contents());
});

t.test('a snapshot damaged on the way is sent again; the leader keeps its sound one', async (t) => {
  const { a, b, net } = await laggingFollower(t, 1);
  const sound = await a.cluster.snapshotNow();
  net.cut.delete(B);
  await until('B catches up', () => b.cluster.driver.applied === a.cluster.driver.applied && b.kv.store.size === 20, 10_000);
  t.match(lines(a, 'sending a snapshot to'), [/CRC-64/], 'the first transfer failed');
  t.same(lines(a, 'deleting the damaged snapshot'), []);
  t.ok(fs.existsSync(sound.path), 'the sound snapshot is kept');
});

t.test('a snapshot message whose data was not received is ignored; a snapshot gone before install stops the node', async (t) => {
  const net = new Net();
  const L = '127.0.0.1:7020';
  const j = await open(t, net, B, { join: true });
  j.cluster.start();
  const message = (index: number): Message => ({ type: 'snapshot', from: L, to: B, term: 5, snapshot: { index, term: 5, conf: { voters: [L, B], learners: [] } } });
  j.cluster.receive([message(10)]);
  t.match(lines(j, 'ignored the snapshot'), [/ignored the snapshot at index 10 from 127.0.0.1:7020: it was not received/]);
  // Received, then removed before the node got to install it.
  const leaderStore = new SnapshotStore(path.join(tmpDir(t), 'leader'), { retain: 2, logger: streamLogger('error', { write: () => {} }) });
  const snap = await leaderStore.create({ index: 10, term: 5, conf: { voters: [L, B], learners: [] } }, (async function* () {
    yield [{ key: Buffer.from('k'), value: Buffer.from('v') }];
  })());
  await j.cluster.incoming.begin(snap.meta);
  await j.cluster.incoming.write(snap.meta.id, 0, fs.readFileSync(snap.statePath));
  const stored = await j.cluster.incoming.finish(snap.meta.id);
  j.cluster.receive([message(10)]);
  fs.rmSync(stored.path, { recursive: true });
  await until('the node stops', () => j.cluster.roleName === 'Shutdown');
  t.match(lines(j, 'failed write'), [/stopping after a failed write: the snapshot at index 10 \(term 5\) is not on disk/]);
});

t.test('snapshotNow and shrinkLog on a one-node cluster', async (t) => {
  const net = new Net();
  const a = await open(t, net, A, { snapshots: { entries: 0, logBytes: 0, retain: 2, tail: 3 } });
  a.cluster.start();
  await a.cluster.waitForLeader(5000);
  for (let i = 0; i < 10; i++) await set(a.cluster, `k${i}`, 'v');
  await t.rejects(a.cluster.shrinkLog(), { code: 'NOT_FOUND' });
  const s = await a.cluster.snapshotNow();
  t.equal(s.meta.index, a.cluster.driver.applied);
  t.equal(a.cluster.lastSnapshotIndex, s.meta.index);
  t.equal(a.cluster.status().firstIndex, s.meta.index - 3 + 1, 'compacted, keeping the tail');
  t.equal(await a.cluster.shrinkLog(0), 3);
  t.same(a.cluster.logSize(), { entries: 0, bytes: 0 });
});

/** A one-node cluster in `dir` with `n` keys written and a snapshot taken (log compacted entirely); closed. */
async function compactedNode(t: Teardown, dir: string, n: number, tail = 0): Promise<number> {
  const net = new Net();
  const a = await open(t, net, A, { snapshots: { entries: 0, logBytes: 0, retain: 3, tail } }, dir);
  a.cluster.start();
  await a.cluster.waitForLeader(5000);
  for (let i = 0; i < n; i++) await set(a.cluster, `k${i}`, `v${i}`);
  const s = await a.cluster.snapshotNow();
  await a.close();
  return s.meta.index;
}

/** Opens `dir` as a node starts (Cluster.open, not started); resolves with the member or rejects. */
function openNode(t: Teardown, dir: string): Promise<Member> {
  return open(t, new Net(), A, { checkpointMs: undefined }, dir);
}

t.test('Cluster.open rebuilds a store that fell behind the log from the newest fitting snapshot', async (t) => {
  const dir = tmpDir(t);
  const first = await compactedNode(t, dir, 10);
  // A second snapshot (nothing compacted: a large tail), then a snapshot that lies beyond the log.
  const net = new Net();
  const b = await open(t, net, A, { snapshots: { entries: 0, logBytes: 0, retain: 3, tail: 1000 } }, dir);
  b.cluster.start();
  await b.cluster.waitForLeader(5000);
  for (let i = 10; i < 20; i++) await set(b.cluster, `k${i}`, `v${i}`);
  const second = await b.cluster.snapshotNow();
  const want = b.kv.contents();
  await b.close();
  const quiet = streamLogger('error', { write: () => {} });
  await new SnapshotStore(path.join(dir, SNAPSHOTS_DIR), { retain: 5, logger: quiet }).create({ index: 999, term: 9, conf: { voters: [A], learners: [] } }, (async function* () {})());
  // The newest that fits is corrupt: skipped for the older one, then the log replays the rest.
  const state = path.join(second.path, 'state.bin');
  const bytes = fs.readFileSync(state);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.writeFileSync(state, bytes);
  fs.rmSync(path.join(dir, RAFT_DIR, 'applied'));
  // The store lost its files too: only the snapshot and the log can rebuild it.
  for (const f of fs.readdirSync(dir)) if (/\.(data|hint)$/.test(f)) fs.rmSync(path.join(dir, f));
  const node = await openNode(t, dir);
  t.match(node.logs.join('\n'), /the store has applied up to index 0 but the log starts after \d+: loading a snapshot/);
  t.match(node.logs.join('\n'), new RegExp(`skipped the snapshot ${second.meta.id}: .*`));
  t.match(node.logs.join('\n'), /loaded the snapshot \d+-\d+-\d+: 10 keys/);
  t.equal(node.kv.store.size, 10, 'the snapshot at index ' + first);
  node.cluster.start();
  await until('the log is replayed', () => node.kv.store.size === 20);
  t.same(node.kv.contents(), want);
});

t.test('Cluster.open refuses when no valid snapshot covers the gap', async (t) => {
  const dir = tmpDir(t);
  await compactedNode(t, dir, 5);
  const snapshots = new SnapshotStore(path.join(dir, SNAPSHOTS_DIR), { retain: 5, logger: streamLogger('error', { write: () => {} }) });
  const state = snapshots.list()[0]!.statePath;
  fs.writeFileSync(state, Buffer.from('not a snapshot'));
  fs.rmSync(path.join(dir, RAFT_DIR, 'applied'));
  await t.rejects(openNode(t, dir), { code: 'CORRUPT', message: /no valid snapshot in .* covers the gap/ });
  // The log was closed again: the directory opens once the snapshot is back in order.
  fs.rmSync(state);
  await t.rejects(openNode(t, dir), { code: 'CORRUPT' });
});

t.test('a write that cannot be committed fails after requestTimeoutMs', async (t) => {
  const { net, a, b } = await twoVoters(t, { requestTimeoutMs: 60 });
  net.cut.add(B);
  const started = Date.now();
  await t.rejects(set(a.cluster, 'k', 'v'), { code: 'TIMEOUT', message: /timed out after 60 ms$/ });
  t.ok(Date.now() - started < 1000);
});

t.test('durability medium: the log is fsynced every second; a failure is logged', async (t) => {
  const net = new Net();
  const a = await open(t, net, A, { durability: 'medium', checkpointMs: undefined });
  a.cluster.start();
  await a.cluster.waitForLeader(5000);
  t.strictSame(plain(await set(a.cluster, 'k', 'v')), { simple: 'OK' });
  const logFile = path.join(a.dir, RAFT_DIR, 'log');
  const fdatasyncSync = fs.fdatasyncSync;
  const restore = patch(t, fs, 'fdatasyncSync', (fd: number) => {
    // Only the raft log's descriptor fails.
    if (fs.readlinkSync(`/proc/self/fd/${fd}`) === logFile) throw ioError('EIO');
    fdatasyncSync(fd);
  });
  await until('the periodic fsync', () => lines(a, 'fsync of the log failed').length > 0, 3000);
  t.strictSame(lines(a, 'fsync of the log failed'), ['warn  raft: fsync of the log failed: EIO: injected']);
  restore();
  // The log refuses every later write: the next one stops the node.
  await t.rejects(set(a.cluster, 'k2', 'v2'), { code: 'CLOSED' });
  t.equal(a.cluster.roleName, 'Shutdown', 'a node whose log failed is shut down');
  t.equal(a.cluster.isLeader, false);
  t.equal(a.cluster.leader, undefined);
  await t.rejects(a.cluster.stop(), { code: 'IO' }, 'the final sync reports the failure');
});

t.test('leaderChanges counts each new leader this node comes to know; the log and snapshot observers are handed on', async (t) => {
  const logSyncs: number[] = [];
  const snapshots: number[] = [];
  const { a, b } = await twoVoters(t, { durability: 'high', onLogSync: (s) => logSyncs.push(s), onSnapshot: (s) => snapshots.push(s) });
  t.equal(a.cluster.leaderChanges, 1, 'A: itself');
  await until('B knows the leader', () => b.cluster.leader === A);
  t.equal(b.cluster.leaderChanges, 1, 'B: A');
  await handOver(t, a.cluster, B, B);
  await until('A and B know the new leader', () => a.cluster.leader === B && b.cluster.leader === B);
  // Each new leader is logged once: "became the leader" for itself, "the leader is" for another.
  const logged = (m: Member): number => lines(m, 'became the leader').length + lines(m, 'the leader is').length;
  t.ok(a.cluster.leaderChanges >= 2, 'A: itself, then B (and any election the timers caused)');
  t.equal(a.cluster.leaderChanges, logged(a));
  t.ok(b.cluster.leaderChanges >= 2, 'B: A, then itself');
  t.equal(b.cluster.leaderChanges, logged(b));
  t.ok(logSyncs.length > 0, 'the log fsyncs were told');
  t.ok(logSyncs.every((s) => s >= 0 && s < 60), 'in seconds');
  await a.cluster.snapshotNow();
  t.equal(snapshots.length, 1, 'the snapshot was told');
});
