/**
 * Bad input over raw sockets: protocol garbage, absurd counts and lengths, a 1 GB inline
 * line, half-sent commands that stall, a client that never reads. The server answers or
 * closes that one connection, keeps its memory bounded, and keeps serving everyone else.
 * Where the input is deterministic, bitraft's reply (and whether it closes) is compared
 * byte for byte with redis-server's for the same bytes.
 */
import t from 'tap';
import { seededRng } from '../../src/core/support/rng.js';
import {
  converse,
  exchange,
  pingOk,
  requireTools,
  resp,
  rssOf,
  sleep,
  startRedisServer,
  startServer,
  type Conversation,
} from '../helpers/server.js';

requireTools('redis-server', 'redis-cli', 'redis-benchmark');

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Inputs whose outcome Redis defines exactly; bitraft must do the same. */
const SAME_AS_REDIS: [string, Buffer][] = [
  ['non-numeric multibulk count', b('*abc\r\n')],
  ['non-numeric bulk length', b('*1\r\n$abc\r\n')],
  ['bulk without $', b('*1\r\nfoo\r\n')],
  ['negative bulk length', b('*3\r\n$3\r\nSET\r\n$1\r\na\r\n$-1\r\n')],
  ['bulk length 2147483647 in a multibulk', b('*1\r\n$2147483647\r\n')],
  ['$2147483647 as an inline command', b('$2147483647\r\n')],
  ['*-1 and *0 are skipped', b('*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n')],
  ['blank inline lines are skipped', b('\r\n\n  \r\nPING\r\n')],
  ['unbalanced quotes inline', b('SET "foo bar\r\n')],
  ['a good command, then garbage in the same packet', b('*1\r\n$4\r\nPING\r\n*1\r\nx\r\n')],
  ['two good commands, then a bad count in the same packet', b('PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*x\r\n')],
  ['a 70 KB multibulk count line', Buffer.concat([b('*'), Buffer.alloc(70_000, '1')])],
  ['a 70 KB bulk length line', Buffer.concat([b('*1\r\n$'), Buffer.alloc(70_000, '1')])],
  ['inline with control bytes', b('\x01\x02\x7f\r\n')],
  ['inline command with quoted escapes', b('ECHO "a\\x41\\n\\"b" \'c d\'\r\n')],
  ['an empty bulk command name', b('*1\r\n$0\r\n\r\n')],
  ['an unknown command of non-ASCII bytes, inline', b('\xff\xfe\x80 foo\r\n')],
  ['an unknown command named in UTF-8, multibulk', Buffer.concat([b('*2\r\n$8\r\n'), Buffer.from('ключ'), b('\r\n$6\r\n'), Buffer.from('арг'), b('\r\n')])],
  ['an unknown command with a CRLF in its argument', b('*2\r\n$3\r\nFOO\r\n$4\r\na\r\nb\r\n')],
];

/** What browsers can be made to send to a Redis port; Redis drops such connections at once. */
const CROSS_PROTOCOL: [string, Buffer][] = [
  ['an HTTP GET with a Host: header', b('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')],
  ['an HTTP POST', b('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')],
];

/** Floats in [0, 1) from the project's seeded generator. */
const rng = (seed: number): (() => number) => seededRng(seed).float;

/** Random bytes biased towards RESP's special characters. */
function garbage(seed: number, size: number): Buffer {
  const r = rng(seed);
  const alphabet = b('*$\r\n\r\n0123456789-+: "\'\\abcPINGping\x00\xff');
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = r() < 0.9 ? alphabet[Math.floor(r() * alphabet.length)]! : Math.floor(r() * 256);
  return out;
}

