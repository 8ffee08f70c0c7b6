/**
 * Real Redis clients with their default options against a real `bitraft serve`:
 * ioredis and node-redis (the `redis` package) connect, round-trip binary keys and
 * values (\r\n, 0x00, every byte, the empty key, the empty value), run pipelines of
 * 10,000 commands, MSET/MGET, KEYS, DEL, and reconnect by themselves after the server
 * restarts (same dir, same port) with the data still there.
 */
import { Redis } from 'ioredis';
import { commandOptions, createClient } from 'redis';
import t from 'tap';
import { startRedisServer, startServer, type ServerHandle, type Teardownable } from '../helpers/server.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const BINARY_KEYS: Buffer[] = [
  Buffer.from('plain'),
  Buffer.from('with\r\nCRLF'),
  Buffer.from([0x00]),
  Buffer.from([0x00, 0x00, 0x01]),
  Buffer.from('nul\x00inside', 'latin1'),
  Buffer.from([0xff, 0xfe, 0x80]),
  Buffer.from('*3\r\n$3\r\nSET\r\n'),
  Buffer.from('ключ-🔑'),
  ALL_BYTES,
];
const BINARY_VALUES: Buffer[] = [
  ALL_BYTES,
  Buffer.from('\r\n'),
  Buffer.from([0]),
  Buffer.from('$-1\r\n'),
  Buffer.alloc(0),
  Buffer.alloc(3 << 20, ALL_BYTES),
];

const PIPELINE = 10_000;

/** Restarts a server on the same directory and port; returns the new handle. */
async function restart(t: Teardownable, server: ServerHandle): Promise<ServerHandle> {
  const exit = await server.stop('SIGTERM');
  if (exit.code !== 0) throw new Error(`server exited with ${JSON.stringify(exit)} on SIGTERM:\n${server.stderr()}`);
  return startServer(t, { dir: server.dir, port: server.port });
}

function byteOrder(keys: Buffer[]): Buffer[] {
  return [...keys].sort(Buffer.compare);
}

function hex(bufs: (Buffer | null)[]): (string | null)[] {
  return bufs.map((b) => (b === null ? null : b.toString('hex')));
}

