/**
 * Authentication and the life cycle of a real `bitraft serve`: AUTH with --requirepass
 * (and its environment variable), what is allowed before AUTH, SHUTDOWN / SIGTERM /
 * SIGINT stopping with exit code 0 and releasing the directory's lock, a second serve
 * on a locked directory refused with a one-line error naming the pid, and --maxclients.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import {
  converse,
  exchange,
  isAlive,
  pingOk,
  redisCliAsync,
  requireTools,
  resp,
  runServeToExit,
  sleep,
  startRedisServer,
  startServer,
  type Conversation,
  type ServerHandle,
} from '../helpers/server.js';

requireTools('redis-server', 'redis-cli', 'redis-benchmark');

const LOCK = 'LOCK';

/** Sends one command on `c` and waits for its complete reply (one line, or a bulk). */
async function command(c: Conversation, ...args: string[]): Promise<string> {
  const from = c.received().length;
  c.send(resp(...args));
  const complete = (d: Buffer): boolean => {
    const s = d.subarray(from).toString('latin1');
    if (/^[-+:]/.test(s)) return s.endsWith('\r\n');
    const m = /^\$(-?\d+)\r\n/.exec(s);
    if (m) return Number(m[1]) < 0 || s.length >= m[0].length + Number(m[1]) + 2;
    return s.startsWith('*') && s.endsWith('\r\n') && s.length > 4;
  };
  await c.waitFor(complete, 3000);
  return c.received().subarray(from).toString('latin1');
}

/** Resolves with the exit, or 'timeout'. */
function exitWithin(server: ServerHandle, ms: number): Promise<unknown> {
  return Promise.race([server.exited, sleep(ms).then(() => 'timeout')]);
}

t.test('AUTH with --requirepass, as redis-server does it', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t, { args: ['--requirepass', 's3cret'] }), startRedisServer(t, ['--requirepass', 's3cret'])]);
  // One connection each, the same commands; redis-cli reads them from stdin.
  const script = [
    'GET a',
    'SET a b',
    'ECHO hi',
    'DBSIZE',
    'KEYS *',
    'AUTH wrong',
    'AUTH default wrong',
    'AUTH nosuchuser s3cret',
    'HELLO',
    'HELLO 2',
    'GET a',
    'AUTH s3cret',
    'GET a',
    'SET a b',
    'GET a',
    'AUTH a b c',
    'AUTH s3cret',
    'AUTH default s3cret',
    'GET a',
    '',
  ].join('\n');
  for (const mode of [[], ['--no-raw']]) {
    const [b, r] = await Promise.all([redisCliAsync(bitraft.port, mode, script), redisCliAsync(redis.port, mode, script)]);
    t.equal(b.stdout, r.stdout, `redis-cli ${mode.join(' ')} prints the same for the AUTH script`);
    t.equal(b.status, r.status);
  }
});

