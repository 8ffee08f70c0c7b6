import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { arityOk, KV_COMMANDS } from '../../../src/core/kv/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { err, fixtureOf, OK_, openKv } from './kv-fixture.js';

const arityError = (name: string) => err(`ERR wrong number of arguments for '${name}' command`);

t.test('the command table: names, Redis arities, reads and writes', async (t) => {
  const table = [...KV_COMMANDS.values()].map((c) => [c.name, c.arity, c.write]);
  t.strictSame(table, [
    ['get', 2, false],
    ['mget', -2, false],
    ['exists', -2, false],
    ['dbsize', 1, false],
    ['keys', -2, false],
    ['set', -3, true],
    ['mset', -3, true],
    ['del', -2, true],
    ['unlink', -2, true],
    ['pdel', 2, true],
    ['flushdb', -1, true],
    ['incr', 2, true],
    ['decr', 2, true],
    ['incrby', 3, true],
    ['decrby', 3, true],
    ['append', 3, true],
    ['strlen', 2, false],
    ['getset', 3, true],
    ['getdel', 2, true],
    ['setnx', 3, true],
    ['type', 2, false],
    ['expire', -3, true],
    ['pexpire', -3, true],
    ['expireat', -3, true],
    ['pexpireat', -3, true],
    ['ttl', 2, false],
    ['pttl', 2, false],
    ['expiretime', 2, false],
    ['pexpiretime', 2, false],
    ['persist', 2, true],
    ['setex', 4, true],
    ['psetex', 4, true],
    ['getex', -2, true],
    ['raftexpire', -2, true],
    ['scan', -2, false],
    ['randomkey', 1, false],
    ['raftwatch', -2, false],
  ]);
  for (const [name, c] of KV_COMMANDS) t.equal(c.name, name);
});

t.test('arityOk: n > 0 exactly n, n < 0 at least -n', async (t) => {
  t.equal(arityOk(2, 2), true);
  t.equal(arityOk(2, 1), false);
  t.equal(arityOk(2, 3), false);
  t.equal(arityOk(-2, 1), false);
  t.equal(arityOk(-2, 2), true);
  t.equal(arityOk(-2, 50), true);
  t.equal(arityOk(-1, 1), true);
  t.equal(arityOk(1, 1), true);
  t.equal(arityOk(1, 2), false);
});

t.test('wrong argument counts, worded as Redis', async (t) => {
  const kv = await openKv(t);
  const cases: [string[], string][] = [
    [['get'], 'get'],
    [['GET', 'a', 'b'], 'get'],
    [['mget'], 'mget'],
    [['exists'], 'exists'],
    [['dbsize', 'x'], 'dbsize'],
    [['keys'], 'keys'],
    [['set'], 'set'],
    [['set', 'k'], 'set'],
    [['mset'], 'mset'],
    [['mset', 'k'], 'mset'],
    [['MSET', 'a', '1', 'b'], 'mset'],
    [['mset', 'a', '1', 'b', '2', 'c'], 'mset'],
    [['del'], 'del'],
    [['pdel'], 'pdel'],
    [['pdel', 'a', 'b'], 'pdel'],
  ];
  for (const [args, name] of cases) t.strictSame(kv.run(...args), arityError(name), args.join(' '));
});

t.test('GET', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('get', 'k'), null, 'missing: null bulk');
  kv.run('set', 'k', 'v');
  t.strictSame(kv.run('get', 'k'), 'v');
  t.strictSame(kv.run('GeT', 'k'), 'v', 'any case');
  t.strictSame(kv.run('get', 'K'), null, 'keys are case-sensitive');
  kv.run('set', 'e', '');
  t.strictSame(kv.run('get', 'e'), '', 'an empty value is an empty bulk, not null');
});

t.test('SET', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('set', 'k', 'v1'), OK_);
  t.strictSame(kv.run('SET', 'k', 'v2'), OK_, 'overwrites');
  t.strictSame(kv.run('get', 'k'), 'v2');
  t.strictSame(kv.run('set', 'k', 'v3', 'extra'), err('ERR syntax error'));
  t.strictSame(kv.run('set', 'k', 'v3', 'a', 'b'), err('ERR syntax error'));
  t.strictSame(kv.run('get', 'k'), 'v2', 'a refused SET wrote nothing');
  t.strictSame(kv.run('set', '', ''), OK_, 'the empty key with an empty value');
  t.strictSame(kv.contents(), { '': '', k: 'v2' });
});