t.test('ioredis with default options', async (t) => {
  // Servers live as long as this test, not the subtest that (re)started them.
  const top = t;
  let server = await startServer(t);
  const redis = new Redis(server.port, '127.0.0.1');
  const events: string[] = [];
  redis.on('error', (err: Error) => events.push(`error: ${err.message}`));
  redis.on('reconnecting', () => events.push('reconnecting'));
  t.teardown(() => redis.disconnect());

  await t.test('connects', async (t) => {
    t.equal(await redis.ping(), 'PONG');
    t.equal(redis.status, 'ready');
  });

  await t.test('binary keys and values round-trip as Buffers', async (t) => {
    for (const [i, key] of BINARY_KEYS.entries()) {
      const value = BINARY_VALUES[i % BINARY_VALUES.length]!;
      t.equal(await redis.set(key, value), 'OK');
      const got = await redis.getBuffer(key);
      t.ok(got !== null && got.equals(value), `key ${key.toString('hex').slice(0, 40)} → ${value.length} bytes`);
    }
    for (const value of BINARY_VALUES) {
      await redis.set('v', value);
      const got = await redis.getBuffer('v');
      t.ok(got !== null && got.equals(value), `value of ${value.length} bytes`);
    }
    t.same(hex(await redis.keysBuffer('*')), hex(byteOrder([...BINARY_KEYS, Buffer.from('v')])), 'KEYS returns the binary keys in byte order');
    t.equal(await redis.del(...BINARY_KEYS, 'v', 'never-set'), BINARY_KEYS.length + 1);
    t.same(await redis.keys('*'), []);
  });

  await t.test('the empty key and the empty value', async (t) => {
    t.equal(await redis.set('', ''), 'OK');
    t.equal(await redis.get(''), '');
    t.equal(await redis.exists(''), 1);
    t.equal(await redis.set('', 'x'), 'OK');
    t.equal(await redis.get(''), 'x');
    t.equal(await redis.set('empty-value', Buffer.alloc(0)), 'OK');
    t.same(await redis.getBuffer('empty-value'), Buffer.alloc(0), 'empty value is not null');
    t.same(await redis.keys('*'), ['', 'empty-value'], 'the empty key sorts first');
    t.equal(await redis.del('', 'empty-value'), 2);
    t.equal(await redis.get(''), null);
  });

  await t.test(`a pipeline of ${PIPELINE} commands`, async (t) => {
    const writes = redis.pipeline();
    for (let i = 0; i < PIPELINE; i++) writes.set(`p:${i}`, `value-${i}`);
    const wr = (await writes.exec())!;
    t.equal(wr.length, PIPELINE);
    t.equal(wr.filter(([err, r]) => err === null && r === 'OK').length, PIPELINE, 'every SET answered OK');
    const reads = redis.pipeline();
    for (let i = 0; i < PIPELINE; i++) {
      if (i % 3 === 0) reads.get(`p:${i}`);
      else if (i % 3 === 1) reads.exists(`p:${i}`, `missing:${i}`);
      else reads.del(`p:${i}`);
    }
    const rr = (await reads.exec())!;
    let bad = 0;
    rr.forEach(([err, r], i) => {
      const expected = i % 3 === 0 ? `value-${i}` : 1;
      if (err !== null || r !== expected) bad++;
    });
    t.equal(bad, 0, 'every GET/EXISTS/DEL reply in order and right');
    const deleted = Array.from({ length: PIPELINE }, (_, i) => i).filter((i) => i % 3 === 2).length;
    t.equal(await redis.dbsize(), PIPELINE - deleted, 'DBSIZE after deleting a third');
  });

  await t.test('MSET, MGET, KEYS, DEL', async (t) => {
    await redis.flushdb();
    const pairs: string[] = [];
    for (let i = 0; i < 100; i++) pairs.push(`user:${String(i).padStart(3, '0')}`, `name-${i}`);
    t.equal(await redis.mset(...pairs), 'OK');
    t.equal(await redis.mset({ 'obj:a': '1', 'obj:b': Buffer.from([0, 13, 10]) }), 'OK');
    t.same(await redis.mget('user:000', 'missing', 'user:099', 'obj:a'), ['name-0', null, 'name-99', '1']);
    t.same(await redis.mgetBuffer('obj:b'), [Buffer.from([0, 13, 10])]);
    const users = await redis.keys('user:*');
    t.equal(users.length, 100);
    t.same(users, [...users].sort(), 'KEYS in byte order');
    t.same(await redis.keys('user:0[0-1]?'), Array.from({ length: 20 }, (_, i) => `user:${String(i).padStart(3, '0')}`));
    t.same(await redis.keys('obj:*'), ['obj:a', 'obj:b']);
    t.equal(await redis.del('user:000', 'user:000', 'missing', 'user:001'), 2, 'DEL counts keys that existed');
    t.equal(await redis.del('missing'), 0);
    t.equal(await redis.dbsize(), 100);
  });

  await t.test('reconnects after a server restart', async (t) => {
    await redis.set('survives', 'restart');
    const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    server = await restart(top, server);
    await ready;
    t.ok(events.includes('reconnecting'), 'ioredis saw the disconnect and reconnected');
    t.equal(await redis.get('survives'), 'restart', 'data written before the restart is there');
    t.equal(await redis.get('user:050'), 'name-50');
    t.equal(await redis.set('after', 'restart'), 'OK');
    t.equal(await redis.get('after'), 'restart');
  });

  await t.test('commands sent while the server is down are answered once it is back', async (t) => {
    const exit = await server.stop('SIGTERM');
    t.same(exit, { code: 0, signal: null }, 'SIGTERM: exit code 0', { stderr: server.stderr() });
    const pending = redis.get('survives');
    server = await startServer(top, { dir: server.dir, port: server.port });
    t.equal(await pending, 'restart');
  });
});