function show(x: { reply: Buffer; closed: boolean }): string {
  const text = x.reply.toString('latin1');
  return `${x.closed ? 'closed' : 'open'} ${JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…(${text.length})` : text)}`;
}

t.test('protocol errors are answered as redis-server answers them', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t)]);
  for (const [name, input] of SAME_AS_REDIS) {
    const [got, want] = await Promise.all([exchange(t, bitraft.port, input), exchange(t, redis.port, input)]);
    t.equal(show(got), show(want), name);
  }
  t.ok(await pingOk(t, bitraft.port), 'still serving');
});

t.test('cross-protocol requests (HTTP) are dropped as redis-server drops them', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t)]);
  for (const [name, input] of CROSS_PROTOCOL) {
    const [got, want] = await Promise.all([exchange(t, bitraft.port, input), exchange(t, redis.port, input)]);
    t.equal(show(got), show(want), name);
  }
  t.ok(await pingOk(t, bitraft.port), 'still serving');
});

t.test('random garbage: each connection is answered, closed or left waiting; the server keeps serving', async (t) => {
  const server = await startServer(t);
  const watcher = await converse(t, server.port);
  const bad: string[] = [];
  const outcomes = { answered: 0, closed: 0, waiting: 0 };
  for (let seed = 1; seed <= 40; seed++) {
    const input = garbage(seed, 64 + seed * 100);
    const got = await exchange(t, server.port, input, 100, 2000);
    const text = got.reply.toString('latin1');
    if (got.closed) outcomes.closed++;
    else if (text !== '') outcomes.answered++;
    else outcomes.waiting++;
    if (/internal error/i.test(text) || !(text === '' || /^[-+:$*]/.test(text))) bad.push(`garbage #${seed}: ${show(got)}`);
  }
  t.same(bad, [], `40 random inputs: ${JSON.stringify(outcomes)}; every reply is RESP, none an internal error`);
  // A connection opened before all this is still served.
  watcher.send('PING\r\n');
  t.ok(await watcher.waitFor((d) => d.toString() === '+PONG\r\n', 3000), 'an older connection still gets PONG');
  t.ok(await pingOk(t, server.port), 'a new connection gets PONG');
  t.ok(server.alive(), 'the server is alive');
});

/** Expects an error reply or a close within `ms`; returns a description of what happened. */
async function answeredOrClosed(c: Conversation, ms: number): Promise<string | undefined> {
  await c.waitFor((d) => d.includes('\r\n'), ms);
  if (c.received().length > 0) return `answered ${JSON.stringify(c.received().toString('latin1').slice(0, 100))}`;
  if (c.closed()) return 'closed';
  return undefined;
}

t.test('*2147483647 and $2147483647: answered or closed, nothing allocated, others served', async (t) => {
  const server = await startServer(t);
  const before = rssOf(server.pid)!;
  const many = await converse(t, server.port);
  many.send('*2147483647\r\n');
  const outcome = await answeredOrClosed(many, 3000);
  t.ok(outcome, `*2147483647: ${outcome ?? 'neither answered nor closed within 3 s'}`);
  if (outcome?.startsWith('answered')) t.match(many.received().toString('latin1'), /^-ERR Protocol error: /, 'a protocol error');

  // Announce huge bulks on many connections and stall: nothing must be allocated for them.
  const stalled: Conversation[] = [];
  for (let i = 0; i < 16; i++) {
    const c = await converse(t, server.port);
    c.send(`*2\r\n$3\r\nSET\r\n$${512 * 1024 * 1024}\r\nxyz`);
    stalled.push(c);
  }
  await sleep(500);
  t.ok(await pingOk(t, server.port), 'another client still gets PONG');
  const after = rssOf(server.pid)!;
  t.ok(after - before < 256 * 1024 * 1024, `RSS grew by ${Math.round((after - before) / 1048576)} MiB for 16 announced 512 MiB bulks`);
  t.ok(stalled.every((c) => !c.closed() || c.received().length > 0), 'each stalled connection is open or was answered');
});

t.test('a 1 GB inline line is refused long before 1 GB is sent, others served throughout', async (t) => {
  const server = await startServer(t);
  const c = await converse(t, server.port);

  // A second client pings all along; every PING must be answered.
  const pinger = await converse(t, server.port);
  let pings = 0;
  let slowest = 0;
  let stopPinging = false;
  const pinging: Promise<string | undefined> = (async () => {
    while (!stopPinging) {
      const sent = Date.now();
      pings++;
      pinger.send('PING\r\n');
      const ok = await pinger.waitFor((d) => d.length === pings * 7, 2000);
      if (!ok) throw new Error(`PING #${pings} not answered within 2 s (got ${JSON.stringify(pinger.received().toString('latin1').slice(-40))})`);
      slowest = Math.max(slowest, Date.now() - sent);
      await sleep(10);
    }
    return undefined;
  })().catch((err: Error) => err.message);

  const GB = 1024 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let sent = 0;
  let writeError: string | undefined;
  c.socket.on('error', (e) => (writeError = e.message));
  while (sent < GB && !c.closed() && c.received().length === 0 && !c.socket.destroyed) {
    const more = c.socket.write(chunk);
    sent += chunk.length;
    if (!more) {
      // Wait for room, or for the server to answer or close.
      await Promise.race([new Promise((resolve) => c.socket.once('drain', resolve)), c.waitFor((d) => d.length > 0, 5000), c.waitClosed(5000)]);
      if (c.socket.writableNeedDrain && !c.closed() && c.received().length === 0) {
        // Neither room nor an answer in 5 s: the server stopped reading without closing.
        break;
      }
    }
  }
  await c.waitFor((d) => d.length > 0, 1000);
  await c.waitClosed(2000);
  stopPinging = true;
  const pingError = await pinging;
  const reply = c.received().toString('latin1');
  t.ok(sent < 64 * 1024 * 1024, `stopped after ${Math.round(sent / 1024)} KiB (of 1 GiB)`);
  t.ok(reply === '' || reply === '-ERR Protocol error: too big inline request\r\n', 'the reply, if any, is the protocol error', { reply, writeError });
  t.ok(c.closed() || reply !== '', `the connection was answered or closed (closed: ${c.closed()}, reply: ${JSON.stringify(reply)})`);
  t.equal(reply, '-ERR Protocol error: too big inline request\r\n', 'answered with Redis\'s error');
  t.equal(pingError, undefined, `another client's PINGs were all answered meanwhile (${pings}, slowest ${slowest} ms)`);
  t.ok(await pingOk(t, server.port), 'still serving new clients');
});

