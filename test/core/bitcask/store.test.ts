/**
 * Unit tests of `Bitcask` (store.ts): reads, counters, sync modes, limits, errors,
 * read-only opens, start-up cleanup and hint handling, and I/O failures (injected by
 * patching `node:fs`, which the engine calls through its default export).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, LOCK_FILE, type BitcaskOptions } from '../../../src/core/bitcask/index.js';
import { HintWriter } from '../../../src/core/bitcask/hint.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { BitraftError, LimitError, type ErrorCode } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, copyStoreDir, dataFiles, dirDigest, nextTurn, printable, readAll, s, tmpFiles } from '../../helpers/bitcask.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { ioError, patch } from '../../helpers/fault-injection.js';

const clock = manualClock(1_700_000_000_000);

/** Counts fdatasync calls (async and sync) while passing them through. */
function countSyncs(t: Test): { async: number; sync: number } {
  const counts = { async: 0, sync: 0 };
  const fdatasync = fs.fdatasync;
  const fdatasyncSync = fs.fdatasyncSync;
  patch(t, fs, 'fdatasync', ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    counts.async++;
    fdatasync(fd, cb);
  }) as typeof fs.fdatasync);
  patch(t, fs, 'fdatasyncSync', ((fd: number) => {
    counts.sync++;
    fdatasyncSync(fd);
  }) as typeof fs.fdatasyncSync);
  return counts;
}

function throwsCode(t: Test, fn: () => unknown, code: ErrorCode, what: string): void {
  try {
    fn();
    t.fail(`${what}: expected ${code}`);
  } catch (err) {
    t.equal((err as BitraftError).code, code, `${what}: ${code}`);
  }
}

async function open(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<Bitcask> {
  const store = await Bitcask.open(dir, { clock, ...opts });
  t.teardown(() => store.close().catch(() => undefined));
  return store;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`gave up waiting for ${what}`);
}

const activePath = (dir: string): string => path.join(dir, dataFiles(dir).at(-1)!);

t.test('open creates the directory and an empty store', async (t) => {
  const dir = path.join(tmpDir(t), 'a', 'b');
  const store = await open(t, dir);
  t.equal(store.size, 0);
  t.equal(store.isClosed, false);
  t.same([...store.keys()], []);
  t.ok(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock taken');
  t.same(dataFiles(dir), ['0000000001.data']);
});

t.test('a second writer in the same directory is refused with LOCKED', async (t) => {
  const dir = tmpDir(t);
  await open(t, dir);
  await t.rejects(Bitcask.open(dir), { code: 'LOCKED' });
});

t.test('has, get, keys, entries and fold in byte order with ranges', async (t) => {
  const store = await open(t, tmpDir(t), { maxFileSize: 128 });
  const keys = ['', '\x00', 'a', 'a\x00', 'ab', 'b', '\x7f', '\x80', '\xff'];
  for (const [i, k] of [...keys].reverse().entries()) store.put(b(k), b(`v${i}:${k}`));
  const value = (k: string): Buffer => b(`v${keys.length - 1 - keys.indexOf(k)}:${k}`);
  for (const k of keys) {
    t.ok(store.has(b(k)), `has ${JSON.stringify(k)}`);
    t.same(store.get(b(k)), value(k), `get ${JSON.stringify(k)}`);
  }
  t.notOk(store.has(b('c')));
  t.equal(store.get(b('c')), undefined);
  t.same([...store.keys()].map(s), keys, 'keys in byte order');
  t.same([...store.keys({ reverse: true })].map(s), [...keys].reverse());
  t.same([...store.keys({ from: b('a') })].map(s), keys.slice(2));
  t.same([...store.keys({ from: b('a'), inclusive: false })].map(s), keys.slice(3));
  t.same([...store.keys({ from: b('a'), reverse: true })].map(s), ['a', '\x00', '']);
  t.same([...store.keys({ from: b('a'), reverse: true, inclusive: false })].map(s), ['\x00', '']);
  t.same([...store.keys({ from: b('aa') })].map(s), ['ab', 'b', '\x7f', '\x80', '\xff'], 'from an absent key');
  t.same([...store.keys({ from: b('aa'), reverse: true, inclusive: false })].map(s), ['a\x00', 'a', '\x00', '']);
  t.same(
    [...store.entries({ from: b('\x7f'), inclusive: false })].map(([k, v]) => [s(k), s(v)]),
    [
      ['\x80', s(value('\x80'))],
      ['\xff', s(value('\xff'))],
    ],
  );
  t.same([...store.entries({ reverse: true })].map(([k]) => s(k)), [...keys].reverse());
  t.equal(
    store.fold((acc, k, v) => `${acc}|${s(k)}=${s(v)}`, ''),
    keys.map((k) => `|${k}=${s(value(k))}`).join(''),
    'fold visits every pair in byte order',
  );
  // A walk reflects deletes made during it.
  const seen: string[] = [];
  for (const k of store.keys()) {
    seen.push(s(k));
    if (s(k) === 'a') store.delete(b('ab'));
  }
  t.same(seen, keys.filter((k) => k !== 'ab'));
});

t.test('keys and values are copied: any Uint8Array view in; without the cache, buffers of their own out', async (t) => {
  const store = await open(t, tmpDir(t), { sync: 'none', cacheSize: 0 });
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9, 4, 5, 9]);
  const key = backing.subarray(2, 5); // a view at an offset
  const value = backing.subarray(6, 8);
  store.put(key, value);
  backing.fill(0);
  t.same(store.get(Buffer.from([1, 2, 3])), Buffer.from([4, 5]), 'later changes to the inputs do not leak in');
  const got = store.get(Buffer.from([1, 2, 3]))!;
  got.fill(7);
  t.same(store.get(Buffer.from([1, 2, 3])), Buffer.from([4, 5]), 'changes to a returned value do not leak back');
  store.flush();
  const fromFile = store.get(Buffer.from([1, 2, 3]))!;
  fromFile.fill(7);
  t.same(store.get(Buffer.from([1, 2, 3])), Buffer.from([4, 5]), 'nor for a value read from the file');
  t.same([...store.keys()], [Buffer.from([1, 2, 3])]);
});

