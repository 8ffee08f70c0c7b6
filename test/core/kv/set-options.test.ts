/**
 * SET's options (set-options.ts) as Redis parses them, and what SET does with them:
 * NX, XX and GET; KEEPTTL accepted; an expiry refused with a clear error, since keys do
 * not expire. (The redis-cli integration test compares SET with redis-server.)
 */
import t from 'tap';
import { EXPIRY_UNSUPPORTED, parseSetOptions } from '../../../src/core/kv/set-options.js';
import { argv, err, OK_, openKv } from './kv-fixture.js';

const parse = (...opts: string[]) => parseSetOptions(argv('set', 'k', 'v', ...opts));
const SYNTAX = { type: 'error', text: 'ERR syntax error' };

t.test('parseSetOptions: any order and case; NX and XX exclude each other', async (t) => {
  t.strictSame(parse(), { condition: undefined, get: false });
  t.strictSame(parse('nx'), { condition: 'nx', get: false });
  t.strictSame(parse('XX', 'get'), { condition: 'xx', get: true });
  t.strictSame(parse('GET', 'Nx', 'NX'), { condition: 'nx', get: true }, 'a repeated option is fine');
  t.strictSame(parse('KEEPTTL', 'get', 'keepttl'), { condition: undefined, get: true }, 'KEEPTTL changes nothing');
  t.strictSame(parse('NX', 'XX'), SYNTAX);
  t.strictSame(parse('xx', 'nx'), SYNTAX);
  t.strictSame(parse('bogus'), SYNTAX);
  t.strictSame(parse('EX'), SYNTAX, 'an expiry without its value');
  t.strictSame(parse('KEEPTTL', 'EX', '10'), SYNTAX, 'KEEPTTL with an expiry');
  t.strictSame(parse('PX', '10', 'KEEPTTL'), SYNTAX);
  t.strictSame(parse('EX', '10', 'PX', '10'), SYNTAX, 'two expiries');
  for (const e of ['EX', 'px', 'EXAT', 'pxat']) t.strictSame(parse(e, '10'), EXPIRY_UNSUPPORTED, `${e} 10`);
  t.strictSame(parse('NX', 'EX', '10', 'GET'), EXPIRY_UNSUPPORTED);
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
  t.strictSame(kv.run('set', 'k', 'v7', 'EX', '10'), err(EXPIRY_UNSUPPORTED.text));
  t.strictSame(kv.contents(), { k: 'v6', new: 'n' });
});

t.test('SET checks sizes of the key and value only, whatever the options', async (t) => {
  const kv = await openKv(t, { maxKeySize: 4, maxValueSize: 4 });
  t.equal(kv.check('set', 'kkkk', 'vvvv', 'NX', 'GET'), undefined);
  t.strictSame(kv.check('set', 'k', 'vvvvv', 'XX'), err('ERR value of 5 bytes exceeds the limit of 4 bytes'));
});