t.test('MSET', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('mset', 'a', '1'), OK_);
  t.strictSame(kv.run('mset', 'b', '2', 'c', '3', 'a', '4'), OK_);
  t.strictSame(kv.contents(), { a: '4', b: '2', c: '3' });
  t.strictSame(kv.run('mset', 'x', '1', 'x', '2'), OK_);
  t.strictSame(kv.run('get', 'x'), '2', 'the last pair of a repeated key wins, as in Redis');
  t.strictSame(kv.run('mset', 'y', '1', 'z'), arityError('mset'));
  t.strictSame(kv.run('exists', 'y', 'z'), 0, 'an odd MSET wrote nothing');
});

t.test('MGET', async (t) => {
  const kv = await openKv(t);
  kv.run('mset', 'a', '1', 'b', '', '\x00', '\xff');
  t.strictSame(kv.run('mget', 'a'), ['1']);
  t.strictSame(kv.run('mget', 'a', 'nope', 'b', 'a', '\x00'), ['1', null, '', '1', '\xff']);
  t.strictSame(kv.run('mget', 'x', 'y'), [null, null]);
});

t.test('EXISTS counts every argument that exists, repeats included', async (t) => {
  const kv = await openKv(t);
  kv.run('mset', 'a', '1', 'b', '');
  t.strictSame(kv.run('exists', 'a'), 1);
  t.strictSame(kv.run('exists', 'nope'), 0);
  t.strictSame(kv.run('exists', 'a', 'a', 'b', 'c'), 3, 'as Redis: EXISTS a a counts twice');
});

t.test('DBSIZE', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('dbsize'), 0);
  kv.run('mset', 'a', '1', 'b', '2', '', '3');
  t.strictSame(kv.run('DBSIZE'), 3);
  kv.run('del', 'a');
  t.strictSame(kv.run('dbsize'), 2);
});

t.test('DEL returns how many of the keys existed', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('del', 'missing'), 0, 'a missing key is 0, not a crash');
  t.strictSame(kv.run('del', 'x', 'y', 'z'), 0);
  kv.run('mset', 'a', '1', 'b', '2', 'c', '3', '', 'e');
  t.strictSame(kv.run('del', 'a', 'nope', 'b'), 2, 'not the number of arguments');
  t.strictSame(kv.run('del', 'c', 'c', 'c'), 1, 'a repeated key counts once');
  t.strictSame(kv.run('del', ''), 1, 'the empty key');
  t.strictSame(kv.run('del', 'a'), 0, 'already gone');
  t.strictSame(kv.contents(), {});
  t.strictSame(kv.run('DeL', 'a'), 0);
});

t.test('DEL is not limited by the key size limit', async (t) => {
  // A node restarted with a smaller --max-key-size still holds its longer keys, and GET
  // reads them: DEL must delete them (Redis replies 1), and DEL of a long key that does
  // not exist is 0 like any missing key, never an error.
  const dir = tmpDir(t);
  const before = fixtureOf(dir, await Bitcask.open(dir, { sync: 'none', maxKeySize: 64 }));
  before.run('set', 'k'.repeat(20), 'v');
  await before.store.close();
  const store = await Bitcask.open(dir, { sync: 'none', maxKeySize: 8 });
  t.teardown(() => store.close());
  const kv = fixtureOf(dir, store);
  t.strictSame(kv.run('get', 'k'.repeat(20)), 'v', 'still readable');
  t.strictSame(kv.run('del', 'x'.repeat(9)), 0, 'a missing over-long key');
  t.strictSame(kv.run('del', 'k'.repeat(20)), 1, 'an existing over-long key');
  t.strictSame(kv.run('exists', 'k'.repeat(20)), 0);
});

