import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { RespClient, type RespClientOptions } from '../../../src/core/cluster/resp-client.js';
import { RequestParser } from '../../../src/core/resp/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { HOST } from '../../helpers/processes.js';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** The peer stops answering anything on this connection. */
const HANG = Symbol('hang');
/** The peer writes what it has answered so far and closes the connection. */
const CLOSE = Symbol('close');

/** What the fake peer answers to one command: raw reply bytes, nothing, or an action. */
type Answer = string | Buffer | undefined | typeof HANG | typeof CLOSE;
type Respond = (args: Buffer[], socket: net.Socket) => Answer;

interface FakePeer {
  port: number;
  /** Every command received, across connections, args as latin1. */
  commands: string[][];
  /** 'data' events received, across connections. */
  chunks: number;
  connections: number;
  closedConnections: number;
  /** Scripted answers; replaceable at any time. */
  respond: Respond;
  close(): Promise<void>;
}

/** PING → PONG, ECHO x → x, FAIL → an error, HANG → silence from then on, anything else → OK. */
const standard: Respond = (args) => {
  switch (args[0]!.toString('latin1').toUpperCase()) {
    case 'PING':
      return '+PONG\r\n';
    case 'ECHO':
      return Buffer.concat([Buffer.from(`$${args[1]!.length}\r\n`), args[1]!, Buffer.from('\r\n')]);
    case 'FAIL':
      return '-ERR boom\r\n';
    case 'HANG':
      return HANG;
    default:
      return '+OK\r\n';
  }
};

/** A Redis-protocol peer on 127.0.0.1 that answers each chunk's commands in one write; closed in teardown. */
async function startPeer(t: Teardown, respond: Respond = standard, port = 0): Promise<FakePeer> {
  const sockets = new Set<net.Socket>();
  const peer: FakePeer = {
    port: 0,
    commands: [],
    chunks: 0,
    connections: 0,
    closedConnections: 0,
    respond,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((socket) => {
    peer.connections++;
    sockets.add(socket);
    const parser = new RequestParser();
    let hung = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      peer.closedConnections++;
    });
    socket.on('data', (chunk: Buffer) => {
      peer.chunks++;
      const out: Buffer[] = [];
      for (const cmd of parser.push(chunk)) {
        peer.commands.push(cmd.args.map((a) => a.toString('latin1')));
        if (hung) continue;
        const answer = peer.respond(cmd.args, socket);
        if (answer === HANG) hung = true;
        else if (answer === CLOSE) {
          socket.end(Buffer.concat(out));
          return;
        } else if (answer !== undefined) out.push(Buffer.from(answer));
      }
      if (out.length > 0) socket.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: HOST, port }, resolve));
  peer.port = (server.address() as net.AddressInfo).port;
  t.teardown(() => peer.close());
  return peer;
}

/** A client of 127.0.0.1:`port` with short back-offs, closed in teardown. */
function client(t: Teardown, port: number, opts: Partial<RespClientOptions> = {}): RespClient {
  const c = new RespClient({ host: HOST, port, minBackoffMs: 10, maxBackoffMs: 40, ...opts });
  t.teardown(() => c.close());
  return c;
}

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** A loopback port outside Linux's ephemeral range (so no client socket takes it) with nothing listening. */
async function closedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: HOST, port }, () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
}

const simple = (value: string): Reply => ({ type: 'simple', value });
const bulk = (value: string | Buffer): Reply => ({ type: 'bulk', value: Buffer.from(value) });

t.test('options and arguments are validated', async (t) => {
  for (const port of [0, 65536, 1.5, Number.NaN]) {
    t.throws(() => new RespClient({ host: HOST, port }), { code: 'INVALID_ARGUMENT' }, `port ${port}`);
  }
  const c = client(t, 1);
  await t.rejects(c.call([]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => c.send([]), { code: 'INVALID_ARGUMENT' });
  t.equal(c.connected, false, 'nothing connects before first use');
});

t.test('a call round-trips binary args and replies', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  t.equal(c.connected, false);
  const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  t.same(await c.call(['ECHO', bin]), bulk(bin));
  t.equal(c.connected, true);
  t.same(await c.call([Buffer.from('ECHO'), 'héllo']), bulk(Buffer.from('héllo', 'utf8')), 'strings are UTF-8');
  t.same(peer.commands[0], ['ECHO', bin.toString('latin1')]);
  t.equal(peer.connections, 1);
});

t.test('pipelined calls resolve in order on one connection', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => c.call(['ECHO', `v${i}`])));
  t.same(
    replies,
    Array.from({ length: 200 }, (_, i) => bulk(`v${i}`)),
  );
  t.equal(peer.connections, 1);
});

t.test('an error reply resolves as data', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  t.same(await c.call(['FAIL']), { type: 'error', text: 'ERR boom' });
  t.same(await c.call(['PING']), simple('PONG'), 'the connection stays usable');
});