t.test('stats count files, live bytes, dead bytes and what a merge would reclaim', async (t) => {
  const store = await open(t, tmpDir(t), { maxFileSize: 1000, sync: 'none' });
  const r = (k: number, v: number): number => recordSize(k, v);
  store.put(b('a'), Buffer.alloc(10));
  store.put(b('b'), Buffer.alloc(20));
  store.put(b('a'), Buffer.alloc(5));
  t.equal(store.delete(b('b')), true);
  t.equal(store.delete(b('b')), false, 'deleting a missing key writes nothing');
  const data = r(1, 10) + r(1, 20) + r(1, 5) + r(1, 0);
  t.same(store.stats(), {
    dataFiles: 1,
    dataBytes: data,
    liveKeys: 1,
    liveBytes: r(1, 5),
    deadBytes: data - r(1, 5),
    reclaimableBytes: 0,
    cachedValues: 1,
    cacheBytes: 10 + 20 + 5,
  });
  store.rotate();
  t.same(store.stats(), {
    dataFiles: 2,
    dataBytes: data,
    liveKeys: 1,
    liveBytes: r(1, 5),
    deadBytes: data - r(1, 5),
    reclaimableBytes: data - r(1, 5),
    cachedValues: 1,
    cacheBytes: 10 + 20 + 5,
  });
  store.rotate();
  t.equal(store.stats().dataFiles, 2, 'rotating an empty active file is a no-op');
  const result = await store.merge();
  t.same(result, { inputFiles: 1, inputBytes: data, outputFiles: 1, outputBytes: r(1, 5), liveKeys: 1, reclaimedBytes: data - r(1, 5) });
  t.same(store.stats(), {
    dataFiles: 2,
    dataBytes: r(1, 5),
    liveKeys: 1,
    liveBytes: r(1, 5),
    deadBytes: 0,
    reclaimableBytes: 0,
    cachedValues: 1,
    cacheBytes: 10 + 20 + 5,
  });
  t.same(store.get(b('a')), Buffer.alloc(5));
});

t.test('keys and values at their size limits are accepted; larger ones change nothing', async (t) => {
  const dir = tmpDir(t);
  const store = await open(t, dir, { maxKeySize: 8, maxValueSize: 16, sync: 'none' });
  store.put(Buffer.alloc(8, 1), Buffer.alloc(16, 2));
  store.flush();
  const before = store.stats();
  const fileSize = fs.statSync(activePath(dir)).size;
  for (const [key, value, code] of [
    [Buffer.alloc(9, 3), Buffer.alloc(1), 'KEY_TOO_LARGE'],
    [Buffer.alloc(1, 3), Buffer.alloc(17), 'VALUE_TOO_LARGE'],
    [Buffer.alloc(9, 3), Buffer.alloc(17), 'KEY_TOO_LARGE'],
  ] as const) {
    try {
      store.put(key, value);
      t.fail(`expected ${code}`);
    } catch (err) {
      t.ok(err instanceof LimitError, 'a LimitError');
      t.equal((err as LimitError).code, code);
      t.equal((err as LimitError).actual, code === 'KEY_TOO_LARGE' ? 9 : 17);
      t.equal((err as LimitError).limit, code === 'KEY_TOO_LARGE' ? 8 : 16);
    }
  }
  store.flush();
  t.same(store.stats(), before, 'counters unchanged');
  t.equal(fs.statSync(activePath(dir)).size, fileSize, 'nothing written');
  t.notOk(store.has(Buffer.alloc(1, 3)));
  t.equal(store.size, 1);
});

t.test('hasUnsyncedWrites tells whether a sync is owed', async (t) => {
  const store = await open(t, tmpDir(t), { sync: 'none' });
  t.equal(store.hasUnsyncedWrites, false, 'a new store owes nothing');
  store.put(b('k'), b('v'));
  t.equal(store.hasUnsyncedWrites, true, 'after a write');
  await store.sync();
  t.equal(store.hasUnsyncedWrites, false, 'after sync');
  store.delete(b('k'));
  t.equal(store.hasUnsyncedWrites, true, 'after a delete');
  store.rotate();
  t.equal(store.hasUnsyncedWrites, false, 'rotation fsyncs');
});

