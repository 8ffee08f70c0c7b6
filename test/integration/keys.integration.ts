/**
 * KEYS on a real `bitraft serve`: glob matching exactly as redis-server's KEYS for many
 * random patterns over one random binary key set (Redis answers in hash order, so its
 * answer is sorted here; bitraft's must come sorted in byte order already), paging with
 * PIVOT/LIMIT through 10,000 keys forward and with DESC (every key exactly once, in
 * order), WITHVALUES, options in any order and any case, and `-ERR syntax error` for
 * bad options.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { seededRng } from '../../src/core/support/rng.js';
import { redisCli, requireTools, startRedisServer, startServer } from '../helpers/server.js';

requireTools('redis-server', 'redis-cli', 'redis-benchmark');

/** Floats in [0, 1) from the project's seeded generator. */
const rng = (seed: number): (() => number) => seededRng(seed).float;

const L = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex = (b: Buffer): string => b.toString('hex');
const show = (b: Buffer): string => JSON.stringify(b.toString('latin1'));

function client(t: { teardown(fn: () => void): void }, port: number): Redis {
  const redis = new Redis(port, '127.0.0.1');
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  return redis;
}

function isSorted(keys: Buffer[], desc = false): boolean {
  for (let i = 1; i < keys.length; i++) {
    const c = Buffer.compare(keys[i - 1]!, keys[i]!);
    if (desc ? c <= 0 : c >= 0) return false;
  }
  return true;
}

/** Loads `pairs` with MSETs of 500 pairs. */
async function load(redis: Redis, pairs: [Buffer, Buffer][]): Promise<void> {
  const p = redis.pipeline();
  for (let i = 0; i < pairs.length; i += 500) p.mset(...pairs.slice(i, i + 500).flat());
  const res = (await p.exec())!;
  for (const [err] of res) if (err) throw err;
}

