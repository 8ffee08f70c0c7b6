/**
 * The string commands of string-commands.ts on a real store: Redis's replies, its
 * integer rules and 64-bit limits, its error texts, and the size limits checked before a
 * write enters the log. (test/integration/redis-cli.integration.ts compares them with a
 * real redis-server byte for byte.)
 */
import t from 'tap';
import { err, openKv } from './kv-fixture.js';

const NOT_INT = err('ERR value is not an integer or out of range');
const OVERFLOW = err('ERR increment or decrement would overflow');
const MAX = '9223372036854775807';
const MIN = '-9223372036854775808';

t.test('INCR, DECR, INCRBY, DECRBY count from 0 and store the decimal text', async (t) => {
  const kv = await openKv(t);
  t.equal(kv.run('incr', 'c'), 1);
  t.equal(kv.run('INCRBY', 'c', '41'), 42);
  t.equal(kv.run('decr', 'c'), 41);
  t.equal(kv.run('decrby', 'c', '-9'), 50);
  t.equal(kv.run('decr', 'fresh'), -1);
  t.strictSame(kv.contents(), { c: '50', fresh: '-1' });
});

t.test('the counters reach the 64-bit limits exactly, and refuse to pass them', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'hi', '9223372036854775806');
  t.strictSame(kv.run('incr', 'hi'), 9223372036854775807n, 'beyond 2^53: a bigint, exact');
  t.strictSame(kv.run('incr', 'hi'), OVERFLOW);
  t.strictSame(kv.run('incrby', 'hi', '-1'), 9223372036854775806n);
  kv.run('set', 'lo', '-9223372036854775807');
  t.strictSame(kv.run('decr', 'lo'), -9223372036854775808n);
  t.strictSame(kv.run('decr', 'lo'), OVERFLOW);
  t.strictSame(kv.run('incrby', 'lo', MAX), -1);
  t.strictSame(kv.run('decrby', 'x', MIN), err('ERR decrement would overflow'), 'its negation does not fit');
  t.strictSame(kv.run('incrby', 'x', MIN), -9223372036854775808n);
  t.strictSame(kv.contents(), { hi: '9223372036854775806', lo: '-1', x: MIN });
});

t.test('a value or an increment that is not a canonical 64-bit integer is refused', async (t) => {
  const kv = await openKv(t);
  for (const v of ['abc', '', '1.5', '01', '-0', ' 1', '1 ', '+1', '9223372036854775808', '-9223372036854775809', '1e3']) {
    kv.run('set', 'v', v);
    t.strictSame(kv.run('incr', 'v'), NOT_INT, `stored ${JSON.stringify(v)}`);
    t.strictSame(kv.check('incrby', 'k', v), NOT_INT, `increment ${JSON.stringify(v)}, before the log`);
    t.strictSame(kv.check('decrby', 'k', v), NOT_INT);
  }
  t.strictSame(kv.contents(), { v: '1e3' }, 'nothing changed');
});

t.test('APPEND creates or extends, within the value limit', async (t) => {
  const kv = await openKv(t, { maxValueSize: 8 });
  t.equal(kv.run('append', 's', 'abc'), 3);
  t.equal(kv.run('APPEND', 's', 'de'), 5);
  t.equal(kv.run('append', 's', ''), 5);
  t.strictSame(kv.run('append', 's', 'fghi'), err('ERR string exceeds maximum allowed size (proto-max-bulk-len)'));
  t.equal(kv.run('append', 's', 'fgh'), 8, 'up to the limit exactly');
  t.strictSame(kv.check('append', 's', '123456789'), err('ERR value of 9 bytes exceeds the limit of 8 bytes'));
  t.strictSame(kv.contents(), { s: 'abcdefgh' });
});

t.test('STRLEN and TYPE', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 's', 'h\xe9llo');
  kv.run('set', 'e', '');
  t.equal(kv.run('strlen', 's'), 5, 'bytes');
  t.equal(kv.run('strlen', 'e'), 0);
  t.equal(kv.run('strlen', 'none'), 0);
  t.strictSame(kv.run('type', 's'), { simple: 'string' });
  t.strictSame(kv.run('type', 'e'), { simple: 'string' });
  t.strictSame(kv.run('TYPE', 'none'), { simple: 'none' });
});

t.test('GETSET, GETDEL and SETNX', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('getset', 'k', 'one'), null);
  t.strictSame(kv.run('getset', 'k', 'two'), 'one');
  t.strictSame(kv.run('getdel', 'k'), 'two');
  t.strictSame(kv.run('getdel', 'k'), null);
  t.equal(kv.run('setnx', 'k', 'a'), 1);
  t.equal(kv.run('setnx', 'k', 'b'), 0);
  t.strictSame(kv.contents(), { k: 'a' });
});

t.test('UNLINK deletes like DEL', async (t) => {
  const kv = await openKv(t);
  kv.run('mset', 'a', '1', 'b', '2');
  t.equal(kv.run('unlink', 'a', 'nokey', 'a', 'b'), 2);
  t.strictSame(kv.contents(), {});
});

t.test('key and value sizes are checked before a write enters the log', async (t) => {
  const kv = await openKv(t, { maxKeySize: 4, maxValueSize: 4 });
  const key = err('ERR key of 5 bytes exceeds the limit of 4 bytes');
  const value = err('ERR value of 5 bytes exceeds the limit of 4 bytes');
  for (const name of ['incr', 'decr']) t.strictSame(kv.check(name, 'kkkkk'), key, name);
  for (const name of ['incrby', 'decrby']) t.strictSame(kv.check(name, 'kkkkk', '1'), key, name);
  for (const name of ['append', 'getset', 'setnx']) {
    t.strictSame(kv.check(name, 'kkkkk', 'v'), key, name);
    t.strictSame(kv.check(name, 'k', 'vvvvv'), value, name);
    t.equal(kv.check(name, 'kkkk', 'vvvv'), undefined, `${name} at the limits`);
  }
  t.equal(kv.check('getdel', 'kkkkk'), undefined, 'GETDEL of a key stored under a larger limit is allowed');
});