t.test('flush hands buffered writes to the OS at once', async (t) => {
  const dir = tmpDir(t);
  const store = await open(t, dir, { sync: 'none' });
  store.put(b('k'), b('value'));
  t.equal(fs.statSync(activePath(dir)).size, 0, 'buffered');
  store.flush();
  t.equal(fs.statSync(activePath(dir)).size, recordSize(1, 5), 'written');
  t.same(store.get(b('k')), b('value'));
});

t.test("sync 'none' writes at the end of the turn and fsyncs only when asked", async (t) => {
  const dir = tmpDir(t);
  const counts = countSyncs(t);
  const store = await open(t, dir, { sync: 'none' });
  store.put(b('k'), b('v'));
  t.equal(fs.statSync(activePath(dir)).size, 0, 'buffered during the turn');
  await nextTurn();
  t.equal(fs.statSync(activePath(dir)).size, recordSize(1, 1), 'written when the turn ends');
  await nextTurn();
  t.equal(counts.async, 0, 'no fsync by itself');
  await store.sync();
  t.equal(counts.async, 1, 'sync() fsyncs');
  await store.sync();
  t.equal(counts.async, 1, 'nothing new: no fsync');
});

t.test("sync 'always' fsyncs each turn's writes once (group commit)", async (t) => {
  const dir = tmpDir(t);
  const counts = countSyncs(t);
  const store = await open(t, dir, { sync: 'always' });
  const waits: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    store.put(b(`k${i}`), b(`v${i}`));
    waits.push(store.sync());
  }
  await Promise.all(waits);
  t.equal(counts.async, 1, '50 writes and 50 syncs in one turn share one fsync');
  // Writes and syncs made while an fsync runs share the next one.
  store.put(b('x'), b('0'));
  const px = store.sync();
  await nextTurn();
  t.equal(counts.async, 2, 'the turn-end fsync is running');
  store.put(b('p'), b('1'));
  const p1 = store.sync();
  store.put(b('q'), b('2'));
  const p2 = store.sync();
  await Promise.all([px, p1, p2]);
  t.equal(counts.async, 3, `one more fsync for the writes made while the first ran (${counts.async})`);
  // Without anyone calling sync().
  store.put(b('y'), b('3'));
  await waitFor(() => counts.async === 4, 'the turn-end fsync');
  t.pass('a write is fsynced without sync() being called');
  await store.sync();
  await store.close();
  t.same(s((await contentsOf(dir)).get('q')!), '2');
});

t.test("sync 'interval' fsyncs on a timer, and logs a failed one", async (t) => {
  const dir = tmpDir(t);
  const counts = countSyncs(t);
  const log = memoryLogger();
  const store = await open(t, dir, { sync: 'interval', syncIntervalMs: 5, logger: log });
  store.put(b('k'), b('v'));
  await waitFor(() => counts.async >= 1, 'the interval fsync');
  t.ok(counts.async >= 1, 'fsynced without sync() being called');
  const fdatasync = fs.fdatasync;
  const restore = patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError('EIO')));
  }) as typeof fs.fdatasync);
  store.put(b('k2'), b('v2'));
  await waitFor(() => log.lines.some((l) => l.startsWith('warn:') && l.includes('interval sync failed')), 'the warn line');
  t.pass('a failed interval fsync is logged');
  restore();
  t.equal(fs.fdatasync, fdatasync);
  // An interval fsync started before the restore may still be failing: sync() would join it.
  await store.sync().catch(() => undefined);
  await store.sync();
  await store.close();
  t.same(printable(await contentsOf(dir)), printable(new Map([['k', b('v')], ['k2', b('v2')]])));
});

t.test('sync rejects with the I/O error, and a later sync retries', async (t) => {
  const dir = tmpDir(t);
  const store = await open(t, dir, { sync: 'none' });
  store.put(b('k'), b('v'));
  const restore = patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError('EIO')));
  }) as typeof fs.fdatasync);
  await t.rejects(store.sync(), { code: 'EIO' });
  restore();
  await store.sync();
  t.same(store.get(b('k')), b('v'));
});

t.test('onSync is told of each group-commit fsync that succeeded, with its seconds', async (t) => {
  const dir = tmpDir(t);
  const counts = countSyncs(t);
  const seconds: number[] = [];
  const store = await open(t, dir, { sync: 'none', onSync: (x) => seconds.push(x) });
  store.put(b('k'), b('v'));
  await store.sync();
  await store.sync();
  store.put(b('k2'), b('v2'));
  await store.sync();
  t.equal(counts.async, 2);
  t.equal(seconds.length, 2, 'one per fsync');
  t.ok(seconds.every((x) => x >= 0 && x < 60), 'in seconds');
  patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError('EIO')));
  }) as typeof fs.fdatasync);
  store.put(b('k3'), b('v3'));
  await t.rejects(store.sync(), { code: 'EIO' });
  t.equal(seconds.length, 2, 'a failed fsync is not told');
});

