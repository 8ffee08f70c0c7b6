/**
 * The simulated cluster: founding members start from the committed bootstrap entries
 * (one `add-voter` per voter at 1…n), the Ready loop's order and every crash point
 * (checked with a scripted core whose Readies the test writes, continuing after the
 * bootstrap entries), snapshot installation from the recorded
 * model states, snapshot delivery reports (arrived, lost, sender restarted), the failures
 * it reports instead of throwing (a core that throws, an unknown snapshot, an outcome
 * for nothing pending, a cluster that never settles), and an end-to-end run over real
 * cores: election, replication, a crash with restart and a snapshot catch-up, with the
 * invariant checker passing after every step.
 */
import t from 'tap';
import { bootstrapEntries, encodeConfChange } from '../../../../src/core/raft/conf-change.js';
import { RaftNode, type RaftConfig } from '../../../../src/core/raft/node.js';
import { CRASH_POINTS, SimCluster, type CrashPoint } from '../../../../src/core/raft/sim/cluster.js';
import { InvariantChecker } from '../../../../src/core/raft/sim/invariants.js';
import type { ConfState, Entry, Message, Ready } from '../../../../src/core/raft/types.js';
import { seededRng } from '../../../../src/core/support/rng.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const CONF: ConfState = { voters: ['n1', 'n2', 'n3'], learners: [] };
/** The committed config entries every founding member of a cluster of CONF's voters starts with, at indexes 1…3. */
const BOOT = bootstrapEntries(CONF.voters);
/** The last bootstrap index: a scripted core's own entries start after it. */
const B = BOOT.length;
const cmd = (index: number, term = 1, data = `v${index}`): Entry => ({ index, term, type: 'command', data: bytes(data) });
const noop = (index: number, term = 1): Entry => ({ index, term, type: 'noop', data: new Uint8Array(0) });
const hb = (from: string, to: string): Message => ({ type: 'heartbeat', from, to, term: 1, commit: 0, context: 0 });

function emptyReady(over: Partial<Ready> = {}): Ready {
  return { softState: undefined, hardState: undefined, snapshot: undefined, entries: [], conf: undefined, messages: [], committed: [], proposals: [], reads: [], ...over };
}

/** A core that hands out the Readies a test queues, and records what the cluster calls. */
class Scripted extends RaftNode {
  readonly queue: Ready[] = [];
  readonly calls: string[] = [];
  advanced = 0;
  private nextId = 1;
  override hasReady(): boolean {
    return this.queue.length > 0;
  }
  override ready(): Ready {
    return this.queue.shift()!;
  }
  override advance(): void {
    this.advanced++;
  }
  override tick(): void {
    this.calls.push('tick');
  }
  override step(m: Message): void {
    this.calls.push(`step ${m.type} from ${m.from}`);
  }
  override propose(): number {
    return this.nextId++;
  }
  override proposeConfChange(): number {
    return this.nextId++;
  }
  override readIndex(): number {
    return this.nextId++;
  }
  override reportSnapshot(to: string, ok: boolean): void {
    this.calls.push(`reportSnapshot ${to} ${ok}`);
  }
}

/** A cluster of scripted cores; `core(id)` is the running one. */
function scripted(voters = ['n1', 'n2', 'n3']) {
  const cores = new Map<string, Scripted>();
  const cluster = new SimCluster({
    rng: seededRng(1),
    voters,
    createNode: (config: RaftConfig) => {
      const core = new Scripted(config);
      cores.set(config.id, core);
      return core;
    },
  });
  return { cluster, core: (id: string) => cores.get(id)! };
}

