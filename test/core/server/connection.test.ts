import { EventEmitter } from 'node:events';
import type net from 'node:net';
import t from 'tap';
import type { KvMachine } from '../../../src/core/kv/index.js';
import { CommandTallies } from '../../../src/core/metrics/index.js';
import { encodeCommand } from '../../../src/core/resp/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { Connection } from '../../../src/core/server/connection.js';
import type { Proposer } from '../../../src/core/server/proposer.js';
import { RaftProposer } from '../../../src/core/cluster/raft-proposer.js';
import { deferred, makeServer, settle, type Deferred, type ServerFixtureOptions } from './server-fixture.js';

/** Stands in for a net.Socket: records writes, ends, pauses and resumes, in order. */
class FakeSocket extends EventEmitter {
  readonly writes: Buffer[] = [];
  /** 'write', 'end', 'pause', 'resume' in call order. */
  readonly calls: string[] = [];
  destroyed = false;
  writableNeedDrain = false;
  noDelay: boolean | undefined;

  write(data: Buffer): boolean {
    this.calls.push('write');
    this.writes.push(Buffer.from(data));
    return !this.writableNeedDrain;
  }
  end(): this {
    this.calls.push('end');
    return this;
  }
  pause(): this {
    this.calls.push('pause');
    return this;
  }
  resume(): this {
    this.calls.push('resume');
    return this;
  }
  destroy(): this {
    this.calls.push('destroy');
    this.destroyed = true;
    return this;
  }
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    return this;
  }
  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }
  /** Everything written, as latin1. */
  output(): string {
    return Buffer.concat(this.writes).toString('latin1');
  }
  send(data: string | Buffer): void {
    this.emit('data', typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }
}

/**
 * A proposer that applies at once but answers only when the test says: `next` holds the
 * deferreds of the replies handed out, in order.
 */
function heldProposer(machine: KvMachine) {
  const held: Deferred<Reply>[] = [];
  const proposer: Proposer = {
    propose: (args) => {
      const reply = machine.apply(args);
      const d = deferred<Reply>();
      held.push(d);
      return d.promise.then((override) => override ?? reply);
    },
    read: (args, cmd) => machine.read(args, cmd),
  };
  return { proposer, held };
}

async function open(t: Parameters<typeof makeServer>[0], opts: ServerFixtureOptions & { hold?: boolean } = {}) {
  let held: Deferred<Reply>[] = [];
  const f = await makeServer(t, {
    ...opts,
    proposer: opts.hold
      ? (machine) => {
          const h = heldProposer(machine);
          held = h.held;
          return h.proposer;
        }
      : opts.proposer,
  });
  const sock = new FakeSocket();
  const session = f.session();
  const conn = new Connection(sock as unknown as net.Socket, f.ctx, session);
  /** Releases the i-th held reply (undefined: the command's own reply). */
  const release = (i: number, reply?: Reply) => held[i]!.resolve(reply as Reply);
  return { f, sock, session, conn, held: () => held, release };
}

const cmd = (...args: string[]): string => encodeCommand(args.map((a) => Buffer.from(a, 'latin1'))).toString('latin1');
const PONG = '+PONG\r\n';
const PONG_REPLY: Reply = { type: 'simple', value: 'PONG' };
const OK = '+OK\r\n';

t.test('no Nagle delay, and the socket is read', async (t) => {
  const { sock } = await open(t);
  t.equal(sock.noDelay, true);
  t.equal(sock.listenerCount('data'), 1);
  t.equal(sock.listenerCount('drain'), 1);
});

t.test('pipelined commands: replies in order, in one write per batch', async (t) => {
  const { sock, f } = await open(t);
  sock.send(`PING\r\n${cmd('ECHO', 'a')}GET k\r\n${cmd('SET', 'k', '\x00\xff')}${cmd('GET', 'k')}${cmd('nope')}`);
  t.equal(sock.writes.length, 1, 'one write');
  t.equal(sock.output(), `${PONG}$1\r\na\r\n$-1\r\n${OK}$2\r\n\x00\xff\r\n-ERR unknown command 'nope', with args beginning with: \r\n`);
  sock.send(cmd('DEL', 'k', 'k'));
  t.equal(sock.writes.length, 2, 'the next batch, the next write');
  t.equal(sock.writes[1]!.toString('latin1'), ':1\r\n');
  t.equal(f.stats.commandsProcessed, 7);
  t.strictSame(sock.calls, ['write', 'write'], 'no pause, resume or end');
});