t.test('a write the disk refuses at flush is kept and retried', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const store = await open(t, dir, { sync: 'none', logger: log });
  const writeSync = fs.writeSync;
  let fail = true;
  patch(t, fs, 'writeSync', ((...args: Parameters<typeof fs.writeSync>) => {
    if (fail) throw ioError('ENOSPC');
    return (writeSync as (...a: unknown[]) => number)(...args);
  }) as typeof fs.writeSync);
  store.put(b('k'), b('v'));
  await nextTurn();
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('write failed')), 'turn-end flush failure logged');
  t.same(store.get(b('k')), b('v'), 'still readable from the buffer');
  // With sync 'always' semantics asked for explicitly: sync() reports the failure.
  await t.rejects(store.sync(), { code: 'ENOSPC' });
  fail = false;
  await store.sync();
  store.flush();
  t.equal(fs.statSync(activePath(dir)).size, recordSize(1, 1), 'written once the disk accepts it');
  await store.close();
  t.same(printable(await contentsOf(dir)), printable(new Map([['k', b('v')]])));
});

t.test('a put the disk refuses changes nothing', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const store = await open(t, dir, { sync: 'none', logger: log });
  store.put(b('before'), b('1'));
  store.flush();
  const sizeBefore = fs.statSync(activePath(dir)).size;
  const statsBefore = store.stats();
  const writeSync = fs.writeSync;
  let calls = 0;
  const restore = patch(t, fs, 'writeSync', ((...args: unknown[]) => {
    // The first write goes through partially, the next one fails: a full disk.
    if (calls++ === 0) return (writeSync as (...a: unknown[]) => number)(args[0], args[1], args[2], 1000, args[4]);
    throw ioError('ENOSPC');
  }) as typeof fs.writeSync);
  const big = Buffer.alloc(1_500_000, 7); // larger than the write buffer: written directly
  t.throws(() => store.put(b('big'), big), { code: 'ENOSPC' });
  restore();
  t.notOk(store.has(b('big')), 'key not added');
  t.same(store.stats(), statsBefore, 'counters unchanged');
  t.equal(fs.statSync(activePath(dir)).size, sizeBefore, 'the partial write was cut off');
  store.put(b('after'), b('2'));
  await store.close();
  const log2 = memoryLogger();
  t.same(printable(await contentsOf(dir, { logger: log2 })), printable(new Map([['before', b('1')], ['after', b('2')]])));
  t.same(log2.lines, [], 'no torn tail to cut on reopen');
});

t.test('after close every operation fails with CLOSED', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir);
  store.put(b('k'), b('v'));
  await store.close();
  t.equal(store.isClosed, true);
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
  throwsCode(t, () => store.get(b('k')), 'CLOSED', 'get');
  throwsCode(t, () => store.has(b('k')), 'CLOSED', 'has');
  throwsCode(t, () => store.put(b('k'), b('v')), 'CLOSED', 'put');
  throwsCode(t, () => store.delete(b('k')), 'CLOSED', 'delete');
  throwsCode(t, () => [...store.keys()], 'CLOSED', 'keys');
  throwsCode(t, () => [...store.entries()], 'CLOSED', 'entries');
  throwsCode(t, () => store.fold((n) => n + 1, 0), 'CLOSED', 'fold');
  throwsCode(t, () => store.flush(), 'CLOSED', 'flush');
  throwsCode(t, () => store.rotate(), 'CLOSED', 'rotate');
  await t.rejects(store.sync(), { code: 'CLOSED' }, 'sync');
  await t.rejects(store.merge(), { code: 'CLOSED' }, 'merge');
  await store.close();
  t.pass('close is idempotent');
});

t.test('every close call resolves only once the store is closed', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'always' });
  store.put(b('k'), b('v'));
  const pending = store.sync();
  await nextTurn(); // the turn-end fsync is running when close is called
  const first = store.close();
  await store.close();
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'the second close waited for the lock to be released');
  await first;
  await pending;
  t.same(printable(await contentsOf(dir)), printable(new Map([['k', b('v')]])));
});

t.test('close makes writes durable and resolves the syncs waiting for them', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'none' });
  store.put(b('a'), b('1'));
  const first = store.sync();
  store.put(b('b'), b('2'));
  const second = store.sync(); // waits for a second fsync; close does it
  const closed = store.close();
  await first;
  await second;
  await closed;
  t.same(printable(await contentsOf(dir)), printable(new Map([['a', b('1')], ['b', b('2')]])));
});

t.test('close reports a failed fsync, rejects waiting syncs and still releases the lock', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, { sync: 'none' });
  store.put(b('k'), b('v'));
  patch(t, fs, 'fdatasyncSync', (() => {
    throw ioError('EIO');
  }) as typeof fs.fdatasyncSync);
  const fdatasync = fs.fdatasync;
  patch(t, fs, 'fdatasync', ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    fdatasync(fd, cb);
  }) as typeof fs.fdatasync);
  store.put(b('k2'), b('v2'));
  const waiting = store.sync().then(
    () => 'resolved',
    (err: NodeJS.ErrnoException) => err.code,
  );
  await nextTurn(); // its fsync is running
  store.put(b('k3'), b('v3'));
  const waiting2 = store.sync().then(
    () => 'resolved',
    (err: NodeJS.ErrnoException) => err.code,
  );
  await t.rejects(store.close(), { code: 'EIO' });
  t.equal(await waiting, 'resolved', 'the sync whose fsync ran resolves');
  t.equal(await waiting2, 'EIO', 'the one that needed the failed fsync rejects with its error');
  t.equal(store.isClosed, true);
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
});

