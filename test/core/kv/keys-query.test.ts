import t from 'tap';
import type { Bitcask } from '../../../src/core/bitcask/index.js';
import type { KeySpace } from '../../../src/core/kv/key-space.js';
import { globMatch } from '../../../src/core/kv/glob.js';
import { parseKeysQuery, runKeysQuery, type KeysQuery } from '../../../src/core/kv/keys-query.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { argv, b, err, openKv, plain, type KvFixture, type Plain } from './kv-fixture.js';

const SYNTAX = err('ERR syntax error');
const NOT_INT = err('ERR value is not an integer or out of range');

/** Byte order of latin1 strings. */
const byteOrder = (x: string, y: string): number => Buffer.compare(b(x), b(y));

const KEYS = [
  '',
  '\x00',
  'a',
  'a\x00',
  'aa',
  'ab',
  'abc',
  'a\xff',
  'a\xff\xff',
  'b',
  'b\x00',
  'ba',
  'user:1',
  'user:10',
  'user:2',
  'users',
  '\xfe',
  '\xff',
  '\xff\xff',
  '\xff\xffa',
].sort(byteOrder);

const valueOf = (k: string): string => `v(${k})`;

/** The KEYS above with their values, plus two deleted keys; `keys(...)` runs KEYS. */
async function fixture(t: { teardown(fn: () => void | Promise<void>): void }): Promise<KvFixture & { keys: (...args: string[]) => Plain }> {
  const kv = await openKv(t);
  kv.run('mset', ...KEYS.flatMap((k) => [k, valueOf(k)]));
  kv.run('set', 'deleted', 'x');
  kv.run('set', 'user:3', 'x');
  kv.run('del', 'deleted', 'user:3');
  return Object.assign(kv, { keys: (...args: string[]) => kv.run('keys', ...args) });
}

const asc = (pred: (k: string) => boolean = () => true): string[] => KEYS.filter(pred);
const desc = (pred: (k: string) => boolean = () => true): string[] => asc(pred).reverse();

t.test('parseKeysQuery', async (t) => {
  const q = (...args: string[]) => {
    const r = parseKeysQuery(argv(...args));
    return 'type' in r ? plain(r) : { ...r, pivot: r.pivot?.toString('latin1') };
  };
  t.strictSame(q('*'), { pattern: '*', desc: false, withValues: false, pivot: undefined });
  t.strictSame(q('a\xff*', 'LiMiT', '5', 'desc', 'PIVOT', 'k\x00', 'WithValues'), { pattern: 'a\xff*', desc: true, withValues: true, limit: 5, pivot: 'k\x00' }, 'any order, any case');
  t.strictSame(q('*', 'withvalues', 'pivot', 'p', 'DESC', 'limit', '0'), { pattern: '*', desc: true, withValues: true, limit: 0, pivot: 'p' });
  t.strictSame(q('*', 'limit', '5', 'limit', '3', 'pivot', 'a', 'pivot', 'b', 'desc', 'desc'), { pattern: '*', desc: true, withValues: false, limit: 3, pivot: 'b' }, 'the last of a repeated option wins');
  t.strictSame(q('*', 'pivot', 'desc'), { pattern: '*', desc: false, withValues: false, pivot: 'desc' }, 'an option value is never an option');
  t.strictSame(q('*', 'pivot', ''), { pattern: '*', desc: false, withValues: false, pivot: '' }, 'an empty pivot');
  t.strictSame(q('desc'), { pattern: 'desc', desc: false, withValues: false, pivot: undefined }, 'the first argument is always the pattern');
  t.strictSame(q('*', 'limit', '9007199254740991'), { pattern: '*', desc: false, withValues: false, limit: Number.MAX_SAFE_INTEGER, pivot: undefined });

  t.strictSame(q('*', 'bogus'), SYNTAX);
  t.strictSame(q('*', 'desc', 'x'), SYNTAX);
  t.strictSame(q('*', 'pivot'), SYNTAX, 'PIVOT without its key');
  t.strictSame(q('*', 'limit'), SYNTAX, 'LIMIT without its count');
  t.strictSame(q('*', 'desc', 'limit'), SYNTAX);
  t.strictSame(q('*', 'limits', '1'), SYNTAX);
  t.strictSame(q('*', ''), SYNTAX);
  t.strictSame(q('*', 'limit', '-1'), NOT_INT);
  t.strictSame(q('*', 'limit', 'abc'), NOT_INT);
  t.strictSame(q('*', 'limit', ''), NOT_INT);
  t.strictSame(q('*', 'limit', '1.5'), NOT_INT);
  t.strictSame(q('*', 'limit', '01'), NOT_INT);
  t.strictSame(q('*', 'limit', '+1'), NOT_INT);
  t.strictSame(q('*', 'limit', '9007199254740992'), NOT_INT);
  t.strictSame(q('*', 'limit', 'x', 'bogus'), NOT_INT, 'the first problem is reported');
  t.strictSame(q('*', 'bogus', 'limit', 'x'), SYNTAX);
});

