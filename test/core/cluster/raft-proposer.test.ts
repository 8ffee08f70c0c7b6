/**
 * Tests of RaftProposer (raft-proposer.ts). The leader paths run on the server fixture's
 * real one-node cluster: a write goes through the Raft log and answers with the state
 * machine's reply; a read the core can confirm at once is answered synchronously, else
 * it waits for the barrier of its consistency level (none for `low`, a lease read for
 * `medium`, ReadIndex for `high`), the reads of one event-loop turn sharing one; a read
 * waits for its connection's pending write. Outcomes the real cluster cannot be made to
 * give on demand (a refusal because leadership moved, a failure) come from a scripted
 * cluster. Commands refused because leadership moved, and every command on a node that
 * does not lead, go to the router, with the session's `forwarded` flag.
 */
import t from 'tap';
import type { Cluster } from '../../../src/core/cluster/cluster.js';
import { RaftProposer } from '../../../src/core/cluster/raft-proposer.js';
import { encodeCommand, KV_COMMANDS, TRANSACTION_COMMAND, type KvCommand, type KvMachine } from '../../../src/core/kv/index.js';
import { DroppedError, type RaftDriver } from '../../../src/core/raft/driver.js';
import { errorReply } from '../../../src/core/resp/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import type { Consistency } from '../../../src/core/server/config.js';
import { newSession, type Session } from '../../../src/core/server/session.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { argv, makeServer, plain, settle, type ServerFixture } from '../server/server-fixture.js';

const GET = KV_COMMANDS.get('get')!;
const ROUTED: Reply = errorReply('TRY 127.0.0.1:1');

interface Route {
  args: string[];
  forwarded: boolean;
}

/** A router that records what it is given and answers with `answer` (by default ROUTED). */
function recordingRouter(answer: (local: () => Reply | Promise<Reply>) => Reply | Promise<Reply> = () => ROUTED) {
  const calls: Route[] = [];
  return {
    calls,
    route(args: readonly Buffer[], forwarded: boolean, local: () => Reply | Promise<Reply>): Reply | Promise<Reply> {
      calls.push({ args: args.map((a) => a.toString('latin1')), forwarded });
      return answer(local);
    },
  };
}

type ProposerCluster = ConstructorParameters<typeof RaftProposer>[0]['cluster'];

/** A cluster whose driver answers as scripted; counts what it was asked. */
function scripted(opts: { leader: boolean; propose?: () => Promise<Reply>; readIndex?: (mode: 'quorum' | 'local') => Promise<void>; canReadNow?: boolean }) {
  const asked = { propose: 0, readIndex: [] as string[] };
  const driver = {
    propose: () => {
      asked.propose++;
      return opts.propose ? opts.propose() : Promise.reject(new Error('unexpected propose'));
    },
    readIndex: (mode: 'quorum' | 'local' = 'quorum') => {
      asked.readIndex.push(mode);
      return opts.readIndex ? opts.readIndex(mode) : Promise.reject(new Error('unexpected read barrier'));
    },
    canReadNow: () => opts.canReadNow ?? false,
  };
  const cluster: ProposerCluster = { isLeader: opts.leader, driver: driver as unknown as RaftDriver<Reply> };
  return { cluster, asked };
}

/**
 * The fixture's real cluster, with the read barriers it is asked for recorded. As the
 * only voter it could confirm every read at once; with `roundTrip` it says it cannot,
 * as a leader with followers would.
 */
function spied(f: ServerFixture, roundTrip = false) {
  const real = f.ctx.cluster;
  const modes: string[] = [];
  const cluster: ProposerCluster = {
    get isLeader() {
      return real.isLeader;
    },
    driver: {
      propose: (data: Uint8Array) => real.driver.propose(data),
      readIndex: (mode: 'quorum' | 'local' = 'quorum') => {
        modes.push(mode);
        return real.driver.readIndex(mode);
      },
      canReadNow: (mode: 'quorum' | 'local' = 'quorum') => !roundTrip && real.driver.canReadNow(mode),
    } as unknown as RaftDriver<Reply>,
  };
  return { cluster, modes, real: real as Cluster };
}

function proposer(cluster: ProposerCluster, machine: KvMachine, router: ReturnType<typeof recordingRouter>, consistency: Consistency = 'high') {
  return new RaftProposer({ cluster, machine, router, consistency });
}

function session(forwarded = false): Session {
  const s = newSession(1, '127.0.0.1:50000', Date.now(), false);
  s.forwarded = forwarded;
  return s;
}

const read = (p: RaftProposer, key: string, s = session(), cmd: KvCommand = GET) => p.read(argv('GET', key), cmd, s);

