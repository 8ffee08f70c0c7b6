import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { decodeSnapshotMeta, encodeSnapshotMeta, SnapshotStore, writeSnapshotMetaFile, type StateRecord, type StoredSnapshot } from '../../../src/core/snapshot/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { crc64, crc64Bytes } from '../../../src/core/support/crc64.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE, rawStateRecords } from '../../helpers/state-bin.js';

type Pair = [Buffer, Buffer];
const CONF = { voters: ['a:1', 'b:1'], learners: ['c:1'] };

function randomPairs(seed: number, n: number, maxValue = 200): Pair[] {
  const rng = seededRng(seed);
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rng.int(256)));
  return Array.from({ length: n }, (_, i) => [Buffer.concat([Buffer.from(`k${i}:`), bytes(rng.int(10))]), bytes(rng.int(maxValue))] as Pair);
}

async function* batchesOf(pairs: Pair[], per = 7): AsyncGenerator<StateRecord[]> {
  for (let i = 0; i < pairs.length; i += per) yield pairs.slice(i, i + per).map(([key, value]) => ({ key, value }));
}

async function readAll(store: SnapshotStore, s: StoredSnapshot): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of store.readBatches(s)) for (const r of batch) out.push([r.key.toString('hex'), r.value.toString('hex')]);
  return out;
}

const hex = (pairs: Pair[]): string[][] => pairs.map(([k, v]) => [k.toString('hex'), v.toString('hex')]);

function open(t: { teardown(fn: () => void): void }, retain = 3, start = 1_700_000_000_000) {
  const dir = path.join(tmpDir(t), 'snapshots');
  const logger = memoryLogger();
  const clock = manualClock(start);
  const store = new SnapshotStore(dir, { retain, logger, clock });
  return { dir, logger, clock, store };
}

/** Copies the Go fixture into `dir` as a snapshot directory (writable copies). */
function copyFixture(dir: string): string {
  const target = path.join(dir, '1-1011-1795600287480');
  fs.mkdirSync(target, { recursive: true });
  for (const f of ['meta.json', 'state.bin']) fs.writeFileSync(path.join(target, f), fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, f)));
  return target;
}

t.test('create writes state.bin and meta.json under <term>-<index>-<ms>, checksummed', async (t) => {
  const { dir, store, logger } = open(t);
  const pairs = [[Buffer.alloc(0), Buffer.alloc(0)] as Pair, ...randomPairs(1, 500)];
  const s = await store.create({ index: 42, term: 7, conf: CONF }, batchesOf(pairs));
  t.equal(s.meta.id, '7-42-1700000000000');
  t.equal(s.path, path.join(dir, '7-42-1700000000000'));
  t.equal(s.statePath, path.join(s.path, 'state.bin'));
  t.same(fs.readdirSync(dir), ['7-42-1700000000000'], 'no temp dir left');
  t.same(fs.readdirSync(s.path).sort(), ['meta.json', 'state.bin']);
  const bin = fs.readFileSync(s.statePath);
  t.equal(s.meta.size, bin.length);
  t.equal(s.meta.crc, crc64Bytes(crc64(bin)).toString('base64'));
  t.same(zlib.gunzipSync(bin), rawStateRecords(pairs), 'state.bin is the gzip of the Go layout');
  t.same(s.meta.conf, CONF);
  t.same(decodeSnapshotMeta(fs.readFileSync(path.join(s.path, 'meta.json'), 'utf8'), 'm'), s.meta, 'meta.json says the same');
  t.same(store.list(), [s]);
  t.same(store.find(42, 7), s);
  t.equal(store.find(42, 6), undefined);
  t.equal(store.find(41, 7), undefined);
  await store.verify(s);
  t.same(await readAll(store, s), hex(pairs));
  t.same(await store.newestValid(), s);
  t.same(logger.lines, []);
});

t.test('an empty state is a valid snapshot', async (t) => {
  const { store } = open(t);
  const s = await store.create({ index: 0, term: 0, conf: { voters: [], learners: [] } }, batchesOf([]));
  await store.verify(s);
  t.same(await readAll(store, s), []);
  t.equal(s.meta.size, fs.statSync(s.statePath).size);
});

t.test('the conf is copied, not shared with the caller', async (t) => {
  const { store } = open(t);
  const conf = { voters: ['a:1'], learners: [] as string[] };
  const s = await store.create({ index: 1, term: 1, conf }, batchesOf([]));
  conf.voters.push('z:9');
  t.same(s.meta.conf.voters, ['a:1']);
});