t.test('KEYS through the machine: parse errors are replies', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('*', 'bogus'), SYNTAX);
  t.strictSame(kv.keys('*', 'LIMIT', '-1'), NOT_INT);
  t.strictSame(kv.keys('*', 'limit', 'abc'), NOT_INT);
  t.strictSame(kv.keys('*', 'pivot'), SYNTAX);
  t.strictSame(kv.keys('*', 'limit'), SYNTAX);
});

t.test('byte order, ascending and DESC', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('*'), asc(), 'every live key, the empty key included');
  t.strictSame(kv.keys('*', 'DESC'), desc());
  t.strictSame(kv.keys('*', 'desc'), desc());
  t.strictSame(kv.keys('a*'), asc((k) => k.startsWith('a')));
  t.strictSame(kv.keys('a*', 'desc'), desc((k) => k.startsWith('a')));
  t.strictSame(kv.keys('b*', 'desc'), ['ba', 'b\x00', 'b'], 'stops at the end of the prefix range');
  t.strictSame(kv.keys('user:*'), ['user:1', 'user:10', 'user:2']);
  t.strictSame(kv.keys('user:?'), ['user:1', 'user:2']);
  t.strictSame(kv.keys('user*'), ['user:1', 'user:10', 'user:2', 'users']);
  t.strictSame(kv.keys('*1*'), ['user:1', 'user:10']);
  t.strictSame(kv.keys('?'), ['\x00', 'a', 'b', '\xfe', '\xff']);
  t.strictSame(kv.keys('[ab]?', 'desc'), ['ba', 'b\x00', 'a\xff', 'ab', 'aa', 'a\x00']);
  t.strictSame(kv.keys('**'), asc((k) => k !== ''), 'only the pattern * is special-cased for the empty key');
  t.strictSame(kv.keys('nomatch*'), []);
  t.strictSame(kv.keys('c*', 'desc'), []);
  t.strictSame(kv.keys('a\\*'), [], 'an escaped star is literal');
});

t.test('PIVOT is exclusive, ascending', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('*', 'pivot', 'ab'), asc((k) => byteOrder(k, 'ab') > 0), 'a pivot that is a key');
  t.strictSame(kv.keys('*', 'pivot', 'abb'), asc((k) => byteOrder(k, 'abb') > 0), 'a pivot that is not a key');
  t.strictSame(kv.keys('*', 'pivot', ''), asc((k) => k !== ''), 'pivot before every key but the empty one');
  t.strictSame(kv.keys('*', 'pivot', '\xff\xffa'), [], 'pivot = the last key');
  t.strictSame(kv.keys('*', 'pivot', '\xff\xff\xff'), [], 'pivot after every key');
  t.strictSame(kv.keys('user:*', 'pivot', 'a'), ['user:1', 'user:10', 'user:2'], 'pivot below the literal prefix');
  t.strictSame(kv.keys('user:*', 'pivot', 'user:'), ['user:1', 'user:10', 'user:2'], 'pivot = the literal prefix');
  t.strictSame(kv.keys('user:*', 'pivot', 'user:1'), ['user:10', 'user:2']);
  t.strictSame(kv.keys('user:*', 'pivot', 'user:15'), ['user:2']);
  t.strictSame(kv.keys('user:*', 'pivot', 'user:2'), []);
  t.strictSame(kv.keys('user:*', 'pivot', 'user;'), [], 'pivot just above the prefix range');
  t.strictSame(kv.keys('user:*', 'pivot', 'v'), [], 'pivot above the literal prefix');
  t.strictSame(kv.keys('?', 'pivot', 'a'), ['b', '\xfe', '\xff']);
});