/** The standard peer, checking AUTH against `password.value`. */
function authPeer(password: { value: string }): Respond {
  return (args, socket) => {
    if (args[0]!.toString() !== 'AUTH') return standard(args, socket);
    return args[1]!.toString() === password.value ? '+OK\r\n' : '-WRONGPASS invalid username-password pair\r\n';
  };
}

t.test('AUTH goes first on every connection when a password is set', async (t) => {
  const peer = await startPeer(t, authPeer({ value: 'pw' }));
  const c = client(t, peer.port, { credentials: { password: 'pw' } });
  const first = c.call(['PING']);
  t.equal(c.connected, false, 'not ready before AUTH succeeds');
  t.same(await first, simple('PONG'));
  t.equal(c.connected, true);
  t.same(peer.commands, [['AUTH', 'pw'], ['PING']]);
});

t.test('a refused AUTH closes the connection, backs off, and is retried', async (t) => {
  const accepted = { value: 'right' };
  const peer = await startPeer(t, authPeer(accepted));
  const clock = manualClock(0);
  const logger = memoryLogger();
  const c = client(t, peer.port, { credentials: { password: 'wrong' }, clock, logger, minBackoffMs: 30, name: 'peer A' });
  const queued = c.call(['PING']);
  t.equal(c.send(['SET', 'k', 'v']), true, 'queued while connecting');
  await t.rejects(queued, { code: 'UNAVAILABLE', message: /^peer A: AUTH refused: WRONGPASS/ });
  t.same(peer.commands, [['AUTH', 'wrong']], 'nothing but AUTH was written');
  await until(() => peer.closedConnections === 1);
  t.same(logger.lines, ['warn: peer A: AUTH refused: WRONGPASS invalid username-password pair; backing off 30 ms']);

  clock.advance(29);
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /back-off after: AUTH refused/ }, 'no queuing during back-off');
  t.equal(c.send(['PING']), false);
  t.equal(peer.connections, 1, 'no attempt during back-off');

  clock.advance(1);
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /AUTH refused/ }, 'retried after the back-off');
  t.equal(peer.connections, 2);
  t.equal(logger.lines.length, 1, 'the same failure is logged once');

  accepted.value = 'wrong';
  clock.advance(40);
  t.same(await c.call(['PING']), simple('PONG'));
  t.equal(peer.connections, 3);
  t.equal(logger.lines[1], 'info: peer A: connected');
});

t.test('replies after a refused AUTH in the same chunk are ignored', async (t) => {
  const logger = memoryLogger();
  const peer = await startPeer(t, (args) => (args[0]!.toString() === 'AUTH' ? '-ERR nope\r\n+OK\r\n+OK\r\n' : '+OK\r\n'));
  const c = client(t, peer.port, { credentials: { password: 'x' }, logger });
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /AUTH refused: ERR nope/ });
  t.equal(logger.lines.length, 1);
  t.notMatch(logger.lines[0], /unexpected/);
});

t.test('establishing a connection times out when AUTH is not answered', async (t) => {
  const peer = await startPeer(t, () => undefined);
  const c = client(t, peer.port, { credentials: { password: 'x' }, connectTimeoutMs: 30 });
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /connect timed out after 30 ms/ });
  t.equal(c.connected, false);
  await until(() => peer.closedConnections === 1);
});

t.test('a refused connection fails at once during back-off, then succeeds once the peer is up', async (t) => {
  const port = await closedPort();
  const logger = memoryLogger();
  const clock = manualClock(0);
  const c = client(t, port, { clock, logger, minBackoffMs: 30 });
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /ECONNREFUSED/, unsent: true }, 'never sent: no connection');
  const peer = await startPeer(t, standard, port);
  clock.advance(29);
  await t.rejects(c.call(['PING']), { code: 'UNAVAILABLE', message: /back-off after: .*ECONNREFUSED/, unsent: true }, 'rejected without trying');
  t.equal(c.send(['PING']), false, 'send drops during back-off');
  t.equal(peer.connections, 0);
  clock.advance(1);
  t.same(await c.call(['PING']), simple('PONG'));
  t.equal(c.connected, true);
  t.same(peer.commands, [['PING']], 'nothing dropped during back-off was sent');
  t.match(logger.lines, [/^warn: 127\.0\.0\.1:\d+: connect ECONNREFUSED .*; backing off 30 ms$/, /^info: 127\.0\.0\.1:\d+: connected$/]);
});

