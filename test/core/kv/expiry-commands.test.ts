/**
 * Keys that expire (expiry-commands.ts, key-space.ts, expiry-time.ts): every command of
 * the EXPIRE family with Redis 7's replies, judged at the time stamped in the entry for
 * writes and at the node's clock for reads. (The redis-cli integration test compares the
 * replies with redis-server.)
 */
import t from 'tap';
import { absoluteExpiry, parseExpireArgument } from '../../../src/core/kv/expiry-time.js';
import { encodeCommand, TRANSACTION_COMMAND } from '../../../src/core/kv/index.js';
import { argv, err, FIXTURE_START_MS, OK_, openKv } from './kv-fixture.js';

const NOW = FIXTURE_START_MS;
const key = (k: string): Buffer => Buffer.from(k, 'latin1');

t.test('EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT set an expiry relative to the entry time or absolute', async (t) => {
  const kv = await openKv(t);
  for (const k of ['a', 'b', 'c', 'd']) kv.run('set', k, 'v');
  t.equal(kv.run('expire', 'a', '100'), 1);
  t.equal(kv.store.expiryOf(key('a')), NOW + 100_000);
  t.equal(kv.run('pexpire', 'b', '1500'), 1);
  t.equal(kv.store.expiryOf(key('b')), NOW + 1500);
  t.equal(kv.run('expireat', 'c', String(NOW / 1000 + 60)), 1);
  t.equal(kv.store.expiryOf(key('c')), NOW + 60_000);
  t.equal(kv.run('pexpireat', 'd', String(NOW + 7)), 1);
  t.equal(kv.store.expiryOf(key('d')), NOW + 7);
  t.equal(kv.run('expire', 'missing', '10'), 0, 'a missing key: 0');
  t.strictSame(kv.contents(), { a: 'v', b: 'v', c: 'v', d: 'v' }, 'values kept');
  t.equal(kv.run('expire', 'a', '-1'), 1, 'a time in the past deletes the key: 1');
  t.equal(kv.run('pexpireat', 'b', String(NOW)), 1, 'exactly now: deleted too');
  t.strictSame(kv.contents(), { c: 'v', d: 'v' });
});

t.test('EXPIRE options NX, XX, GT, LT as Redis 7', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'p', 'v');
  t.equal(kv.run('expire', 'p', '100', 'XX'), 0, 'XX: no expiry yet');
  t.equal(kv.run('expire', 'p', '100', 'GT'), 0, 'GT: no expiry counts as infinite');
  t.equal(kv.run('expire', 'p', '100', 'LT'), 1, 'LT: anything is less than infinite');
  t.equal(kv.run('expire', 'p', '50', 'NX'), 0, 'NX: has one already');
  t.equal(kv.run('expire', 'p', '200', 'lt'), 0, 'LT: 200 s is not less');
  t.equal(kv.run('expire', 'p', '200', 'gt', 'xx'), 1, 'GT XX');
  t.equal(kv.store.expiryOf(key('p')), NOW + 200_000);
  t.equal(kv.run('expire', 'p', '200', 'GT'), 0, 'GT: equal is not greater');
  kv.run('set', 'q', 'v');
  t.equal(kv.run('expire', 'q', '5', 'NX'), 1);
  t.strictSame(kv.run('expire', 'q', '5', 'NX', 'XX'), err('ERR NX and XX, GT or LT options at the same time are not compatible'));
  t.strictSame(kv.run('expire', 'q', '5', 'NX', 'GT'), err('ERR NX and XX, GT or LT options at the same time are not compatible'));
  t.strictSame(kv.run('expire', 'q', '5', 'GT', 'LT'), err('ERR GT and LT options at the same time are not compatible'));
  t.strictSame(kv.run('expire', 'q', '5', 'bogus'), err('ERR Unsupported option bogus'));
  t.strictSame(kv.check('expire', 'q', '5', 'bogus'), err('ERR Unsupported option bogus'), 'refused before the log');
  t.strictSame(kv.check('expire', 'q', 'x'), err('ERR value is not an integer or out of range'));
  t.strictSame(kv.check('expire', 'q', 'x', 'bogus'), err('ERR Unsupported option bogus'), 'options are checked first, as in Redis');
  t.strictSame(kv.check('expire', 'q', '9223372036854776'), err("ERR invalid expire time in 'expire' command"));
  t.strictSame(kv.check('expireat', 'q', '-9223372036854776'), err("ERR invalid expire time in 'expireat' command"));
  t.equal(kv.check('pexpire', 'q', '-9223372036854775808'), undefined, 'any 64-bit number in ms');
  t.strictSame(kv.run('pexpire', 'q', '9223372036854775807'), err("ERR invalid expire time in 'pexpire' command"), 'beyond the latest expiry stored');
});