t.test('PIVOT is exclusive, DESC', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('*', 'desc', 'pivot', 'ab'), desc((k) => byteOrder(k, 'ab') < 0), 'a pivot that is a key');
  t.strictSame(kv.keys('*', 'pivot', 'abb', 'desc'), desc((k) => byteOrder(k, 'abb') < 0), 'a pivot that is not a key');
  t.strictSame(kv.keys('*', 'desc', 'pivot', ''), [], 'nothing is below the empty key');
  t.strictSame(kv.keys('*', 'desc', 'pivot', '\x00'), [''], 'only the empty key is below 0x00');
  t.strictSame(kv.keys('*', 'desc', 'pivot', '\xff\xffa'), desc((k) => k !== '\xff\xffa'));
  t.strictSame(kv.keys('*', 'desc', 'pivot', '\xff\xff\xff'), desc(), 'pivot after every key');
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'v'), ['user:2', 'user:10', 'user:1'], 'pivot above the literal prefix');
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'user;'), ['user:2', 'user:10', 'user:1'], 'pivot = the prefix upper bound');
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'user:2'), ['user:10', 'user:1']);
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'user:15'), ['user:10', 'user:1']);
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'user:1'), []);
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'user:'), [], 'pivot = the literal prefix');
  t.strictSame(kv.keys('user:*', 'desc', 'pivot', 'a'), [], 'pivot below the literal prefix');
});

t.test('LIMIT', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('*', 'limit', '0'), []);
  t.strictSame(kv.keys('*', 'limit', '0', 'withvalues'), []);
  t.strictSame(kv.keys('*', 'limit', '1'), ['']);
  t.strictSame(kv.keys('*', 'limit', '1', 'desc'), ['\xff\xffa']);
  t.strictSame(kv.keys('*', 'limit', '3'), asc().slice(0, 3));
  t.strictSame(kv.keys('a*', 'limit', '3', 'desc'), ['a\xff\xff', 'a\xff', 'abc']);
  t.strictSame(kv.keys('*', 'limit', '1000'), asc(), 'more than there are');
  t.strictSame(kv.keys('*', 'limit', String(KEYS.length)), asc(), 'exactly as many as there are');
  t.strictSame(kv.keys('user:?', 'limit', '1'), ['user:1'], 'counts matches, not keys walked');
});

t.test('WITHVALUES alternates key and value; LIMIT counts keys', async (t) => {
  const kv = await fixture(t);
  const withValues = (keys: string[]) => keys.flatMap((k) => [k, valueOf(k)]);
  t.strictSame(kv.keys('*', 'withvalues'), withValues(asc()));
  t.strictSame(kv.keys('user:*', 'WITHVALUES', 'desc'), withValues(['user:2', 'user:10', 'user:1']));
  t.strictSame(kv.keys('*', 'withvalues', 'limit', '2'), withValues(['', '\x00']));
  t.strictSame(kv.keys('*', 'limit', '1', 'withvalues', 'desc'), withValues(['\xff\xffa']));
  kv.run('set', 'empty', '');
  t.strictSame(kv.keys('empt*', 'withvalues'), ['empty', ''], 'an empty value is still alternated');
  t.strictSame(kv.keys('empty', 'withvalues'), ['empty', '']);
});

t.test('literal patterns are a single lookup', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('abc'), ['abc']);
  t.strictSame(kv.keys('abd'), []);
  t.strictSame(kv.keys(''), [''], 'the empty pattern matches the empty key');
  t.strictSame(kv.keys('\xff\xff'), ['\xff\xff']);
  t.strictSame(kv.keys('deleted'), [], 'a deleted key is not found');
  t.strictSame(kv.keys('abc', 'withvalues'), ['abc', valueOf('abc')]);
  t.strictSame(kv.keys('abc', 'limit', '0'), []);
  t.strictSame(kv.keys('abc', 'limit', '1'), ['abc']);
  t.strictSame(kv.keys('abc', 'pivot', 'ab'), ['abc'], 'pivot below the key');
  t.strictSame(kv.keys('abc', 'pivot', 'abc'), [], 'pivot = the key (exclusive)');
  t.strictSame(kv.keys('abc', 'pivot', 'abd'), [], 'pivot above the key');
  t.strictSame(kv.keys('abc', 'desc', 'pivot', 'abd'), ['abc'], 'DESC, pivot above the key');
  t.strictSame(kv.keys('abc', 'desc', 'pivot', 'abc'), [], 'DESC, pivot = the key');
  t.strictSame(kv.keys('abc', 'desc', 'pivot', 'ab'), [], 'DESC, pivot below the key');
  t.strictSame(kv.keys('abc', 'desc'), ['abc']);
  t.strictSame(kv.keys('', 'pivot', ''), []);
  t.strictSame(kv.keys('', 'desc', 'pivot', 'a'), ['']);
});

