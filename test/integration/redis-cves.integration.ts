/**
 * One regression test per class of Redis CVE, against a real `bitraft serve`:
 *
 * - unauthenticated memory growth (CVE-2021-32675): before AUTH, a request may hold 10
 *   arguments of 16 KiB at most; announcing more is a protocol error at once, nothing is
 *   allocated for it, and the connection is closed;
 * - length overflows (CVE-2021-41099, CVE-2021-32627/32628 class): counts and lengths at
 *   and past 2^31, 2^32, 2^53 and 2^63 are refused before any allocation;
 * - glob blow-ups (CVE-2022-36021, CVE-2024-31228): KEYS and PDEL with 100,000-character
 *   patterns built to backtrack or nest answer promptly, without a stack overflow, and
 *   the node keeps serving.
 */
import t from 'tap';
import { converse, exchange, pingOk, redisCliAsync, resp, rssOf, sleep, startServer } from '../helpers/server.js';

t.test('before AUTH: more than 10 arguments or 16 KiB is refused at once, nothing allocated', async (t) => {
  const server = await startServer(t, { args: ['--requirepass', 'pw'] });
  const before = rssOf(server.pid)!;
  const bulk = await exchange(t, server.port, '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n');
  t.equal(bulk.reply.toString(), '-ERR Protocol error: unauthenticated bulk length\r\n');
  t.ok(bulk.closed, 'closed');
  const count = await exchange(t, server.port, '*1000000\r\n');
  t.equal(count.reply.toString(), '-ERR Protocol error: unauthenticated multibulk length\r\n');
  // Many strangers announcing big requests: none of it is held.
  for (let i = 0; i < 32; i++) {
    const c = await converse(t, server.port);
    c.send(`*10\r\n$16384\r\n${'x'.repeat(8000)}`);
  }
  await sleep(300);
  t.ok((rssOf(server.pid)! - before) / 1048576 < 64, `RSS grew by ${Math.round((rssOf(server.pid)! - before) / 1048576)} MiB`);
  const authed = await exchange(t, server.port, Buffer.concat([resp('AUTH', 'pw'), resp('SET', 'k', 'v'.repeat(100_000)), resp('STRLEN', 'k'), resp('GET', 'nope')]));
  t.match(authed.reply.toString(), /^\+OK\r\n\+OK\r\n/, 'after AUTH (in the same packet) the full limits apply');
  t.ok(await pingOk(t, server.port));
});

t.test('counts and lengths past the integer limits are refused before anything is allocated', async (t) => {
  const server = await startServer(t);
  for (const n of ['2147483648', '4294967296', '9007199254740993', '9223372036854775807', '9223372036854775808', '-9223372036854775809']) {
    const count = await exchange(t, server.port, `*${n}\r\n`);
    t.match(count.reply.toString(), /^-ERR Protocol error: invalid multibulk length\r\n$|^$/, `*${n}`);
    const bulk = await exchange(t, server.port, `*1\r\n$${n}\r\n`);
    t.equal(bulk.reply.toString(), '-ERR Protocol error: invalid bulk length\r\n', `$${n}`);
  }
  t.ok(await pingOk(t, server.port), 'still serving');
});

t.test('KEYS and PDEL with 100,000-character patterns answer, without a stack overflow', async (t) => {
  const server = await startServer(t, { args: ['--durability', 'low'] });
  await redisCliAsync(server.port, ['MSET', 'a'.repeat(200), 'v', 'ab', 'v', 'key:1', 'v']);
  const patterns: [string, string][] = [
    ['a*'.repeat(50_000), 'many stars (deep backtracking)'],
    ['*'.repeat(100_000), 'only stars'],
    ['['.repeat(100_000), 'unclosed brackets'],
    ['\\'.repeat(100_000), 'escapes'],
    [`${'[a-z]'.repeat(20_000)}`, 'ranges'],
    ['?'.repeat(100_000), 'longer than every key'],
  ];
  for (const [pattern, what] of patterns) {
    for (const command of ['KEYS', 'PDEL']) {
      const started = Date.now();
      const run = await redisCliAsync(server.port, [command, pattern], undefined, 20_000);
      t.equal(run.status, 0, `${command} ${what}: answered (in ${Date.now() - started} ms)`);
      t.notMatch(run.stdout, /ERR|Maximum call stack/, `${command} ${what}: no error`);
    }
  }
  t.equal((await redisCliAsync(server.port, ['DBSIZE'])).stdout.trim(), '0', 'the all-stars PDEL deleted every key');
  t.ok(await pingOk(t, server.port), 'still serving');
});
