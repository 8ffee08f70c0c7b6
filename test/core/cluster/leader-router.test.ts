/**
 * Tests of LeaderRouter (leader-router.ts) with a fake LeaderView and fake leaders on
 * 127.0.0.1: `try` and `moved` redirect, `forward` relays the command as `RAFTFWD …`
 * and relays the reply byte for byte (errors become error replies, never rejections);
 * forwarded commands are not forwarded again; with no leader it waits for one, then
 * forwards, answers locally when this node is elected, or answers LEADER_NOT_KNOWN.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  FORWARD_COMMAND,
  LEADER_NOT_KNOWN,
  LeaderRouter,
  NOT_LEADER_ANY_MORE,
  type LeaderRouterOptions,
  type LeaderView,
} from '../../../src/core/cluster/leader-router.js';
import { RequestParser } from '../../../src/core/resp/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { memoryLogger } from '../../../src/core/support/logger.js';

const HOST = '127.0.0.1';
const ME = `${HOST}:1`;

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** What the fake leader answers: raw reply bytes, or undefined for silence. */
type Respond = (args: Buffer[]) => string | Buffer | undefined;

interface FakeLeader {
  id: string;
  commands: Buffer[][];
  connections: number;
  closedConnections: number;
  respond: Respond;
}

/** RAFTFWD ECHO x → x as a bulk string, RAFTFWD FAIL → an error, RAFTFWD HANG → nothing, else +OK. */
const standard: Respond = (args) => {
  const name = args[0]!.toString('latin1').toUpperCase();
  const inner = args[1]?.toString('latin1').toUpperCase();
  if (name !== FORWARD_COMMAND) return '+OK\r\n';
  switch (inner) {
    case 'ECHO':
      return Buffer.concat([Buffer.from(`$${args[2]!.length}\r\n`), args[2]!, Buffer.from('\r\n')]);
    case 'FAIL':
      return '-WRONGTYPE boom\r\n';
    case 'HANG':
      return undefined;
    default:
      return '+OK\r\n';
  }
};