t.test('node-redis with default options', async (t) => {
  const top = t;
  let server = await startServer(t);
  const client = createClient({ url: `redis://127.0.0.1:${server.port}` });
  const errors: string[] = [];
  // node-redis emits 'error' on every lost connection; without a listener the process dies.
  client.on('error', (err: Error) => errors.push(err.message));
  const reconnects: number[] = [];
  client.on('reconnecting', () => reconnects.push(Date.now()));
  t.teardown(async () => {
    if (client.isOpen) await client.disconnect().catch(() => {});
  });
  await client.connect();
  const buf = commandOptions({ returnBuffers: true });

  await t.test('connects', async (t) => {
    t.equal(await client.ping(), 'PONG');
    t.ok(client.isReady);
  });

  await t.test('binary keys and values round-trip as Buffers', async (t) => {
    for (const [i, key] of BINARY_KEYS.entries()) {
      const value = BINARY_VALUES[i % BINARY_VALUES.length]!;
      t.equal(await client.set(key, value), 'OK');
      const got = await client.get(buf, key);
      t.ok(got !== null && got.equals(value), `key ${key.toString('hex').slice(0, 40)} → ${value.length} bytes`);
    }
    t.same(hex(await client.keys(buf, '*')), hex(byteOrder(BINARY_KEYS)), 'KEYS returns the binary keys in byte order');
    t.equal(await client.del([...BINARY_KEYS, 'never-set']), BINARY_KEYS.length);
  });

  await t.test('the empty key and the empty value', async (t) => {
    t.equal(await client.set('', ''), 'OK');
    t.equal(await client.get(''), '');
    t.same(await client.get(buf, ''), Buffer.alloc(0));
    t.equal(await client.exists(''), 1);
    t.equal(await client.del(''), 1);
    t.equal(await client.get(''), null);
  });

  await t.test(`a pipeline of ${PIPELINE} commands (multi().execAsPipeline())`, async (t) => {
    const multi = client.multi();
    for (let i = 0; i < PIPELINE; i++) multi.set(`np:${i}`, `value-${i}`);
    const replies = await multi.execAsPipeline();
    t.equal(replies.length, PIPELINE);
    t.equal(replies.filter((r) => r === 'OK').length, PIPELINE, 'every SET answered OK');
    const reads = client.multi();
    for (let i = 0; i < PIPELINE; i++) reads.get(`np:${i}`);
    const values = await reads.execAsPipeline();
    t.equal(values.filter((v, i) => v === `value-${i}`).length, PIPELINE, 'every GET in order and right');
  });

  await t.test(`${PIPELINE} commands in flight at once (auto-pipelining)`, async (t) => {
    const sets = await Promise.all(Array.from({ length: PIPELINE }, (_, i) => client.set(`ap:${i}`, Buffer.from([i & 0xff, 0x0d, 0x0a, 0]))));
    t.equal(sets.filter((r) => r === 'OK').length, PIPELINE);
    const gets = await Promise.all(Array.from({ length: PIPELINE }, (_, i) => client.get(buf, `ap:${i}`)));
    t.equal(gets.filter((v, i) => v !== null && v.equals(Buffer.from([i & 0xff, 0x0d, 0x0a, 0]))).length, PIPELINE);
    const dels = await Promise.all(Array.from({ length: PIPELINE }, (_, i) => client.del([`ap:${i}`, `np:${i}`])));
    t.equal(dels.filter((n) => n === 2).length, PIPELINE, 'every DEL removed both keys');
    t.equal(await client.dbSize(), 0);
  });

  await t.test('MSET, MGET, KEYS, DEL', async (t) => {
    t.equal(await client.mSet([['a:1', 'one'], ['a:2', 'two'], ['b:1', 'three']]), 'OK');
    t.equal(await client.mSet({ 'a:3': 'four' }), 'OK');
    t.same(await client.mGet(['a:1', 'nope', 'a:3', 'b:1']), ['one', null, 'four', 'three']);
    t.same(await client.keys('a:*'), ['a:1', 'a:2', 'a:3']);
    t.same(await client.keys('*:1'), ['a:1', 'b:1']);
    t.equal(await client.del(['a:1', 'a:2', 'nope']), 2);
    t.same(await client.keys('*'), ['a:3', 'b:1']);
  });

  await t.test('reconnects after a server restart', async (t) => {
    await client.set('survives', 'restart');
    const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
    server = await restart(top, server);
    await ready;
    t.ok(reconnects.length > 0, 'node-redis reconnected');
    t.equal(await client.get('survives'), 'restart');
    t.equal(await client.get('b:1'), 'three');
    t.equal(await client.set('after', 'restart'), 'OK');
  });

  await t.test('commands sent while the server is down are answered once it is back', async (t) => {
    t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'SIGTERM: exit code 0', { stderr: server.stderr() });
    const pending = client.get('after');
    server = await startServer(top, { dir: server.dir, port: server.port });
    t.equal(await pending, 'restart');
  });

  await client.quit();
});

t.test('WATCH with two connections: the same EXEC replies as redis-server', async (t) => {
  const bit = await startServer(t);
  const ref = await startRedisServer(t);
  const run = async (port: number): Promise<unknown[]> => {
    const a = new Redis(port, '127.0.0.1');
    const b = new Redis(port, '127.0.0.1');
    t.teardown(() => {
      a.disconnect();
      b.disconnect();
    });
    const out: unknown[] = [];
    await a.set('balance', '100');
    // Unchanged: the transaction runs.
    await a.watch('balance');
    const seen = Number(await a.get('balance'));
    out.push(await a.multi().set('balance', String(seen - 30)).exec());
    // Changed by another connection between WATCH and EXEC: EXEC answers null.
    await a.watch('balance');
    await b.incrby('balance', 5);
    out.push(await a.multi().set('balance', '0').exec());
    out.push(await a.get('balance'));
    // An absent key created meanwhile, and a key that gets an expiry, abort too.
    await a.watch('fresh', 'balance');
    await b.set('fresh', 'x');
    out.push(await a.multi().get('fresh').exec());
    await a.watch('balance');
    await b.expire('balance', 1000);
    out.push(await a.multi().get('balance').exec());
    // UNWATCH: runs whatever happened.
    await a.watch('balance');
    await b.set('balance', '1');
    await a.unwatch();
    out.push(await a.multi().get('balance').exec());
    return out;
  };
  const ours = await run(bit.port);
  t.same(ours, await run(ref.port));
  t.same(ours, [[[null, 'OK']], null, '75', null, null, [[null, '1']]]);
});