t.test('on the leader a write goes through the Raft log and answers with its reply', async (t) => {
  const f = await makeServer(t);
  const router = recordingRouter();
  const { cluster, real } = spied(f);
  const p = proposer(cluster, f.kv.machine, router);
  const before = real.status().lastIndex;
  const pending = p.propose(argv('SET', 'k', 'v'), session());
  t.ok(pending instanceof Promise, 'answered once committed');
  t.strictSame(f.kv.contents(), {}, 'not applied before it is committed');
  t.strictSame(plain(await pending), { simple: 'OK' });
  t.equal(real.status().lastIndex, before + 1, 'one entry in the log');
  t.strictSame(f.kv.contents(), { k: 'v' });
  t.strictSame(plain(await p.propose(argv('DEL', 'k', 'missing'), session())), 1, "the state machine's reply");
  t.strictSame(f.kv.contents(), {});
  t.strictSame(router.calls, []);
});

t.test('reads wait for the barrier of their consistency level', async (t) => {
  const f = await makeServer(t);
  f.kv.run('SET', 'k', 'v');

  t.test('low: answered at once from local state, leading or not', async (t) => {
    const { cluster, asked } = scripted({ leader: false });
    const router = recordingRouter();
    const r = read(proposer(cluster, f.kv.machine, router, 'low'), 'k');
    t.notOk(r instanceof Promise);
    t.strictSame(plain(r as Reply), 'v');
    t.strictSame(asked, { propose: 0, readIndex: [] });
    t.strictSame(router.calls, []);
  });

  for (const [consistency, mode] of [
    ['medium', 'local'],
    ['high', 'quorum'],
  ] as const) {
    t.test(`${consistency}: answered at once when the core can confirm it (the only voter)`, async (t) => {
      const { cluster, modes } = spied(f);
      const router = recordingRouter();
      const r = read(proposer(cluster, f.kv.machine, router, consistency), 'k');
      t.notOk(r instanceof Promise);
      t.strictSame(plain(r as Reply), 'v');
      t.strictSame(modes, [], 'no barrier');
    });

    t.test(`${consistency}: else a ${mode} read barrier on the leader`, async (t) => {
      const { cluster, modes } = spied(f, true);
      const router = recordingRouter();
      const p = proposer(cluster, f.kv.machine, router, consistency);
      const r = read(p, 'k');
      t.ok(r instanceof Promise);
      t.strictSame(plain(await r), 'v');
      t.strictSame(modes, [mode]);
      t.strictSame(router.calls, []);
    });
  }

  t.test('the reads of one event-loop turn share one barrier', async (t) => {
    const { cluster, modes } = spied(f, true);
    const p = proposer(cluster, f.kv.machine, recordingRouter());
    const a = read(p, 'k');
    const b = read(p, 'missing');
    t.strictSame((await Promise.all([a, b])).map(plain), ['v', null]);
    t.strictSame(modes, ['quorum'], 'one barrier for both');
    await settle();
    t.strictSame(plain(await read(p, 'k')), 'v');
    t.strictSame(modes, ['quorum', 'quorum'], 'a later turn gets its own');
  });
});

t.test('a node that does not lead hands every command to the router', async (t) => {
  const f = await makeServer(t);
  const { cluster, asked } = scripted({ leader: false });
  const router = recordingRouter();
  const p = proposer(cluster, f.kv.machine, router, 'high');
  t.equal(p.propose(argv('SET', 'k', 'v'), session()), ROUTED);
  t.equal(read(p, 'k', session(true)), ROUTED);
  t.equal(proposer(cluster, f.kv.machine, router, 'medium').read(argv('GET', 'k'), GET, session()), ROUTED);
  t.strictSame(router.calls, [
    { args: ['SET', 'k', 'v'], forwarded: false },
    { args: ['GET', 'k'], forwarded: true },
    { args: ['GET', 'k'], forwarded: false },
  ]);
  t.strictSame(asked, { propose: 0, readIndex: [] }, 'nothing was proposed here');
  t.strictSame(f.kv.contents(), {});
});

t.test("the router's `local` runs the command here (this node was elected meanwhile)", async (t) => {
  const f = await makeServer(t);
  const { cluster, real } = spied(f, true);
  // The router is handed the command as by a follower, and answers it locally.
  const router = recordingRouter((local) => local());
  const p = proposer({ isLeader: false, driver: cluster.driver }, f.kv.machine, router);
  t.strictSame(plain(await p.propose(argv('SET', 'k', 'v'), session())), { simple: 'OK' });
  t.strictSame(plain(await read(p, 'k')), 'v');
  t.equal(router.calls.length, 2);
  t.equal(real.status().applied, real.status().lastIndex);
  t.strictSame(f.kv.contents(), { k: 'v' });
});

