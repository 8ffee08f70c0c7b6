/**
 * Tests of the RAFT… commands (raft-commands.ts), run through dispatch: on the server
 * fixture's real one-node cluster, and on real Clusters joined by an in-process
 * transport (a leader, a follower, a learner, a node waiting to join), each with a
 * ServerContext whose router records what it is handed. RAFTLEADER, RAFTSTATE,
 * RAFTSTATS, RAFTPEERS (progress on the leader only) and INFO's raft section describe
 * the node; RAFTADDPEER / RAFTREMOVEPEER / RAFTTRANSFER check their address, run on the
 * leader and go to the router elsewhere (or when leadership is lost meanwhile); RAFTMSG
 * hands a batch of Raft messages to the node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { Cluster } from '../../../src/core/cluster/cluster.js';
import { encodeMessages } from '../../../src/core/raft/message-codec.js';
import type { Message } from '../../../src/core/raft/types.js';
import { errorReply } from '../../../src/core/resp/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { DEFAULT_CONFIG, type ServerConfig } from '../../../src/core/server/config.js';
import type { ServerContext } from '../../../src/core/server/context.js';
import { dispatch } from '../../../src/core/server/dispatch.js';
import { streamLogger } from '../../../src/core/server/log.js';
import { CATCH_UP_MS, raftInfo } from '../../../src/core/server/raft-commands.js';
import { newSession, type Session } from '../../../src/core/server/session.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { fixtureOf } from '../kv/kv-fixture.js';
import { argv, directProposer, err, makeServer, OK_, plain, type Plain } from './server-fixture.js';
import { Net } from '../cluster/in-process-net.js';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

const A = '127.0.0.1:7101';
const B = '127.0.0.1:7102';
const L = '127.0.0.1:7103';
const J = '127.0.0.1:7104';
const ROUTED: Reply = errorReply('TRY 127.0.0.1:1');
const NOT_TRANSFERRED = err('ERR leadership was not transferred (no other voter, or it did not catch up in time)');

interface Route {
  args: string[];
  forwarded: boolean;
}

/** A router that records what it is handed and answers ROUTED. */
function recordingRouter() {
  const calls: Route[] = [];
  return {
    calls,
    route(args: readonly Buffer[], forwarded: boolean): Reply {
      calls.push({ args: args.map((a) => a.toString('latin1')), forwarded });
      return ROUTED;
    },
  };
}


interface Node {
  cluster: Cluster;
  ctx: ServerContext;
  router: ReturnType<typeof recordingRouter>;
  /** dispatch(), awaited, as plain data. */
  run(...args: string[]): Promise<Plain>;
  /** The same from a connection of another node (RAFTFWD). */
  runForwarded(...args: string[]): Promise<Plain>;
}

function contextOf(cluster: Cluster, over: Partial<ServerContext> & Pick<ServerContext, 'machine' | 'router'>, config: ServerConfig): ServerContext {
  return {
    config,
    version: '9.9.9-test',
    proposer: directProposer(over.machine),
    cluster,
    logger: streamLogger('error', { write: () => {} }),
    stats: { startedAt: Date.now(), connectionsReceived: 0, commandsProcessed: 0, rejectedConnections: 0 },
    port: () => 0,
    sessions: () => [],
    shutdown: () => {},
    ...over,
  };
}

function runner(ctx: ServerContext) {
  let id = 0;
  const session = (forwarded: boolean): Session => {
    const s = newSession(++id, '127.0.0.1:50000', Date.now(), false);
    s.forwarded = forwarded;
    return s;
  };
  return {
    run: async (...args: string[]) => plain(await dispatch(ctx, session(false), argv(...args))),
    runForwarded: async (...args: string[]) => plain(await dispatch(ctx, session(true), argv(...args))),
  };
}

/** A real Cluster over a temp store, with a context around it; stopped in teardown. */
async function node(t: Teardown, net: Net, id: string, join: boolean): Promise<Node> {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'none' });
  const kv = fixtureOf(dir, store);
  const logger = streamLogger('error', { write: () => {} });
  const cluster = new Cluster({ dir, id, durability: 'low', heartbeatMs: 10, electionMs: 100, store, machine: kv.machine, transport: net.transport(id), logger, join });
  net.members.set(id, cluster);
  // The cluster's timers are unref'd (a server's socket keeps a node alive): keep the test alive.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(async () => {
    clearInterval(keepAlive);
    await cluster.stop();
    await store.close();
  });
  const router = recordingRouter();
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir, port: 0, heartbeatMs: 10, electionMs: 100 };
  const ctx = contextOf(cluster, { machine: kv.machine, router }, config);
  cluster.start();
  return { cluster, ctx, router, ...runner(ctx) };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** RAFTSTATS as a map. */
