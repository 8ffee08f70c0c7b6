/**
 * redis-cli against a real `bitraft serve` and a real `redis-server`: the same commands,
 * in the same order, on two servers that start empty; what redis-cli prints (and its
 * exit status) must be byte for byte the same, in its raw output (no TTY) and in its
 * formatted output (--no-raw), for every command Redis also has.
 */
import t, { type Test } from 'tap';
import { redisCli, redisCliAsync, requireTools, startRedisServer, startServer, type CliRun } from '../helpers/server.js';

requireTools('redis-server', 'redis-cli', 'redis-benchmark');

/** One redis-cli run: its arguments and optional stdin. */
interface Step {
  args: string[];
  /** Fed on stdin (with `-x`, as the last argument). */
  input?: string | Buffer;
}

const step = (...args: string[]): Step => ({ args });

/** Commands whose replies do not depend on which keys Redis returns first. */
const STEPS: Step[] = [
  step('PING'),
  step('ping', 'hello world'),
  step('PING', 'a', 'b'),
  step('ECHO', 'hi there'),
  step('ECHO', ''),
  step('ECHO'),
  step('SET', 'foo', 'bar'),
  step('GET', 'foo'),
  step('get', 'missing'),
  step('SET', 'foo', ''),
  step('GET', 'foo'),
  step('SET', '', 'value of the empty key'),
  step('GET', ''),
  step('EXISTS', ''),
  step('SET'),
  step('SET', 'a'),
  step('SET', 'a', 'b', 'c'),
  step('GET'),
  step('GET', 'a', 'b'),
  step('sEt', 'MixedCase', 'Value'),
  step('gEt', 'MixedCase'),
  step('GET', 'mixedcase'),
  step('SET', 'utf8-ключ-🔑', 'значение ✓'),
  step('GET', 'utf8-ключ-🔑'),
  step('SET', 'spaces in key', 'spaces in value'),
  step('GET', 'spaces in key'),
  step('SET', 'nl', 'line1\nline2\r\nline3'),
  step('GET', 'nl'),
  { args: ['-x', 'SET', 'bin'], input: Buffer.from([0, 1, 2, 0x0d, 0x0a, 0xff, 0xfe, 0x80, 0x00, 0x7f]) },
  step('GET', 'bin'),
  { args: ['-x', 'SET', 'big'], input: Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz0123456789') },
  step('GET', 'big'),
  step('MSET', 'k1', 'v1', 'k2', 'v2', 'k3', 'v3'),
  step('MGET', 'k1', 'k2', 'nokey', 'k3', 'k1'),
  step('MSET', 'k1'),
  step('MSET', 'k1', 'v1', 'k2'),
  step('MSET'),
  step('MGET'),
  step('MGET', 'nokey'),
  step('EXISTS', 'k1', 'k1', 'nokey', 'k2'),
  step('EXISTS'),
  step('DEL', 'k1', 'nokey', 'k2', 'k1'),
  step('DEL', 'nokey'),
  step('DEL'),
  step('MGET', 'k1', 'k2', 'k3'),
  step('DBSIZE'),
  step('DBSIZE', 'extra'),
  step('KEYS', 'k*'),
  step('KEYS', 'nomatch*'),
  step('KEYS', 'k[0-9]'),
  step('KEYS', 'k?'),
  step('KEYS', 'k3'),
  step('KEYS'),
  step('FOO', 'bar', 'baz'),
  step('FOO'),
  step('ключ', 'арг'),
  step('SELECT', '0'),
  step('SELECT', '1'),
  step('SELECT', 'abc'),
  step('SELECT'),
  step('CLIENT', 'SETNAME', 'cli-test'),
  step('CLIENT', 'SETNAME', 'bad name'),
  step('CLIENT', 'GETNAME'),
  step('CLIENT', 'NOSUCHSUB'),
  step('CONFIG', 'GET', 'databases'),
  step('CONFIG', 'NOSUCHSUB'),
  step('COMMAND', 'NOSUCHSUB'),
  // SET's conditions and GET (expiry aside).
  step('SET', 'cond', 'v1', 'NX'),
  step('SET', 'cond', 'v2', 'nx'),
  step('GET', 'cond'),
  step('SET', 'cond', 'v3', 'XX'),
  step('SET', 'absent', 'v', 'XX'),
  step('EXISTS', 'absent'),
  step('SET', 'cond', 'v4', 'GET'),
  step('SET', 'cond', 'v5', 'NX', 'GET'),
  step('SET', 'cond', 'v6', 'get', 'xx'),
  step('SET', 'fresh2', 'v', 'GET'),
  step('SET', 'fresh3', 'v', 'GET', 'NX'),
  step('SET', 'fresh4', 'v', 'XX', 'GET'),
  step('GET', 'cond'),
  step('SET', 'cond', 'v7', 'NX', 'XX'),
  step('SET', 'cond', 'v7', 'NX', 'NX'),
  step('SET', 'cond', 'v8', 'KEEPTTL'),
  step('SET', 'cond', 'v9', 'KEEPTTL', 'EX'),
  step('SET', 'cond', 'v9', 'EX'),
  step('SET', 'cond', 'v9', 'BOGUS'),
  step('GET', 'cond'),
  // Counters: Redis's integer rules (string2ll), 64-bit limits and error texts.
  step('INCR', 'counter'),
  step('INCRBY', 'counter', '41'),
  step('DECR', 'counter'),
  step('DECRBY', 'counter', '-10'),
  step('GET', 'counter'),
  step('INCRBY', 'counter', 'x'),
  step('INCRBY', 'counter', '1.5'),
  step('INCRBY', 'counter', '9223372036854775808'),
  step('INCRBY', 'counter', '-9223372036854775808'),
  step('DECRBY', 'counter', '-9223372036854775808'),
  step('SET', 'big', '9223372036854775806'),
  step('INCR', 'big'),
  step('INCR', 'big'),
  step('GET', 'big'),
  step('SET', 'small', '-9223372036854775807'),
  step('DECR', 'small'),
  step('DECR', 'small'),
  step('DECRBY', 'small', '9223372036854775807'),
  step('GET', 'small'),
  step('SET', 'text', 'abc'),
  step('INCR', 'text'),
  step('SET', 'padded', '01'),
  step('INCR', 'padded'),
  step('SET', 'spaced', ' 1'),
  step('DECR', 'spaced'),
  step('SET', 'negzero', '-0'),
  step('INCR', 'negzero'),
  step('INCR'),
  step('INCR', 'a', 'b'),
  step('INCRBY', 'counter'),
  step('DECRBY'),
  // APPEND, STRLEN, GETSET, GETDEL, SETNX, TYPE, UNLINK.
  step('APPEND', 'greeting', 'hello'),
  step('APPEND', 'greeting', ' world'),
  step('GET', 'greeting'),
  step('STRLEN', 'greeting'),
  step('STRLEN', 'nokey'),
  step('APPEND', 'greeting'),
  step('STRLEN'),
  step('GETSET', 'greeting', 'replaced'),
  step('GETSET', 'fresh', 'first'),
  step('GET', 'fresh'),
  step('GETSET', 'fresh'),
  step('GETDEL', 'greeting'),
  step('GETDEL', 'greeting'),
  step('EXISTS', 'greeting'),
  step('GETDEL'),
  step('SETNX', 'once', '1'),
  step('SETNX', 'once', '2'),
  step('GET', 'once'),
  step('SETNX', 'once'),
  step('TYPE', 'once'),
  step('TYPE', 'nokey'),
  step('TYPE'),
  step('UNLINK', 'once', 'nokey', 'fresh'),
  step('UNLINK'),
  // Keys that expire: times far in the future or in the past, so replies do not depend on when they run.
  step('SET', 'ttl', 'v', 'EX', '1000'),
  step('TTL', 'ttl'),
  step('SET', 'ttl', 'v', 'PXAT', '4102444800123'),
  step('PEXPIRETIME', 'ttl'),
  step('EXPIRETIME', 'ttl'),
  step('SET', 'ttl', 'v2', 'KEEPTTL', 'GET'),
  step('PEXPIRETIME', 'ttl'),
  step('SET', 'ttl', 'v3'),
  step('TTL', 'ttl'),
  step('PTTL', 'ttl'),
  step('TTL', 'nokey'),
  step('PTTL', 'nokey'),
  step('EXPIRETIME', 'nokey'),
  step('SET', 'ttl', 'v', 'EX', '0'),
  step('SET', 'ttl', 'v', 'PX', '-1'),
  step('SET', 'ttl', 'v', 'EX', 'abc'),
  step('SET', 'ttl', 'v', 'EX', '10', 'PX', '10'),
  step('SET', 'ttl', 'v', 'EX', '10', 'KEEPTTL'),
  step('SET', 'ttl', 'v', 'EX', '9223372036854775'),
  step('SET', 'ttl', 'v', 'EX', '9223372036854776'),
  step('SET', 'ttl', 'v', 'EXAT', '1', 'GET'),
  step('GET', 'ttl'),
  step('EXISTS', 'ttl'),
  step('SET', 'e', 'v'),
  step('EXPIREAT', 'e', '4102444800'),
  step('EXPIRETIME', 'e'),
  step('EXPIREAT', 'e', '4102444800', 'NX'),
  step('EXPIREAT', 'e', '4102444801', 'XX'),
  step('EXPIREAT', 'e', '4102444700', 'GT'),
  step('EXPIREAT', 'e', '4102444900', 'GT'),
  step('EXPIREAT', 'e', '4102444950', 'LT'),
  step('EXPIREAT', 'e', '4102444800', 'LT'),
  step('EXPIRETIME', 'e'),
  step('PEXPIREAT', 'e', '4102444800999', 'lt', 'xx'),
  step('PEXPIRETIME', 'e'),
  step('EXPIRE', 'e', '10', 'NX', 'XX'),
  step('EXPIRE', 'e', '10', 'GT', 'LT'),
  step('EXPIRE', 'e', '10', 'NX', 'GT'),
  step('EXPIRE', 'e', '10', 'bogus'),
  step('EXPIRE', 'e', 'ten'),
  step('EXPIRE', 'e', '9223372036854776'),
  step('EXPIRE', 'nokey', '10'),
  step('EXPIRE', 'e'),
  step('PERSIST', 'e'),
  step('PERSIST', 'e'),
  step('PERSIST', 'nokey'),
  step('TTL', 'e'),
  step('EXPIRE', 'e', '1000'),
  step('TTL', 'e'),
  step('INCR', 'e'),
  step('SET', 'n', '5', 'EX', '1000'),
  step('INCRBY', 'n', '5'),
  step('APPEND', 'n', '0'),
  step('TTL', 'n'),
  step('GETSET', 'n', 'x'),
  step('TTL', 'n'),
  step('EXPIRE', 'n', '-5'),
  step('EXISTS', 'n'),
  step('PEXPIRE', 'n', '0'),
  step('SETEX', 's', '1000', 'v'),
  step('TTL', 's'),
  step('GET', 's'),
  step('SETEX', 's', '0', 'v'),
  step('SETEX', 's', 'x', 'v'),
  step('SETEX', 's', '10'),
  step('PSETEX', 'p', '1000000', 'v'),
  step('TTL', 'p'),
  step('PSETEX', 'p', '-1', 'v'),
  step('GETEX', 's'),
  step('GETEX', 's', 'PERSIST'),
  step('TTL', 's'),
  step('GETEX', 's', 'EXAT', '4102444800'),
  step('EXPIRETIME', 's'),
  step('GETEX', 's', 'EX', '0'),
  step('GETEX', 's', 'EX', 'x'),
  step('GETEX', 'nokey', 'EX', 'x'),
  step('GETEX', 's', 'NX'),
  step('GETEX', 's', 'PERSIST', 'EX', '10'),
  step('GETEX', 's', 'PXAT', '1'),
  step('GET', 's'),
  step('GETEX'),
  step('FLUSHDB', 'bogus'),
  step('FLUSHDB', 'ASYNC', 'extra'),
  step('FLUSHDB'),
  step('DBSIZE'),
  step('KEYS', '*'),
  step('SET', 'only', 'one'),
  step('KEYS', '*'),
  step('FLUSHDB', 'ASYNC'),
  step('SET', 'x', '1'),
  step('FLUSHDB', 'SYNC'),
  step('GET', 'x'),
  step('QUIT'),
];

/** Commands given on stdin to a single redis-cli, so they share one connection. */
const SCRIPT = [
  'CLIENT GETNAME',
  'CLIENT SETNAME scripted',
  'CLIENT GETNAME',
  'SET "quoted key" "quoted\\r\\nvalue\\x00!"',
  'GET "quoted key"',
  'MSET a 1 b 2 c 3',
  'MGET a b c d',
  'DEL a b c d',
  'GET a',
  'NOSUCHCOMMAND x',
  'SET x',
  // Transactions: queued, applied together, errors as Redis gives them.
  'MULTI',
  'SET t 1',
  'INCR t',
  'GET t',
  'INCR t extra',
  'EXEC',
  'EXEC',
  'DISCARD',
  'MULTI',
  'MULTI',
  'SET t 2',
  'WATCH t',
  'EXEC',
  'MULTI',
  'SET t 3',
  'SET t 4 BOGUS',
  'INCR t',
  'APPEND t x',
  'GET nokey',
  'EXEC',
  'MULTI',
  'EXEC',
  'MULTI',
  'SET t 9',
  'DISCARD',
  'GET t',
  'UNWATCH',
  'WATCH t w1 w2',
  'MULTI',
  'PING',
  'PING "a b"',
  'ECHO "echoed"',
  'SET t watched',
  'EXEC',
  'WATCH t',
  'UNWATCH',
  'MULTI',
  'PING a b',
  'GET t',
  'EXEC',
  'WATCH',
  'MULTI',
  'NOSUCH x',
  'SET u 1',
  'EXEC',
  'EXISTS u',
  'ECHO "last"',
  '',
].join('\n');

function show(r: CliRun): string {
  return JSON.stringify({ status: r.status, stdout: r.stdout.length > 200 ? `${r.stdout.slice(0, 200)}… (${r.stdout.length} bytes)` : r.stdout, stderr: r.stderr });
}

function compare(t: Test, label: string, bitraft: CliRun, redis: CliRun): void {
  const same = bitraft.status === redis.status && bitraft.stdout === redis.stdout && bitraft.stderr === redis.stderr;
  t.ok(same, label, same ? {} : { bitraft: show(bitraft), redis: show(redis) });
}

t.test('each command prints the same through redis-cli as on redis-server', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t, ['--databases', '1'])]);
  for (const s of STEPS) {
    const label = `redis-cli ${s.args.map((a) => JSON.stringify(a)).join(' ')}${s.input ? ` <${s.input.length} bytes>` : ''}`;
    const [b, r] = await Promise.all([redisCliAsync(bitraft.port, s.args, s.input), redisCliAsync(redis.port, s.args, s.input)]);
    compare(t, label, b, r);
  }
});