t.test('a command refused because leadership moved goes to the router', async (t) => {
  const f = await makeServer(t);
  for (const reason of ['not-leader', 'transferring'] as const) {
    t.test(`a write refused with ${reason}`, async (t) => {
      let attempts = 0;
      const { cluster, asked } = scripted({
        leader: true,
        propose: () => (++attempts === 1 ? Promise.reject(new DroppedError(reason, '127.0.0.1:2')) : Promise.resolve(errorReply('ERR from the log'))),
      });
      const router = recordingRouter((local) => local());
      const p = proposer(cluster, f.kv.machine, router);
      t.strictSame(plain(await p.propose(argv('SET', 'k', 'v'), session(true))), { error: 'ERR from the log' }, 'routed, then answered by `local`');
      t.strictSame(router.calls, [{ args: ['SET', 'k', 'v'], forwarded: true }]);
      t.equal(asked.propose, 2);
    });

    t.test(`a read refused with ${reason}`, async (t) => {
      const { cluster, asked } = scripted({ leader: true, readIndex: () => Promise.reject(new DroppedError(reason, undefined)) });
      const router = recordingRouter();
      const p = proposer(cluster, f.kv.machine, router);
      t.equal(await read(p, 'k'), ROUTED);
      t.strictSame(router.calls, [{ args: ['GET', 'k'], forwarded: false }]);
      t.strictSame(asked.readIndex, ['quorum']);
    });
  }
});

t.test('any other failure is an error reply', async (t) => {
  const f = await makeServer(t);
  const cases: [string, unknown, string][] = [
    ['superseded', new DroppedError('superseded', undefined), 'ERR dropped: superseded'],
    ['removed', new DroppedError('removed', undefined), 'ERR dropped: removed'],
    ['unknown outcome', new BitraftError('UNKNOWN_OUTCOME', 'the outcome of the write at index 9 cannot be known on this node'), 'ERR the outcome of the write at index 9 cannot be known on this node'],
    ['closed', new BitraftError('CLOSED', 'the node is stopping'), 'ERR server is shutting down: the node is stopping'],
    ['timed out', new BitraftError('TIMEOUT', 'the read timed out after 30 ms'), 'ERR the read timed out after 30 ms'],
    ['a bug', new TypeError('boom'), 'ERR internal error: boom'],
  ];
  for (const [what, err, text] of cases) {
    const router = recordingRouter();
    const { cluster } = scripted({ leader: true, propose: () => Promise.reject(err), readIndex: () => Promise.reject(err) });
    const p = proposer(cluster, f.kv.machine, router);
    t.strictSame(plain(await p.propose(argv('SET', 'k', 'v'), session())), { error: text }, `write: ${what}`);
    t.strictSame(plain(await read(p, 'k')), { error: text }, `read: ${what}`);
    t.strictSame(router.calls, [], `${what}: not routed`);
  }
  t.strictSame(f.kv.contents(), {});
});

t.test("a read waits for its connection's pending write", async (t) => {
  const f = await makeServer(t);
  const { cluster } = spied(f);
  const p = proposer(cluster, f.kv.machine, recordingRouter(), 'high');
  const s = session();
  const other = session();
  const write = p.propose(argv('SET', 'k', 'v'), s);
  t.equal(s.pendingWrite, write);
  const mine = read(p, 'k', s);
  const theirs = read(p, 'k', other);
  t.ok(mine instanceof Promise, 'queued behind the write');
  t.strictSame(plain(theirs as Reply), null, "another connection's read does not wait");
  t.strictSame(plain(await mine), 'v', 'the read sees the write before it');
  t.equal(s.pendingWrite, undefined, 'forgotten once answered');
  t.notOk(read(p, 'k', s) instanceof Promise, 'later reads do not wait');
});

t.test("the pending write is the connection's latest one", async (t) => {
  const f = await makeServer(t);
  const answers: ((r: Reply) => void)[] = [];
  const { cluster } = scripted({ leader: true, propose: () => new Promise<Reply>((resolve) => answers.push(resolve)) });
  const p = proposer(cluster, f.kv.machine, recordingRouter());
  const s = session();
  const first = p.propose(argv('SET', 'a', '1'), s);
  const second = p.propose(argv('SET', 'b', '2'), s);
  t.equal(s.pendingWrite, second);
  answers[0]!(errorReply('ERR one'));
  t.strictSame(plain(await first), { error: 'ERR one' });
  await settle();
  t.equal(s.pendingWrite, second, 'the first one finishing leaves the second');
  answers[1]!(errorReply('ERR two'));
  t.strictSame(plain(await second), { error: 'ERR two' });
  await settle();
  t.equal(s.pendingWrite, undefined);

  // A reply the router gives at once leaves nothing pending.
  const { cluster: follower } = scripted({ leader: false });
  const q = proposer(follower, f.kv.machine, recordingRouter());
  t.equal(q.propose(argv('SET', 'a', '1'), s), ROUTED);
  t.equal(s.pendingWrite, undefined);
});

