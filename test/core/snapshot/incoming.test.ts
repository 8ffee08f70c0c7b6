import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { decodeSnapshotMeta, IncomingSnapshots, SnapshotStore, type SnapshotFileMeta, type StateRecord } from '../../../src/core/snapshot/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE } from '../../helpers/state-bin.js';

type Teardown = { teardown(fn: () => void): void };
const CONF = { voters: ['a:1', 'b:1'], learners: ['c:1'] };

async function* records(seed: number, n: number, maxValue: number): AsyncGenerator<StateRecord[]> {
  const rng = seededRng(seed);
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rng.int(256)));
  for (let i = 0; i < n; i++) yield [{ key: Buffer.from(`key-${i}`), value: bytes(rng.int(maxValue)) }];
}

/** A snapshot on a "leader": its meta and state.bin bytes. */
async function leaderSnapshot(t: Teardown, seed = 1, n = 300, maxValue = 4000, index = 100): Promise<{ meta: SnapshotFileMeta; bytes: Buffer }> {
  const store = new SnapshotStore(path.join(tmpDir(t), 'leader'), { retain: 5, logger: memoryLogger(), clock: manualClock(1_000) });
  const s = await store.create({ index, term: 2, conf: CONF }, records(seed, n, maxValue));
  return { meta: s.meta, bytes: fs.readFileSync(s.statePath) };
}

function follower(t: Teardown, retain = 2) {
  const dir = path.join(tmpDir(t), 'snapshots');
  const logger = memoryLogger();
  const store = new SnapshotStore(dir, { retain, logger, clock: manualClock(5_000) });
  const incoming = new IncomingSnapshots(store, { logger });
  t.teardown(() => void incoming.close());
  return { dir, logger, store, incoming };
}

/** Sends `bytes[from, to)` in chunks of random sizes (1..max), returning the new held size. */
async function send(incoming: IncomingSnapshots, id: string, bytes: Buffer, from: number, to: number, rng: Rng, max = 5000): Promise<number> {
  let held = from;
  while (held < to) {
    const n = Math.min(1 + rng.int(max), to - held);
    held = await incoming.write(id, held, bytes.subarray(held, held + n));
  }
  return held;
}

t.test('a whole transfer in random chunks is checked and installed', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t);
  const { dir, store, incoming, logger } = follower(t);
  t.equal(await incoming.begin(meta), 0);
  t.ok(fs.existsSync(path.join(dir, `.incoming-${meta.id}`, 'state.bin')));
  t.same(store.list(), [], 'not listed while incoming');
  t.equal(await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(1)), bytes.length);
  const s = await incoming.finish(meta.id);
  t.same(s.meta, meta);
  t.equal(s.path, path.join(dir, meta.id));
  t.same(fs.readdirSync(dir), [meta.id], 'the incoming dir became the snapshot');
  t.same(decodeSnapshotMeta(fs.readFileSync(path.join(s.path, 'meta.json'), 'utf8'), 'm'), meta);
  t.same(fs.readFileSync(s.statePath), bytes);
  await store.verify(s);
  t.same(store.list(), [s]);
  t.match(logger.lines, [`info: received the snapshot ${meta.id} (${meta.size} bytes)`]);
  t.same(await incoming.finish(meta.id), s, 'finishing again returns the stored one');
  t.equal(await incoming.begin(meta), meta.size, 'beginning a stored one says it is all there');
  t.same(await incoming.finish(meta.id), s);
});

t.test('the Go fixture arrives in chunks and verifies', async (t) => {
  const meta = decodeSnapshotMeta(fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'meta.json'), 'utf8'), 'fixture');
  const bytes = fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'state.bin'));
  const { store, incoming } = follower(t);
  t.equal(await incoming.begin(meta), 0);
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(2), 20_000);
  const s = await incoming.finish(meta.id);
  await store.verify(s);
  let count = 0;
  for await (const batch of store.readBatches(s)) count += batch.length;
  t.equal(count, 1000);
});

t.test('a broken stream resumes where it stopped, in the same process or after a restart', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 3);
  const rng = seededRng(3);
  const { dir, store, incoming, logger } = follower(t);
  await incoming.begin(meta);
  const cut = Math.floor(bytes.length / 3);
  await send(incoming, meta.id, bytes, 0, cut, rng);
  t.equal(await incoming.begin(meta), cut, 'begin again: the leader resumes from here');
  t.match(logger.lines, [`info: resuming the snapshot transfer ${meta.id} at byte ${cut} of ${meta.size}`]);
  await t.rejects(incoming.write(meta.id, 0, bytes.subarray(0, 10)), { code: 'INVALID_ARGUMENT', message: new RegExp(`expected offset is ${cut}`) });
  const cut2 = 2 * cut;
  await send(incoming, meta.id, bytes, cut, cut2, rng);
  await incoming.close();
  await t.rejects(incoming.write(meta.id, cut2, bytes.subarray(cut2, cut2 + 1)), { code: 'NOT_FOUND' }, 'closed: begin first');
  const restarted = new IncomingSnapshots(new SnapshotStore(dir, { retain: 2, logger }));
  t.teardown(() => void restarted.close());
  t.equal(await restarted.begin(meta), cut2, 'after a restart');
  await send(restarted, meta.id, bytes, cut2, bytes.length, rng);
  const s = await restarted.finish(meta.id);
  t.same(fs.readFileSync(s.statePath), bytes);
  await store.verify(s);
});