/** An argument as redis-cli reads it on stdin: double-quoted, with \xHH for anything not printable ASCII. */
function quote(arg: string | Buffer): string {
  const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
  let out = '"';
  for (const c of bytes) out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return `${out}"`;
}

t.test('each command prints the same through redis-cli --no-raw (formatted output) as on redis-server', async (t) => {
  // The same steps on stdin of one redis-cli per server, each followed by a marker ECHO
  // so the output can be split per command. -x steps become SETs with escaped values
  // (the 1 MB one is left out); QUIT is left out (it would end the script).
  const steps = STEPS.filter((s) => !(s.input && s.input.length > 4096) && s.args[0] !== 'QUIT');
  const lines = steps.map((s, i) => {
    const args: (string | Buffer)[] = s.input ? [...s.args.filter((a) => a !== '-x'), s.input] : s.args;
    return `${args.map(quote).join(' ')}\nECHO @@${i}@@`;
  });
  const script = `${lines.join('\n')}\n`;
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t, ['--databases', '1'])]);
  const [b, r] = await Promise.all([redisCliAsync(bitraft.port, ['--no-raw'], script), redisCliAsync(redis.port, ['--no-raw'], script)]);
  const split = (out: string): string[] => out.split(/^"@@\d+@@"\n/m);
  const bo = split(b.stdout);
  const ro = split(r.stdout);
  t.equal(bo.length, ro.length, `as many outputs (${ro.length - 1} commands)`);
  steps.forEach((s, i) => {
    const label = `redis-cli --no-raw: ${s.args.filter((a) => a !== '-x').map((a) => JSON.stringify(a)).join(' ')}${s.input ? ` <${s.input.length} bytes>` : ''}`;
    t.equal(bo[i], ro[i], label);
  });
  t.equal(b.status, r.status, 'same exit status');
});

