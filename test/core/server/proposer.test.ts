import t from 'tap';
import { LocalProposer } from '../../../src/core/server/proposer.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { openKv } from '../kv/kv-fixture.js';
import { argv, plain } from './server-fixture.js';

for (const durability of ['low', 'medium'] as const) {
  t.test(`durability ${durability}: applies at once and never waits`, async (t) => {
    const kv = await openKv(t);
    const p = new LocalProposer(kv.machine, durability);
    const r = p.propose(argv('set', 'k', 'v'));
    t.notOk(r instanceof Promise);
    t.strictSame(plain(r as Exclude<typeof r, Promise<unknown>>), { simple: 'OK' });
    t.equal(kv.store.hasUnsyncedWrites, true, 'the write is not fsynced');
    t.equal(p.durable(), undefined, 'reads do not wait either');
    t.strictSame(kv.run('get', 'k'), 'v', 'applied before propose returned');
  });
}

t.test('durability high: the reply waits for the fsync that covers the write', async (t) => {
  const kv = await openKv(t);
  const p = new LocalProposer(kv.machine, 'high');
  t.equal(p.durable(), undefined, 'nothing to wait for on a fresh store');
  const r = p.propose(argv('set', 'k', 'v'));
  t.ok(r instanceof Promise, 'a promise');
  t.strictSame(kv.run('get', 'k'), 'v', 'applied at once, so later commands see it');
  t.equal(kv.store.hasUnsyncedWrites, true);
  const d = p.durable();
  t.ok(d instanceof Promise, 'reads wait while writes are unsynced');
  t.strictSame(plain(await r), { simple: 'OK' });
  await d;
  t.equal(kv.store.hasUnsyncedWrites, false, 'fsynced by the time the reply is given');
  t.equal(p.durable(), undefined, 'nothing left to wait for');
});

t.test('durability high: writes of one turn share the sync and keep their replies', async (t) => {
  const kv = await openKv(t);
  const p = new LocalProposer(kv.machine, 'high');
  const replies = [p.propose(argv('set', 'a', '1')), p.propose(argv('del', 'a', 'b')), p.propose(argv('mset', 'x', '1', 'y', '2')), p.propose(argv('del', 'nope'))];
  t.ok(replies.slice(0, 3).every((r) => r instanceof Promise));
  t.strictSame((await Promise.all(replies)).map(plain), [{ simple: 'OK' }, 1, { simple: 'OK' }, 0]);
  t.equal(kv.store.hasUnsyncedWrites, false);
  const r = p.propose(argv('del', 'nope'));
  t.notOk(r instanceof Promise, 'a write that wrote nothing, with nothing unsynced, answers at once');
  t.strictSame(plain(r as Exclude<typeof r, Promise<unknown>>), 0);
});

t.test('durability high: a failed fsync becomes an error reply', async (t) => {
  const kv = await openKv(t);
  const p = new LocalProposer(kv.machine, 'high');
  const store = kv.store as unknown as { sync: () => Promise<void> };
  store.sync = () => Promise.reject(new BitraftError('IO', 'fdatasync: EIO'));
  t.strictSame(plain(await p.propose(argv('set', 'k', 'v'))), { error: 'ERR fdatasync: EIO' });
  store.sync = () => Promise.reject(new Error('boom\nbang'));
  t.strictSame(plain(await p.propose(argv('set', 'k', 'v'))), { error: 'ERR internal error: boom bang' });
  await t.rejects(p.durable()!, { message: 'boom\nbang' }, 'durable() itself rejects; dispatch turns that into a reply');
});

t.test('apply errors are replies too', async (t) => {
  const kv = await openKv(t);
  await kv.store.close();
  for (const d of ['low', 'medium', 'high'] as const) {
    const r = new LocalProposer(kv.machine, d).propose(argv('set', 'k', 'v'));
    t.notOk(r instanceof Promise, d);
    t.strictSame(plain(r as Exclude<typeof r, Promise<unknown>>), { error: 'ERR the store is closed' }, d);
  }
});