t.test('TTL, PTTL, EXPIRETIME, PEXPIRETIME; PERSIST', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'k', 'v', 'PX', '10400');
  kv.run('set', 'forever', 'v');
  t.equal(kv.read('ttl', 'k'), 10, '10.4 s rounds to 10');
  t.equal(kv.read('pttl', 'k'), 10_400);
  kv.clock.ms += 900;
  t.equal(kv.read('ttl', 'k'), 10, '9.5 s rounds to 10');
  t.equal(kv.read('pttl', 'k'), 9500);
  t.equal(kv.read('expiretime', 'k'), Math.floor((NOW + 10_400) / 1000));
  t.equal(kv.read('pexpiretime', 'k'), NOW + 10_400);
  for (const c of ['ttl', 'pttl', 'expiretime', 'pexpiretime']) {
    t.equal(kv.read(c, 'forever'), -1, `${c} of a key without expiry`);
    t.equal(kv.read(c, 'missing'), -2, `${c} of a missing key`);
  }
  t.equal(kv.run('persist', 'forever'), 0);
  t.equal(kv.run('persist', 'missing'), 0);
  t.equal(kv.run('persist', 'k'), 1);
  t.equal(kv.read('ttl', 'k'), -1);
  t.strictSame(kv.read('get', 'k'), 'v', 'the value stays');
});

t.test('an expired key is absent for reads and writes, and a write deletes it deterministically', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'k', '10', 'PX', '100');
  kv.run('set', 'other', 'x');
  kv.clock.ms += 99;
  t.strictSame(kv.read('get', 'k'), '10', 'one ms before');
  kv.clock.ms += 1;
  t.strictSame(kv.read('get', 'k'), null, 'at its expiry it is gone');
  t.equal(kv.read('exists', 'k', 'other'), 1);
  t.strictSame(kv.read('mget', 'k', 'other'), [null, 'x']);
  t.equal(kv.read('strlen', 'k'), 0);
  t.strictSame(kv.read('type', 'k'), { simple: 'none' });
  t.strictSame(kv.read('keys', '*'), ['other'], 'KEYS skips it');
  t.equal(kv.read('ttl', 'k'), -2);
  t.equal(kv.read('dbsize'), 2, 'DBSIZE counts it until it is deleted, as Redis');
  t.equal(kv.store.has(key('k')), true, 'reads delete nothing');
  t.equal(kv.run('incr', 'k'), 1, 'INCR starts again from 0');
  t.equal(kv.read('ttl', 'k'), -1, 'without the old expiry');
  kv.run('set', 'gone', 'v', 'PX', '1');
  kv.clock.ms += 5;
  t.equal(kv.run('del', 'gone'), 0, 'DEL of an expired key: 0');
  t.equal(kv.store.has(key('gone')), false, '…but its record is deleted');
  kv.run('set', 'n', 'v', 'PX', '1');
  kv.clock.ms += 5;
  t.equal(kv.run('setnx', 'n', 'new'), 1, 'SETNX sees it absent');
  t.equal(kv.run('expire', 'missing', '5'), 0);
  kv.run('set', 'p', 'v', 'PX', '1');
  kv.clock.ms += 5;
  t.equal(kv.run('persist', 'p'), 0, 'PERSIST of an expired key: 0');
  t.strictSame(kv.run('getdel', 'p'), null);
});

t.test('writes that change a value keep its expiry (INCR, APPEND); GETSET and SET clear it', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'n', '1', 'EX', '100');
  t.equal(kv.run('incrby', 'n', '5'), 6);
  t.equal(kv.store.expiryOf(key('n')), NOW + 100_000, 'INCRBY keeps it');
  t.equal(kv.run('append', 'n', '0'), 2);
  t.equal(kv.store.expiryOf(key('n')), NOW + 100_000, 'APPEND keeps it');
  t.strictSame(kv.run('getset', 'n', 'x'), '60');
  t.equal(kv.store.expiryOf(key('n')), 0, 'GETSET clears it');
});

t.test('SETEX and PSETEX', async (t) => {
  const kv = await openKv(t, { maxValueSize: 4 });
  t.strictSame(kv.run('setex', 'k', '10', 'v'), OK_);
  t.equal(kv.store.expiryOf(key('k')), NOW + 10_000);
  t.strictSame(kv.run('psetex', 'k', '10', 'v2'), OK_);
  t.equal(kv.store.expiryOf(key('k')), NOW + 10);
  t.strictSame(kv.check('setex', 'k', '0', 'v'), err("ERR invalid expire time in 'setex' command"));
  t.strictSame(kv.check('psetex', 'k', '-5', 'v'), err("ERR invalid expire time in 'psetex' command"));
  t.strictSame(kv.check('setex', 'k', 'ten', 'v'), err('ERR value is not an integer or out of range'));
  t.strictSame(kv.check('setex', 'k', '10', 'vvvvv'), err('ERR value of 5 bytes exceeds the limit of 4 bytes'));
  t.strictSame(kv.run('psetex', 'k', String(Number.MAX_SAFE_INTEGER), 'v'), err("ERR invalid expire time in 'psetex' command"));
});