t.test('a request split over chunks is answered once complete', async (t) => {
  const { sock } = await open(t);
  const whole = cmd('ECHO', 'hello') + cmd('PING');
  for (const ch of whole.slice(0, -1)) sock.send(ch);
  t.equal(sock.output(), '$5\r\nhello\r\n', 'the first reply as soon as its request is complete');
  sock.send(whole.slice(-1));
  t.equal(sock.output(), `$5\r\nhello\r\n${PONG}`);
  sock.send('');
  t.equal(sock.writes.length, 2, 'an empty chunk writes nothing');
});

t.test('a waiting reply holds back the later ones without reordering', async (t) => {
  const { sock, release, f } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}PING\r\n${cmd('GET', 'a')}`);
  t.equal(sock.writes.length, 0, 'nothing before the first reply is ready');
  t.strictSame(f.kv.contents(), { a: '1' }, 'the later commands ran already');
  sock.send(cmd('ECHO', 'x'));
  t.equal(sock.writes.length, 0, 'still held');
  release(0);
  await settle();
  t.equal(sock.writes.length, 1, 'then everything ready in one write');
  t.equal(sock.output(), `${OK}${PONG}$1\r\n1\r\n$1\r\nx\r\n`);
  sock.send('PING\r\n');
  t.equal(sock.writes.length, 2);
});

t.test('replies that become ready out of order are written in order', async (t) => {
  const { sock, release } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}${cmd('SET', 'b', '2')}PING\r\n${cmd('DEL', 'a')}PING\r\n`);
  release(1);
  await settle();
  t.equal(sock.writes.length, 0, 'the second is ready, the first is not');
  release(0);
  await settle();
  t.equal(sock.output(), `${OK}${OK}${PONG}`, 'up to the next waiting reply');
  release(2);
  await settle();
  t.equal(sock.output(), `${OK}${OK}${PONG}:1\r\n${PONG}`);
  t.equal(sock.writes.length, 2);
});

t.test('a failed reply becomes an error reply in its place', async (t) => {
  const { sock, held } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}PING\r\n`);
  held()[0]!.reject(new Error('disk\non fire'));
  await settle();
  t.equal(sock.output(), `-ERR internal error: disk on fire\r\n${PONG}`);
});

t.test('through a one-node Raft cluster: the write and a read behind it are answered once committed, in order', async (t) => {
  const { sock } = await open(t, {
    config: { durability: 'high' },
    proposer: (machine, _config, cluster) =>
      new RaftProposer({ cluster, machine, router: { route: () => PONG_REPLY }, consistency: 'high' }),
  });
  sock.send(`${cmd('SET', 'k', 'v')}${cmd('GET', 'k')}PING\r\n`);
  t.equal(sock.writes.length, 0, 'nothing before the entry is committed');
  const expected = `${OK}$1\r\nv\r\n${PONG}`;
  // The fsync takes real time: poll for up to 10 s.
  for (let i = 0; i < 1000 && sock.output().length < expected.length; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(sock.output(), expected);
});

t.test('a protocol error runs the commands before it, then replies and closes', async (t) => {
  const { sock, session, f } = await open(t);
  sock.send(`PING\r\n${cmd('SET', 'k', 'v')}*1\r\nxyz\r\n${cmd('SET', 'after', '1')}`);
  t.equal(sock.output(), `${PONG}${OK}-ERR Protocol error: expected '$', got 'x'\r\n`);
  t.equal(sock.writes.length, 1);
  t.strictSame(sock.calls, ['pause', 'write', 'end'], 'stops reading, writes, ends');
  t.equal(session.closeAfterReplies, true);
  t.strictSame(f.kv.contents(), { k: 'v' }, 'nothing after the bad bytes ran');
  sock.send('PING\r\n');
  t.equal(sock.writes.length, 1, 'later data is ignored');
  t.equal(sock.count('end'), 1);
});

t.test('a protocol error in its own chunk', async (t) => {
  const { sock } = await open(t);
  sock.send('PING\r\n');
  sock.send('*-5x\r\n');
  t.equal(sock.output(), `${PONG}-ERR Protocol error: invalid multibulk length\r\n`);
  t.equal(sock.count('end'), 1);
});

t.test('a protocol error behind a waiting reply waits for it', async (t) => {
  const { sock, release } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}*1\r\nx`);
  t.equal(sock.writes.length, 0);
  t.equal(sock.count('end'), 0, 'not ended while a reply is owed');
  release(0);
  await settle();
  t.equal(sock.output(), `${OK}-ERR Protocol error: expected '$', got 'x'\r\n`);
  t.equal(sock.count('end'), 1);
});

