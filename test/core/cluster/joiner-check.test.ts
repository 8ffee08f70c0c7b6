/**
 * Tests of joiner-check.ts: which nodes may be added to a cluster (`joinerRefusal`), the
 * parsing of what a node says it holds, and `checkJoiner` against a fake node on loopback
 * answering INFO keyspace and RAFTPEERS as scripted.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { checkJoiner, joinerRefusal, keysOfInfo, membersOfPeers } from '../../../src/core/cluster/joiner-check.js';
import { arrayReply, bulkReply, errorReply, intReply } from '../../../src/core/resp/index.js';

const A = '10.0.0.1:4920';
const B = '10.0.0.2:4920';
const X = '10.0.0.9:4920';
const FIX = 'only a node started with an empty --dir and --join can be added (to keep its keys, copy them in first: bitraft snapshot, then bitraft parse-snapshot | redis-cli --pipe)';

t.test('joinerRefusal', async (t) => {
  t.equal(joinerRefusal(X, { keys: 0, members: [] }, [A, B]), undefined, 'an empty node waiting to join');
  t.equal(joinerRefusal(X, { keys: 5, members: [A, X] }, [A, B]), undefined, 'a node of this cluster, added again');
  const foreign = joinerRefusal(X, { keys: 1, members: [X] }, [A, B]);
  t.equal(foreign?.code, 'INVALID_ARGUMENT');
  t.equal(foreign?.message, `${X} belongs to another cluster (its members: ${X}; it holds 1 key); ${FIX}`);
  t.equal(joinerRefusal(X, { keys: 0, members: [X, '10.0.0.8:1'] }, [A, B, X])?.message, `${X} belongs to another cluster (its members: ${X}, 10.0.0.8:1; it holds 0 keys); ${FIX}`, 'itself does not count as a shared member');
  t.equal(joinerRefusal(X, { keys: 3, members: [] }, [A])?.message, `${X} holds 3 keys outside any cluster; ${FIX}`);
});

t.test('keysOfInfo and membersOfPeers', async (t) => {
  t.equal(keysOfInfo(bulkReply('# Keyspace\r\ndb0:keys=42,expires=1,avg_ttl=0\r\n')), 42);
  t.equal(keysOfInfo(bulkReply('# Keyspace\r\n')), 0, 'no database listed: empty');
  t.throws(() => keysOfInfo(errorReply('LOADING bitraft is loading the dataset in memory')), { code: 'PROTOCOL', message: 'INFO keyspace answered LOADING bitraft is loading the dataset in memory' });
  t.throws(() => keysOfInfo(intReply(1)), { message: 'INFO keyspace answered a integer reply' });
  t.strictSame(membersOfPeers(arrayReply([arrayReply([bulkReply(A), bulkReply('voter')]), arrayReply([bulkReply(B)])])), [A, B]);
  t.strictSame(membersOfPeers(arrayReply([])), []);
  t.throws(() => membersOfPeers(errorReply("ERR unknown command 'RAFTPEERS'")), { code: 'PROTOCOL', message: "RAFTPEERS answered ERR unknown command 'RAFTPEERS'" });
  t.throws(() => membersOfPeers(bulkReply('x')), { message: 'RAFTPEERS answered a bulk reply' });
  t.throws(() => membersOfPeers(arrayReply([bulkReply(A)])), { message: 'RAFTPEERS answered a row without a member id' });
  t.throws(() => membersOfPeers(arrayReply([arrayReply([intReply(1)])])), { message: 'RAFTPEERS answered a row without a member id' });
});

/** A fake node answering each command line it gets with `answers[command]` (raw RESP). */
async function fakeNode(t: Test, answers: Record<string, string>): Promise<{ addr: string; seen: string[] }> {
  const seen: string[] = [];
  const server = net.createServer((socket) => {
    let data = '';
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      // Commands arrive as RESP arrays; answer each whole one by its name.
      for (let m = /^\*(\d+)\r\n((?:\$\d+\r\n[^\r]*\r\n)+)/.exec(data); m; m = /^\*(\d+)\r\n((?:\$\d+\r\n[^\r]*\r\n)+)/.exec(data)) {
        const parts = m[2]!.split('\r\n').filter((_, i) => i % 2 === 1);
        if (parts.length < Number(m[1])) break;
        const whole = `*${m[1]}\r\n` + parts.slice(0, Number(m[1])).map((p) => `$${p.length}\r\n${p}\r\n`).join('');
        data = data.slice(whole.length);
        const name = parts.slice(0, Number(m[1])).join(' ');
        seen.push(name);
        socket.write(answers[name] ?? '-ERR unexpected\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as net.AddressInfo).port;
  return { addr: `127.0.0.1:${port}`, seen };
}

const PEERS_OF = (...ids: string[]): string => `*${ids.length}\r\n` + ids.map((id) => `*2\r\n$${id.length}\r\n${id}\r\n$5\r\nvoter\r\n`).join('');
const INFO_KEYS = (n: number): string => {
  const text = n === 0 ? '# Keyspace\r\n' : `# Keyspace\r\ndb0:keys=${n},expires=0,avg_ttl=0\r\n`;
  return `$${text.length}\r\n${text}\r\n`;
};

t.test('checkJoiner asks the node, with the credentials, and judges what it holds', async (t) => {
  const empty = await fakeNode(t, { 'AUTH pw': '+OK\r\n', 'INFO keyspace': INFO_KEYS(0), RAFTPEERS: '*0\r\n' });
  await checkJoiner({ addr: empty.addr, members: [A], credentials: { password: 'pw' }, timeoutMs: 5000 });
  t.strictSame(empty.seen, ['AUTH pw', 'INFO keyspace', 'RAFTPEERS']);

  const foreign = await fakeNode(t, { 'INFO keyspace': INFO_KEYS(7), RAFTPEERS: PEERS_OF('127.0.0.1:1') });
  await t.rejects(checkJoiner({ addr: foreign.addr, members: [A], timeoutMs: 5000 }), {
    code: 'INVALID_ARGUMENT',
    message: `${foreign.addr} belongs to another cluster (its members: 127.0.0.1:1; it holds 7 keys); ${FIX}`,
  });
});

t.test('checkJoiner: a node that cannot be asked is UNAVAILABLE', async (t) => {
  const loading = await fakeNode(t, { 'INFO keyspace': '-LOADING bitraft is loading the dataset in memory\r\n', RAFTPEERS: '-LOADING bitraft is loading the dataset in memory\r\n' });
  await t.rejects(checkJoiner({ addr: loading.addr, members: [A], timeoutMs: 5000 }), {
    code: 'UNAVAILABLE',
    message: `cannot check ${loading.addr} before adding it (INFO keyspace answered LOADING bitraft is loading the dataset in memory): start it first, with an empty --dir`,
  });
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.rejects(checkJoiner({ addr: `127.0.0.1:${port}`, members: [A], timeoutMs: 5000 }), { code: 'UNAVAILABLE', message: /ECONNREFUSED.*start it first/ });
  // A route sends the check where the node really listens.
  const routed = await fakeNode(t, { 'INFO keyspace': INFO_KEYS(0), RAFTPEERS: '*0\r\n' });
  await checkJoiner({ addr: X, members: [A], credentials: { routes: new Map([[X, routed.addr]]) }, timeoutMs: 5000 });
  t.strictSame(routed.seen, ['INFO keyspace', 'RAFTPEERS']);
});