/** A Redis-protocol server on 127.0.0.1 standing in for the leader; closed in teardown. */
async function startLeader(t: Teardown, respond: Respond = standard): Promise<FakeLeader> {
  const sockets = new Set<net.Socket>();
  const leader: FakeLeader = { id: '', commands: [], connections: 0, closedConnections: 0, respond };
  const server = net.createServer((socket) => {
    leader.connections++;
    sockets.add(socket);
    const parser = new RequestParser();
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      leader.closedConnections++;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const cmd of parser.push(chunk)) {
        leader.commands.push(cmd.args);
        const answer = leader.respond(cmd.args);
        if (answer !== undefined) socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  leader.id = `${HOST}:${(server.address() as net.AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return leader;
}

/** An address on 127.0.0.1 where nothing listens (a port just released). */
async function deadAddress(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `${HOST}:${port}`;
}

/** A LeaderView whose leader is set by the test; waitForLeader really waits. */
class FakeCluster implements LeaderView {
  readonly id = ME;
  leader: string | undefined = undefined;
  waits: { ms: number; except: string | undefined }[] = [];
  private waiters: (() => void)[] = [];

  waitForLeader(ms: number, except?: string): Promise<string | undefined> {
    this.waits.push({ ms, except });
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (this.leader === undefined || this.leader === except) return false;
        clearTimeout(timer);
        resolve(this.leader);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== onChange);
        resolve(undefined);
      }, ms);
      const onChange = (): void => {
        if (check()) this.waiters = this.waiters.filter((w) => w !== onChange);
      };
      this.waiters.push(onChange);
    });
  }

  elect(id: string | undefined): void {
    this.leader = id;
    for (const w of [...this.waiters]) w();
  }
}

function router(t: Teardown, cluster: LeaderView, opts: Partial<LeaderRouterOptions> = {}): LeaderRouter {
  const r = new LeaderRouter({ cluster, mode: 'forward', timeoutMs: 1000, leaderWaitMs: 50, logger: memoryLogger(), ...opts });
  t.teardown(() => r.close());
  return r;
}

const args = (...a: (string | Buffer)[]): Buffer[] => a.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : x));

const notCalled = (): Reply => {
  throw new Error('local() must not be called here');
};

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

t.test('a command that was forwarded already is refused', async (t) => {
  const cluster = new FakeCluster();
  cluster.leader = `${HOST}:2`;
  const r = router(t, cluster);
  t.equal(r.route(args('SET', 'k', 'v'), true, notCalled), NOT_LEADER_ANY_MORE);
  cluster.leader = undefined;
  t.equal(r.route(args('SET', 'k', 'v'), true, notCalled), NOT_LEADER_ANY_MORE, 'even with no leader');
  t.strictSame(NOT_LEADER_ANY_MORE, { type: 'error', text: 'ERR not the leader any more; retry' });
  t.strictSame(cluster.waits, [], 'without waiting');
});

t.test('mode try answers -TRY with the leader', async (t) => {
  const cluster = new FakeCluster();
  cluster.leader = `${HOST}:4921`;
  const r = router(t, cluster, { mode: 'try' });
  t.strictSame(r.route(args('SET', 'k', 'v'), false, notCalled), { type: 'error', text: `TRY ${HOST}:4921` });
});

t.test('mode moved answers -MOVED 0 with the leader', async (t) => {
  const cluster = new FakeCluster();
  cluster.leader = `${HOST}:4921`;
  const r = router(t, cluster, { mode: 'moved' });
  t.strictSame(r.route(args('SET', 'k', 'v'), false, notCalled), { type: 'error', text: `MOVED 0 ${HOST}:4921` });
});

t.test('mode forward relays the command to the leader and its reply back', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = leader.id;
  const r = router(t, cluster);
  const binary = Buffer.from([0, 0xff, 13, 10, 0x80, 36]);

  t.strictSame(await r.route(args('SET', 'k', binary), false, notCalled), { type: 'simple', value: 'OK' });
  t.strictSame(leader.commands[0], args(FORWARD_COMMAND, 'SET', 'k', binary), 'arrives as RAFTFWD <args…>, binary-safe');

  const echoed = await r.route(args('ECHO', binary), false, notCalled);
  t.strictSame(echoed, { type: 'bulk', value: binary }, 'the reply is relayed byte for byte');

  t.strictSame(await r.route(args('FAIL'), false, notCalled), { type: 'error', text: 'WRONGTYPE boom' }, 'error replies are relayed');

  const [a, b] = await Promise.all([r.route(args('ECHO', 'a'), false, notCalled), r.route(args('ECHO', 'b'), false, notCalled)]);
  t.strictSame([a, b], [
    { type: 'bulk', value: Buffer.from('a') },
    { type: 'bulk', value: Buffer.from('b') },
  ], 'pipelined commands get their own replies');
  t.equal(leader.connections, 1, 'one connection to the leader, reused');
  t.strictSame(cluster.waits, [], 'a known leader is used without waiting');
});

t.test('forwarding with a password sends AUTH first', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = leader.id;
  const r = router(t, cluster, { credentials: { password: 'pw' } });
  t.strictSame(await r.route(args('SET', 'k', 'v'), false, notCalled), { type: 'simple', value: 'OK' });
  t.strictSame(leader.commands, [args('AUTH', 'pw'), args(FORWARD_COMMAND, 'SET', 'k', 'v')]);
});

t.test('each leader gets its own connection', async (t) => {
  const one = await startLeader(t);
  const two = await startLeader(t);
  const cluster = new FakeCluster();
  const r = router(t, cluster);
  cluster.leader = one.id;
  await r.route(args('SET', 'a', '1'), false, notCalled);
  cluster.leader = two.id;
  await r.route(args('SET', 'b', '2'), false, notCalled);
  cluster.leader = one.id;
  await r.route(args('SET', 'c', '3'), false, notCalled);
  t.equal(one.commands.length, 2);
  t.equal(two.commands.length, 1);
  t.equal(one.connections + two.connections, 2);
});

t.test('an unreachable leader: the command never left, so it waits for the next leader', async (t) => {
  const cluster = new FakeCluster();
  const dead = await deadAddress();
  cluster.leader = dead;
  const r = router(t, cluster);
  t.strictSame(await r.route(args('SET', 'k', 'v'), false, notCalled), LEADER_NOT_KNOWN, 'no other leader within leaderWaitMs');
  t.strictSame(cluster.waits.at(-1), { ms: 50, except: dead }, 'waited for a leader other than the dead one');

  const next = await startLeader(t);
  const pending = r.route(args('ECHO', 'hi'), false, notCalled);
  await until(() => cluster.waits.length === 2);
  cluster.elect(next.id);
  t.strictSame(await pending, { type: 'bulk', value: Buffer.from('hi') }, 'forwarded to the next leader');

  cluster.leader = dead;
  let locals = 0;
  const mine = r.route(args('SET', 'k', 'v'), false, () => (locals++, { type: 'simple', value: 'LOCAL' }));
  await until(() => cluster.waits.length === 3);
  cluster.elect(ME);
  t.strictSame(await mine, { type: 'simple', value: 'LOCAL' }, 'answered here when this node is elected');
  t.equal(locals, 1);
});

t.test('a forwarded command follows at most two leader changes', async (t) => {
  const cluster = new FakeCluster();
  const dead = [await deadAddress(), await deadAddress(), await deadAddress()];
  cluster.leader = dead[0];
  const r = router(t, cluster, { leaderWaitMs: 2000 });
  const pending = r.route(args('SET', 'k', 'v'), false, notCalled);
  for (let i = 1; i < 3; i++) {
    await until(() => cluster.waits.length === i);
    cluster.elect(dead[i]);
  }
  const reply = await pending;
  t.match(reply, { type: 'error', text: /^ERR leader .*ECONNREFUSED/ }, 'the third failure is an error reply');
  t.equal(cluster.waits.length, 2);
});

t.test('a leader that drops the connection after the command was sent: an error, never a retry', async (t) => {
  const server = net.createServer((socket) => socket.on('data', () => socket.destroy()));
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const cluster = new FakeCluster();
  cluster.leader = `${HOST}:${(server.address() as net.AddressInfo).port}`;
  const r = router(t, cluster);
  const reply = await r.route(args('SET', 'k', 'v'), false, notCalled);
  t.match(reply, { type: 'error', text: /^ERR leader / }, 'its outcome is unknown: reported, not retried');
  t.equal(cluster.waits.length, 0);
});

t.test('a leader id that is not an address gives an error reply', async (t) => {
  const cluster = new FakeCluster();
  cluster.leader = 'node-b';
  const r = router(t, cluster);
  t.match(r.route(args('GET', 'k'), false, notCalled), Promise);
  t.match(await r.route(args('GET', 'k'), false, notCalled), { type: 'error', text: /invalid address "node-b"/ });
});

t.test('a leader that does not answer in time gives an error reply', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = leader.id;
  const r = router(t, cluster, { timeoutMs: 50 });
  const reply = await r.route(args('HANG'), false, notCalled);
  t.match(reply, { type: 'error', text: /no reply in time/ });
});

t.test('with no leader it waits leaderWaitMs, then answers LEADER_NOT_KNOWN', async (t) => {
  const cluster = new FakeCluster();
  const r = router(t, cluster, { leaderWaitMs: 60 });
  const started = Date.now();
  const reply = r.route(args('SET', 'k', 'v'), false, notCalled);
  t.ok(reply instanceof Promise, 'a promise while waiting');
  t.equal(await reply, LEADER_NOT_KNOWN);
  t.ok(Date.now() - started >= 50, 'after waiting');
  t.strictSame(cluster.waits, [{ ms: 60, except: undefined }]);
  t.strictSame(LEADER_NOT_KNOWN, { type: 'error', text: 'ERR leader not known' });
});

t.test('a leader elected while waiting gets the command', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  const r = router(t, cluster, { leaderWaitMs: 2000 });
  const reply = r.route(args('SET', 'k', 'v'), false, notCalled);
  await sleep(10);
  cluster.elect(leader.id);
  t.strictSame(await reply, { type: 'simple', value: 'OK' });
  t.strictSame(leader.commands, [args(FORWARD_COMMAND, 'SET', 'k', 'v')]);
});

t.test('in try mode, a leader elected while waiting is named', async (t) => {
  const cluster = new FakeCluster();
  const r = router(t, cluster, { mode: 'try', leaderWaitMs: 2000 });
  const reply = r.route(args('SET', 'k', 'v'), false, notCalled);
  cluster.elect(`${HOST}:7`);
  t.strictSame(await reply, { type: 'error', text: `TRY ${HOST}:7` });
});

t.test('this node elected while waiting answers locally', async (t) => {
  const cluster = new FakeCluster();
  const r = router(t, cluster, { leaderWaitMs: 2000 });
  let locals = 0;
  const reply = r.route(args('SET', 'k', 'v'), false, () => {
    locals++;
    return { type: 'simple', value: 'LOCAL' };
  });
  cluster.elect(ME);
  t.strictSame(await reply, { type: 'simple', value: 'LOCAL' });
  t.equal(locals, 1);

  cluster.elect(undefined);
  const async = r.route(args('SET', 'k', 'v'), false, () => Promise.resolve<Reply>({ type: 'integer', value: 7 }));
  cluster.elect(ME);
  t.strictSame(await async, { type: 'integer', value: 7 }, 'local() may answer with a promise');
  t.strictSame(cluster.waits, [
    { ms: 2000, except: undefined },
    { ms: 2000, except: undefined },
  ]);
});

t.test('while this node hands leadership over, it waits for the next leader', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = ME;
  const r = router(t, cluster, { leaderWaitMs: 2000 });
  const reply = r.route(args('SET', 'k', 'v'), false, notCalled);
  t.strictSame(cluster.waits, [{ ms: 2000, except: ME }], 'waits for a leader other than itself');
  cluster.elect(leader.id);
  t.strictSame(await reply, { type: 'simple', value: 'OK' });
  t.equal(leader.commands.length, 1);
});

t.test('close() closes the connections to leaders', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = leader.id;
  const r = router(t, cluster);
  await r.route(args('SET', 'k', 'v'), false, notCalled);
  r.close();
  await until(() => leader.closedConnections === 1);
  t.pass('closed');
  r.close();
  t.pass('close is idempotent');
  // A later command opens a new connection.
  t.strictSame(await r.route(args('SET', 'k', 'v'), false, notCalled), { type: 'simple', value: 'OK' });
  t.equal(leader.connections, 2);
});

t.test('close() while forwarding turns the pending command into an error reply', async (t) => {
  const leader = await startLeader(t);
  const cluster = new FakeCluster();
  cluster.leader = leader.id;
  const r = router(t, cluster);
  const reply = r.route(args('HANG'), false, notCalled);
  await until(() => leader.commands.length === 1);
  r.close();
  t.match(await reply, { type: 'error', text: /^ERR server is shutting down: / });
});
