/**
 * Tests of requestMembershipChange and joinCluster (join.ts) against fake nodes on
 * 127.0.0.1: +OK resolves; -TRY and -MOVED are followed to the leader; "leader not
 * known" and unreachable nodes are retried with back-off (from the node first given);
 * final refusals reject with INVALID_ARGUMENT; the deadline gives TIMEOUT and
 * cancellation CLOSED. joinCluster logs its outcome and never rejects.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { joinCluster, requestMembershipChange, type MembershipRequest } from '../../../src/core/cluster/join.js';
import { RespClient } from '../../../src/core/cluster/resp-client.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger, type Logger } from '../../../src/core/support/logger.js';
import { freePort, HOST, startFakeNode as startNode, type Respond } from '../../helpers/fake-node.js';

const SELF = `${HOST}:4999`;

const ok: Respond = () => '+OK\r\n';

function request(target: string, logger: Logger, more: Partial<MembershipRequest> = {}): Promise<void> {
  return requestMembershipChange({ target, command: 'RAFTADDPEER', addr: SELF, logger, timeoutMs: 3000, ...more });
}

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<BitraftError> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as BitraftError,
  );
}

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

t.test('+OK resolves', async (t) => {
  const node = await startNode(t, ok);
  const logger = memoryLogger();
  await request(node.addr, logger);
  t.strictSame(node.commands, [['RAFTADDPEER', SELF]]);
  await requestMembershipChange({ target: node.addr, command: 'RAFTREMOVEPEER', addr: SELF, logger, timeoutMs: 1000 });
  t.strictSame(node.commands[1], ['RAFTREMOVEPEER', SELF]);
  t.strictSame(logger.lines, []);
});

t.test('any reply but an error resolves', async (t) => {
  const node = await startNode(t, () => ':1\r\n');
  await t.resolves(request(node.addr, memoryLogger()));
});

t.test('the password is sent with AUTH first', async (t) => {
  const node = await startNode(t, ok);
  await request(node.addr, memoryLogger(), { credentials: { password: 'pw' } });
  t.strictSame(node.commands, [
    ['AUTH', 'pw'],
    ['RAFTADDPEER', SELF],
  ]);
});

t.test('-TRY is followed to the leader', async (t) => {
  const leader = await startNode(t, ok);
  const follower = await startNode(t, () => `-TRY ${leader.addr}\r\n`);
  const logger = memoryLogger();
  await request(follower.addr, logger);
  t.strictSame(follower.commands, [['RAFTADDPEER', SELF]]);
  t.strictSame(leader.commands, [['RAFTADDPEER', SELF]]);
  t.strictSame(logger.lines, [`info: ${follower.addr} redirected to the leader ${leader.addr}`]);
});

t.test('-MOVED is followed to the leader, through several hops', async (t) => {
  const leader = await startNode(t, ok);
  const second = await startNode(t, () => `-MOVED 0 ${leader.addr}\r\n`);
  const first = await startNode(t, () => `-MOVED 12 ${second.addr}\r\n`);
  const logger = memoryLogger();
  await request(first.addr, logger);
  t.strictSame(leader.commands, [['RAFTADDPEER', SELF]]);
  t.strictSame(logger.lines, [
    `info: ${first.addr} redirected to the leader ${second.addr}`,
    `info: ${second.addr} redirected to the leader ${leader.addr}`,
  ]);
});

t.test('"leader not known" is retried with back-off until OK', async (t) => {
  const node = await startNode(t, (_args, n) => (n <= 2 ? '-ERR leader not known\r\n' : '+OK\r\n'));
  const logger = memoryLogger();
  const started = Date.now();
  await request(node.addr, logger);
  t.ok(Date.now() - started >= 250, 'backed off 100 ms, then 200 ms');
  t.equal(node.commands.length, 3);
  t.strictSame(logger.lines, [
    `info: RAFTADDPEER ${SELF} via ${node.addr} failed (ERR leader not known); retrying in 100 ms`,
    `info: RAFTADDPEER ${SELF} via ${node.addr} failed (ERR leader not known); retrying in 200 ms`,
  ]);
});

t.test('a retry starts again from the node first given', async (t) => {
  let leaderCalls = 0;
  const leader = await startNode(t, () => (++leaderCalls === 1 ? '-ERR leader not known\r\n' : '+OK\r\n'));
  const follower = await startNode(t, () => `-TRY ${leader.addr}\r\n`);
  const logger = memoryLogger();
  await request(follower.addr, logger);
  t.equal(follower.commands.length, 2, 'asked the given node twice');
  t.equal(leader.commands.length, 2);
  t.strictSame(logger.lines, [
    `info: ${follower.addr} redirected to the leader ${leader.addr}`,
    `info: RAFTADDPEER ${SELF} via ${leader.addr} failed (ERR leader not known); retrying in 100 ms`,
    `info: ${follower.addr} redirected to the leader ${leader.addr}`,
  ]);
});

t.test('final refusals reject with INVALID_ARGUMENT at once', async (t) => {
  const finals = [
    'WRONGPASS invalid username-password pair or user is disabled.',
    'NOAUTH Authentication required.',
    'ERR invalid address "x": expected host:port',
    "ERR unknown command 'RAFTADDPEER', with args beginning with: ",
    "ERR wrong number of arguments for 'raftaddpeer' command",
    'ERR 127.0.0.1:9 is not a member of the cluster',
    'ERR 127.0.0.1:9 is not a voter of the cluster',
    'ERR dropped: invalid-conf',
  ];
  for (const text of finals) {
    const node = await startNode(t, () => `-${text}\r\n`);
    const logger = memoryLogger();
    const err = await rejection(request(node.addr, logger));
    t.ok(err instanceof BitraftError, text);
    t.equal(err.code, 'INVALID_ARGUMENT');
    t.equal(err.message, `${node.addr} refused RAFTADDPEER ${SELF}: ${text}`);
    t.equal(node.commands.length, 1, 'not retried');
    t.strictSame(logger.lines, []);
  }
});

t.test('a password the cluster refuses is final too', async (t) => {
  const node = await startNode(t, (args) => (args[0]!.toUpperCase() === 'AUTH' ? '-WRONGPASS invalid username-password pair or user is disabled.\r\n' : '+OK\r\n'));
  const err = await rejection(requestMembershipChange({ target: node.addr, command: 'RAFTADDPEER', addr: SELF, credentials: { password: 'nope' }, logger: memoryLogger(), timeoutMs: 5000 }));
  t.equal(err.code, 'INVALID_ARGUMENT');
  t.match(err.message, /AUTH refused: WRONGPASS/);
});

t.test('the deadline gives TIMEOUT with the last error', async (t) => {
  const node = await startNode(t, () => '-ERR leader not known\r\n');
  const logger = memoryLogger();
  // Attempts at ~0 ms and ~100 ms; the next back-off (200 ms) would end past the deadline.
  const err = await rejection(request(node.addr, logger, { timeoutMs: 250 }));
  t.equal(err.code, 'TIMEOUT');
  t.equal(err.message, `RAFTADDPEER ${SELF} did not succeed within 250 ms; last error: ERR leader not known`);
  t.equal(node.commands.length, 2, 'one retry fitted before the deadline');
  t.equal(logger.lines.length, 1, 'the retry was logged, the give-up is the rejection');
});

t.test('a node that does not answer: TIMEOUT by the deadline', async (t) => {
  const node = await startNode(t, () => undefined);
  const started = Date.now();
  const err = await rejection(request(node.addr, memoryLogger(), { timeoutMs: 100 }));
  t.equal(err.code, 'TIMEOUT');
  t.match(err.message, /did not succeed within 100 ms; last error: .*no reply in time/);
  t.ok(Date.now() - started < 1000, 'the call itself is bounded by the deadline');
});

t.test('cancelling stops the attempts with CLOSED', async (t) => {
  const node = await startNode(t, () => '-ERR leader not known\r\n');
  let cancel!: () => void;
  const cancelled = new Promise<void>((r) => (cancel = r));
  const logger = memoryLogger();
  const p = request(node.addr, logger, { cancelled, timeoutMs: 10_000 });
  await until(() => node.commands.length === 1);
  cancel();
  const err = await rejection(p);
  t.equal(err.code, 'CLOSED');
  t.equal(err.message, 'cancelled');
  t.equal(node.commands.length, 1, 'no attempt after cancelling');
});

t.test('an unreachable node is retried until it answers', async (t) => {
  const port = await freePort();
  const logger = memoryLogger();
  const p = request(`${HOST}:${port}`, logger);
  await until(() => logger.lines.some((l) => l.includes('retrying in 100 ms')));
  t.match(logger.lines.join('\n'), new RegExp(`RAFTADDPEER ${SELF} via ${HOST}:${port} failed \\(.*ECONNREFUSED.*\\); retrying in 100 ms`));
  const node = await startNode(t, ok, port);
  await p;
  t.strictSame(node.commands, [['RAFTADDPEER', SELF]]);
});

t.test('a failure that is not an Error is reported as text', async (t) => {
  const node = await startNode(t, ok);
  const original = RespClient.prototype.call;
  let calls = 0;
  RespClient.prototype.call = function (this: RespClient, ...args: Parameters<RespClient['call']>) {
    if (++calls === 1) return Promise.reject('odd failure');
    return original.apply(this, args);
  };
  t.teardown(() => {
    RespClient.prototype.call = original;
  });
  const logger = memoryLogger();
  await request(node.addr, logger);
  RespClient.prototype.call = original;
  t.strictSame(logger.lines, [`info: RAFTADDPEER ${SELF} via ${node.addr} failed (odd failure); retrying in 100 ms`]);
  t.equal(node.commands.length, 1);
});

t.test('an invalid target address rejects', async (t) => {
  const err = await rejection(request('not an address', memoryLogger()));
  t.equal(err.code, 'INVALID_ARGUMENT');
});

t.test('joinCluster', async (t) => {
  t.test('logs success', async (t) => {
    const node = await startNode(t, ok);
    const logger = memoryLogger();
    await joinCluster({ target: node.addr, self: SELF, logger, stopped: new Promise(() => {}) });
    t.strictSame(node.commands, [['RAFTADDPEER', SELF]]);
    t.strictSame(logger.lines, [`info: joining the cluster through ${node.addr}`, `info: joined the cluster through ${node.addr}`]);
  });

  t.test('passes the password', async (t) => {
    const node = await startNode(t, ok);
    await joinCluster({ target: node.addr, self: SELF, credentials: { password: 'pw' }, logger: memoryLogger(), stopped: new Promise(() => {}) });
    t.strictSame(node.commands[0], ['AUTH', 'pw']);
  });

  t.test('logs a refusal and does not reject', async (t) => {
    const node = await startNode(t, () => '-ERR invalid address\r\n');
    const logger = memoryLogger();
    await t.resolves(joinCluster({ target: node.addr, self: SELF, logger, stopped: new Promise(() => {}) }));
    t.strictSame(logger.lines, [
      `info: joining the cluster through ${node.addr}`,
      `warn: could not join the cluster through ${node.addr}: ${node.addr} refused RAFTADDPEER ${SELF}: ERR invalid address`,
    ]);
  });

  t.test('retries until the node stops, then logs that', async (t) => {
    const node = await startNode(t, () => '-ERR leader not known\r\n');
    const logger = memoryLogger();
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const joining = joinCluster({ target: node.addr, self: SELF, logger, stopped });
    await until(() => node.commands.length === 1);
    stop();
    await t.resolves(joining);
    t.equal(logger.lines.at(-1), `warn: could not join the cluster through ${node.addr}: cancelled`);
  });

  t.test('a failure that is not an Error is logged as text', async (t) => {
    const node = await startNode(t, () => '-TRY 127.0.0.1:1\r\n');
    const lines: string[] = [];
    const logger: Logger = {
      info: (m) => {
        if (m.includes('redirected')) throw 'logger exploded';
        lines.push(`info: ${m}`);
      },
      warn: (m) => lines.push(`warn: ${m}`),
    };
    await t.resolves(joinCluster({ target: node.addr, self: SELF, logger, stopped: new Promise(() => {}) }));
    t.equal(lines.at(-1), `warn: could not join the cluster through ${node.addr}: logger exploded`);
  });
  t.end();
});