t.test("the Go original's snapshot is listed, verified and read exactly", async (t) => {
  const { dir, store } = open(t);
  const target = copyFixture(dir);
  const [s, ...rest] = store.list();
  t.same(rest, []);
  t.equal(s!.path, target);
  t.same(s!.meta, { id: '1-1011-1795600287480', index: 1011, term: 1, conf: { voters: ['127.0.0.1:15051'], learners: [] }, size: 158909, crc: 'd1cqDnZCIg8=' });
  await store.verify(s!);
  t.same(await store.newestValid(), s);
  t.same(store.find(1011, 1), s);
  const contents = JSON.parse(fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'contents.json'), 'utf8')) as {
    record_order_in_state_bin_hex: string[];
    keys: { key_hex: string; value_hex: string }[];
  };
  const records = await readAll(store, s!);
  t.same(
    records.map(([k]) => k),
    contents.record_order_in_state_bin_hex,
  );
  t.same(new Map(records.map(([k, v]) => [k!, v!])), new Map(contents.keys.map((k) => [k.key_hex, k.value_hex])));
});

t.test('list is newest first by index, then term, then ms', async (t) => {
  const { store, clock } = open(t, 10);
  const made: string[] = [];
  for (const [index, term, ms] of [
    [5, 1, 100],
    [9, 1, 50],
    [5, 2, 10],
    [5, 2, 20],
    [1, 9, 999],
  ] as const) {
    clock.set(ms);
    made.push((await store.create({ index, term, conf: CONF }, batchesOf([]))).meta.id);
  }
  t.same(made, ['1-5-100', '1-9-50', '2-5-10', '2-5-20', '9-1-999']);
  t.same(
    store.list().map((s) => s.meta.id),
    ['1-9-50', '2-5-20', '2-5-10', '1-5-100', '9-1-999'],
  );
  t.equal(store.find(5, 2)!.meta.id, '2-5-20', 'find takes the newest of equals');
});

t.test('two snapshots in the same millisecond get distinct ids', async (t) => {
  const { dir, store } = open(t);
  const a = await store.create({ index: 5, term: 1, conf: CONF }, batchesOf([]));
  const b = await store.create({ index: 5, term: 1, conf: CONF }, batchesOf([]));
  fs.mkdirSync(path.join(dir, '.tmp-1-5-1700000000002'));
  const c = await store.create({ index: 5, term: 1, conf: CONF }, batchesOf([]));
  t.same([a.meta.id, b.meta.id, c.meta.id], ['1-5-1700000000000', '1-5-1700000000001', '1-5-1700000000003']);
});

t.test('a corrupt byte in state.bin fails verify; newestValid warns and takes the older valid one', async (t) => {
  const { store, clock, logger } = open(t);
  const older = await store.create({ index: 10, term: 1, conf: CONF }, batchesOf(randomPairs(2, 100)));
  clock.advance(1);
  const newer = await store.create({ index: 20, term: 1, conf: CONF }, batchesOf(randomPairs(3, 100)));
  const fd = fs.openSync(newer.statePath, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, 100);
  byte[0]! ^= 0x10;
  fs.writeSync(fd, byte, 0, 1, 100);
  fs.closeSync(fd);
  await t.rejects(store.verify(newer), { code: 'CORRUPT', file: newer.statePath, message: /CRC-64 is .*, but meta.json says/ });
  t.same(await store.newestValid(), older);
  t.match(logger.lines, [new RegExp(`^warn: skipping snapshot ${newer.path}: corrupt data in ${newer.statePath}`)]);
  t.same(store.list()[0], newer, 'list does not read state.bin');
});

t.test('a truncated or missing state.bin fails verify', async (t) => {
  const { store, clock, logger } = open(t);
  const a = await store.create({ index: 10, term: 1, conf: CONF }, batchesOf(randomPairs(4, 50)));
  clock.advance(1);
  const b = await store.create({ index: 11, term: 1, conf: CONF }, batchesOf(randomPairs(5, 50)));
  fs.truncateSync(a.statePath, a.meta.size - 1);
  await t.rejects(store.verify(a), { code: 'CORRUPT', file: a.statePath, offset: a.meta.size - 1, message: new RegExp(`${a.meta.size - 1} bytes, but meta.json says ${a.meta.size}`) });
  fs.rmSync(b.statePath);
  await t.rejects(store.verify(b), { code: 'CORRUPT', file: b.statePath, message: /missing/ });
  t.equal(await store.newestValid(), undefined, 'nothing valid is left');
  t.equal(logger.lines.length, 2);
});