t.test('glob patterns select the same keys as redis-server KEYS', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t, { args: ['--durability', 'low'] }), startRedisServer(t)]);
  const b = client(t, bitraft.port);
  const r = client(t, redis.port);
  const rand = rng(20240601);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  // Keys over a small alphabet (so patterns match often), with the glob specials
  // themselves, a space, NUL, newline and high bytes; the empty key included.
  const ASCII = ['a', 'b', 'c', 'A', 'B', 'x', '-', '_', '*', '?', '[', ']', '\\', '^', ' ', '!', '\x00', '\n'];
  const keySet = new Map<string, Buffer>();
  keySet.set('', Buffer.alloc(0));
  while (keySet.size < 600) {
    const len = 1 + Math.floor(rand() * 6);
    let k = '';
    for (let i = 0; i < len; i++) k += pick(ASCII);
    keySet.set(k, L(k));
  }
  const keys = [...keySet.values()];
  const pairs = keys.map((k): [Buffer, Buffer] => [k, L(`v:${k.toString('latin1')}`)]);
  await Promise.all([load(b, pairs), load(r, pairs)]);

  const TOKENS = [
    () => pick(['a', 'b', 'c', 'A', 'x', '-', '_', ' ', '!', '^', ']']),
    () => '*',
    () => '*',
    () => '?',
    () => `[${pick(['ab', 'a', '^a', '^ab', 'a-c', 'c-a', '\\]', '\\*', 'a\\-c', '^-', '!-b', 'A-Z', '^a-c', '-a', 'a-', ']'])}]`,
    () => `\\${pick(['*', '?', '[', ']', '\\', 'a', '-'])}`,
    () => pick(['[ab', '[^', '[a-', '[', '\\', '[\\']),
  ];
  const patterns = new Set<string>(['*', '?', '', '\\', '[', '[]', '[^]', '**', '*?*', 'a*', '*a', '\\*', '[*]', '[[]', '[\\]]*', '[a-]*', '[]a]']);
  while (patterns.size < 500) {
    const n = 1 + Math.floor(rand() * 5);
    let p = '';
    for (let i = 0; i < n; i++) {
      const tok = pick(TOKENS)();
      // Unclosed brackets and a lone backslash only make sense at the end.
      if (/^(\[ab|\[\^|\[a-|\[|\\|\[\\)$/.test(tok) && i < n - 1) continue;
      p += tok;
    }
    patterns.add(p);
  }
  const list = [...patterns];
  const bp = b.pipeline();
  const rp = r.pipeline();
  for (const p of list) {
    bp.callBuffer('KEYS', L(p));
    rp.callBuffer('KEYS', L(p));
  }
  const [bres, rres] = await Promise.all([bp.exec(), rp.exec()]);
  const mismatches: string[] = [];
  const unsorted: string[] = [];
  let nonEmpty = 0;
  list.forEach((p, i) => {
    const [berr, bkeys] = bres![i]! as [Error | null, Buffer[]];
    const [rerr, rkeys] = rres![i]! as [Error | null, Buffer[]];
    if (berr || rerr) {
      mismatches.push(`KEYS ${JSON.stringify(p)}: bitraft ${berr?.message ?? 'ok'}, redis ${rerr?.message ?? 'ok'}`);
      return;
    }
    if (rkeys.length > 0) nonEmpty++;
    if (!isSorted(bkeys)) unsorted.push(JSON.stringify(p));
    const want = [...rkeys].sort(Buffer.compare).map(hex);
    const got = [...bkeys].sort(Buffer.compare).map(hex);
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      const missing = want.filter((k) => !got.includes(k)).map((k) => show(Buffer.from(k, 'hex')));
      const extra = got.filter((k) => !want.includes(k)).map((k) => show(Buffer.from(k, 'hex')));
      mismatches.push(`KEYS ${JSON.stringify(p)}: redis ${want.length} keys, bitraft ${got.length}; missing ${missing.slice(0, 5).join(' ')}; extra ${extra.slice(0, 5).join(' ')}`);
    }
  });
  t.ok(nonEmpty > 150, `${nonEmpty} of ${list.length} patterns match something`);
  t.same(mismatches.slice(0, 25), [], `every pattern selects the same keys as redis-server (${mismatches.length} of ${list.length} differ)`);
  t.same(unsorted.slice(0, 10), [], 'bitraft answers in byte order');
});

t.test('patterns with high bytes and every byte value select the same keys as redis-server', async (t) => {
  const [bitraft, redis] = await Promise.all([startServer(t, { args: ['--durability', 'low'] }), startRedisServer(t)]);
  const b = client(t, bitraft.port);
  const r = client(t, redis.port);
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 0; i < 256; i++) pairs.push([Buffer.from([0x6b, i]), Buffer.from([i])]);
  pairs.push([Buffer.from([0xff, 0xff]), L('ff')], [Buffer.from([0x80]), L('80')], [Buffer.from([0xc3, 0xa9]), L('é')]);
  await Promise.all([load(b, pairs), load(r, pairs)]);
  // Ranges that mix ASCII and bytes >= 0x80 are left out here: Redis compares them as
  // signed C chars, bitraft as bytes (checked in the next test).
  const patterns = ['k?', 'k*', 'k[\x00-\x1f]', 'k[^a-z]', 'k[\x80-\xff]', 'k[\xff-\x80]', 'k\xff', 'k[\xfe\xff]', '\xff*', '[\x80-\xff]*', '\xc3?', '*\xa9', 'k[^\x80-\xff]'];
  const mismatches: string[] = [];
  for (const p of patterns) {
    const [bk, rk] = (await Promise.all([b.callBuffer('KEYS', L(p)), r.callBuffer('KEYS', L(p))])) as [Buffer[], Buffer[]];
    t.ok(isSorted(bk), `KEYS ${show(L(p))}: bitraft's answer is sorted`);
    const want = [...rk].sort(Buffer.compare).map(hex);
    const got = bk.map(hex);
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      const missing = want.filter((k) => !got.includes(k));
      const extra = got.filter((k) => !want.includes(k));
      mismatches.push(`KEYS ${show(L(p))}: redis ${want.length} keys, bitraft ${got.length}; missing (hex) ${missing.slice(0, 4).join(' ')}${missing.length > 4 ? ` …+${missing.length - 4}` : ''}; extra (hex) ${extra.slice(0, 4).join(' ')}${extra.length > 4 ? ` …+${extra.length - 4}` : ''}`);
    }
  }
  t.same(mismatches, [], `every pattern selects the same keys as redis-server (${mismatches.length} of ${patterns.length} differ)`);
});