t.test('while the disk is nearly full the leader refuses writes before they enter the log; reads go on', async (t) => {
  const f = await makeServer(t);
  const router = recordingRouter();
  const { cluster, asked: driverAsked } = scripted({ leader: true, propose: () => Promise.resolve({ type: 'simple', value: 'OK' } as Reply) });
  const asked: number[] = [];
  let full = true;
  const disk = {
    refuse: (bytes: number) => {
      asked.push(bytes);
      return full ? new BitraftError('DISK_FULL', 'disk full: 1.0 MiB free in data, below --min-free-space 64.0 MiB; writes are refused until space is freed') : undefined;
    },
  };
  const p = new RaftProposer({ cluster, machine: f.kv.machine, router, consistency: 'low', disk });
  t.strictSame(plain(await p.propose(argv('SET', 'k', 'vv'), session())), { error: 'ERR disk full: 1.0 MiB free in data, below --min-free-space 64.0 MiB; writes are refused until space is freed' });
  t.same(asked, [6], 'the bytes of the command');
  t.equal(driverAsked.propose, 0, 'nothing proposed');
  t.strictSame(plain(await read(p, 'k')), null, 'reads are not refused');
  full = false;
  t.strictSame(plain(await p.propose(argv('SET', 'k', 'v'), session())), { simple: 'OK' }, 'space back: accepted');
  t.equal(driverAsked.propose, 1);
});

t.test('a KEYS or SCAN without the ordered index waits for it to be built in steps, then reads', async (t) => {
  const KEYS = KV_COMMANDS.get('keys')!;
  const SCAN = KV_COMMANDS.get('scan')!;
  const keysOf = (p: RaftProposer): Reply | Promise<Reply> => p.read(argv('KEYS', '*'), KEYS, session());
  const fresh = async () => {
    const f = await makeServer(t);
    f.kv.run('SET', 'b', '1');
    f.kv.run('SET', 'a', '2');
    t.notOk(f.kv.machine.store.ordered, 'no walk yet');
    return f;
  };

  t.test('low', async (t) => {
    const f = await fresh();
    const { cluster } = scripted({ leader: false });
    const r = keysOf(proposer(cluster, f.kv.machine, recordingRouter(), 'low'));
    t.ok(r instanceof Promise, 'waits for the build');
    t.strictSame(plain(await r), ['a', 'b']);
    t.ok(f.kv.machine.store.ordered);
    t.notOk(keysOf(proposer(cluster, f.kv.machine, recordingRouter(), 'low')) instanceof Promise, 'answered at once once built');
  });

  t.test('the only voter: the build, then the read', async (t) => {
    const f = await fresh();
    const { cluster, modes } = spied(f);
    const p = proposer(cluster, f.kv.machine, recordingRouter());
    const r = p.read(argv('SCAN', '0'), SCAN, session());
    t.ok(r instanceof Promise);
    t.strictSame(plain(await r), ['0', ['a', 'b']]);
    t.strictSame(modes, ['quorum'], 'then a barrier, as for any read that waited');
  });

  t.test('a leader with followers: the build, then the barrier', async (t) => {
    const f = await fresh();
    const { cluster, modes } = spied(f, true);
    const r = keysOf(proposer(cluster, f.kv.machine, recordingRouter()));
    t.strictSame(modes, [], 'no barrier before the index is built');
    t.strictSame(plain(await r), ['a', 'b']);
    t.strictSame(modes, ['quorum']);
  });

  t.test('a follower routes it, building nothing', async (t) => {
    const f = await fresh();
    const { cluster } = scripted({ leader: false });
    const router = recordingRouter();
    t.equal(keysOf(proposer(cluster, f.kv.machine, router)), ROUTED);
    await settle();
    t.notOk(f.kv.machine.store.ordered);
  });

  t.test('a transaction holding a KEYS is proposed once the index is built', async (t) => {
    const f = await fresh();
    const { cluster } = spied(f);
    const p = proposer(cluster, f.kv.machine, recordingRouter());
    const txn = [Buffer.from(TRANSACTION_COMMAND), encodeCommand(argv('SET', 'c', '3')), encodeCommand(argv('KEYS', '*'))];
    t.ok(f.kv.machine.prepareFor(txn) instanceof Promise, 'the machine says it needs the index');
    const r = p.propose(txn, session());
    t.strictSame(plain(await r), [{ simple: 'OK' }, ['a', 'b', 'c']]);
    t.ok(f.kv.machine.store.ordered);
  });
});