t.test('a Ready is handled in the documented order', async (t) => {
  const { cluster, core } = scripted();
  const n1 = cluster.node('n1');
  t.same(n1.storage.entries(1, B + 1, Infinity), BOOT, 'a founding member starts from the bootstrap entries');
  t.same(n1.storage.initialState(), { hardState: { term: 1, vote: '', commit: B }, conf: CONF }, 'committed, in term 1');
  t.same(n1.state, { applied: 0, commands: [], conf: CONF }, 'none of them applied yet');
  const ticket = cluster.propose('n1', bytes(`v${B + 2}`))!;
  const read = cluster.readIndex('n1')!;
  t.match(ticket, /^n1#1:\d+$/);
  const rd = emptyReady({
    hardState: { term: 1, vote: 'n1', commit: B + 2 },
    entries: [noop(B + 1), cmd(B + 2)],
    conf: CONF,
    messages: [hb('n1', 'n2')],
    committed: [...BOOT, noop(B + 1), cmd(B + 2)],
    proposals: [{ id: 1, kind: 'committed', index: B + 2, term: 1 }],
    reads: [{ id: 2, kind: 'ready', index: B + 2 }],
  });
  core('n1').queue.push(rd);
  cluster.settle();
  t.equal(n1.storage.lastIndex(), B + 2, 'entries persisted after the bootstrap entries');
  t.same(n1.storage.entries(1, B + 3, Infinity), [...BOOT, noop(B + 1), cmd(B + 2)]);
  t.same(n1.storage.initialState(), { hardState: { term: 1, vote: 'n1', commit: B + 2 }, conf: CONF });
  t.same(core('n2').calls, ['step heartbeat from n1'], 'message delivered');
  t.equal(n1.state.applied, B + 2);
  t.same(n1.state.commands.map((c) => [c.index, text(c.data)]), [[B + 2, `v${B + 2}`]], 'only commands reach the model, config and noop indexes count');
  t.same(n1.state.conf, CONF, 'the bootstrap changes make the membership the node started with');
  t.same(cluster.outcome(ticket), { id: 1, kind: 'committed', index: B + 2, term: 1 });
  t.same(cluster.outcome(read), { id: 2, kind: 'ready', index: B + 2 });
  t.equal(core('n1').advanced, 1);
  const events = cluster.takeEvents();
  t.same(
    events.map((e) => e.kind),
    ['read-start', ...BOOT.map(() => 'apply'), 'apply', 'apply', 'acked', 'read-ready'],
  );
  t.same(cluster.takeEvents(), [], 'events are taken once');
  t.same(cluster.stats, { acked: 1, dropped: 0, reads: 1, installs: 0, compactions: 0, crashes: 0, restarts: 0 });
  t.equal(new InvariantChecker().check(cluster.view(), events), undefined);
  t.equal(cluster.failure, undefined);
});

t.test('the model applies membership changes from config entries', async (t) => {
  const { cluster, core } = scripted();
  const config = (index: number, data: Uint8Array): Entry => ({ index, term: 1, type: 'config', data });
  const add = config(B + 1, encodeConfChange({ op: 'add-learner', node: 'n4' }));
  const junk = config(B + 2, bytes('not a change'));
  const again = config(B + 3, encodeConfChange({ op: 'add-learner', node: 'n4' }));
  core('n1').queue.push(emptyReady({ entries: [add, junk, again], committed: [...BOOT, add, junk, again] }));
  cluster.settle();
  const n1 = cluster.node('n1');
  t.equal(n1.storage.lastIndex(), B + 3);
  t.equal(n1.state.applied, B + 3);
  t.same(n1.state.conf, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] }, 'undecodable and repeated changes change nothing');
  t.same(n1.state.commands, []);
});

t.test('dropped and unknown outcomes are recorded too', async (t) => {
  const { cluster, core } = scripted();
  const p1 = cluster.propose('n1', bytes('a'))!;
  const p2 = cluster.proposeConfChange('n1', { op: 'add-learner', node: 'n4' })!;
  const r = cluster.readIndex('n1')!;
  core('n1').queue.push(
    emptyReady({
      proposals: [
        { id: 1, kind: 'dropped', reason: 'not-leader', leader: 'n2' },
        { id: 2, kind: 'unknown', index: 4 },
      ],
      reads: [{ id: 3, kind: 'dropped', reason: 'not-leader', leader: 'n2' }],
    }),
  );
  cluster.settle();
  t.equal(cluster.outcome(p1)?.kind, 'dropped');
  t.equal(cluster.outcome(p2)?.kind, 'unknown');
  t.equal(cluster.outcome(r)?.kind, 'dropped');
  t.equal(cluster.stats.dropped, 1);
  t.equal(cluster.stats.reads, 0);
  t.equal(cluster.failure, undefined);
});