t.test('ranges compare bytes as unsigned values (where Redis uses signed chars)', async (t) => {
  const bitraft = await startServer(t, { args: ['--durability', 'low'] });
  const b = client(t, bitraft.port);
  await load(b, Array.from({ length: 256 }, (_, i): [Buffer, Buffer] => [Buffer.from([0x6b, i]), Buffer.from([i])]));
  const range = (lo: number, hi: number): string[] => Array.from({ length: hi - lo + 1 }, (_, i) => hex(Buffer.from([0x6b, lo + i])));
  t.same(((await b.callBuffer('KEYS', L('k[a-\xff]'))) as Buffer[]).map(hex), range(0x61, 0xff));
  t.same(((await b.callBuffer('KEYS', L('k[\x7f-\x81]'))) as Buffer[]).map(hex), range(0x7f, 0x81));
});

t.test('paging with PIVOT and LIMIT through 10,000 keys, forward and DESC, WITHVALUES', async (t) => {
  const server = await startServer(t, { args: ['--durability', 'low'] });
  const redis = client(t, server.port);
  const rand = rng(7);
  const byHex = new Map<string, Buffer>();
  byHex.set('', Buffer.alloc(0));
  while (byHex.size < 10_000) {
    const k = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 10) }, () => Math.floor(rand() * 256)));
    byHex.set(hex(k), k);
  }
  const sorted = [...byHex.values()].sort(Buffer.compare);
  const valueOf = (k: Buffer): Buffer => Buffer.concat([L('value-of-'), k]);
  await load(redis, sorted.map((k) => [k, valueOf(k)]));
  t.equal(await redis.dbsize(), 10_000);

  const all = await redis.keysBuffer('*');
  t.same(all.map(hex), sorted.map(hex), 'KEYS * returns all 10,000 keys in byte order');

  for (const desc of [false, true]) {
    const expected = desc ? [...sorted].reverse() : sorted;
    const seen: Buffer[] = [];
    let pivot: Buffer | undefined;
    let pages = 0;
    for (;;) {
      const limit = 1 + ((pages * 37) % 300);
      const args: (string | Buffer)[] = ['*', 'LIMIT', String(limit)];
      if (pivot !== undefined) args.push('PIVOT', pivot);
      if (desc) args.push('DESC');
      const page = (await redis.callBuffer('KEYS', ...args)) as Buffer[];
      pages++;
      if (page.length === 0) break;
      if (page.length > limit) {
        t.fail(`page ${pages} has ${page.length} keys, LIMIT was ${limit}`);
        break;
      }
      seen.push(...page);
      pivot = page[page.length - 1];
      if (pages > 2000) break;
    }
    t.equal(seen.length, 10_000, `${desc ? 'DESC' : 'forward'}: ${pages} pages gave 10,000 keys`);
    t.same(seen.map(hex), expected.map(hex), `${desc ? 'DESC' : 'forward'}: every key exactly once, in ${desc ? 'descending' : 'byte'} order`);
  }

  // WITHVALUES pages alternate key and value.
  const withValues: Buffer[] = [];
  let pivot: Buffer | undefined;
  for (;;) {
    const args: (string | Buffer)[] = ['*', 'WITHVALUES', 'LIMIT', '999'];
    if (pivot) args.push('PIVOT', pivot);
    const page = (await redis.callBuffer('KEYS', ...args)) as Buffer[];
    if (page.length === 0) break;
    withValues.push(...page);
    pivot = page[page.length - 2];
  }
  t.equal(withValues.length, 20_000, 'WITHVALUES: 10,000 keys and their values');
  let wrong = 0;
  for (let i = 0; i < withValues.length; i += 2) {
    if (!withValues[i]!.equals(sorted[i / 2]!) || !withValues[i + 1]!.equals(valueOf(sorted[i / 2]!))) wrong++;
  }
  t.equal(wrong, 0, 'WITHVALUES: each key followed by its own value, in order');

  // Paging a pattern: only the keys under one prefix byte, DESC, small pages.
  const prefix = sorted[5000]![0]!;
  const under = sorted.filter((k) => k.length > 0 && k[0] === prefix);
  const pattern = Buffer.concat([Buffer.from([0x5c, prefix]), L('*')]); // "\<byte>*": escaped, so any byte works
  const got: Buffer[] = [];
  pivot = undefined;
  for (;;) {
    const args: (string | Buffer)[] = [pattern, 'DESC', 'LIMIT', '7'];
    if (pivot) args.push('PIVOT', pivot);
    const page = (await redis.callBuffer('KEYS', ...args)) as Buffer[];
    if (page.length === 0) break;
    got.push(...page);
    pivot = page[page.length - 1];
  }
  t.same(got.map(hex), [...under].reverse().map(hex), `a pattern (${under.length} keys under one prefix) pages DESC too`);
});