function pairs(reply: Plain): Map<string, string> {
  const items = reply as string[];
  const out = new Map<string, string>();
  for (let i = 0; i < items.length; i += 2) out.set(items[i]!, items[i + 1]!);
  return out;
}

t.test('a one-node leader describes itself', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const { cluster } = f.ctx;
  const id = cluster.id;
  t.strictSame(await f.runAsync(s, 'RAFTLEADER'), id);
  t.strictSame(await f.runAsync(s, 'raftstate'), { simple: 'Leader' });
  const st = cluster.status();
  t.strictSame(await f.runAsync(s, 'RAFTSTATS'), [
    ...['id', id, 'state', 'Leader', 'term', String(st.term), 'vote', id, 'leader', id],
    ...['commit_index', String(st.commit), 'applied_index', String(st.applied), 'first_log_index', '1', 'last_log_index', String(st.lastIndex)],
    ...['last_snapshot_index', '0', 'log_entries', String(st.lastIndex), 'log_bytes', String(cluster.logSize().bytes)],
    ...['num_peers', '0', 'num_voters', '1', 'num_learners', '0', 'transferee', ''],
  ]);
  t.ok(cluster.logSize().bytes > 0);
  t.equal(st.term, 2);
  t.strictSame(await f.runAsync(s, 'RAFTPEERS'), [[id, 'voter', 'leader', st.lastIndex, 'replicate']]);
  t.strictSame(raftInfo(f.ctx), [
    ['raft_id', id],
    ['raft_state', 'leader'],
    ['raft_leader', id],
    ['raft_term', st.term],
    ['raft_commit_index', st.commit],
    ['raft_applied_index', st.applied],
    ['raft_last_log_index', st.lastIndex],
    ['raft_first_log_index', 1],
    ['raft_last_snapshot_index', 0],
    ['raft_voters', 1],
    ['raft_learners', 0],
  ]);

  await cluster.stop();
  t.strictSame(await f.runAsync(s, 'RAFTLEADER'), null, 'a stopped node knows no leader');
  t.strictSame(await f.runAsync(s, 'RAFTSTATE'), { simple: 'Shutdown' });
  t.match(raftInfo(f.ctx), [
    ['raft_id', id],
    ['raft_state', 'shutdown'],
  ]);
});

t.test('membership commands check their arguments first', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const id = f.ctx.cluster.id;
  for (const cmd of ['RAFTADDPEER', 'RAFTREMOVEPEER', 'RAFTTRANSFER']) {
    t.strictSame(await f.runAsync(s, cmd, 'nonsense'), err('ERR invalid address "nonsense": expected host:port'), cmd);
    t.strictSame(await f.runAsync(s, cmd, 'host:99999'), err('ERR invalid address "host:99999": expected host:port'), cmd);
    t.strictSame(await f.runAsync(s, cmd, 'host:0'), err('ERR invalid peer address: port 0'), cmd);
  }
  t.strictSame(await f.runAsync(s, 'RAFTADDPEER'), err("ERR wrong number of arguments for 'raftaddpeer' command"));
  t.strictSame(await f.runAsync(s, 'RAFTREMOVEPEER', 'a:1', 'b:2'), err("ERR wrong number of arguments for 'raftremovepeer' command"));
  t.strictSame(await f.runAsync(s, 'RAFTTRANSFER', 'a:1', 'b:2'), err("ERR wrong number of arguments for 'rafttransfer' command"));

  // Addresses are normalised: [::1]:0005 is [::1]:5, a bare port is on 127.0.0.1.
  t.strictSame(await f.runAsync(s, 'RAFTREMOVEPEER', '[::1]:0005'), err('ERR [::1]:5 is not a member of the cluster'));
  t.strictSame(await f.runAsync(s, 'RAFTREMOVEPEER', '7000'), err('ERR 127.0.0.1:7000 is not a member of the cluster'));
  t.strictSame(await f.runAsync(s, 'RAFTTRANSFER', 'localhost:7'), err('ERR localhost:7 is not a voter of the cluster'));
  t.strictSame(await f.runAsync(s, 'RAFTREMOVEPEER', id), err('ERR dropped: invalid-conf'), 'not the last voter');
  t.strictSame(await f.runAsync(s, 'RAFTTRANSFER'), NOT_TRANSFERRED, 'no other voter');
  t.strictSame(await f.runAsync(s, 'RAFTTRANSFER', id), err(`ERR ${id} is not a voter of the cluster`), 'not to itself');
  t.strictSame(f.ctx.cluster.status().conf, { voters: [id], learners: [] });
  t.ok(f.ctx.cluster.isLeader);
});