t.test('clients that send half a command and stall do not block anyone', async (t) => {
  const server = await startServer(t);
  const halves = [
    '*3\r\n$3\r\nSET\r\n$1\r\nk',
    '*3\r\n$3\r\nSET\r\n$',
    '*3\r\n',
    '*',
    'SET k v',
    '*2\r\n$3\r\nGET\r\n$1\r\nk\r',
  ];
  const stalled: Conversation[] = [];
  for (let i = 0; i < 60; i++) {
    const c = await converse(t, server.port);
    c.send(halves[i % halves.length]!);
    stalled.push(c);
  }
  await sleep(300);
  const other = await converse(t, server.port);
  other.send(resp('SET', 'other', 'works'));
  other.send(resp('GET', 'other'));
  t.ok(await other.waitFor((d) => d.toString() === '+OK\r\n$5\r\nworks\r\n', 3000), 'another client is served', { got: other.received().toString() });
  // Finish the first stalled command a byte at a time: it completes normally.
  const first = stalled[0]!;
  for (const ch of '\r\n$1\r\nv\r\n') {
    first.send(ch);
    await sleep(5);
  }
  t.ok(await first.waitFor((d) => d.toString() === '+OK\r\n', 3000), 'the stalled command completes when its bytes arrive', { got: first.received().toString() });
  stalled[4]!.send('\r\n');
  t.ok(await stalled[4]!.waitFor((d) => d.toString() === '+OK\r\n', 3000), 'a stalled inline command completes too');
  t.ok(stalled.every((c) => !c.closed()), 'stalled clients are not closed meanwhile');
  for (const c of stalled) c.socket.destroy();
  t.ok(await pingOk(t, server.port), 'still serving after they all disconnect');
});

t.test('a client that pipelines without reading replies is throttled; memory stays bounded', async (t) => {
  const server = await startServer(t, { args: ['--durability', 'low'] });
  const setup = await converse(t, server.port);
  setup.send(resp('SET', 'big', Buffer.alloc(16 * 1024, 'v')));
  t.ok(await setup.waitFor((d) => d.toString() === '+OK\r\n', 3000));
  const before = rssOf(server.pid)!;
  const greedy = await converse(t, server.port);
  greedy.socket.pause(); // never read
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => resp('GET', 'big')));
  let gets = 0;
  let peak = before;
  const deadline = Date.now() + 10_000;
  // Each GET asks for 16 KiB: a million of them would be 16 GB of replies.
  while (gets < 1_000_000 && Date.now() < deadline) {
    if (!greedy.socket.write(batch)) {
      const drained = await Promise.race([new Promise<boolean>((resolve) => greedy.socket.once('drain', () => resolve(true))), sleep(1500).then(() => false)]);
      if (!drained) break;
    }
    gets += 1000;
    if (gets % 20_000 === 0) peak = Math.max(peak, rssOf(server.pid) ?? 0);
  }
  await sleep(300);
  peak = Math.max(peak, rssOf(server.pid) ?? 0);
  t.ok(gets < 1_000_000, `the server stopped reading after about ${gets} GETs (${Math.round((gets * 16) / 1024)} MiB of replies asked for)`);
  t.ok(peak - before < 512 * 1024 * 1024, `RSS grew by at most ${Math.round((peak - before) / 1048576)} MiB`);
  t.ok(await pingOk(t, server.port), 'others still served');
  greedy.socket.destroy();
  await sleep(200);
  t.ok(await pingOk(t, server.port), 'still serving after the greedy client goes');
});