t.test('PIVOT is exclusive; LIMIT, DESC, WITHVALUES in any order and any case', async (t) => {
  const server = await startServer(t, { args: ['--durability', 'low'] });
  const redis = client(t, server.port);
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  await redis.mset(...keys.flatMap((k) => [k, k.toUpperCase()]));
  const kv = (ks: string[], withValues: boolean): string[] => (withValues ? ks.flatMap((k) => [k, k.toUpperCase()]) : ks);

  t.same(await redis.call('KEYS', '*', 'PIVOT', 'c'), ['d', 'e', 'f', 'g'], 'PIVOT of an existing key is excluded');
  t.same(await redis.call('KEYS', '*', 'PIVOT', 'cc'), ['d', 'e', 'f', 'g'], 'PIVOT between keys');
  t.same(await redis.call('KEYS', '*', 'PIVOT', 'c', 'DESC'), ['b', 'a'], 'PIVOT with DESC: keys before it');
  t.same(await redis.call('KEYS', '*', 'PIVOT', 'g'), [], 'PIVOT at the last key: nothing after');
  t.same(await redis.call('KEYS', '*', 'PIVOT', 'a', 'DESC'), [], 'PIVOT at the first key with DESC: nothing before');
  t.same(await redis.call('KEYS', '*', 'PIVOT', ''), keys, 'the empty PIVOT precedes every key');
  t.same(await redis.call('KEYS', '*', 'LIMIT', '0'), [], 'LIMIT 0');
  t.same(await redis.call('KEYS', '*', 'LIMIT', '100'), keys, 'LIMIT above the count');
  t.same(await redis.call('KEYS', 'c'), ['c'], 'a literal pattern');
  t.same(await redis.call('KEYS', 'c', 'PIVOT', 'c'), [], 'a literal pattern at the PIVOT is excluded');
  t.same(await redis.call('KEYS', 'c', 'PIVOT', 'b', 'WITHVALUES'), ['c', 'C']);

  // Every subset of the options, in every order, with random case.
  const rand = rng(99);
  const options: [string, string[]][] = [
    ['pivot', ['PIVOT', 'b']],
    ['limit', ['LIMIT', '3']],
    ['desc', ['DESC']],
    ['withvalues', ['WITHVALUES']],
  ];
  const permutations = <T>(xs: T[]): T[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
  const randomCase = (s: string): string => [...s].map((c) => (rand() < 0.5 ? c.toLowerCase() : c.toUpperCase())).join('');
  let combos = 0;
  const wrong: string[] = [];
  for (let mask = 0; mask < 16; mask++) {
    const chosen = options.filter((_, i) => mask & (1 << i));
    const names = new Set(chosen.map(([n]) => n));
    let expected = names.has('desc') ? [...keys].reverse() : [...keys];
    if (names.has('pivot')) expected = expected.filter((k) => (names.has('desc') ? k < 'b' : k > 'b'));
    if (names.has('limit')) expected = expected.slice(0, 3);
    const want = kv(expected, names.has('withvalues'));
    for (const order of permutations(chosen)) {
      combos++;
      const args = order.flatMap(([, a]) => [randomCase(a[0]!), ...a.slice(1)]);
      const got = await redis.call('KEYS', '*', ...args);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`KEYS * ${args.join(' ')}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  }
  t.same(wrong, [], `${combos} combinations of options in every order give the same answer`);
});

t.test('bad options: -ERR syntax error', async (t) => {
  const server = await startServer(t);
  const redis = client(t, server.port);
  await redis.set('k', 'v');
  const syntax = [
    ['*', 'FOO'],
    ['*', 'LIMIT'],
    ['*', 'PIVOT'],
    ['*', 'DESC', 'FOO'],
    ['*', 'LIMIT', '5', 'LIMIT'],
    ['*', 'WITHVALUES', 'extra'],
    ['*', 'DESCENDING'],
    ['*', 'LIMIT', '5', 'PIVOT'],
    ['*', '*'],
  ];
  for (const args of syntax) {
    const err = await redis.call('KEYS', ...args).then(
      (r) => `no error: ${JSON.stringify(r)}`,
      (e: Error) => e.message,
    );
    t.equal(err, 'ERR syntax error', `KEYS ${args.join(' ')}`);
  }
  for (const args of [['*', 'LIMIT', 'abc'], ['*', 'LIMIT', '-1'], ['*', 'LIMIT', '1.5'], ['*', 'LIMIT', '']]) {
    const err = await redis.call('KEYS', ...args).then(
      (r) => `no error: ${JSON.stringify(r)}`,
      (e: Error) => e.message,
    );
    t.match(err, /^ERR /, `KEYS ${args.map((a) => JSON.stringify(a)).join(' ')} is an error: ${err}`);
  }
  t.same(await redis.keys('*'), ['k'], 'the server still answers');
});

t.test('SCAN: redis-cli --scan and ioredis scanStream walk every key once, as on redis-server', async (t) => {
  const bit = await startServer(t);
  const ref = await startRedisServer(t);
  const pairs: [Buffer, Buffer][] = Array.from({ length: 3000 }, (_, i) => [L(`user:${i}`), L(`v${i}`)]);
  pairs.push([L('other:1'), L('x')], [L('other:2'), L('x')]);
  for (const port of [bit.port, ref.port]) await load(client(t, port), pairs);
  for (const args of [['--scan'], ['--scan', '--pattern', 'user:1*'], ['--scan', '--pattern', 'other:*']]) {
    const ours = redisCli(bit.port, args);
    const theirs = redisCli(ref.port, args);
    t.equal(ours.status, 0, ours.stderr);
    const lines = ours.stdout.trim().split('\n');
    t.same(lines, [...lines].sort(), `${args.join(' ')}: in byte order`);
    t.same(lines, theirs.stdout.trim().split('\n').sort(), `${args.join(' ')}: the same keys as redis-server`);
  }
  const seen: string[] = [];
  const stream = client(t, bit.port).scanStream({ match: 'user:*', count: 100 });
  for await (const page of stream as AsyncIterable<string[]>) seen.push(...page);
  t.equal(seen.length, 3000);
  t.equal(new Set(seen).size, 3000, 'each once');
  const random = await client(t, bit.port).randomkey();
  t.ok(random !== null && (random.startsWith('user:') || random.startsWith('other:')));
});