t.test('a read error that is not corruption is rethrown', async (t) => {
  const { dir, store } = open(t);
  const s = await store.create({ index: 1, term: 1, conf: CONF }, batchesOf([]));
  fs.rmSync(s.statePath);
  fs.writeFileSync(path.join(dir, 'plain-file'), '');
  fs.symlinkSync(path.join(dir, 'plain-file', 'x'), s.statePath);
  await t.rejects(store.verify(s), { code: 'ENOTDIR' });
  await t.rejects(store.newestValid(), { code: 'ENOTDIR' });
});

t.test('a snapshot whose meta.json is garbage, missing or of another id is skipped with a warning', async (t) => {
  const { dir, store, logger, clock } = open(t);
  const good = await store.create({ index: 1, term: 1, conf: CONF }, batchesOf([]));
  clock.advance(1);
  const garbage = await store.create({ index: 2, term: 1, conf: CONF }, batchesOf([]));
  fs.writeFileSync(path.join(garbage.path, 'meta.json'), '{"ID": "2-2-');
  clock.advance(1);
  const missing = await store.create({ index: 3, term: 1, conf: CONF }, batchesOf([]));
  fs.rmSync(path.join(missing.path, 'meta.json'));
  const renamed = path.join(dir, '1-4-5');
  fs.cpSync(good.path, renamed, { recursive: true });
  fs.writeFileSync(path.join(dir, '1-5-5'), 'a file, not a directory');
  logger.lines.length = 0;
  t.same(store.list(), [good]);
  t.equal(logger.lines.length, 4);
  t.match(logger.lines.join('\n'), new RegExp(`warn: skipping snapshot ${garbage.path}: corrupt data in ${path.join(garbage.path, 'meta.json')} at offset 0: not valid JSON`));
  t.match(logger.lines.join('\n'), new RegExp(`warn: skipping snapshot ${missing.path}: ENOENT`));
  t.match(logger.lines.join('\n'), /its ID 1-1-1700000000000 is not its directory's name/);
  t.match(logger.lines.join('\n'), /skipping snapshot .*1-5-5: ENOTDIR/);
  t.same(await store.newestValid(), good);
});

t.test('temp dirs of a crash are removed at start; incoming dirs and other names are left alone', async (t) => {
  const dir = path.join(tmpDir(t), 'snapshots');
  fs.mkdirSync(path.join(dir, '.tmp-1-5-100'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.tmp-1-5-100', 'state.bin'), 'partial');
  fs.writeFileSync(path.join(dir, '.tmp-stray-file'), '');
  fs.mkdirSync(path.join(dir, '.incoming-1-6-100'));
  fs.mkdirSync(path.join(dir, 'lost+found'));
  const logger = memoryLogger();
  const store = new SnapshotStore(dir, { retain: 1, logger });
  t.same(fs.readdirSync(dir).sort(), ['.incoming-1-6-100', 'lost+found']);
  t.match(logger.lines, [/^info: removed .*\.tmp-1-5-100, an unfinished snapshot left by a crash/, /^info: removed .*\.tmp-stray-file/]);
  t.same(store.list(), []);
  const s = await store.create({ index: 1, term: 1, conf: CONF }, batchesOf([]));
  t.match(s.meta.id, /^1-1-\d+$/, 'the system clock by default');
  t.ok(Math.abs(Number(s.meta.id.split('-')[2]) - Date.now()) < 60_000);
});

t.test('the store directory is created, and retain must be at least 1', async (t) => {
  const dir = path.join(tmpDir(t), 'a', 'b', 'snapshots');
  new SnapshotStore(dir, { retain: 1, logger: memoryLogger() });
  t.ok(fs.statSync(dir).isDirectory());
  for (const retain of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new SnapshotStore(dir, { retain, logger: memoryLogger() }), { code: 'INVALID_ARGUMENT' }, String(retain));
  }
});

t.test('retention keeps the newest, and never the snapshot just written', async (t) => {
  const { dir, store, clock, logger } = open(t, 2);
  const ids: string[] = [];
  for (let i = 1; i <= 4; i++) {
    clock.advance(1);
    ids.push((await store.create({ index: i * 10, term: 1, conf: CONF }, batchesOf(randomPairs(i, 20)))).meta.id);
  }
  t.same(
    store.list().map((s) => s.meta.id),
    [ids[3], ids[2]],
  );
  t.same(fs.readdirSync(dir).sort(), [ids[2], ids[3]].sort(), 'whole directories are deleted');
  t.equal(logger.lines.filter((l) => l.startsWith('info: deleted snapshot')).length, 2);
  clock.advance(1);
  const old = await store.create({ index: 5, term: 1, conf: CONF }, batchesOf([]));
  t.same(
    store.list().map((s) => s.meta.id),
    [ids[3], ids[2], old.meta.id],
    'an older snapshot just written is kept',
  );
  clock.advance(1);
  await store.create({ index: 50, term: 1, conf: CONF }, batchesOf([]));
  t.same(store.list().length, 2);
  t.equal(store.find(5, 1), undefined, 'and goes at the next prune');
});

t.test('a failing record source leaves nothing behind', async (t) => {
  const { dir, store } = open(t);
  async function* failing(): AsyncGenerator<StateRecord[]> {
    yield randomPairs(6, 10).map(([key, value]) => ({ key, value }));
    throw new Error('the store view broke');
  }
  await t.rejects(store.create({ index: 1, term: 1, conf: CONF }, failing()), /the store view broke/);
  t.same(fs.readdirSync(dir), []);
  t.same(store.list(), []);
});

t.test('install moves a complete directory into place, or drops it when the id exists', async (t) => {
  const { dir, store } = open(t);
  const s = await store.create({ index: 3, term: 2, conf: CONF }, batchesOf(randomPairs(7, 10)));
  const from = path.join(dir, '.incoming-x');
  fs.mkdirSync(from);
  fs.writeFileSync(path.join(from, 'state.bin'), 'other bytes');
  await writeSnapshotMetaFile(from, s.meta);
  t.same(store.install(from, s.meta), s);
  t.notOk(fs.existsSync(from), 'the duplicate is removed');
  await store.verify(s);
  const second = path.join(dir, '.incoming-y');
  fs.cpSync(s.path, second, { recursive: true });
  const meta = { ...s.meta, id: '2-3-1' };
  fs.writeFileSync(path.join(second, 'meta.json'), encodeSnapshotMeta(meta));
  const moved = store.install(second, meta);
  t.equal(moved.path, path.join(dir, '2-3-1'));
  t.notOk(fs.existsSync(second));
  await store.verify(moved);
});

t.test('a reader keeps streaming a snapshot that pruning deletes meanwhile', async (t) => {
  const { store, clock } = open(t, 1);
  const pairs = randomPairs(8, 64, 64 * 1024);
  const s = await store.create({ index: 1, term: 1, conf: CONF }, batchesOf(pairs));
  t.ok(s.meta.size > 2 * 1024 * 1024, 'larger than a few read chunks');
  const reader = store.readBatches(s);
  const seen: string[][] = [];
  const first = await reader.next();
  for (const r of first.value as StateRecord[]) seen.push([r.key.toString('hex'), r.value.toString('hex')]);
  clock.advance(1);
  await store.create({ index: 2, term: 1, conf: CONF }, batchesOf([]));
  t.notOk(fs.existsSync(s.path), 'pruned while open');
  for (;;) {
    const next = await reader.next();
    if (next.done) {
      t.equal(next.value, pairs.length, 'returns the record count');
      break;
    }
    for (const r of next.value) seen.push([r.key.toString('hex'), r.value.toString('hex')]);
  }
  t.same(seen, hex(pairs));
});

t.test('readBatches can stop early, and reports a bad file', async (t) => {
  const { store } = open(t);
  const s = await store.create({ index: 1, term: 1, conf: CONF }, batchesOf(randomPairs(9, 64, 64 * 1024)));
  for await (const batch of store.readBatches(s)) {
    t.ok(batch.length > 0);
    break;
  }
  fs.truncateSync(s.statePath, 1000);
  await t.rejects(readAll(store, s), { code: 'CORRUPT', file: s.statePath });
  fs.rmSync(s.statePath);
  await t.rejects(readAll(store, s), { code: 'ENOENT' });
});