t.test('the back-off doubles up to its cap and resets after a connection', async (t) => {
  const port = await closedPort();
  const clock = manualClock(1000);
  const logger = memoryLogger();
  const c = client(t, port, { clock, logger, minBackoffMs: 10, maxBackoffMs: 25 });
  const refused = { code: 'UNAVAILABLE', message: /ECONNREFUSED/ };
  const backingOff = { code: 'UNAVAILABLE', message: /back-off/ };
  await t.rejects(c.call(['PING']), refused);
  for (const delay of [10, 20, 25, 25]) {
    clock.advance(delay - 1);
    await t.rejects(c.call(['PING']), backingOff, `still backing off ${delay - 1} ms later`);
    clock.advance(1);
    await t.rejects(c.call(['PING']), refused, `attempted ${delay} ms later`);
  }
  t.equal(logger.lines.length, 1, 'repeated failures are logged once');

  const peer = await startPeer(t, (args) => (args[0]!.toString() === 'BYE' ? CLOSE : '+OK\r\n'), port);
  clock.advance(25);
  t.same(await c.call(['PING']), simple('OK'));
  await t.rejects(c.call(['BYE']), { code: 'UNAVAILABLE', message: /connection closed/, unsent: false }, 'sent, then the connection closed');
  clock.advance(9);
  await t.rejects(c.call(['PING']), backingOff, 'back-off restarts at the minimum');
  clock.advance(1);
  t.same(await c.call(['PING']), simple('OK'));
  t.equal(peer.connections, 2);
});

t.test('a connection dropped by the peer rejects what it owed', async (t) => {
  const logger = memoryLogger();
  const peer = await startPeer(t, (args, socket) => (args[0]!.toString() === 'DROP' ? CLOSE : standard(args, socket)));
  const c = client(t, peer.port, { logger });
  t.same(await c.call(['PING']), simple('PONG'));
  const before = c.call(['PING']);
  const dropped = c.call(['DROP']);
  t.equal(c.send(['PING']), true);
  const after = c.call(['PING']);
  t.same(await before, simple('PONG'), 'replies before the drop are delivered');
  await t.rejects(dropped, { code: 'UNAVAILABLE', message: /connection closed/ });
  await t.rejects(after, { code: 'UNAVAILABLE' });
  t.equal(c.connected, false);
  t.match(logger.lines, [/connection closed; backing off 10 ms/]);
  await sleep(20);
  t.same(await c.call(['PING']), simple('PONG'), 'reconnects after the back-off');
  t.equal(peer.connections, 2);
});

t.test('an overdue reply times out and resets the connection', async (t) => {
  const logger = memoryLogger();
  const peer = await startPeer(t);
  const c = client(t, peer.port, { logger });
  const hung = c.call(['HANG'], 30);
  const behind = c.call(['PING'], 5000);
  t.equal(c.send(['PING']), true);
  await t.rejects(hung, { code: 'TIMEOUT' });
  await t.rejects(behind, { code: 'UNAVAILABLE', message: /no reply in time/ });
  t.equal(c.connected, false);
  t.match(logger.lines, [/no reply in time; backing off 10 ms/]);
  await sleep(20);
  t.same(await c.call(['PING']), simple('PONG'), 'later calls use a new connection');
  t.equal(peer.connections, 2);
});

t.test('the one timer follows the earliest deadline', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  const long = c.call(['HANG'], 1000);
  const short = c.call(['PING'], 20);
  await t.rejects(short, { code: 'TIMEOUT' }, 'a shorter deadline behind a longer one moves the timer earlier');
  await t.rejects(long, { code: 'UNAVAILABLE' }, 'not yet due: the connection is gone');
});

t.test('a timer that finds nothing overdue re-arms for what is left', async (t) => {
  // The manual clock never moves: the timer fires (after the real delay) and finds nothing due.
  const clock = manualClock(0);
  const held: net.Socket[] = [];
  const peer = await startPeer(t, (args, socket) => {
    if (args[0]!.toString() !== 'HOLD') return standard(args, socket);
    held.push(socket);
    return undefined;
  });
  const c = client(t, peer.port, { clock });
  t.same(await c.call(['PING'], 20), simple('PONG'));
  const slow = c.call(['HOLD'], 5000);
  await sleep(40);
  t.equal(c.connected, true, 'the timer fired without ending the connection');
  held[0]!.write('+LATE\r\n');
  t.same(await slow, simple('LATE'));
  t.same(await c.call(['PING'], 20), simple('PONG'));
  await sleep(40);
  t.equal(c.connected, true, 'a timer with nothing outstanding does nothing');
});

t.test('a malformed reply rejects what is outstanding', async (t) => {
  const logger = memoryLogger();
  const peer = await startPeer(t, (args, socket) => (args[0]!.toString() === 'BAD' ? '?what\r\n' : standard(args, socket)));
  const c = client(t, peer.port, { logger });
  const before = c.call(['PING']);
  const bad = c.call(['BAD']);
  const after = c.call(['PING']);
  t.same(await before, simple('PONG'), 'replies parsed before the bad bytes count');
  await t.rejects(bad, { code: 'UNAVAILABLE', message: /malformed reply: unexpected reply type '\?'/ });
  await t.rejects(after, { code: 'UNAVAILABLE' });
  t.match(logger.lines, [/^warn: .*malformed reply/]);
  await until(() => peer.closedConnections === 1);
});