t.test('literal prefixes ending in 0xff bytes', async (t) => {
  const kv = await fixture(t);
  t.strictSame(kv.keys('a\xff*'), ['a\xff', 'a\xff\xff']);
  t.strictSame(kv.keys('a\xff*', 'desc'), ['a\xff\xff', 'a\xff'], 'upper bound b');
  t.strictSame(kv.keys('a\xff*', 'desc', 'pivot', 'a\xff\xff'), ['a\xff']);
  t.strictSame(kv.keys('a\xff*', 'desc', 'pivot', 'zzz'), ['a\xff\xff', 'a\xff']);
  t.strictSame(kv.keys('\xff*'), ['\xff', '\xff\xff', '\xff\xffa']);
  t.strictSame(kv.keys('\xff*', 'desc'), ['\xff\xffa', '\xff\xff', '\xff'], 'no upper bound: from the end');
  t.strictSame(kv.keys('\xff\xff*', 'desc'), ['\xff\xffa', '\xff\xff']);
  t.strictSame(kv.keys('\xff\xff*', 'desc', 'pivot', '\xff\xffa'), ['\xff\xff']);
  t.strictSame(kv.keys('\xff\xff*', 'desc', 'pivot', '\xff\xff\xff'), ['\xff\xffa', '\xff\xff'], 'pivot past every key');
  t.strictSame(kv.keys('\xff\xff*', 'desc', 'pivot', '\xfe'), [], 'pivot below the prefix');
  t.strictSame(kv.keys('\xff\xff*', 'pivot', '\xff\xff'), ['\xff\xffa']);
  t.strictSame(kv.keys('\xfe*', 'desc'), ['\xfe'], 'upper bound 0xff, itself a key, excluded');
  t.strictSame(kv.keys('\xff?', 'desc'), ['\xff\xff']);
});

t.test('paging with PIVOT <last key> visits every match once', async (t) => {
  const kv = await fixture(t);
  for (const pattern of ['*', 'a*', 'user:*', '?', '\xff*']) {
    for (const dir of [[], ['desc']]) {
      for (const size of [1, 2, 3]) {
        const seen: string[] = [];
        let pivot: string[] = [];
        for (let page = 0; page < 50; page++) {
          const got = kv.keys(pattern, 'limit', String(size), ...dir, ...pivot) as string[];
          seen.push(...got);
          if (got.length < size) break;
          pivot = ['pivot', got[got.length - 1]!];
        }
        t.strictSame(seen, kv.keys(pattern, ...dir), `${JSON.stringify(pattern)} ${dir.join('')} pages of ${size}`);
      }
    }
  }
});

t.test('a page walks only about as many keys as it returns', async (t) => {
  const kv = await openKv(t);
  const n = 5000;
  for (let i = 0; i < n; i++) kv.store.put(b(`key:${String(i).padStart(5, '0')}`), b('v'));
  for (let i = 0; i < 100; i++) kv.store.put(b(`other:${i}`), b('v'));
  let walked = 0;
  const spy = {
    get: (k: Buffer) => kv.store.get(k),
    *keys(range?: Parameters<Bitcask['keys']>[0]) {
      for (const k of kv.store.keys(range)) {
        walked++;
        yield k;
      }
    },
  } as unknown as KeySpace;
  const run = (q: KeysQuery): Plain => plain(runKeysQuery(spy, q));
  const page = (r: Plain): string[] => r as string[];

  walked = 0;
  t.strictSame(page(run({ pattern: 'key:*', limit: 10, desc: false, withValues: false })).length, 10);
  t.ok(walked <= 10, `ascending first page walked ${walked}`);

  walked = 0;
  const mid = page(run({ pattern: 'key:*', limit: 10, desc: false, withValues: true, pivot: b('key:02500') }));
  t.strictSame(mid.slice(0, 2), ['key:02501', 'v']);
  t.ok(walked <= 10, `a middle page walked ${walked}`);

  walked = 0;
  t.strictSame(page(run({ pattern: 'key:*', limit: 3, desc: true, withValues: false, pivot: b('key:04000') })), ['key:03999', 'key:03998', 'key:03997']);
  t.ok(walked <= 3, `a DESC page walked ${walked}`);

  walked = 0;
  t.strictSame(page(run({ pattern: 'other:*', desc: true, withValues: false })).length, 100);
  t.ok(walked <= 101, `a prefix walks only its range (walked ${walked})`);

  walked = 0;
  t.strictSame(page(run({ pattern: 'key:0499?', desc: false, withValues: false })).length, 10);
  t.ok(walked <= 11, `the literal prefix bounds the walk (walked ${walked})`);

  walked = 0;
  t.strictSame(page(run({ pattern: 'key:00001', desc: false, withValues: true })), ['key:00001', 'v']);
  t.equal(walked, 0, 'a literal pattern walks nothing');

  // A key listed by the walk but gone when its value is read is skipped, never a null.
  const vanishing = Object.create(spy) as { get: (k: Buffer) => Buffer | undefined };
  vanishing.get = (k: Buffer) => (k.toString('latin1') === 'key:00002' ? undefined : kv.store.get(k));
  t.strictSame(plain(runKeysQuery(vanishing as unknown as KeySpace, { pattern: 'key:0000*', limit: 3, desc: false, withValues: true })), ['key:00000', 'v', 'key:00001', 'v', 'key:00003', 'v']);
});

