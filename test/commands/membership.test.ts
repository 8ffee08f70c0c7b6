/**
 * Tests of `bitraft join` and `bitraft leave` (src/commands/join.ts, leave.ts and
 * src/core/cli/membership.ts): the real CLI against real `bitraft serve` processes on
 * loopback. A node started with --join towards a port where nothing listens waits,
 * empty, to be added; `join` adds it (exit 0, one line on stdout, or the result as JSON
 * with --json), `leave` removes it. A refused password ends at once with one line on
 * stderr and no stack; with no cluster listening the command gives up after --timeout.
 */
import t from 'tap';
import { RespClient } from '../../src/core/cluster/resp-client.js';
import type { Reply } from '../../src/core/resp/types.js';
import { runCli } from '../helpers/cli.js';
import { freePort, startServer } from '../helpers/server.js';

const PASSWORD = 'sesame';
const FAST = ['--heartbeat-interval', '20', '--election-timeout', '200', '--requirepass', PASSWORD];

/** RAFTPEERS of the node at `port`: [address, suffrage] pairs. */
async function members(port: number): Promise<string[][]> {
  const client = new RespClient({ host: '127.0.0.1', port, credentials: { password: PASSWORD } });
  try {
    const reply: Reply = await client.call(['RAFTPEERS'], 5000);
    if (reply.type !== 'array') throw new Error(`RAFTPEERS answered ${JSON.stringify(reply)}`);
    return reply.items.map((row) => (row.type === 'array' ? row.items.slice(0, 2).map((v) => (v.type === 'bulk' ? v.value.toString() : '?')) : []));
  } finally {
    client.close();
  }
}

/** The one `Error: …` line a command printed on stderr. */
function errorOf(stderr: string): string {
  return stderr.split('\n').find((l) => l.startsWith('Error: ')) ?? '';
}

// One cluster node for the tests that need one; stopped (SIGTERM) at the end.
const a = await startServer(t, { args: FAST });
const A = `127.0.0.1:${a.port}`;

t.test('join adds a waiting node to the cluster, leave removes it', async (t) => {
  const nobody = await freePort();
  // Its own --join goes nowhere: it waits, empty, until the cluster is told to add it.
  const b = await startServer(t, { args: [...FAST, '--join', `127.0.0.1:${nobody}`] });
  const B = `127.0.0.1:${b.port}`;
  t.strictSame(await members(a.port), [[A, 'voter']]);

  const joined = runCli(['join', A, '--addr', B, '--password', PASSWORD, '--timeout', '20000']);
  t.equal(joined.status, 0, joined.stderr);
  t.equal(joined.stdout, `added ${B} to the cluster of ${A}\n`);
  t.strictSame(await members(a.port), [
    [A, 'voter'],
    [B, 'voter'],
  ]);
  t.strictSame(await members(b.port), [
    [A, 'voter'],
    [B, 'voter'],
  ], 'the new node has the log');

  // Through the new node (a follower, which forwards it), as JSON: adding a voter again is fine.
  const again = runCli(['join', B, '-a', B, '-p', PASSWORD, '--json']);
  t.equal(again.status, 0, again.stderr);
  t.strictSame(JSON.parse(again.stdout), { target: B, addr: B, change: 'added' });

  const left = runCli(['leave', A, '--addr', B, '-p', PASSWORD]);
  t.equal(left.status, 0, left.stderr);
  t.equal(left.stdout, `removed ${B} from the cluster of ${A}\n`);
  t.strictSame(await members(a.port), [[A, 'voter']]);
  await b.stop();
});

/** Runs one command on the node at `port`; its reply. */
async function call(port: number, args: string[]): Promise<Reply> {
  const client = new RespClient({ host: '127.0.0.1', port, credentials: { password: PASSWORD } });
  try {
    return await client.call(args, 5000);
  } finally {
    client.close();
  }
}

t.test('a node that runs a cluster of its own is refused, with its keys untouched', async (t) => {
  // Started without --join: it leads a cluster of its own, as "bitraft serve --dir d2" does.
  const c = await startServer(t, { args: FAST });
  const C = `127.0.0.1:${c.port}`;
  const fix =
    'only a node started with an empty --dir and --join can be added ' +
    '(to keep its keys, copy them in first: bitraft snapshot, then bitraft parse-snapshot | redis-cli --pipe)';
  const refusal = (keys: string): string => `Error: ${A} refused RAFTADDPEER ${C}: ERR ${C} belongs to another cluster (its members: ${C}; it holds ${keys}); ${fix}`;

  const empty = runCli(['join', A, '--addr', C, '--password', PASSWORD, '--timeout', '30000']);
  t.equal(empty.status, 1);
  t.equal(errorOf(empty.stderr), refusal('0 keys'), 'refused at once, even empty: its log is another history');

  t.strictSame(await call(c.port, ['SET', 'mine', '1']), { type: 'simple', value: 'OK' });
  const refused = runCli(['join', A, '--addr', C, '--password', PASSWORD]);
  t.equal(refused.status, 1);
  t.equal(errorOf(refused.stderr), refusal('1 key'));
  t.strictSame(await members(a.port), [[A, 'voter']], 'not added');
  t.strictSame(await call(c.port, ['GET', 'mine']), { type: 'bulk', value: Buffer.from('1') }, 'its key is untouched');
  t.strictSame(await call(a.port, ['GET', 'mine']), { type: 'null-bulk' }, 'and not in the cluster');
  await c.stop();
});

t.test('a node that cannot be reached is not added', async (t) => {
  const nobody = `127.0.0.1:${await freePort()}`;
  const r = runCli(['join', A, '--addr', nobody, '--password', PASSWORD, '--timeout', '600']);
  t.equal(r.status, 1);
  t.match(errorOf(r.stderr), new RegExp(`last error: ERR cannot check ${nobody} before adding it \\(.*ECONNREFUSED.*\\): start it first, with an empty --dir$`));
  t.strictSame(await members(a.port), [[A, 'voter']]);
});

t.test('a refused password ends at once, with one line and no stack', async (t) => {
  const started = Date.now();
  const r = runCli(['leave', A, '--addr', '127.0.0.1:4999', '--password', 'wrong', '--timeout', '30000']);
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.equal(
    errorOf(r.stderr),
    `Error: ${A} refused RAFTREMOVEPEER 127.0.0.1:4999: cluster node ${A}: AUTH refused: WRONGPASS invalid username-password pair or user is disabled.`,
    'the reason',
  );
  t.equal(r.stderr.match(/Error/g)?.length, 1, 'one error');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack');
  t.ok(Date.now() - started < 15_000, 'not retried until the timeout');
  t.strictSame(await members(a.port), [[A, 'voter']], 'nothing changed');
});

t.test('with no cluster listening, it gives up after --timeout', async (t) => {
  const nobody = await freePort();
  const target = `127.0.0.1:${nobody}`;
  const started = Date.now();
  const r = runCli(['join', target, '--addr', '127.0.0.1:4999', '--timeout', '400']);
  const took = Date.now() - started;
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /retrying in 100 ms/, 'progress on stderr');
  t.match(errorOf(r.stderr), new RegExp(`^Error: RAFTADDPEER 127\\.0\\.0\\.1:4999 did not succeed within 400 ms; last error: cluster node ${target}: connect ECONNREFUSED`));
  t.notMatch(r.stderr, /\n\s+at /, 'no stack');
  t.ok(took < 20_000, `gave up (${took} ms)`);
});

t.test('the node stops cleanly', async (t) => {
  t.strictSame(await a.stop(), { code: 0, signal: null });
});