t.test('a file that fails to close is logged', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const store = await Bitcask.open(dir, { logger: log });
  store.put(b('k'), b('v'));
  const closeSync = fs.closeSync;
  let failed = false;
  patch(t, fs, 'closeSync', ((fd: number) => {
    closeSync(fd);
    if (!failed && fd === (store as unknown as { active: { file: { fd: number } } }).active.file.fd) {
      failed = true;
      throw ioError('EIO');
    }
  }) as typeof fs.closeSync);
  await store.close();
  t.ok(failed, 'the data file close failed');
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('closing')), 'logged');
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
});

t.test('a second merge while one runs is refused with BUSY', async (t) => {
  const store = await open(t, tmpDir(t), { maxFileSize: 256, sync: 'none' });
  for (let i = 0; i < 50; i++) store.put(b(`k${i % 10}`), Buffer.alloc(40, i));
  const first = store.merge({ yieldEveryBytes: 64 });
  await t.rejects(store.merge(), { code: 'BUSY' });
  const r = await first;
  t.ok(r.inputFiles > 1);
  await store.merge();
  t.pass('a merge can start once the first is done');
});

t.test('read-only: no lock, no writes, a torn tail read but left in place', async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir, { maxFileSize: 200 });
  for (let i = 0; i < 20; i++) writer.put(b(`k${i}`), b(`value-${i}`));
  writer.delete(b('k3'));
  await writer.close();
  const newest = activePath(dir);
  fs.rmSync(newest.replace(/\.data$/, '.hint'));
  fs.appendFileSync(newest, Buffer.from([1, 2, 3, 4, 5, 6, 7])); // half a header
  fs.writeFileSync(path.join(dir, '0000000099.hint'), 'orphan');
  fs.writeFileSync(path.join(dir, '0000000001.000001.data.tmp'), 'unfinished');
  const expected = new Map(Array.from({ length: 20 }, (_, i) => [`k${i}`, b(`value-${i}`)] as const).filter(([k]) => k !== 'k3'));
  const before = dirDigest(dir);

  const log = memoryLogger();
  const ro = await Bitcask.open(dir, { readOnly: true, logger: log, sync: 'interval' });
  t.same(printable(readAll(ro)), printable(expected), 'contents read');
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes(path.basename(newest)) && l.includes('ignoring')), 'the torn tail is reported');
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'no lock taken');
  throwsCode(t, () => ro.put(b('x'), b('y')), 'INVALID_ARGUMENT', 'put');
  throwsCode(t, () => ro.delete(b('k1')), 'INVALID_ARGUMENT', 'delete');
  throwsCode(t, () => ro.rotate(), 'INVALID_ARGUMENT', 'rotate');
  await t.rejects(ro.merge(), { code: 'INVALID_ARGUMENT' }, 'merge');
  ro.flush();
  await ro.sync();
  await ro.close();
  t.same(dirDigest(dir), before, 'nothing in the directory changed');

  // A read-only open works next to a live writer, which keeps its lock.
  const live = await Bitcask.open(dir);
  const ro2 = await Bitcask.open(dir, { readOnly: true });
  t.same(printable(readAll(ro2)), printable(expected));
  await ro2.close();
  t.ok(fs.existsSync(path.join(dir, LOCK_FILE)), "the writer's lock is untouched");
  await live.close();
});

t.test("a failed open stops the 'interval' sync timer it started", async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir, { maxFileSize: 100 });
  for (let i = 0; i < 10; i++) writer.put(b(`k${i}`), b(`v${i}`));
  await writer.close();
  const oldest = path.join(dir, dataFiles(dir)[0]!);
  fs.rmSync(oldest.replace(/\.data$/, '.hint'));
  const data = fs.readFileSync(oldest);
  data[10]! ^= 1;
  fs.writeFileSync(oldest, data);
  const live = new Set<unknown>();
  const setInterval_ = globalThis.setInterval;
  const clearInterval_ = globalThis.clearInterval;
  patch(t, globalThis, 'setInterval', ((...args: Parameters<typeof setInterval>) => {
    const timer = setInterval_(...args);
    live.add(timer);
    return timer;
  }) as typeof setInterval);
  patch(t, globalThis, 'clearInterval', ((timer: NodeJS.Timeout | undefined) => {
    live.delete(timer);
    clearInterval_(timer);
  }) as typeof clearInterval);
  await t.rejects(Bitcask.open(dir, { sync: 'interval', syncIntervalMs: 10 }), { code: 'CORRUPT' });
  const leaked = live.size;
  for (const timer of live) clearInterval_(timer as NodeJS.Timeout);
  t.equal(leaked, 0, 'no timer left running');
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
});

t.test('read-only open of a missing directory fails without creating it', async (t) => {
  const dir = path.join(tmpDir(t), 'nope');
  await t.rejects(Bitcask.open(dir, { readOnly: true }), { code: 'ENOENT' });
  t.notOk(fs.existsSync(dir));
});