t.test('offsets must follow the bytes held, and the file cannot grow past its size', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 4, 20, 100);
  const { incoming } = follower(t);
  await incoming.begin(meta);
  await t.rejects(incoming.write(meta.id, 5, bytes.subarray(5, 10)), { code: 'INVALID_ARGUMENT', message: /a chunk at offset 5, but the expected offset is 0/ });
  t.equal(await incoming.write(meta.id, 0, bytes.subarray(0, 10)), 10);
  t.equal(await incoming.write(meta.id, 10, Buffer.alloc(0)), 10, 'an empty chunk is fine');
  await t.rejects(incoming.write(meta.id, 9, bytes.subarray(9, 12)), { code: 'INVALID_ARGUMENT', message: /expected offset is 10/ });
  await t.rejects(incoming.write(meta.id, 10, Buffer.concat([bytes.subarray(10), Buffer.from('x')])), {
    code: 'INVALID_ARGUMENT',
    message: new RegExp(`goes past its size of ${meta.size} bytes`),
  });
  await t.rejects(incoming.finish(meta.id), { code: 'INVALID_ARGUMENT', message: new RegExp(`incomplete: 10 of ${meta.size} bytes`) });
  t.equal(await incoming.write(meta.id, 10, bytes.subarray(10)), meta.size, 'the partial was kept');
  await incoming.finish(meta.id);
});

t.test('unknown ids are NOT_FOUND', async (t) => {
  const { meta } = await leaderSnapshot(t, 5, 5, 10);
  const { incoming } = follower(t);
  await t.rejects(incoming.write(meta.id, 0, Buffer.from('x')), { code: 'NOT_FOUND', message: new RegExp(`no transfer of snapshot ${meta.id}`) });
  await t.rejects(incoming.finish(meta.id), { code: 'NOT_FOUND' });
  await incoming.begin(meta);
  await t.rejects(incoming.write('1-1-1', 0, Buffer.from('x')), { code: 'NOT_FOUND' });
  await t.rejects(incoming.finish('1-1-1'), { code: 'NOT_FOUND' });
});

t.test('a CRC mismatch deletes the partial, so the next begin starts from 0', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 6);
  const { dir, store, incoming } = follower(t);
  const bad = { ...meta, crc: 'AAAAAAAAAAA=' };
  await incoming.begin(bad);
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(6));
  await t.rejects(incoming.finish(meta.id), { code: 'CORRUPT', file: path.join(dir, `.incoming-${meta.id}`, 'state.bin'), message: /but the leader's is AAAAAAAAAAA=; the partial snapshot is deleted/ });
  t.same(fs.readdirSync(dir), []);
  t.same(store.list(), []);
  await t.rejects(incoming.write(meta.id, meta.size, Buffer.alloc(0)), { code: 'NOT_FOUND' });
  t.equal(await incoming.begin(meta), 0);
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(7));
  await store.verify(await incoming.finish(meta.id));
});

t.test('a corrupted partial is caught at finish even after a resume', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 7);
  const { dir, incoming } = follower(t);
  await incoming.begin(meta);
  await send(incoming, meta.id, bytes, 0, 1000, seededRng(8));
  await incoming.close();
  const file = path.join(dir, `.incoming-${meta.id}`, 'state.bin');
  const damaged = fs.readFileSync(file);
  damaged[500]! ^= 1;
  fs.writeFileSync(file, damaged);
  t.equal(await incoming.begin(meta), 1000);
  await send(incoming, meta.id, bytes, 1000, bytes.length, seededRng(9));
  await t.rejects(incoming.finish(meta.id), { code: 'CORRUPT' });
});

t.test('one transfer at a time: beginning another removes the others', async (t) => {
  const a = await leaderSnapshot(t, 8, 50, 100, 100);
  const b = await leaderSnapshot(t, 9, 50, 100, 200);
  const { dir, incoming, logger } = follower(t);
  await incoming.begin(a.meta);
  await incoming.write(a.meta.id, 0, a.bytes.subarray(0, 100));
  fs.mkdirSync(path.join(dir, '.incoming-7-7-7'));
  t.equal(await incoming.begin(b.meta), 0);
  t.same(fs.readdirSync(dir), [`.incoming-${b.meta.id}`]);
  t.equal(logger.lines.filter((l) => l.startsWith('info: removed the unfinished snapshot transfer')).length, 2);
  await t.rejects(incoming.write(a.meta.id, 100, a.bytes.subarray(100, 200)), { code: 'NOT_FOUND' });
  t.equal(await incoming.begin(a.meta), 0, 'the removed one starts over');
});