t.test('each crash point keeps exactly what was done before it', async (t) => {
  // Before the crash, n1 applies the bootstrap entries (at 1…B); the Ready it crashes in brings four commands after them.
  const expected: Record<CrashPoint, { last: number; sent: boolean; applied: number }> = {
    'before-persist': { last: B, sent: false, applied: 0 },
    'after-persist': { last: B + 4, sent: false, applied: 0 },
    'after-send': { last: B + 4, sent: true, applied: 0 },
    'mid-apply': { last: B + 4, sent: true, applied: 2 },
    'after-apply': { last: B + 4, sent: true, applied: 4 },
  };
  for (const point of CRASH_POINTS) {
    const { cluster, core } = scripted();
    core('n1').queue.push(emptyReady({ committed: BOOT }));
    cluster.settle();
    t.equal(cluster.node('n1').state.applied, B, `${point}: the bootstrap entries applied`);
    const ticket = cluster.propose('n1', bytes(`v${B + 4}`))!;
    cluster.crash('n1', point);
    t.ok(cluster.node('n1').up, `${point}: still up until its next Ready`);
    const batch = [cmd(B + 1), cmd(B + 2), cmd(B + 3), cmd(B + 4)];
    core('n1').queue.push(
      emptyReady({
        hardState: { term: 1, vote: 'n1', commit: B + 4 },
        entries: batch,
        conf: CONF,
        messages: [hb('n1', 'n2')],
        committed: batch,
        proposals: [{ id: 1, kind: 'committed', index: B + 4, term: 1 }],
      }),
    );
    const n2 = core('n2');
    cluster.settle();
    const n1 = cluster.node('n1');
    const want = expected[point];
    t.notOk(n1.up, `${point}: down`);
    t.equal(n1.storage.lastIndex(), want.last, `${point}: persisted log`);
    t.same(
      n1.storage.initialState().hardState,
      want.last === B ? { term: 1, vote: '', commit: B } : { term: 1, vote: 'n1', commit: B + 4 },
      `${point}: hard state`,
    );
    t.same(n2.calls, want.sent ? ['step heartbeat from n1'] : [], `${point}: messages`);
    t.equal(n1.state.applied, B + want.applied, `${point}: applied`);
    t.equal(n1.state.commands.length, want.applied, `${point}: model`);
    t.equal(cluster.outcome(ticket), undefined, `${point}: no outcome from a crashed core`);
    t.equal(cluster.stats.crashes, 1);
    // The restart builds a new core on the same storage, resuming after what was applied.
    cluster.restart('n1');
    t.ok(n1.up);
    t.equal(n1.incarnation, 2);
    t.equal(core('n1').advanced, 0, 'a new core');
    t.equal(cluster.stats.restarts, 1);
    t.equal(cluster.failure, undefined);
  }
});

t.test('crashing now drops the core and its pending requests; restarting cancels a scheduled crash', async (t) => {
  const { cluster, core } = scripted();
  const old = core('n1');
  const ticket = cluster.propose('n1', bytes('x'))!;
  cluster.crash('n1');
  cluster.crash('n1'); // already down: nothing more
  t.notOk(cluster.node('n1').up);
  t.equal(cluster.stats.crashes, 1);
  t.equal(cluster.propose('n1', bytes('y')), undefined, 'a down node takes no proposals');
  t.equal(cluster.proposeConfChange('n1', { op: 'remove', node: 'n2' }), undefined);
  t.equal(cluster.readIndex('n1'), undefined);
  cluster.tick();
  cluster.tickNode('n1');
  cluster.campaign('n1');
  cluster.transferLeadership('n1', 'n2');
  t.same(old.calls, [], 'nothing reaches a crashed core');
  cluster.restart('n1');
  // The new core reuses proposal id 1: its outcome does not resolve the old ticket.
  const again = cluster.propose('n1', bytes('z'))!;
  t.not(again, ticket);
  core('n1').queue.push(emptyReady({ proposals: [{ id: 1, kind: 'dropped', reason: 'not-leader', leader: undefined }] }));
  cluster.settle();
  t.equal(cluster.outcome(ticket), undefined);
  t.equal(cluster.outcome(again)?.kind, 'dropped');
  // A scheduled crash is cancelled by a restart of the running node.
  cluster.crash('n2', 'before-persist');
  cluster.restart('n2');
  core('n2').queue.push(emptyReady());
  cluster.settle();
  t.ok(cluster.node('n2').up);
  t.equal(cluster.stats.restarts, 1, 'restarting a running node is no restart');
});