t.test('an unexpected reply ends the connection', async (t) => {
  const logger = memoryLogger();
  const peer = await startPeer(t, () => '+OK\r\n+OK\r\n+OK\r\n');
  const c = client(t, peer.port, { logger });
  t.same(await c.call(['TWICE']), simple('OK'));
  await until(() => !c.connected);
  t.match(logger.lines, [/unexpected reply of type simple/]);
  t.equal(logger.lines.length, 1);
  await until(() => peer.closedConnections === 1);
});

t.test('send replies are discarded and interleave with calls', async (t) => {
  const clock = manualClock(0);
  const logger = memoryLogger();
  const peer = await startPeer(t);
  const c = client(t, peer.port, { clock, logger, name: 'n1' });
  t.equal(c.send(['SET', 'a', '1']), true, 'the first send connects');
  const x = c.call(['ECHO', 'x']);
  t.equal(c.send(['FAIL']), true);
  t.equal(c.send(['FAIL']), true);
  const y = c.call(['ECHO', 'y']);
  t.same(await Promise.all([x, y]), [bulk('x'), bulk('y')]);
  t.same(peer.commands, [['SET', 'a', '1'], ['ECHO', 'x'], ['FAIL'], ['FAIL'], ['ECHO', 'y']]);
  t.same(logger.lines, ['warn: n1: error reply to a sent command: ERR boom'], 'error replies: one warning per 10 s');

  clock.advance(9999);
  c.send(['FAIL']);
  await c.call(['PING']);
  t.equal(logger.lines.length, 1);
  clock.advance(1);
  c.send(['FAIL']);
  await c.call(['PING']);
  t.same(logger.lines[1], 'warn: n1: error reply to a sent command: ERR boom (2 more since the last report)');
});

t.test('send drops above maxQueuedBytes', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port, { maxQueuedBytes: 100 });
  await c.call(['PING']);
  t.equal(c.send(['SET', 'k', 'x'.repeat(200)]), true, 'a command fits whatever its size');
  t.equal(c.send(['SET', 'k', 'v']), false, 'dropped: 200 bytes already wait');
  await c.call(['PING']);
  t.equal(c.send(['SET', 'k', 'v']), true, 'accepted again once written');
  await c.call(['PING']);
  t.same(
    peer.commands.map((a) => a[0]),
    ['PING', 'SET', 'PING', 'SET', 'PING'],
  );
});

t.test('commands of one turn leave in one write', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  await c.call(['PING']);
  const chunks = peer.chunks;
  for (let i = 0; i < 100; i++) t.equal(c.send(['SET', `k${i}`, 'v']), true);
  t.same(await c.call(['PING']), simple('PONG'));
  t.equal(peer.commands.length, 102);
  t.equal(peer.chunks - chunks, 1, 'one chunk at the peer');
});

t.test('many outstanding replies are tracked in order', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  await c.call(['PING']);
  for (let i = 0; i < 3000; i++) c.send(['SET', `k${i}`, 'v']);
  const calls = Array.from({ length: 3000 }, (_, i) => c.call(['ECHO', `e${i}`]));
  const replies = await Promise.all(calls);
  t.ok(replies.every((r, i) => r.type === 'bulk' && r.value.toString() === `e${i}`));
  t.equal(peer.commands.length, 6001);
});

t.test('close rejects everything outstanding and is final', async (t) => {
  const peer = await startPeer(t);
  const c = client(t, peer.port);
  const hung = c.call(['HANG']);
  t.equal(c.send(['PING']), true);
  await until(() => peer.commands.length === 2);
  c.close();
  await t.rejects(hung, { code: 'CLOSED' });
  t.equal(c.connected, false);
  c.close();
  await t.rejects(c.call(['PING']), { code: 'CLOSED' });
  t.equal(c.send(['PING']), false);
  await until(() => peer.closedConnections === 1);

  const idle = new RespClient({ host: HOST, port: peer.port });
  idle.close();
  await t.rejects(idle.call(['PING']), { code: 'CLOSED' }, 'closing a client that never connected');

  const racing = client(t, peer.port, { credentials: { password: 'pw' } });
  const early = racing.call(['PING']);
  racing.close();
  await t.rejects(early, { code: 'CLOSED' }, 'closing while connecting');

  const flushing = client(t, peer.port);
  await flushing.call(['PING']);
  const before = peer.commands.length;
  t.equal(flushing.send(['SET', 'k', 'v']), true);
  flushing.close();
  await sleep(20);
  t.equal(peer.commands.length, before, 'commands of the closing turn are not written');
});