t.test('a partial begun with other meta, or longer than the size, starts over', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 10, 50, 100);
  const { dir, incoming } = follower(t);
  await incoming.begin(meta);
  await incoming.write(meta.id, 0, bytes.subarray(0, 100));
  t.equal(await incoming.begin({ ...meta, size: meta.size + 1 }), 0, 'another size');
  await incoming.write(meta.id, 0, bytes.subarray(0, 100));
  await incoming.close();
  const file = path.join(dir, `.incoming-${meta.id}`, 'state.bin');
  fs.rmSync(path.join(dir, `.incoming-${meta.id}`, 'meta.json'));
  t.equal(await incoming.begin(meta), 0, 'no meta.json');
  await incoming.write(meta.id, 0, bytes.subarray(0, 100));
  await incoming.close();
  fs.writeFileSync(file, Buffer.alloc(meta.size + 1));
  t.equal(await incoming.begin(meta), 0, 'longer than the size');
  t.equal(fs.statSync(file).size, 0);
  await incoming.close();
  fs.rmSync(file);
  t.equal(await incoming.begin(meta), 0, 'state.bin missing');
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(10));
  await incoming.finish(meta.id);
});

t.test('a stale incoming dir of a snapshot already stored is removed by begin', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 11, 20, 100);
  const { dir, incoming } = follower(t);
  await incoming.begin(meta);
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(11));
  const s = await incoming.finish(meta.id);
  fs.mkdirSync(path.join(dir, `.incoming-${meta.id}`));
  t.equal(await incoming.begin(meta), meta.size);
  t.same(fs.readdirSync(dir), [meta.id]);
  t.same(await incoming.finish(meta.id), s);
});

t.test('malformed meta is INVALID_ARGUMENT', async (t) => {
  const { meta } = await leaderSnapshot(t, 12, 5, 10);
  const { dir, incoming } = follower(t);
  for (const bad of [{ ...meta, id: '../../etc' }, { ...meta, id: `${meta.term}-${meta.index + 1}-1` }, { ...meta, size: -1 }, { ...meta, crc: 'x' }]) {
    await t.rejects(incoming.begin(bad), { code: 'INVALID_ARGUMENT', message: /^bad snapshot meta: corrupt data in the snapshot meta/ });
  }
  t.same(fs.readdirSync(dir), []);
});

t.test('finishing prunes to retain, keeping the received snapshot', async (t) => {
  const { store, incoming } = follower(t, 1);
  const local = await store.create({ index: 500, term: 2, conf: CONF }, records(13, 5, 10));
  const { meta, bytes } = await leaderSnapshot(t, 14, 20, 100, 600);
  await incoming.begin(meta);
  await send(incoming, meta.id, bytes, 0, bytes.length, seededRng(14));
  const s = await incoming.finish(meta.id);
  t.same(
    store.list().map((x) => x.meta.id),
    [s.meta.id],
  );
  t.notOk(fs.existsSync(local.path));
  const older = await leaderSnapshot(t, 15, 20, 100, 50);
  await incoming.begin(older.meta);
  await send(incoming, older.meta.id, older.bytes, 0, older.bytes.length, seededRng(15));
  await incoming.finish(older.meta.id);
  t.same(
    store.list().map((x) => x.meta.id),
    [s.meta.id, older.meta.id],
    'an older one just received is kept too',
  );
});

t.test('calls are serialized: writes issued together land in order', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 16, 100, 500);
  const { store, incoming } = follower(t);
  const begun = incoming.begin(meta);
  const writes: Promise<number>[] = [];
  const step = Math.ceil(bytes.length / 10);
  for (let at = 0; at < bytes.length; at += step) writes.push(incoming.write(meta.id, at, bytes.subarray(at, at + step)));
  const finished = incoming.finish(meta.id);
  t.equal(await begun, 0);
  t.same(await Promise.all(writes), writes.map((_, i) => Math.min((i + 1) * step, bytes.length)));
  await store.verify(await finished);
});

t.test('a failed write ends the transfer; begin resumes from what reached the file', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 17, 50, 100);
  const { incoming } = follower(t);
  await incoming.begin(meta);
  await incoming.write(meta.id, 0, bytes.subarray(0, 100));
  const inner = incoming as unknown as { current: { handle: fs.promises.FileHandle } };
  await inner.current.handle.close();
  await t.rejects(incoming.write(meta.id, 100, bytes.subarray(100, 200)), { code: 'IO', message: new RegExp(`snapshot ${meta.id}: cannot write .*state\\.bin`) });
  await t.rejects(incoming.write(meta.id, 100, bytes.subarray(100, 200)), { code: 'NOT_FOUND' });
  t.equal(await incoming.begin(meta), 100);
  await send(incoming, meta.id, bytes, 100, bytes.length, seededRng(17));
  await incoming.finish(meta.id);
});

t.test('the store logger is the default, and close without a transfer is a no-op', async (t) => {
  const { meta, bytes } = await leaderSnapshot(t, 18, 10, 50);
  const logger = memoryLogger();
  const store = new SnapshotStore(path.join(tmpDir(t), 's'), { retain: 1, logger });
  const incoming = new IncomingSnapshots(store);
  await incoming.close();
  await incoming.begin(meta);
  await incoming.write(meta.id, 0, bytes);
  await incoming.finish(meta.id);
  t.match(logger.lines, [/^info: received the snapshot/]);
  await incoming.close();
});