t.test('GETEX: the value, and a new expiry, PERSIST or nothing', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'k', 'v');
  t.strictSame(kv.run('getex', 'k'), 'v');
  t.strictSame(kv.run('getex', 'k', 'EX', '10'), 'v');
  t.equal(kv.store.expiryOf(key('k')), NOW + 10_000);
  t.strictSame(kv.run('getex', 'k', 'persist'), 'v');
  t.equal(kv.store.expiryOf(key('k')), 0);
  t.strictSame(kv.run('getex', 'k', 'PERSIST'), 'v', 'PERSIST without an expiry: nothing to do');
  t.strictSame(kv.run('getex', 'k', 'PXAT', String(NOW - 1)), 'v', 'a past time: the value, and the key is deleted');
  t.equal(kv.store.has(key('k')), false);
  t.strictSame(kv.run('getex', 'missing', 'EX', 'nonsense'), null, 'a missing key: null before the number is looked at');
  kv.run('set', 'k', 'v');
  t.strictSame(kv.run('getex', 'k', 'EX', '0'), err("ERR invalid expire time in 'getex' command"));
  t.strictSame(kv.run('getex', 'k', 'EX', 'x'), err('ERR value is not an integer or out of range'));
  for (const opts of [['NX'], ['KEEPTTL'], ['GET'], ['PERSIST', 'EX', '5'], ['EX', '5', 'PERSIST'], ['EX'], ['bogus']]) {
    t.strictSame(kv.check('getex', 'k', ...opts), err('ERR syntax error'), `GETEX ${opts.join(' ')}`);
  }
});

t.test('RAFTEXPIRE deletes only the keys whose expiry has passed at the entry time', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'a', 'v', 'PX', '10');
  kv.run('set', 'b', 'v', 'PX', '1000');
  kv.run('set', 'c', 'v');
  kv.clock.ms += 10;
  t.equal(kv.run('raftexpire', 'a', 'b', 'c', 'missing'), 1);
  t.strictSame(Object.keys(kv.contents()).sort(), ['b', 'c']);
});

t.test('a transaction runs every command at the entry time', async (t) => {
  const kv = await openKv(t);
  const txn = (...cmds: string[][]) => [TRANSACTION_COMMAND, ...cmds.map((c) => encodeCommand(argv(...c)))];
  t.strictSame(kv.run(...txn(['set', 'k', 'v', 'EX', '5'], ['pttl', 'k'], ['persist', 'k'], ['ttl', 'k'])), [OK_, 5000, 1, -1]);
});

t.test('an entry without a stamp runs at time 0: nothing has expired', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'k', 'v', 'PX', '1');
  kv.clock.ms += 10;
  t.strictSame(kv.machine.apply(argv('get', 'k')), { type: 'bulk', value: Buffer.from('v') });
});

t.test('stamps never go back; reads never run before the newest stamp applied', async (t) => {
  const kv = await openKv(t);
  t.equal(kv.machine.stamp(), NOW);
  kv.clock.ms -= 1000;
  t.equal(kv.machine.stamp(), NOW, 'a clock that went back');
  t.equal(kv.machine.readTime(), NOW - 1000);
  kv.machine.apply(argv('set', 'k', 'v', 'PX', '5'), undefined, NOW + 10);
  t.equal(kv.machine.readTime(), NOW + 10, 'a leader ahead of this clock');
  t.strictSame(kv.read('get', 'k'), 'v');
  kv.machine.apply(argv('ping'), undefined, NOW + 15);
  t.strictSame(kv.read('get', 'k'), null, 'expired by the stamps alone');
  t.equal(kv.machine.stamp(), NOW + 15);
});

t.test('the reserved key name cannot be written', async (t) => {
  const kv = await openKv(t);
  const reserved = '\0bitraft:expiry';
  const refused = err("ERR the key name '\\x00bitraft:expiry' is reserved by bitraft (snapshots use it for expiries)");
  t.strictSame(kv.check('set', reserved, 'v'), refused);
  t.strictSame(kv.check('mset', 'a', 'b', reserved, 'v'), refused);
  t.strictSame(kv.check('incr', reserved), refused);
  t.strictSame(kv.check('setex', reserved, '5', 'v'), refused);
  t.equal(kv.check('set', '\0bitraft:expiryX', 'v'), undefined, 'only that exact name');
  t.equal(kv.check('get', reserved), undefined, 'reads are fine');
});

t.test('expiry arithmetic', async (t) => {
  t.equal(absoluteExpiry(-5n, 'pxat', NOW, 'x'), 1, 'before the epoch: 1 ms, expired');
  t.equal(absoluteExpiry(2n, 'exat', NOW, 'x'), 2000);
  t.equal(absoluteExpiry(2n, 'ex', NOW, 'x'), NOW + 2000);
  t.strictSame(parseExpireArgument(Buffer.from('-9223372036854775'), 'ex', 'expire'), -9223372036854775n);
});