t.test('open removes what a crash left: temp files and hints without a data file', async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir, { maxFileSize: 100 });
  for (let i = 0; i < 10; i++) writer.put(b(`k${i}`), b(`v${i}`));
  await writer.close();
  const junk = ['0000000042.hint', '0000000001.000003.data.tmp', '0000000002.hint.tmp', '0000000001.000003.hint.tmp'];
  for (const n of junk) fs.writeFileSync(path.join(dir, n), 'junk');
  fs.writeFileSync(path.join(dir, '0000000001.data.5.corrupt'), 'kept aside earlier');
  const store = await open(t, dir, { maxFileSize: 100 });
  const names = fs.readdirSync(dir);
  for (const n of junk) {
    // The active file's own hint is being rewritten under a .tmp name while the store is open.
    if (n === `${path.basename(activePath(dir), '.data')}.hint.tmp`) continue;
    t.notOk(names.includes(n), `${n} removed`);
  }
  t.ok(names.includes('0000000001.data.5.corrupt'), 'a .corrupt file is kept');
  t.equal(store.size, 10);
  for (const n of names) {
    if (n.endsWith('.hint')) t.ok(names.includes(n.replace(/\.hint$/, '.data')), `${n} has its data file`);
  }
});

t.test('a hint that does not describe its data file is ignored with a log line', async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir, { maxFileSize: 150 });
  for (let i = 0; i < 30; i++) writer.put(b(`k${i % 12}`), b(`value-${i}`.repeat(1 + (i % 3))));
  writer.delete(b('k5'));
  await writer.close();
  const expected = await contentsOf(dir);
  t.equal(expected.size, 11);
  const [f1, f2, f3] = dataFiles(dir);
  const hint = (f: string): string => path.join(dir, f.replace(/\.data$/, '.hint'));
  t.not(fs.statSync(path.join(dir, f1!)).size, fs.statSync(path.join(dir, f2!)).size, 'files differ in size');
  const cases: [string, () => void][] = [
    ['a hint of another data file (size mismatch)', () => fs.copyFileSync(hint(f2!), hint(f1!))],
    ['a damaged hint (checksum)', () => {
      const h = fs.readFileSync(hint(f2!));
      h[6]! ^= 0x40;
      fs.writeFileSync(hint(f2!), h);
    }],
    ['not a hint at all', () => fs.writeFileSync(hint(f3!), 'x')],
  ];
  for (const [what, damage] of cases) {
    damage();
    const log = memoryLogger();
    t.same(printable(await contentsOf(dir, { logger: log })), printable(expected), `${what}: contents from the scan`);
    t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('ignoring hint')), `${what}: logged`);
  }
});

t.test('a hint pointing outside its record makes reads of that key fail with CORRUPT', async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir);
  writer.put(b('a'), b('1234'));
  writer.put(b('b'), b('5678'));
  writer.rotate();
  writer.put(b('c'), b('9'));
  await writer.close();
  const first = path.join(dir, dataFiles(dir)[0]!);
  // A hint whose checksum and size are right but whose entry for 'b' is shorter than its record.
  const hw = new HintWriter(first.replace(/\.data$/, '.hint'));
  hw.add(false, 0, b('a'), 0, recordSize(1, 4));
  hw.add(false, 0, b('b'), recordSize(1, 4), 10);
  hw.finish(fs.statSync(first).size);
  const store = await open(t, dir);
  t.same(store.get(b('a')), b('1234'));
  throwsCode(t, () => store.get(b('b')), 'CORRUPT', 'a record cut short');
  // And one whose entry points into the middle of a record.
  await store.close();
  const hw2 = new HintWriter(first.replace(/\.data$/, '.hint'));
  hw2.add(false, 0, b('a'), 3, recordSize(1, 4));
  hw2.finish(fs.statSync(first).size);
  const store2 = await open(t, dir);
  throwsCode(t, () => store2.get(b('a')), 'CORRUPT', 'a record that fails its checksum');
});

t.test('open when the newest file is a merge output starts a new active file', async (t) => {
  const dir = tmpDir(t);
  const writer = await Bitcask.open(dir, { maxFileSize: 100 });
  for (let i = 0; i < 10; i++) writer.put(b(`k${i}`), b(`v${i}`));
  writer.rotate();
  await writer.merge();
  await writer.close();
  // Drop the empty active file: the merge output is now the newest file.
  const active = activePath(dir);
  t.equal(fs.statSync(active).size, 0);
  fs.rmSync(active);
  fs.rmSync(active.replace(/\.data$/, '.hint'));
  t.match(dataFiles(dir).at(-1), /\.\d{6}\.data$/, 'newest file has a minor number');
  const store = await open(t, dir);
  t.equal(store.size, 10);
  store.put(b('new'), b('1'));
  t.match(dataFiles(dir).at(-1), /^\d{10}\.data$/, 'appends go to a new file');
  await store.close();
  t.equal((await contentsOf(dir)).size, 11);
});