t.test('ticks and elections reach running cores', async (t) => {
  const { cluster, core } = scripted();
  cluster.tick();
  t.same(core('n1').calls, ['tick']);
  t.same(core('n2').calls, ['tick']);
  cluster.tickNode('n2');
  t.same(core('n2').calls, ['tick', 'tick']);
  t.same(core('n1').calls, ['tick']);
  t.equal(cluster.network.now, 1);
});

t.test('compaction records the model state, and an install restores it', async (t) => {
  const { cluster, core } = scripted();
  t.notOk(cluster.compact('n1'), 'nothing applied, nothing to compact');
  const own = [cmd(B + 1), cmd(B + 2), noop(B + 3)];
  core('n1').queue.push(emptyReady({ entries: own, committed: [...BOOT, ...own], conf: CONF }));
  cluster.settle();
  t.ok(cluster.compact('n1'));
  t.equal(cluster.node('n1').storage.firstIndex(), B + 4);
  t.same(cluster.node('n1').storage.snapshot(), { index: B + 3, term: 1, conf: CONF });
  t.notOk(cluster.compact('n1'), 'already compacted there');
  t.equal(cluster.stats.compactions, 1);
  // n3 installs the snapshot at B + 3 and gets n1's state, then applies what follows.
  const snapshot = { index: B + 3, term: 1, conf: CONF };
  core('n3').queue.push(emptyReady({ snapshot, entries: [cmd(B + 4)], committed: [cmd(B + 4)] }));
  cluster.settle();
  const n3 = cluster.node('n3');
  t.same(n3.storage.snapshot(), snapshot);
  t.equal(n3.storage.firstIndex(), B + 4, 'the snapshot replaced the bootstrap entries');
  t.equal(n3.storage.lastIndex(), B + 4);
  t.equal(n3.state.applied, B + 4);
  t.same(n3.state.commands.map((c) => c.index), [B + 1, B + 2, B + 4]);
  t.same(n3.state.conf, CONF);
  t.not(n3.state.commands, cluster.node('n1').state.commands, 'a copy of the recorded state');
  t.equal(cluster.stats.installs, 1);
  const kinds = cluster.takeEvents().map((e) => e.kind);
  t.same(kinds, [...BOOT.map(() => 'apply'), 'apply', 'apply', 'apply', 'install', 'apply']);
  // A node that never compacted can install the empty snapshot at index 0 too.
  core('n2').queue.push(emptyReady({ snapshot: { index: 0, term: 0, conf: CONF } }));
  cluster.settle();
  t.equal(cluster.failure, undefined);
});

t.test('a snapshot nobody took is a failure', async (t) => {
  const { cluster, core } = scripted();
  core('n2').queue.push(emptyReady({ snapshot: { index: 9, term: 2, conf: CONF } }));
  cluster.settle();
  t.match(cluster.failure, /n2 must install a snapshot at index 9, which no node took/);
});

