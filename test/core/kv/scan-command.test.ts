/**
 * SCAN and RANDOMKEY (scan-command.ts, scan-cursors.ts): SCAN walks keys in byte order
 * through cursors the node remembers; a full walk returns every key present throughout
 * exactly once, whatever is written meanwhile. RANDOMKEY picks live keys.
 */
import t from 'tap';
import { ScanCursors } from '../../../src/core/kv/scan-cursors.js';
import { err, openKv, type KvFixture, type Plain } from './kv-fixture.js';

/** Every key a full SCAN walk returns, and how many calls it took. */
function walk(kv: KvFixture, opts: string[] = [], between?: (call: number) => void): { keys: string[]; calls: number } {
  const keys: string[] = [];
  let cursor = '0';
  let calls = 0;
  do {
    const [next, page] = kv.read('scan', cursor, ...opts) as [string, string[]];
    keys.push(...page);
    cursor = next;
    calls++;
    between?.(calls);
  } while (cursor !== '0');
  return { keys, calls };
}

t.test('a full walk returns every key once, in byte order, COUNT keys looked at per call', async (t) => {
  const kv = await openKv(t);
  const all = Array.from({ length: 95 }, (_, i) => `key:${String(i).padStart(3, '0')}`);
  for (const k of all) kv.run('set', k, 'v');
  t.strictSame(walk(kv), { keys: all, calls: 10 }, 'COUNT 10 by default');
  t.strictSame(walk(kv, ['COUNT', '50']), { keys: all, calls: 2 });
  t.strictSame(walk(kv, ['COUNT', '95']).calls, 2, 'a last call that finds the end');
  t.strictSame(walk(kv, ['count', '1000']), { keys: all, calls: 1 });
  t.strictSame(walk(kv, ['MATCH', 'key:0?5']).keys, ['key:005', 'key:015', 'key:025', 'key:035', 'key:045', 'key:055', 'key:065', 'key:075', 'key:085']);
  t.strictSame(walk(kv, ['MATCH', 'key:09*', 'COUNT', '2']), { keys: ['key:090', 'key:091', 'key:092', 'key:093', 'key:094'], calls: 3 }, 'only the literal prefix is walked');
  t.strictSame(walk(kv, ['MATCH', 'key:050']), { keys: ['key:050'], calls: 1 }, 'a literal pattern: one lookup');
  t.strictSame(walk(kv, ['MATCH', 'nokey']), { keys: [], calls: 1 });
  t.strictSame(walk(kv, ['TYPE', 'string', 'COUNT', '100']).keys.length, 95);
  t.strictSame(walk(kv, ['TYPE', 'hash', 'COUNT', '100']), { keys: [], calls: 1 }, 'no key is of another type');
  t.strictSame(walk(kv, ['TYPE', 'hash', 'MATCH', 'key:001']), { keys: [], calls: 1 });
});

t.test('stable under writes: keys present throughout come once; deleted ones may go, added ones may come', async (t) => {
  const kv = await openKv(t);
  for (let i = 0; i < 100; i += 2) kv.run('set', `k${String(i).padStart(3, '0')}`, 'v');
  const stay = Array.from({ length: 50 }, (_, i) => `k${String(i * 2).padStart(3, '0')}`).filter((k) => k !== 'k040');
  const { keys } = walk(kv, ['COUNT', '7'], (call) => {
    // Between calls: add odd keys everywhere, delete one that is not reached yet.
    for (let i = 1; i < 100; i += 2) if (i % 7 === call % 7) kv.run('set', `k${String(i).padStart(3, '0')}`, 'v');
    if (call === 1) kv.run('del', 'k040');
  });
  t.equal(new Set(keys).size, keys.length, 'no key twice');
  t.strictSame([...keys].sort(), keys, 'byte order');
  for (const k of stay) t.ok(keys.includes(k), `${k} returned`);
  t.notOk(keys.includes('k040'), 'deleted before the walk reached it');
});