t.test('the cluster is called with the normalised address and its answer is the reply', async (t) => {
  const calls: unknown[][] = [];
  const outcome: { leader: string | undefined; fail?: unknown } = { leader: B };
  const cluster = {
    isLeader: true,
    addPeer: async (addr: string, ms: number) => {
      calls.push(['addPeer', addr, ms]);
      if (outcome.fail) throw outcome.fail;
    },
    removePeer: async (addr: string) => {
      calls.push(['removePeer', addr]);
    },
    transferLeadership: async (to: string | undefined, ms: number) => {
      calls.push(['transferLeadership', to, ms]);
      return outcome.leader;
    },
  } as unknown as Cluster;
  const router = recordingRouter();
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: '/nonexistent', port: 0, electionMs: 321 };
  const kv = fixtureOf('/nonexistent', { options: { maxKeySize: 1, maxValueSize: 1 } } as Bitcask);
  const { run } = runner(contextOf(cluster, { machine: kv.machine, router }, config));
  t.strictSame(await run('RAFTADDPEER', '[::1]:0005'), OK_);
  t.strictSame(await run('RAFTREMOVEPEER', '[0:0::1]:4920'), OK_);
  t.strictSame(await run('RAFTTRANSFER', '10.0.0.1:4920'), B);
  t.strictSame(await run('rafttransfer'), B);
  outcome.leader = undefined;
  t.strictSame(await run('RAFTTRANSFER'), NOT_TRANSFERRED);
  outcome.fail = new BitraftError('TIMEOUT', 'x did not catch up');
  t.strictSame(await run('RAFTADDPEER', 'db4:4920'), err('ERR x did not catch up'));
  t.strictSame(calls, [
    ['addPeer', '[::1]:5', CATCH_UP_MS],
    ['removePeer', '[0:0::1]:4920'],
    ['transferLeadership', '10.0.0.1:4920', 642],
    ['transferLeadership', undefined, 642],
    ['transferLeadership', undefined, 642],
    ['addPeer', 'db4:4920', CATCH_UP_MS],
  ]);
  t.equal(CATCH_UP_MS, 30_000);
  t.strictSame(router.calls, [], 'the leader runs them itself');
});

t.test('RAFTADDPEER checks a node that is not a member before adding it', async (t) => {
  const added: string[] = [];
  const cluster = {
    isLeader: true,
    status: () => ({ conf: { voters: [A], learners: [L] } }),
    addPeer: async (addr: string) => {
      added.push(addr);
    },
  } as unknown as Cluster;
  const checked: string[] = [];
  const checkJoiner = async (addr: string): Promise<void> => {
    checked.push(addr);
    if (addr === B) throw new BitraftError('INVALID_ARGUMENT', `${B} belongs to another cluster`);
  };
  const kv = fixtureOf('/nonexistent', { options: { maxKeySize: 1, maxValueSize: 1 } } as Bitcask);
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: '/nonexistent', port: 0 };
  const { run } = runner(contextOf(cluster, { machine: kv.machine, router: recordingRouter(), checkJoiner }, config));
  t.strictSame(await run('RAFTADDPEER', B), err(`ERR ${B} belongs to another cluster`), 'refused: not added');
  t.strictSame(await run('RAFTADDPEER', J), OK_, 'accepted: added');
  t.strictSame(await run('RAFTADDPEER', A), OK_, 'a voter is not checked');
  t.strictSame(await run('RAFTADDPEER', L), OK_, 'nor a learner (being promoted)');
  t.strictSame(checked, [B, J]);
  t.strictSame(added, [J, A, L]);
});