t.test('the sender of a snapshot learns whether it arrived', async (t) => {
  const snap = (to: string): Message => ({ type: 'snapshot', from: 'n1', to, term: 1, snapshot: { index: 0, term: 0, conf: CONF } });
  const { cluster, core } = scripted(['n1', 'n2', 'n3', 'n4']);
  cluster.crash('n3');
  cluster.network.isolate('n4');
  core('n1').queue.push(emptyReady({ messages: [snap('n2'), snap('n3'), snap('n4')] }));
  cluster.settle();
  t.same(core('n2').calls, ['step snapshot from n1']);
  t.same(core('n1').calls.sort(), ['reportSnapshot n2 true', 'reportSnapshot n3 false', 'reportSnapshot n4 false']);
  // Lost by the drop rate.
  cluster.network.setFaults({ dropRate: 1 });
  core('n1').calls.length = 0;
  core('n1').queue.push(emptyReady({ messages: [snap('n2')] }));
  cluster.settle();
  t.same(core('n1').calls, ['reportSnapshot n2 false']);
  // A sender that restarted meanwhile is not told: its new core never sent it.
  cluster.network.setFaults({ dropRate: 0, maxDelay: 1 });
  core('n1').queue.push(emptyReady({ messages: [snap('n2'), hb('n1', 'n9')] }));
  cluster.settle();
  cluster.crash('n1');
  cluster.restart('n1');
  cluster.network.advance(5);
  cluster.settle();
  t.same(core('n1').calls, []);
  t.equal(cluster.failure, undefined, 'a message to an unknown node is simply lost');
});

t.test('failures are reported, never thrown', async (t) => {
  await t.test('a core that throws', async (t) => {
    class Throws extends Scripted {
      override step(): void {
        throw new Error('boom');
      }
    }
    const cluster = new SimCluster({ rng: seededRng(2), voters: ['n1', 'n2'], createNode: (c) => (c.id === 'n2' ? new Throws(c) : new Scripted(c)) });
    const n1 = cluster.node('n1').raft as Scripted;
    n1.queue.push(emptyReady({ messages: [hb('n1', 'n2')] }));
    cluster.settle();
    t.match(cluster.failure, /^n2 threw in step\(heartbeat from n1\): Error: boom/);
  });
  await t.test('a core whose ready() throws, without a stack', async (t) => {
    class BadReady extends Scripted {
      override hasReady(): boolean {
        return true;
      }
      override ready(): Ready {
        const err = new Error('no ready');
        err.stack = undefined;
        throw err;
      }
    }
    const cluster = new SimCluster({ rng: seededRng(2), voters: ['n1'], createNode: (c) => new BadReady(c), maxSettleRounds: 3 });
    cluster.settle();
    t.equal(cluster.failure, 'n1 threw in ready: no ready');
  });
  await t.test('a core that throws something other than an Error', async (t) => {
    const cluster = new SimCluster({
      rng: seededRng(2),
      voters: ['n1'],
      createNode: () => {
        throw 'no core today';
      },
    });
    t.equal(cluster.failure, 'n1 threw in start: no core today');
    t.notOk(cluster.node('n1').up);
  });
  await t.test('a read that throws gives no ticket', async (t) => {
    class NoReads extends Scripted {
      override readIndex(): number {
        throw new Error('no reads');
      }
      override propose(): number {
        throw new Error('no writes');
      }
    }
    const cluster = new SimCluster({ rng: seededRng(2), voters: ['n1'], createNode: (c) => new NoReads(c) });
    t.equal(cluster.readIndex('n1'), undefined);
    t.match(cluster.failure, /n1 threw in readIndex/);
    t.equal(cluster.propose('n1', bytes('x')), undefined);
  });
  await t.test('an outcome for a proposal that is not pending', async (t) => {
    const { cluster, core } = scripted();
    core('n1').queue.push(emptyReady({ proposals: [{ id: 42, kind: 'committed', index: 1, term: 1 }] }));
    cluster.settle();
    t.match(cluster.failure, /n1 reported an outcome for proposal 42, which is not pending \(committed\)/);
  });
  await t.test('an outcome for a read that is not pending', async (t) => {
    const { cluster, core } = scripted();
    core('n1').queue.push(emptyReady({ reads: [{ id: 7, kind: 'ready', index: 1 }] }));
    cluster.settle();
    t.match(cluster.failure, /n1 reported an outcome for read 7, which is not pending \(ready\)/);
  });
  await t.test('a cluster that never settles', async (t) => {
    class Chatty extends Scripted {
      override hasReady(): boolean {
        return true;
      }
      override ready(): Ready {
        return emptyReady();
      }
    }
    const cluster = new SimCluster({ rng: seededRng(2), voters: ['n1'], createNode: (c) => new Chatty(c), maxSettleRounds: 50 });
    cluster.settle();
    t.equal(cluster.failure, 'the cluster did not settle within 50 rounds at step 0');
  });
  await t.test('the first failure wins', async (t) => {
    const { cluster, core } = scripted();
    core('n1').queue.push(emptyReady({ reads: [{ id: 7, kind: 'ready', index: 1 }] }));
    core('n2').queue.push(emptyReady({ reads: [{ id: 8, kind: 'ready', index: 1 }] }));
    cluster.settle();
    t.match(cluster.failure, /read [78]/);
    const first = cluster.failure;
    core('n3').queue.push(emptyReady({ reads: [{ id: 9, kind: 'ready', index: 1 }] }));
    cluster.settle();
    t.equal(cluster.failure, first);
  });
});