t.test('expired keys are skipped; an empty store; bad arguments', async (t) => {
  const kv = await openKv(t);
  t.strictSame(kv.read('scan', '0'), ['0', []]);
  kv.run('set', 'a', 'v', 'PX', '5');
  kv.run('set', 'b', 'v');
  kv.clock.ms += 10;
  t.strictSame(walk(kv).keys, ['b']);
  const syntax = err('ERR syntax error');
  t.strictSame(kv.read('scan', 'x'), err('ERR invalid cursor'));
  t.strictSame(kv.read('scan', '-1'), err('ERR invalid cursor'));
  t.strictSame(kv.read('scan', '18446744073709551616'), err('ERR invalid cursor'), 'beyond 64 bits');
  t.strictSame(kv.read('scan', '18446744073709551615'), err('ERR unknown SCAN cursor (forgotten, or handed out by another node): start again from 0'));
  t.strictSame(kv.read('scan', '00'), ['0', ['b']], 'leading zeros: still 0');
  t.strictSame(kv.read('scan', '0', 'COUNT', '0'), syntax);
  t.strictSame(kv.read('scan', '0', 'COUNT', 'x'), err('ERR value is not an integer or out of range'));
  t.strictSame(kv.read('scan', '0', 'MATCH'), syntax);
  t.strictSame(kv.read('scan', '0', 'BOGUS', 'x'), syntax);
  t.strictSame(kv.read('scan'), err("ERR wrong number of arguments for 'scan' command"));
});

t.test('the cursor table: random ids, reusable, the oldest forgotten beyond its limit', async (t) => {
  const ids = [0, 7, 7, 8, 9];
  const c = new ScanCursors(2, () => ids.shift()!);
  t.equal(c.open(Buffer.from('a')), '7', 'never 0');
  t.equal(c.open(Buffer.from('b')), '8', 'never an id in use');
  t.strictSame(c.lastKey('7'), Buffer.from('a'));
  t.strictSame(c.lastKey('7'), Buffer.from('a'), 'a cursor may be used again');
  t.equal(c.open(Buffer.from('c')), '9');
  t.equal(c.size, 2);
  t.equal(c.lastKey('7'), undefined, 'the oldest was forgotten');
  const real = new ScanCursors();
  const id = real.open(Buffer.from('k'));
  t.match(id, /^[1-9][0-9]*$/);
  t.ok(Number(id) < 2 ** 48);
});

t.test('RANDOMKEY: a live key, null when there is none, never an expired one', async (t) => {
  const kv = await openKv(t);
  t.equal(kv.read('randomkey'), null);
  for (let i = 0; i < 20; i++) kv.run('set', `k${i}`, 'v');
  for (let i = 0; i < 19; i++) kv.run('del', `k${i}`);
  const seen = new Set<Plain>();
  for (let i = 0; i < 10; i++) seen.add(kv.read('randomkey'));
  t.strictSame([...seen], ['k19'], 'one live key among many freed slots: found (by probing or the walk)');
  for (let i = 0; i < 50; i++) kv.run('set', `e${i}`, 'v', 'PX', '5');
  kv.clock.ms += 10;
  for (let i = 0; i < 10; i++) t.equal(kv.read('randomkey'), 'k19', 'expired keys are never picked');
  kv.run('del', 'k19');
  t.equal(kv.read('randomkey'), null, 'only expired keys: null');
  kv.run('flushdb');
  for (let i = 0; i < 30; i++) kv.run('set', `m${i}`, 'v');
  const picked = new Set<Plain>();
  for (let i = 0; i < 200; i++) picked.add(kv.read('randomkey'));
  t.ok(picked.size > 10, `random: ${picked.size} different keys in 200 picks`);
});

t.test('a cursor continued with another MATCH starts at that pattern\'s prefix', async (t) => {
  const kv = await openKv(t);
  for (const k of ['a1', 'a2', 'a3', 'z1', 'z2']) kv.run('set', k, 'v');
  const [cursor, first] = kv.read('scan', '0', 'MATCH', 'a*', 'COUNT', '1') as [string, string[]];
  t.strictSame(first, ['a1']);
  t.strictSame(kv.read('scan', cursor, 'MATCH', 'z*', 'COUNT', '10'), ['0', ['z1', 'z2']]);
  kv.run('set', 'b', 'v');
  t.strictSame(kv.read('scan', '0', 'MATCH', 'aa*'), ['0', []], 'the first key past the prefix is shorter than it');
});