t.test('a script of commands on stdin prints the same', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t, ['--databases', '1'])]);
  for (const mode of [[], ['--no-raw']]) {
    const [b, r] = await Promise.all([redisCliAsync(bitraft.port, mode, SCRIPT), redisCliAsync(redis.port, mode, SCRIPT)]);
    compare(t, `redis-cli ${mode.join(' ')} < script`, b, r);
  }
});

t.test('redis-cli --pipe mass insertion reports the same', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t, { args: ['--durability', 'low'] }), startRedisServer(t)]);
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++) {
    lines.push(`*3\r\n$3\r\nSET\r\n$${`key:${i}`.length}\r\nkey:${i}\r\n$${`val:${i}`.length}\r\nval:${i}\r\n`);
  }
  lines.push('*2\r\n$3\r\nDEL\r\n$6\r\nkey:42\r\n', '*1\r\n$7\r\nNOSUCHC\r\n');
  const input = lines.join('');
  const b = redisCli(bitraft.port, ['--pipe'], input);
  const r = redisCli(redis.port, ['--pipe'], input);
  t.equal(b.status, r.status, 'same exit status');
  // The report's first line ("All data transferred. Waiting for the last reply...") and the
  // counts must agree; the echoed error is the unknown command's text.
  t.equal(b.stdout.replace(/\r/g, ''), r.stdout.replace(/\r/g, ''), 'same --pipe report', { bitraft: b.stdout, redis: r.stdout });
  t.equal(redisCli(bitraft.port, ['DBSIZE']).stdout, '4999\n', 'every key inserted, the deleted one gone');
  t.equal(redisCli(bitraft.port, ['GET', 'key:4999']).stdout, 'val:4999\n');
});

t.test('SHUTDOWN through redis-cli prints the same and the server exits 0', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t), startRedisServer(t)]);
  const b = redisCli(bitraft.port, ['SHUTDOWN']);
  const r = redisCli(redis.port, ['SHUTDOWN']);
  compare(t, 'redis-cli SHUTDOWN', b, r);
  const exit = await Promise.race([bitraft.exited, new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 10_000))]);
  t.same(exit, { code: 0, signal: null }, 'bitraft exited with code 0', { stderr: bitraft.stderr() });
});
