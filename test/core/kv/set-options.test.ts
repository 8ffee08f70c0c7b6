/**
 * SET's options (set-options.ts) as Redis 7 parses them, and what SET does with them:
 * NX, XX, GET, KEEPTTL and the expiries EX, PX, EXAT and PXAT. (The redis-cli
 * integration test compares SET with redis-server.)
 */
import t from 'tap';
import { parseSetOptions } from '../../../src/core/kv/set-options.js';
import { argv, err, FIXTURE_START_MS, OK_, openKv } from './kv-fixture.js';

const parse = (...opts: string[]) => parseSetOptions(argv('set', 'k', 'v', ...opts));
const SYNTAX = { type: 'error', text: 'ERR syntax error' };
const NOT_INT = { type: 'error', text: 'ERR value is not an integer or out of range' };
const INVALID = { type: 'error', text: "ERR invalid expire time in 'set' command" };
const none = { condition: undefined, get: false, keepTtl: false, expiry: undefined };

t.test('parseSetOptions: any order and case; conflicting options are a syntax error', async (t) => {
  t.strictSame(parse(), none);
  t.strictSame(parse('nx'), { ...none, condition: 'nx' });
  t.strictSame(parse('XX', 'get'), { ...none, condition: 'xx', get: true });
  t.strictSame(parse('GET', 'Nx', 'NX'), { ...none, condition: 'nx', get: true }, 'a repeated option is fine');
  t.strictSame(parse('KEEPTTL', 'get', 'keepttl'), { ...none, get: true, keepTtl: true });
  t.strictSame(parse('ex', '10'), { ...none, expiry: { unit: 'ex', arg: Buffer.from('10') } });
  t.strictSame(parse('PX', '5', 'px', '7'), { ...none, expiry: { unit: 'px', arg: Buffer.from('7') } }, 'the same expiry twice: the last wins');
  t.strictSame(parse('NX', 'EXAT', '99', 'GET'), { ...none, condition: 'nx', get: true, expiry: { unit: 'exat', arg: Buffer.from('99') } });
  t.strictSame(parse('NX', 'XX'), SYNTAX);
  t.strictSame(parse('xx', 'nx'), SYNTAX);
  t.strictSame(parse('bogus'), SYNTAX);
  t.strictSame(parse('EX'), SYNTAX, 'an expiry without its value');
  t.strictSame(parse('KEEPTTL', 'EX', '10'), SYNTAX, 'KEEPTTL with an expiry');
  t.strictSame(parse('PX', '10', 'KEEPTTL'), SYNTAX);
  t.strictSame(parse('EX', '10', 'PX', '10'), SYNTAX, 'two kinds of expiry');
});

t.test("parseSetOptions: an expiry's number, checked once the options are well formed", async (t) => {
  t.strictSame(parse('EX', 'ten'), NOT_INT);
  t.strictSame(parse('EX', 'ten', 'NX', 'XX'), SYNTAX, 'a syntax error comes first, as in Redis');
  t.strictSame(parse('EX', '0'), INVALID);
  t.strictSame(parse('PXAT', '-5'), INVALID);
  t.strictSame(parse('EX', '9223372036854776'), INVALID, 'seconds beyond the 64-bit range in ms');
  t.strictSame(parse('EX', '9223372036854775'), { ...none, expiry: { unit: 'ex', arg: Buffer.from('9223372036854775') } });
  t.strictSame(parseSetOptions(argv('getex', 'k', '', 'EX', '0'), 'getex'), { type: 'error', text: "ERR invalid expire time in 'getex' command" });
  t.strictSame(parseSetOptions(argv('getex', 'k', '', 'EX', '0'), 'getex', false), { ...none, expiry: { unit: 'ex', arg: Buffer.from('0') } }, 'unchecked');
});

t.test('SET NX, XX and GET', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.run('set', 'k', 'v1', 'NX'), OK_);
  t.strictSame(kv.run('set', 'k', 'v2', 'NX'), null, 'NX on a present key: null, unchanged');
  t.strictSame(kv.run('set', 'k', 'v3', 'XX'), OK_);
  t.strictSame(kv.run('set', 'absent', 'v', 'XX'), null, 'XX on an absent key: null, not created');
  t.strictSame(kv.run('set', 'k', 'v4', 'GET'), 'v3', 'GET: the old value');
  t.strictSame(kv.run('set', 'k', 'v5', 'NX', 'GET'), 'v4', 'NX GET on a present key: the old value, unchanged');
  t.strictSame(kv.run('set', 'new', 'n', 'GET'), null, 'GET of an absent key: null, and it is set');
  t.strictSame(kv.run('set', 'new2', 'n', 'XX', 'GET'), null);
  t.strictSame(kv.run('set', 'k', 'v6', 'KEEPTTL'), OK_);
  t.strictSame(kv.contents(), { k: 'v6', new: 'n' });
});

t.test('SET with an expiry: relative to the entry time, absolute, KEEPTTL, cleared by a plain SET', async (t) => {
  const kv = await openKv(t);
  const now = FIXTURE_START_MS;
  t.strictSame(kv.run('set', 'a', '1', 'EX', '10'), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('a')), now + 10_000);
  t.strictSame(kv.run('set', 'b', '1', 'PX', '1500'), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('b')), now + 1500);
  t.strictSame(kv.run('set', 'c', '1', 'EXAT', String(now / 1000 + 60)), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('c')), now + 60_000);
  t.strictSame(kv.run('set', 'd', '1', 'PXAT', String(now + 7)), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('d')), now + 7);
  t.strictSame(kv.run('set', 'a', '2', 'KEEPTTL'), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('a')), now + 10_000, 'KEEPTTL keeps it');
  t.strictSame(kv.run('set', 'a', '3'), OK_);
  t.equal(kv.store.expiryOf(Buffer.from('a')), 0, 'a plain SET clears it');
  t.strictSame(kv.run('set', 'e', '1', 'PXAT', String(now - 1), 'GET'), null, 'an expiry in the past: set and gone at once');
  t.equal(kv.store.has(Buffer.from('e')), false);
  t.strictSame(kv.run('set', 'd', 'x', 'PXAT', '1', 'GET'), '1', 'GET with a past expiry: the old value, and the key is deleted');
  t.equal(kv.store.has(Buffer.from('d')), false);
  t.strictSame(kv.run('set', 'f', '1', 'PXAT', String(Number.MAX_SAFE_INTEGER + 1)), err("ERR invalid expire time in 'set' command"), 'beyond the latest expiry bitraft stores');
  t.strictSame(kv.run('set', 'f', '1', 'PX', String(Number.MAX_SAFE_INTEGER - now + 1)), err("ERR invalid expire time in 'set' command"), 'relative, past the latest');
  t.equal(kv.store.has(Buffer.from('f')), false);
});

t.test('SET checks sizes of the key and value only, whatever the options', async (t) => {
  const kv = await openKv(t, { maxKeySize: 4, maxValueSize: 4 });
  t.equal(kv.check('set', 'kkkk', 'vvvv', 'NX', 'GET'), undefined);
  t.strictSame(kv.check('set', 'k', 'vvvvv', 'XX'), err('ERR value of 5 bytes exceeds the limit of 4 bytes'));
  t.strictSame(kv.check('set', 'k', 'v', 'EX', '0'), err("ERR invalid expire time in 'set' command"), 'an expiry is checked before the log');
});