t.test('bad arguments are programming errors', async (t) => {
  const { cluster } = scripted();
  t.throws(() => cluster.node('n9'), RangeError);
  t.throws(() => cluster.add('n1'), RangeError);
  const n4 = cluster.add('n4');
  t.same(n4.storage.initialState(), { hardState: { term: 0, vote: '', commit: 0 }, conf: { voters: [], learners: [] } }, 'a new node starts with no membership');
  t.equal(n4.storage.lastIndex(), 0, 'and an empty log: it learns the membership from the leader');
  t.ok(n4.up);
});

t.test('real cores: election, replication, crash and restart, snapshot catch-up', async (t) => {
  const cluster = new SimCluster({ rng: seededRng(7), voters: ['n1', 'n2', 'n3'] });
  const checker = new InvariantChecker();
  const check = (what: string): void => {
    t.equal(checker.check(cluster.view(), cluster.takeEvents()), undefined, `invariants hold after ${what}`);
    t.equal(cluster.failure, undefined, `no failure after ${what}`);
  };
  // The founding members first apply their bootstrap entries (a node with committed entries left to apply does not campaign).
  cluster.settle();
  check('applying the bootstrap entries');
  for (const id of ['n1', 'n2', 'n3']) {
    t.equal(cluster.node(id).state.applied, B, `${id} applied the bootstrap entries`);
    t.same(cluster.node(id).state.conf, CONF);
  }
  cluster.campaign('n1');
  check('the election');
  t.equal(cluster.leader()?.id, 'n1');
  t.equal(cluster.node('n1').raft!.term, 2, 'the first election raises the bootstrap term');
  t.same(
    cluster.leaders().map((n) => n.id),
    ['n1'],
  );
  // The leader's noop follows the bootstrap entries; the proposal comes after it.
  const first = cluster.propose('n1', bytes('first'))!;
  check('a proposal');
  t.match(cluster.outcome(first), { kind: 'committed', index: B + 2, term: 2 });
  for (let i = 0; i < 3; i++) cluster.tick();
  check('ticks');
  for (const id of ['n1', 'n2', 'n3']) t.equal(cluster.node(id).state.applied, B + 2, `${id} applied the proposal`);
  const read = cluster.readIndex('n1')!;
  check('a read');
  t.match(cluster.outcome(read), { kind: 'ready', index: B + 2 });

  // n3 misses a batch of writes while down; the leader compacts them away.
  cluster.crash('n3');
  for (let i = 0; i < 5; i++) cluster.propose('n1', bytes(`w${i}`));
  for (let i = 0; i < 3; i++) cluster.tick();
  check('writes without n3');
  t.ok(cluster.compact('n1'));
  t.equal(cluster.node('n1').storage.firstIndex(), B + 8);
  cluster.restart('n3');
  cluster.propose('n1', bytes('after'));
  for (let i = 0; i < 30 && cluster.node('n3').state.applied < B + 8; i++) {
    cluster.tick();
    check(`tick ${i} of the catch-up`);
  }
  const n3 = cluster.node('n3');
  t.equal(cluster.stats.installs, 1, 'n3 caught up through a snapshot');
  cluster.transferLeadership('n1', 'n3');
  check('a leadership transfer');
  t.equal(cluster.leader()?.id, 'n3');
  t.ok(n3.state.applied >= B + 8);
  t.same(
    n3.state.commands.map((c) => text(c.data)),
    ['first', 'w0', 'w1', 'w2', 'w3', 'w4', 'after'],
  );
});