t.test('PDEL deletes exactly the matching keys and returns their count', async (t) => {
  const kv = await openKv(t);
  kv.run('mset', 'user:1', 'a', 'user:2', 'b', 'users', 'c', 'u', 'd', '', 'e', '\xff', 'f', 'a*b', 'g', 'axb', 'h');
  t.strictSame(kv.run('pdel', 'user:*'), 2);
  t.strictSame(kv.run('pdel', 'user:*'), 0, 'nothing left to match');
  t.strictSame(kv.run('pdel', 'nomatch'), 0);
  t.strictSame(kv.run('pdel', 'a\\*b'), 1, 'an escaped star is literal');
  t.strictSame(kv.contents(), { '': 'e', u: 'd', users: 'c', '\xff': 'f', axb: 'h' });
  t.strictSame(kv.run('PDEL', '?'), 2, 'one-byte keys: u and \\xff');
  t.strictSame(kv.run('pdel', '*'), 3, '* also takes the empty key');
  t.strictSame(kv.contents(), {});
  t.strictSame(kv.run('pdel', '*'), 0);
});

t.test('FLUSHDB [ASYNC|SYNC] deletes everything, for good', async (t) => {
  const dir = tmpDir(t);
  const kv = fixtureOf(dir, await Bitcask.open(dir, { sync: 'none' }));
  kv.run('mset', 'a', '1', '', '2', '\x00', '3');
  t.strictSame(kv.run('flushdb', 'now'), err('ERR syntax error'));
  t.strictSame(kv.run('flushdb', 'sync', 'async'), err('ERR syntax error'));
  t.strictSame(kv.run('flushdb', 'asyncx'), err('ERR syntax error'));
  t.strictSame(kv.run('flushdb', ''), err('ERR syntax error'));
  t.strictSame(kv.run('dbsize'), 3, 'a refused FLUSHDB deleted nothing');
  t.strictSame(kv.run('FLUSHDB'), OK_);
  t.strictSame(kv.run('dbsize'), 0);
  kv.run('set', 'b', '1');
  t.strictSame(kv.run('flushdb', 'ASYNC'), OK_);
  kv.run('set', 'c', '1');
  t.strictSame(kv.run('flushdb', 'sync'), OK_);
  kv.run('set', 'd', '1');
  t.strictSame(kv.run('flushdb', 'aSyNc'), OK_);
  t.strictSame(kv.run('flushdb'), OK_, 'on an empty store');
  await kv.store.close();
  const store = await Bitcask.open(dir, { sync: 'none' });
  t.teardown(() => store.close());
  t.equal(store.size, 0, 'still empty after a reopen');
});

t.test('sizes: over-limit keys and values are refused before anything is written', async (t) => {
  const kv = await openKv(t, { maxKeySize: 8, maxValueSize: 16 });
  t.strictSame(kv.run('set', '12345678', '1234567890123456'), OK_, 'at the limits');
  t.strictSame(kv.run('set', '123456789', 'v'), err('ERR key of 9 bytes exceeds the limit of 8 bytes'));
  t.strictSame(kv.run('set', 'k', '12345678901234567'), err('ERR value of 17 bytes exceeds the limit of 16 bytes'));
  t.strictSame(kv.run('mset', 'k1', 'v', 'k2', 'v', 'k3', '12345678901234567'), err('ERR value of 17 bytes exceeds the limit of 16 bytes'));
  t.strictSame(kv.run('mset', '123456789', 'v', 'k2', '12345678901234567'), err('ERR key of 9 bytes exceeds the limit of 8 bytes'), 'the first problem is reported');
  t.strictSame(kv.contents(), { '12345678': '1234567890123456' });
});

t.test('binary keys and values', async (t) => {
  const kv = await openKv(t);
  const keys = ['', '\x00', '\x00\x00', '\r\n', 'a\r\nb', '\x7f', '\x80', '\xfe', '\xff', '\xff\x00', '\xff\xff'];
  for (const k of keys) t.strictSame(kv.run('set', k, `v${k}`), OK_);
  for (const k of keys) t.strictSame(kv.run('get', k), `v${k}`, JSON.stringify(k));
  t.strictSame(kv.run('keys', '*'), [...keys].sort((x, y) => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1'))));
  t.strictSame(kv.run('exists', ...keys), keys.length);
  t.strictSame(kv.run('del', ...keys), keys.length);
  t.strictSame(kv.run('dbsize'), 0);
});