// ---------------------------------------------------------------------------------------
// Model test: runKeysQuery against filter + sort + slice over a Map.

const ALPHABET = ['\x00', 'a', 'b', '*', '\\', '\xfe', '\xff'];
const PATTERN_TOKENS = ['a', 'b', '\x00', '\xfe', '\xff', '*', '*', '?', '[ab]', '[^a]', '[a-b]', '[\xfe-\xff]', '\\*', '\\a', '\\', '['];

function randomKey(rng: Rng, maxLen = 4): string {
  let s = '';
  const len = rng.int(maxLen + 1);
  for (let i = 0; i < len; i++) s += ALPHABET[rng.int(ALPHABET.length)];
  return s;
}

function randomPattern(rng: Rng): string {
  if (rng.int(10) === 0) return '*';
  if (rng.int(8) === 0) return randomKey(rng);
  let s = '';
  const len = rng.int(5);
  for (let i = 0; i < len; i++) s += PATTERN_TOKENS[rng.int(PATTERN_TOKENS.length)];
  return s;
}

function model(data: Map<string, string>, pattern: string, pivot: string | undefined, limit: number | undefined, isDesc: boolean, withValues: boolean): string[] {
  let keys = [...data.keys()].filter((k) => pattern === '*' || globMatch(pattern, k)).sort(byteOrder);
  if (isDesc) keys.reverse();
  if (pivot !== undefined) keys = keys.filter((k) => (isDesc ? byteOrder(k, pivot) < 0 : byteOrder(k, pivot) > 0));
  if (limit !== undefined) keys = keys.slice(0, limit);
  return withValues ? keys.flatMap((k) => [k, data.get(k)!]) : keys;
}

t.test('model: random queries agree with a brute-force filter, sort and slice', async (t) => {
  const rng = seededRng(20240611);
  const kv = await openKv(t);
  const data = new Map<string, string>();
  let queries = 0;
  let nonEmpty = 0;
  for (let round = 0; round < 20; round++) {
    // Mutate: puts, deletes, sometimes a flush.
    if (round === 10) {
      kv.run('flushdb');
      data.clear();
    }
    for (let i = 0; i < 40; i++) {
      const k = randomKey(rng);
      if (rng.int(4) === 0) {
        kv.run('del', k);
        data.delete(k);
      } else {
        const v = randomKey(rng, 3);
        kv.run('set', k, v);
        data.set(k, v);
      }
    }
    for (let i = 0; i < 400; i++) {
      const pattern = randomPattern(rng);
      const opts: string[][] = [];
      const existing = [...data.keys()];
      const pivot = rng.int(3) === 0 ? undefined : rng.int(2) === 0 && existing.length > 0 ? existing[rng.int(existing.length)]! : randomKey(rng);
      const limit = rng.int(3) === 0 ? rng.int(7) : undefined;
      const isDesc = rng.int(2) === 0;
      const withValues = rng.int(3) === 0;
      if (pivot !== undefined) opts.push([rng.int(2) ? 'PIVOT' : 'pivot', pivot]);
      if (limit !== undefined) opts.push([rng.int(2) ? 'LIMIT' : 'Limit', String(limit)]);
      if (isDesc) opts.push([rng.int(2) ? 'DESC' : 'desc']);
      if (withValues) opts.push([rng.int(2) ? 'WITHVALUES' : 'withValues']);
      // Any order.
      for (let j = opts.length - 1; j > 0; j--) {
        const r = rng.int(j + 1);
        [opts[j], opts[r]] = [opts[r]!, opts[j]!];
      }
      const args = [pattern, ...opts.flat()];
      const got = kv.run('keys', ...args);
      const want = model(data, pattern, pivot, limit, isDesc, withValues);
      queries++;
      if (want.length > 0) nonEmpty++;
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.strictSame(got, want, `KEYS ${JSON.stringify(args)} over ${JSON.stringify([...data.keys()].sort(byteOrder))}`);
        return;
      }
    }
    t.strictSame(kv.contents(), Object.fromEntries(data), `round ${round}: the store holds the model`);
  }
  t.equal(queries, 8000);
  t.ok(nonEmpty > 2000, `${nonEmpty} of the queries had results`);
});