t.test('a hint that cannot be written costs the hint, never the data', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const openSync = fs.openSync;
  const restore = patch(t, fs, 'openSync', ((p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p).endsWith('.hint.tmp')) throw ioError('EMFILE');
    return (openSync as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof fs.openSync);
  const store = await Bitcask.open(dir, { logger: log, maxFileSize: 100 });
  for (let i = 0; i < 5; i++) store.put(b(`k${i}`), b(`v${i}`));
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('no hint')), 'logged');
  restore();
  await store.close();
  const hints = fs.readdirSync(dir).filter((n) => n.endsWith('.hint'));
  t.ok(dataFiles(dir).length > hints.length, 'some files have no hint');
  t.equal((await contentsOf(dir)).size, 5, 'contents complete');

  // A hint whose rename fails is dropped with a log line, and the rotation goes on.
  const log2 = memoryLogger();
  const store2 = await Bitcask.open(dir, { logger: log2, maxFileSize: 100 });
  const renameSync = fs.renameSync;
  const restoreRename = patch(t, fs, 'renameSync', ((from: fs.PathLike, to: fs.PathLike) => {
    if (String(to).endsWith('.hint')) throw ioError('EIO');
    renameSync(from, to);
  }) as typeof fs.renameSync);
  // Even removing the unfinished hint fails: the next open does it.
  const rmSync = fs.rmSync;
  const restoreRm = patch(t, fs, 'rmSync', ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (String(p).endsWith('.hint.tmp')) throw ioError('EIO');
    rmSync(p, o);
  }) as typeof fs.rmSync);
  store2.put(b('x'), b('1'));
  store2.rotate();
  t.ok(log2.lines.some((l) => l.startsWith('warn:') && l.includes('could not write hint')), 'logged');
  t.same(store2.get(b('x')), b('1'));
  store2.put(b('y'), b('2'));
  restoreRename();
  restoreRm();
  await store2.close();
  t.ok(
    fs.readdirSync(dir).some((n) => n.endsWith('.hint.tmp')),
    'the unfinished hint is still there',
  );
  t.equal((await contentsOf(dir)).size, 7);
  t.same(
    fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no unfinished hint left after the next open',
  );
});

t.test('a hint write that fails while appending drops the hint only', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const hintFds = new Set<number>();
  const openSync = fs.openSync;
  patch(t, fs, 'openSync', ((p: fs.PathLike, ...rest: unknown[]) => {
    const fd = (openSync as (...a: unknown[]) => number)(p, ...rest);
    if (String(p).endsWith('.hint.tmp')) hintFds.add(fd);
    return fd;
  }) as typeof fs.openSync);
  const writeSync = fs.writeSync;
  patch(t, fs, 'writeSync', ((fd: number, ...rest: unknown[]) => {
    if (hintFds.has(fd)) throw ioError('ENOSPC');
    return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync);
  const rmSync = fs.rmSync;
  const restoreRm = patch(t, fs, 'rmSync', ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (String(p).endsWith('.hint.tmp')) throw ioError('EIO');
    rmSync(p, o);
  }) as typeof fs.rmSync);
  const store = await Bitcask.open(dir, { logger: log, sync: 'none' });
  // Hint entries carry keys: a few large keys fill the hint's 1 MiB buffer.
  const keys = Array.from({ length: 8 }, (_, i) => Buffer.alloc(200_000, 65 + i));
  for (const k of keys) store.put(k, b('v'));
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('no hint')), 'logged');
  restoreRm();
  for (const k of keys) t.same(store.get(k), b('v'));
  await store.close();
  const reopened = await contentsOf(dir);
  t.equal(reopened.size, 8, 'contents complete after reopening by scan');
});

t.test('the value cache never serves a stale or foreign value', async (t) => {
  const store = await open(t, tmpDir(t), { sync: 'none' });
  const input = b('xhello');
  store.put(b('k'), input.subarray(1));
  input.fill(0);
  t.equal(store.stats().cachedValues, 1, 'a write is cached');
  t.same(store.get(b('k')), b('hello'), 'the cache holds a copy, not a view of the caller’s buffer');
  store.put(b('k'), b('world'));
  t.same(store.get(b('k')), b('world'), 'a write replaces the cached value');
  t.equal(store.delete(b('k')), true);
  store.put(b('other'), b('value'));
  t.equal(store.get(b('k')), undefined, 'a deleted key is gone from the cache');
  t.same(store.get(b('other')), b('value'), 'a reused slot serves its new key’s value');
  store.put(b('other'), b('newer'));
  t.same(store.get(b('other')), b('newer'));
});

t.test('reads fill the value cache; full walks do not', async (t) => {
  const dir = tmpDir(t);
  const first = await open(t, dir, { sync: 'none' });
  for (let i = 0; i < 10; i++) first.put(b(`k${i}`), b(`v${i}`));
  await first.close();
  const store = await open(t, dir, { sync: 'none' });
  t.equal(store.stats().cachedValues, 0, 'nothing is cached on open');
  t.equal([...store.entries()].length, 10);
  t.equal(store.stats().cachedValues, 0, 'a walk leaves the cache alone');
  t.same(store.get(b('k3')), b('v3'));
  t.same(store.get(b('k3')), b('v3'), 'a second read is a hit');
  t.equal(store.stats().cachedValues, 1);
  const none = await open(t, tmpDir(t), { sync: 'none', cacheSize: 0 });
  none.put(b('a'), b('1'));
  t.same(none.get(b('a')), b('1'));
  t.equal(none.stats().cachedValues, 0, 'cacheSize 0 disables the cache');
});