t.test('before AUTH: NOAUTH for data commands; PING, QUIT, HELLO and AUTH allowed', async (t) => {
  const server = await startServer(t, { args: ['--requirepass', 'pw'] });
  const c = await converse(t, server.port);
  t.equal(await command(c, 'GET', 'k'), '-NOAUTH Authentication required.\r\n', 'GET: NOAUTH');
  t.equal(await command(c, 'SET', 'k', 'v'), '-NOAUTH Authentication required.\r\n', 'SET: NOAUTH');
  t.equal(await command(c, 'SHUTDOWN'), '-NOAUTH Authentication required.\r\n', 'SHUTDOWN: NOAUTH');
  t.equal(await command(c, 'PING'), '+PONG\r\n', 'PING is allowed');
  t.equal(await command(c, 'AUTH', 'bad'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n', 'a wrong password: WRONGPASS');
  t.equal(await command(c, 'GET', 'k'), '-NOAUTH Authentication required.\r\n', 'still NOAUTH after a wrong password');
  t.match(await command(c, 'HELLO', '2', 'AUTH', 'default', 'bad'), /^-WRONGPASS /, 'HELLO AUTH with a wrong password: WRONGPASS');
  t.match(await command(c, 'HELLO', '2'), /^-NOAUTH HELLO must be called with the client already authenticated/, 'HELLO without AUTH: NOAUTH');
  t.equal(await command(c, 'AUTH', 'pw'), '+OK\r\n', 'AUTH: OK');
  t.equal(await command(c, 'SET', 'k', 'v'), '+OK\r\n', 'then SET works');
  t.equal(await command(c, 'GET', 'k'), '$1\r\nv\r\n', 'and GET');

  const h = await converse(t, server.port);
  t.match(await command(h, 'HELLO', '2', 'AUTH', 'default', 'pw'), /^\*\d+\r\n/, 'HELLO 2 AUTH default <pw> authenticates');
  t.equal(await command(h, 'GET', 'k'), '$1\r\nv\r\n', 'and the connection is authenticated');

  const q = await converse(t, server.port);
  t.equal(await command(q, 'QUIT'), '+OK\r\n', 'QUIT is allowed before AUTH');
  t.ok(await q.waitClosed(2000), 'and closes the connection');

  // Each connection authenticates on its own.
  const other = await converse(t, server.port);
  t.equal(await command(other, 'GET', 'k'), '-NOAUTH Authentication required.\r\n', 'another connection is not authenticated');
});

t.test('the password from BITRAFT_REQUIREPASS; ioredis with and without its password option', async (t) => {
  const server = await startServer(t, { env: { BITRAFT_REQUIREPASS: 'from-env' } });
  /** Connects once (no retries) and returns the error events ioredis emitted. */
  const tryConnect = async (password?: string): Promise<string[]> => {
    const errors: string[] = [];
    const redis = new Redis({ port: server.port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', (e: Error) => errors.push(e.message));
    t.teardown(() => redis.disconnect());
    await redis.connect().catch(() => {});
    redis.disconnect();
    return errors;
  };
  // ioredis's ready check (INFO) fails with NOAUTH; against redis-server it does the same.
  t.match((await tryConnect()).join('\n'), /NOAUTH Authentication required/, 'without the password: NOAUTH');
  t.match((await tryConnect('nope')).join('\n'), /WRONGPASS/, 'with a wrong password: WRONGPASS');
  const authed = new Redis({ port: server.port, host: '127.0.0.1', password: 'from-env' });
  authed.on('error', () => {});
  t.teardown(() => authed.disconnect());
  t.equal(await authed.set('k', 'v'), 'OK', 'with the password: SET');
  t.equal(await authed.get('k'), 'v', 'and GET');
});

t.test('AUTH without a configured password: the same replies as redis-server', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t)]);
  for (const args of [['AUTH', 'x'], ['AUTH', 'default', 'x'], ['AUTH']]) {
    const [b, r] = await Promise.all([exchange(t, bitraft.port, resp(...args)), exchange(t, redis.port, resp(...args))]);
    t.equal(b.reply.toString('latin1'), r.reply.toString('latin1'), args.join(' '));
  }
});

t.test('SHUTDOWN stops the server with exit code 0 and releases the lock', async (t) => {
  const server = await startServer(t);
  const c = await converse(t, server.port);
  t.equal(await command(c, 'SET', 'before', 'shutdown'), '+OK\r\n');
  t.ok(fs.existsSync(path.join(server.dir, LOCK)), 'the lock is held while running');
  c.send(resp('SHUTDOWN'));
  t.ok(await c.waitClosed(5000), 'the connection is closed');
  t.same(await exitWithin(server, 10_000), { code: 0, signal: null }, 'exit code 0', { stderr: server.stderr() });
  t.notOk(fs.existsSync(path.join(server.dir, LOCK)), 'the lock file is gone');
  t.notOk(await pingOk(t, server.port, 500).catch(() => false), 'nothing listens on the port any more');
  const again = await startServer(t, { dir: server.dir });
  const d = await converse(t, again.port);
  t.equal(await command(d, 'GET', 'before'), '$8\r\nshutdown\r\n', 'a second serve on the same dir starts, with the data');
});