t.test('a leader, a follower, a learner, and a node waiting to join', async (t) => {
  const net = new Net();
  const a = await node(t, net, A, false);
  const b = await node(t, net, B, true);
  const j = await node(t, net, J, true);
  await a.cluster.waitForLeader(5000);

  t.strictSame(await a.run('RAFTADDPEER', B), OK_, 'B is added (and caught up) as a voter');
  t.strictSame(a.cluster.status().conf, { voters: [A, B], learners: [] });
  t.strictSame(await a.run('RAFTADDPEER', B), OK_, 'adding it again is fine');
  net.cut.add(L);
  await t.rejects(a.cluster.addPeer(L, 20), { code: 'TIMEOUT' });
  await until('B knows the learner', () => b.cluster.status().conf.learners.includes(L));

  const st = a.cluster.status();
  const pr = (id: string) => st.progress[id]!;
  t.strictSame(await a.run('RAFTPEERS'), [
    [A, 'voter', 'leader', pr(A).match, pr(A).state],
    [B, 'voter', 'follower', pr(B).match, 'replicate'],
    [L, 'learner', 'follower', 0, 'probe'],
  ]);
  t.strictSame(await b.run('RAFTPEERS'), [
    [A, 'voter', 'leader', -1, ''],
    [B, 'voter', 'follower', -1, ''],
    [L, 'learner', 'follower', -1, ''],
  ], 'a follower knows no progress');
  t.strictSame(await b.run('RAFTLEADER'), A);
  t.strictSame(await b.run('RAFTSTATE'), { simple: 'Follower' });
  const bs = pairs(await b.run('RAFTSTATS'));
  t.match(Object.fromEntries(bs), { id: B, state: 'Follower', leader: A, num_peers: '2', num_voters: '2', num_learners: '1', transferee: '' });
  t.match(Object.fromEntries(raftInfo(b.ctx)), { raft_id: B, raft_state: 'follower', raft_leader: A, raft_voters: 2, raft_learners: 1 });

  // Nobody leads for the node waiting to join.
  t.strictSame(await j.run('RAFTLEADER'), null);
  t.strictSame(await j.run('RAFTPEERS'), []);
  t.match(Object.fromEntries(pairs(await j.run('RAFTSTATS'))), { id: J, state: 'Follower', vote: '', leader: '', num_voters: '0', num_learners: '0' });
  t.match(Object.fromEntries(raftInfo(j.ctx)), { raft_state: 'follower', raft_leader: '', raft_voters: 0 });
  t.strictSame(await a.run('RAFTADDPEER', J), OK_, 'until it is added');
  t.strictSame(await j.run('RAFTLEADER'), A);

  // On a follower the membership commands go to the router (after their checks).
  t.strictSame(await b.run('RAFTADDPEER', '127.0.0.1:9'), plain(ROUTED));
  t.strictSame(await b.runForwarded('RAFTREMOVEPEER', L), plain(ROUTED));
  t.strictSame(await b.run('RAFTTRANSFER'), plain(ROUTED));
  t.strictSame(await b.run('RAFTADDPEER', '127.0.0.1:0'), err('ERR invalid peer address: port 0'));
  t.strictSame(b.router.calls, [
    { args: ['RAFTADDPEER', '127.0.0.1:9'], forwarded: false },
    { args: ['RAFTREMOVEPEER', L], forwarded: true },
    { args: ['RAFTTRANSFER'], forwarded: false },
  ]);
  t.strictSame(a.cluster.status().conf, { voters: [A, B, J], learners: [L] }, 'the router did not run them');

  // A transfer in progress shows in RAFTSTATS; one that cannot happen in time is an error.
  net.cut.add(B);
  const transfer = a.run('RAFTTRANSFER', B);
  await until('the transfer starts', () => a.cluster.status().transferee === B);
  t.equal(pairs(await a.run('RAFTSTATS')).get('transferee'), B);
  t.strictSame(await transfer, NOT_TRANSFERRED);
  t.ok(a.cluster.isLeader);
  net.cut.delete(B);
  // The core gives the transfer up after an election timeout counted in ticks, which a busy machine can make later than the command's wall-clock wait.
  await until('the transfer is given up', () => a.cluster.status().transferee === undefined);

  t.strictSame(await a.run('RAFTREMOVEPEER', L), OK_);
  t.strictSame(a.cluster.status().conf, { voters: [A, B, J], learners: [] });
  t.strictSame(await a.run('RAFTREMOVEPEER', L), err(`ERR ${L} is not a member of the cluster`));

  // Leadership lost while the change runs: the command goes to the router.
  const X = '127.0.0.1:7109';
  const adding = a.run('RAFTADDPEER', X);
  await until('X is a learner', () => a.cluster.status().conf.learners.includes(X));
  t.strictSame(a.router.calls, []);
  await a.cluster.transferLeadership(B, 2000);
  await until('B leads', () => b.cluster.isLeader);
  t.strictSame(await adding, plain(ROUTED), 're-routed to the new leader');
  t.strictSame(a.router.calls, [{ args: ['RAFTADDPEER', X], forwarded: false }]);
});

t.test('RAFTMSG hands a batch of Raft messages to the node', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const { cluster } = f.ctx;
  const vote = (to: string): Message => ({ type: 'vote', from: '127.0.0.1:7999', to, term: 50, pre: false, lastIndex: 100, lastTerm: 50, transfer: true });
  const batch = (m: Message) => Buffer.from(encodeMessages([m]));
  t.strictSame(await f.runAsync(s, 'RAFTMSG', batch(vote('127.0.0.1:1'))), OK_);
  await sleep(20);
  t.equal(cluster.status().term, 2, 'a message for another node is ignored');
  t.strictSame(await f.runAsync(s, 'RAFTMSG', batch(vote(cluster.id))), OK_);
  await until('the higher term', () => cluster.status().term >= 50);
  t.strictSame(await f.runAsync(s, 'RAFTMSG', Buffer.from('garbage')), err('ERR invalid raft message batch at byte 0: unknown version 103'));
  t.match(await f.runAsync(s, 'RAFTMSG', Buffer.alloc(0)), { error: /^ERR invalid raft message batch at byte 0: / }, 'an empty batch');
});