t.test('merge keeps cached values valid', async (t) => {
  const store = await open(t, tmpDir(t), { sync: 'none', maxFileSize: 200 });
  for (let round = 0; round < 5; round++) for (let i = 0; i < 20; i++) store.put(b(`k${i}`), b(`v${round}-${i}`));
  store.rotate();
  await store.merge();
  for (let i = 0; i < 20; i++) t.same(store.get(b(`k${i}`)), b(`v4-${i}`));
});

t.test("reopening after a clean close extends the active file's hint instead of rewriting it", async (t) => {
  const dir = tmpDir(t);
  const first = await Bitcask.open(dir, { clock });
  for (let i = 0; i < 50; i++) first.put(b(`k${i}`), b(`v${i}`));
  await first.close();
  const hintName = dataFiles(dir).at(-1)!.replace(/\.data$/, '.hint');
  const before = fs.readFileSync(path.join(dir, hintName));

  const log = memoryLogger();
  const store = await open(t, dir, { logger: log });
  t.equal(store.size, 50, 'loaded from the hint');
  t.notOk(fs.existsSync(path.join(dir, hintName)), 'the hint is no longer trusted while the file grows');
  const tmp = fs.readFileSync(path.join(dir, `${hintName}.tmp`));
  t.ok(tmp.equals(before.subarray(0, before.length - 12)), 'it was moved aside as is, only its trailer cut');
  store.put(b('k0'), b('new'));
  store.delete(b('k1'));
  store.put(b('k50'), b('v50'));
  await store.close();
  const after = fs.readFileSync(path.join(dir, hintName));
  t.ok(after.subarray(0, before.length - 12).equals(before.subarray(0, before.length - 12)), 'old entries unchanged');
  t.same(log.lines, [], 'nothing to report');

  const fromHint = await contentsOf(dir);
  fs.rmSync(path.join(dir, hintName));
  const scanned = await contentsOf(dir);
  t.same(printable(fromHint), printable(scanned), 'the extended hint agrees with a scan');
  t.equal(fromHint.size, 50);
  t.same(fromHint.get('k0'), b('new'));
  t.notOk(fromHint.has('k1'));
});

t.test('a crash after the hint was moved aside: the next open scans the active file', async (t) => {
  const dir = tmpDir(t);
  const first = await Bitcask.open(dir, { clock });
  for (let i = 0; i < 20; i++) first.put(b(`k${i}`), b(`v${i}`));
  await first.close();
  const store = await open(t, dir);
  store.put(b('k20'), b('v20'));
  store.flush();
  const crashed = path.join(tmpDir(t), 'copy');
  copyStoreDir(dir, crashed);
  t.ok(tmpFiles(crashed).length > 0, 'the unfinished hint is there');
  const log = memoryLogger();
  const reopened = await Bitcask.open(crashed, { clock, logger: log });
  t.equal(reopened.size, 21, 'every write, found by scanning');
  t.same(log.lines, [], 'no hint to ignore: the unfinished one was removed');
  await reopened.close();
  t.equal((await contentsOf(crashed)).size, 21, 'and a fresh hint was written at close');
});

t.test('a hint that cannot be moved aside at open costs the hint, never the data', async (t) => {
  const dir = tmpDir(t);
  const first = await Bitcask.open(dir, { clock });
  for (let i = 0; i < 10; i++) first.put(b(`k${i}`), b(`v${i}`));
  await first.close();
  const renameSync = fs.renameSync;
  const restore = patch(t, fs, 'renameSync', ((from: fs.PathLike, to: fs.PathLike) => {
    if (String(to).endsWith('.hint.tmp')) throw ioError('EIO');
    renameSync(from, to);
  }) as typeof fs.renameSync);
  const log = memoryLogger();
  const store = await open(t, dir, { logger: log });
  restore();
  t.equal(store.size, 10, 'loaded from the hint all the same');
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('no hint')), 'logged');
  t.same(
    fs.readdirSync(dir).filter((n) => n.includes('.hint')),
    [],
    'the stale hint is removed: appends would outgrow it',
  );
  store.put(b('k10'), b('v10'));
  await store.close();
  t.equal((await contentsOf(dir)).size, 11);
});

t.test('sync waits for an fsync still running on a file a rotation sealed, so a merge never closes it under that fsync', async (t) => {
  const dir = tmpDir(t);
  const store = await open(t, dir, { sync: 'none' });
  const held: (() => void)[] = [];
  const fdatasync = fs.fdatasync;
  const restore = patch(t, fs, 'fdatasync', ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    held.push(() => fdatasync(fd, cb));
  }) as typeof fs.fdatasync);
  store.put(b('k'), b('v'));
  const first = store.sync();
  await new Promise((r) => setImmediate(r));
  t.equal(held.length, 1, 'an fsync is running');
  store.rotate();
  await first;
  let done = false;
  const second = store.sync().then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(done, false, 'waits for the running fsync');
  restore();
  held.shift()!();
  await second;
  t.equal(done, true);
  await store.merge();
  t.same(s((await readAll(store)).get('k')!), 'v');
});