t.test('SHUTDOWN with a password needs AUTH first; SHUTDOWN ABORT and bad options are refused', async (t) => {
  const server = await startServer(t, { args: ['--requirepass', 'pw'] });
  const c = await converse(t, server.port);
  t.equal(await command(c, 'SHUTDOWN'), '-NOAUTH Authentication required.\r\n');
  t.equal(await command(c, 'AUTH', 'pw'), '+OK\r\n');
  t.equal(await command(c, 'SHUTDOWN', 'BOGUS'), '-ERR syntax error\r\n', 'SHUTDOWN BOGUS: syntax error, as Redis');
  t.match(await command(c, 'SHUTDOWN', 'ABORT'), /^-ERR /, 'SHUTDOWN ABORT with no shutdown in progress: an error');
  t.ok(server.alive(), 'still running');
  c.send(resp('SHUTDOWN', 'NOSAVE'));
  t.same(await exitWithin(server, 10_000), { code: 0, signal: null }, 'SHUTDOWN NOSAVE: exit code 0');
  t.notOk(fs.existsSync(path.join(server.dir, LOCK)), 'the lock file is gone');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} stops the server with exit code 0 and releases the lock`, async (t) => {
    const server = await startServer(t);
    const c = await converse(t, server.port);
    t.equal(await command(c, 'SET', 'k', signal), '+OK\r\n');
    const exit = await server.stop(signal);
    t.same(exit, { code: 0, signal: null }, 'exit code 0', { stderr: server.stderr() });
    t.ok(await c.waitClosed(2000), 'clients are disconnected');
    t.notOk(fs.existsSync(path.join(server.dir, LOCK)), 'the lock file is gone');
    t.match(server.stderr(), /stopped/, 'logged that it stopped');
    const again = await startServer(t, { dir: server.dir });
    const d = await converse(t, again.port);
    t.equal(await command(d, 'GET', 'k'), `$${signal.length}\r\n${signal}\r\n`, 'a second serve on the same dir starts, with the data');
  });
}

t.test('a second serve on a locked dir exits non-zero with a one-line error naming the pid', async (t) => {
  const first = await startServer(t);
  const second = await runServeToExit(t, first.dir);
  t.notOk(second.timedOut, 'the second serve exits by itself');
  t.not(second.code, 0, `exit code ${second.code} is not 0`);
  t.not(second.code, null);
  const lines = second.stderr.split('\n').filter((l) => l.trim() !== '');
  t.equal(lines.length, 1, 'one line on stderr', { stderr: second.stderr });
  t.match(second.stderr, new RegExp(`\\b${first.pid}\\b`), 'naming the pid holding the lock');
  t.notMatch(second.stderr, /\n\s+at /, 'no stack trace');
  t.equal(second.stdout, '', 'nothing on stdout');
  t.ok(isAlive(first.pid), 'the first server is still running');
  t.ok(await pingOk(t, first.port), 'and still serving');
  t.equal(fs.readFileSync(path.join(first.dir, LOCK), 'latin1').trim(), String(first.pid), 'the lock still names the first server');
});

t.test('--maxclients 2: the third client gets the error redis-server gives', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t, { args: ['--maxclients', '2'] }), startRedisServer(t, ['--maxclients', '2'])]);
  for (const [name, port] of [['bitraft', bitraft.port], ['redis-server', redis.port]] as const) {
    const a = await converse(t, port);
    const b = await converse(t, port);
    t.equal(await command(a, 'PING'), '+PONG\r\n', `${name}: first client`);
    t.equal(await command(b, 'PING'), '+PONG\r\n', `${name}: second client`);
    const third = await converse(t, port);
    third.send('PING\r\n');
    await third.waitClosed(3000);
    t.equal(third.received().toString('latin1'), '-ERR max number of clients reached\r\n', `${name}: the third client gets the error`);
    t.ok(third.closed(), `${name}: and is disconnected`);
    t.equal(await command(a, 'PING'), '+PONG\r\n', `${name}: the first two still work`);
    a.socket.destroy();
    await sleep(200);
    const fourth = await converse(t, port);
    t.equal(await command(fourth, 'PING'), '+PONG\r\n', `${name}: once one leaves, a new client gets in`);
    b.socket.destroy();
    fourth.socket.destroy();
    await sleep(200);
  }
});

t.test('--cache-size: INFO memory reports the value cache; 0 disables it', async (t) => {
  const [cached, uncached] = await Promise.all([startServer(t), startServer(t, { args: ['--cache-size', '0'] })]);
  for (const [server, expected] of [
    [cached, 1],
    [uncached, 0],
  ] as const) {
    const run = await redisCliAsync(server.port, [], 'SET k v\nGET k\nGET k\nINFO memory\n');
    t.equal(run.status, 0);
    t.match(run.stdout, /^OK\nv\nv\n/);
    t.match(run.stdout, new RegExp(`bitraft_cached_values:${expected}\\r?\\n`), `cached values: ${expected}`);
  }
  const bad = await runServeToExit(t, path.join(cached.dir, 'other'), ['--cache-size', '-1']);
  t.equal(bad.code, 2, 'a negative cache size is refused');
  t.match(bad.stderr, /cache-size/);
});