t.test('QUIT: its reply, then the end; nothing after it runs', async (t) => {
  const { sock, session, f } = await open(t);
  sock.send(`PING\r\nQUIT\r\n${cmd('SET', 'k', 'v')}PING\r\n`);
  t.equal(sock.output(), `${PONG}${OK}`);
  t.strictSame(sock.calls, ['write', 'end']);
  t.equal(session.closeAfterReplies, true);
  t.strictSame(f.kv.contents(), {}, 'the SET after QUIT did not run');
  sock.send('PING\r\n');
  t.strictSame(sock.calls, ['write', 'end'], 'later data ignored');
});

t.test('QUIT before a protocol error: only the QUIT reply', async (t) => {
  const { sock } = await open(t);
  sock.send('QUIT\r\n*1\r\nx');
  t.equal(sock.output(), OK);
  t.strictSame(sock.calls, ['write', 'end']);
});

t.test('QUIT behind a waiting reply ends after it', async (t) => {
  const { sock, release } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}QUIT\r\n`);
  t.equal(sock.count('end'), 0);
  release(0);
  await settle();
  t.equal(sock.output(), `${OK}${OK}`);
  t.strictSame(sock.calls, ['write', 'end']);
});

t.test('SHUTDOWN closes the connection without a reply, as Redis', async (t) => {
  const { sock, f } = await open(t);
  sock.send('SHUTDOWN\r\nPING\r\n');
  t.equal(sock.output(), '');
  t.equal(sock.count('end'), 1);
  t.equal(f.shutdowns.length, 1);
});

t.test('reading pauses while more than 4096 replies wait, and resumes at 2048', async (t) => {
  t.test('4096 waiting: no pause', async (t) => {
    const { sock, release } = await open(t, { hold: true });
    sock.send(cmd('SET', 'a', '1') + 'PING\r\n'.repeat(4095));
    t.equal(sock.count('pause'), 0);
    release(0);
    await settle();
    t.equal(sock.writes.length, 1);
    t.equal(sock.output(), OK + PONG.repeat(4095));
  });
  t.test('4097 waiting: paused until they are written', async (t) => {
    const { sock, release } = await open(t, { hold: true });
    sock.send(cmd('SET', 'a', '1') + 'PING\r\n'.repeat(4096));
    t.strictSame(sock.calls, ['pause']);
    sock.send('PING\r\n');
    t.strictSame(sock.calls, ['pause'], 'paused once');
    sock.emit('drain');
    t.strictSame(sock.calls, ['pause'], 'a drain does not resume while so many wait');
    release(0);
    await settle();
    t.strictSame(sock.calls, ['pause', 'write', 'resume']);
    t.equal(sock.output(), OK + PONG.repeat(4097));
  });
  t.test('2050 still waiting: stays paused; then resumes', async (t) => {
    const { sock, release } = await open(t, { hold: true });
    sock.send(cmd('SET', 'a', '1') + 'PING\r\n'.repeat(2047) + cmd('SET', 'b', '1') + 'PING\r\n'.repeat(2049));
    t.strictSame(sock.calls, ['pause']);
    release(0);
    await settle();
    t.strictSame(sock.calls, ['pause', 'write'], '2050 waiting: not yet');
    release(1);
    await settle();
    t.strictSame(sock.calls, ['pause', 'write', 'write', 'resume']);
  });
  t.test('2048 waiting: resumes', async (t) => {
    const { sock, release } = await open(t, { hold: true });
    sock.send(cmd('SET', 'a', '1') + 'PING\r\n'.repeat(2049) + cmd('SET', 'b', '1') + 'PING\r\n'.repeat(2047));
    t.strictSame(sock.calls, ['pause']);
    release(0);
    await settle();
    t.strictSame(sock.calls, ['pause', 'write', 'resume']);
    release(1);
    await settle();
    t.strictSame(sock.calls, ['pause', 'write', 'resume', 'write']);
    t.equal(sock.output(), OK + PONG.repeat(2049) + OK + PONG.repeat(2047));
  });
});

t.test('reading pauses while the socket needs a drain', async (t) => {
  const { sock } = await open(t);
  sock.writableNeedDrain = true;
  sock.send('PING\r\n');
  t.strictSame(sock.calls, ['write', 'pause']);
  sock.send('PING\r\n');
  t.strictSame(sock.calls, ['write', 'pause', 'write'], 'paused once');
  sock.emit('drain');
  t.strictSame(sock.calls, ['write', 'pause', 'write'], 'a drain event while a drain is still needed');
  sock.writableNeedDrain = false;
  sock.emit('drain');
  t.strictSame(sock.calls, ['write', 'pause', 'write', 'resume']);
  sock.emit('drain');
  t.strictSame(sock.calls, ['write', 'pause', 'write', 'resume'], 'not paused: nothing to resume');
  sock.send('PING\r\n');
  t.strictSame(sock.calls, ['write', 'pause', 'write', 'resume', 'write']);
});

t.test('a connection closing does not resume reading', async (t) => {
  const { sock, release } = await open(t, { hold: true });
  sock.writableNeedDrain = true;
  sock.send(`${cmd('SET', 'a', '1')}QUIT\r\n`);
  t.strictSame(sock.calls, ['pause']);
  sock.writableNeedDrain = false;
  sock.emit('drain');
  t.strictSame(sock.calls, ['pause'], 'unpaused without reading more');
  release(0);
  await settle();
  t.strictSame(sock.calls, ['pause', 'write', 'end']);
});

t.test('end() writes what is ready and ends', async (t) => {
  const { sock, conn } = await open(t);
  sock.send('PING\r\n');
  conn.end();
  t.strictSame(sock.calls, ['write', 'resume', 'end']);
  sock.send('PING\r\n');
  t.strictSame(sock.calls, ['write', 'resume', 'end'], 'data after end() is ignored');
});

t.test('end() with a reply still waiting: nothing is written after the end', async (t) => {
  // Writing to an ended net.Socket fails (ERR_STREAM_WRITE_AFTER_END).
  const { sock, conn, release } = await open(t, { hold: true });
  sock.send(`${cmd('SET', 'a', '1')}PING\r\n`);
  conn.end();
  release(0);
  await settle();
  const firstEnd = sock.calls.indexOf('end');
  t.not(firstEnd, -1);
  t.strictSame(sock.calls.slice(firstEnd).filter((c) => c === 'write'), [], `calls: ${sock.calls.join(' ')}`);
});

t.test('nothing is written to a destroyed socket', async (t) => {
  const { sock } = await open(t);
  sock.destroyed = true;
  sock.send('PING\r\n');
  t.equal(sock.writes.length, 0);
});

t.test('a parser failure that is not a protocol error is not swallowed', async (t) => {
  const { sock, conn } = await open(t);
  (conn as unknown as { parser: { push: () => never } }).parser.push = () => {
    throw new TypeError('parser bug');
  };
  t.throws(() => sock.send('PING\r\n'), { message: 'parser bug' });
});

t.test('error replies echo the client\'s bytes unchanged', async (t) => {
  // redis-server sends the command name's bytes as they came: 'café' stays UTF-8, 0xff stays 0xff.
  const { sock } = await open(t);
  sock.send(encodeCommand([Buffer.from('café', 'utf8')]));
  t.equal(sock.writes[0]!.toString('hex'), Buffer.from("-ERR unknown command 'café', with args beginning with: \r\n", 'utf8').toString('hex'), 'UTF-8 name');
  sock.send(encodeCommand([Buffer.from([0x46, 0xff, 0x4f])]));
  t.equal(sock.writes[1]!.toString('latin1'), "-ERR unknown command 'F\xffO', with args beginning with: \r\n", 'binary name');
});

t.test('an HTTP request is dropped without any reply, earlier commands of the batch included', async (t) => {
  for (const request of ['GET / HTTP/1.1\r\nHost: example.com\r\n\r\n', 'PING\r\nPOST / HTTP/1.1\r\n\r\n']) {
    const { sock } = await open(t);
    sock.send(request);
    t.equal(sock.output(), '', JSON.stringify(request));
    t.equal(sock.count('destroy'), 1);
    sock.send('PING\r\n');
    t.equal(sock.output(), '', 'nothing more is read');
  }
});

t.test('a client whose unread replies pass --max-output-buffer is disconnected', async (t) => {
  const { sock, f } = await open(t, { config: { maxOutputBuffer: 1000 } });
  const unread = sock as unknown as { writableLength: number };
  unread.writableLength = 1000;
  sock.send(cmd('PING'));
  t.equal(sock.count('destroy'), 0, 'at the limit: kept');
  unread.writableLength = 1001;
  sock.send(cmd('PING'));
  t.equal(sock.count('destroy'), 1, 'past it: disconnected');
  t.match(f.logs.join(''), /warn +client \S+: 1001 bytes of replies unread, over --max-output-buffer 1000; disconnected/);
  sock.send(cmd('PING'));
  t.equal(sock.writes.length, 2, 'nothing more is read or written');
  const unlimited = await open(t, { config: { maxOutputBuffer: 0 } });
  (unlimited.sock as unknown as { writableLength: number }).writableLength = 2 ** 40;
  unlimited.sock.send(cmd('PING'));
  t.equal(unlimited.sock.count('destroy'), 0, '0: no limit');
});

t.test("before AUTH, Redis's unauthenticated limits; after AUTH in the same chunk, the full ones", async (t) => {
  const big = cmd('SET', 'k', 'v'.repeat(20_000));
  const before = await open(t, { config: { requirepass: 'pw' } });
  before.sock.send(big);
  t.equal(before.sock.output(), '-ERR Protocol error: unauthenticated bulk length\r\n');
  t.equal(before.sock.count('end'), 1, 'and the connection is closed');
  const many = await open(t, { config: { requirepass: 'pw' } });
  many.sock.send(cmd('AUTH', 'wrong') + cmd(...Array.from({ length: 11 }, () => 'x')));
  t.equal(many.sock.output(), '-WRONGPASS invalid username-password pair or user is disabled.\r\n-ERR Protocol error: unauthenticated multibulk length\r\n');
  const after = await open(t, { config: { requirepass: 'pw' } });
  after.sock.send(cmd('PING') + cmd('AUTH', 'pw') + big + cmd('GET', 'k') + cmd(...Array.from({ length: 11 }, () => 'ECHO')));
  t.equal(after.sock.output(), `${PONG}${OK}${OK}$20000\r\n${'v'.repeat(20_000)}\r\n-ERR wrong number of arguments for 'echo' command\r\n`);
  t.equal(after.sock.writes.length, 1, 'still one write for the batch');
  t.equal(after.sock.count('end'), 0);
  const open_ = await open(t);
  open_.sock.send(big);
  t.equal(open_.sock.output(), OK, 'without a password, the full limits from the start');
});

t.test('with --metrics, each command is counted under its name, with its result, once its reply is ready', async (t) => {
  const commands = new CommandTallies(['set', 'get', 'ping', 'echo']);
  const { sock, held, release } = await open(t, { hold: true, commands });
  sock.send(`PING\r\n${cmd('GET', 'a')}${cmd('ECHO')}${cmd('nope', 'x')}${cmd('SET', 'a', '1')}${cmd('SET', 'b', '2')}`);
  t.same(
    commands.used().map((c) => [c.name, c.ok, c.errors]),
    [
      ['echo', 0, 1],
      ['get', 1, 0],
      ['ping', 1, 0],
      ['unknown', 0, 1],
    ],
    'the ready replies are counted at once, the waiting SETs not yet',
  );
  release(0);
  held()[1]!.reject(new Error('disk on fire'));
  await settle();
  const set = commands.of('set');
  t.same([set.ok, set.errors], [1, 1], 'a SET answered, a SET that failed');
  t.equal(set.counts.reduce((a, b) => a + b, 0), 2, 'both in the latency histogram');
  t.ok(set.sum >= 0);
  t.match(sock.output(), /^\+PONG\r\n\$-1\r\n-ERR wrong number[^]*\+OK\r\n-ERR internal error: disk on fire\r\n$/);
});

t.test('a protocol error is not a command: it is not counted', async (t) => {
  const commands = new CommandTallies(['ping']);
  const { sock } = await open(t, { commands });
  sock.send('PING\r\n*1\r\n$x\r\n');
  t.same(commands.used().map((c) => [c.name, c.count]), [['ping', 1]]);
});

t.test('a command forwarded by another node (RAFTFWD) is counted under its own name', async (t) => {
  const commands = new CommandTallies(['echo', 'raftfwd']);
  const { sock } = await open(t, { commands });
  sock.send(cmd('RAFTFWD', 'ECHO', 'x') + cmd('RAFTFWD'));
  t.equal(sock.output(), "$1\r\nx\r\n-ERR wrong number of arguments for 'raftfwd' command\r\n");
  t.same(commands.used().map((c) => [c.name, c.ok, c.errors]), [['echo', 1, 0], ['raftfwd', 0, 1]]);
});
