/**
 * Tests of `Bitcask.replaceAll` (replace.ts, replace-marker.ts): the new contents replace
 * the old entirely, and a crash or failure at any point leaves exactly the old or exactly
 * the new contents — checked on copies of the directory taken at every step and halfway
 * through the input, with faults injected into the live store, and with read-only opens.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, REPLACE_MARKER_FILE, type BitcaskOptions, type ReplaceStep, type StoreView } from '../../../src/core/bitcask/index.js';
import { readReplaceMarker, writeReplaceMarker } from '../../../src/core/bitcask/replace-marker.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { CorruptionError, hasCode, LimitError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, copyStoreDir, dataFiles, diffContents, dirDigest, fastTmpDir, nextTurn, readAll, s, tmpFiles } from '../../helpers/bitcask.js';
import { ioError, patch } from '../../helpers/fault-injection.js';

const OPTS: BitcaskOptions = { maxFileSize: 1024, sync: 'none', clock: manualClock(1_700_000_000_000) };

type Rec = { key: Buffer; value: Buffer };

async function open(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<Bitcask> {
  const store = await Bitcask.open(dir, { ...OPTS, ...opts });
  t.teardown(() => store.close().catch(() => undefined));
  return store;
}

function value(tag: number, size: number): Buffer {
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = (tag * 131 + i * 7) & 0xff;
  return v;
}

/** Records as batches of `per`, from an async generator that yields between them. */
async function* batchesOf(records: Rec[], per = 7, between?: (i: number) => void | Promise<void>): AsyncGenerator<Rec[]> {
  for (let i = 0; i < records.length; i += per) {
    yield records.slice(i, i + per);
    await between?.(i / per);
  }
}

/** The contents a list of records makes: the last of duplicate keys wins. */
function contentsOfRecords(records: Rec[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const r of records) m.set(s(r.key), r.value);
  return m;
}

/** A store with old contents spread over several files (overwrites, deletes), left open; and its model. */
async function oldStore(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<{ store: Bitcask; model: Map<string, Buffer> }> {
  const store = await open(t, dir, opts);
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 80; i++) {
    const k = `old-${i % 30}`;
    store.put(b(k), value(i, 20 + (i % 17)));
    model.set(k, value(i, 20 + (i % 17)));
  }
  for (let i = 0; i < 30; i += 4) {
    store.delete(b(`old-${i}`));
    model.delete(`old-${i}`);
  }
  store.put(b('shared'), b('old value'));
  model.set('shared', b('old value'));
  await store.sync();
  return { store, model };
}

/** New contents: binary and empty keys, empty values, a duplicate, enough to fill several 1 KiB files. */
function newRecords(n = 60): Rec[] {
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) recs.push({ key: b(`new-${i}`), value: value(1000 + i, 10 + (i % 40)) });
  recs.push({ key: b(''), value: b('empty key') });
  recs.push({ key: b('\x00\xff\x01'), value: Buffer.alloc(0) });
  recs.push({ key: b('shared'), value: b('first') });
  recs.push({ key: b('new-3'), value: b('duplicate: the last wins') });
  recs.push({ key: b('shared'), value: b('new value') });
  return recs;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

function liveBytes(m: Map<string, Buffer>): number {
  let n = 0;
  for (const [k, v] of m) n += recordSize(Buffer.byteLength(k, 'latin1'), v.length);
  return n;
}

t.test('replace: the old keys are gone, the new ones in, across several files, and so after reopening', async (t) => {
  const dir = fastTmpDir(t);
  const { store } = await oldStore(t, dir);
  const oldFiles = dataFiles(dir);
  const recs = newRecords();
  const expected = contentsOfRecords(recs);
  const n = await store.replaceAll(batchesOf(recs));
  t.equal(n, expected.size, 'returns the number of live keys');
  t.equal(store.size, expected.size);
  t.equal(diffContents(readAll(store), expected), undefined, 'contents are the new ones');
  t.equal(store.get(b('old-1')), undefined, 'an old key is gone');
  t.same(store.get(b('shared')), b('new value'), 'duplicates: the last wins');
  const stats = store.stats();
  t.equal(stats.liveKeys, expected.size);
  t.equal(stats.liveBytes, liveBytes(expected), 'live bytes count each key once');
  t.ok(stats.dataFiles > 3, `${stats.dataFiles} files`);
  t.notOk(
    oldFiles.some((f) => fs.existsSync(path.join(dir, f))),
    'old data files deleted',
  );
  t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)), 'no marker left');
  for (const f of dataFiles(dir).slice(0, -1)) t.ok(fs.existsSync(path.join(dir, f.replace(/\.data$/, '.hint'))), `${f} has a hint`);
  // Writes go on after the replace, into the new active file.
  store.put(b('after'), b('x'));
  expected.set('after', b('x'));
  store.delete(b('new-0'));
  expected.delete('new-0');
  await store.close();
  const log = memoryLogger();
  const reopened = await open(t, dir, { logger: log });
  t.equal(diffContents(readAll(reopened), expected), undefined, 'reopened: same contents');
  t.same(log.lines, [], 'reopened from hints, quietly');
  t.same(tmpFiles(dir).filter((n) => !n.endsWith('.hint.tmp')), []);
});

t.test('replace with fewer, more and disjoint keys; with an empty input', async (t) => {
  const dir = fastTmpDir(t);
  const { store } = await oldStore(t, dir);
  for (const recs of [
    [{ key: b('one'), value: b('1') }],
    Array.from({ length: 300 }, (_, i) => ({ key: b(`many-${i}`), value: value(i, i % 50) })),
    [{ key: b('other'), value: b('2') }],
    [],
  ]) {
    const expected = contentsOfRecords(recs);
    t.equal(await store.replaceAll(batchesOf(recs, 50)), expected.size);
    t.equal(diffContents(readAll(store), expected), undefined, `${expected.size} keys`);
    t.equal(store.stats().liveKeys, expected.size);
  }
  t.equal(store.size, 0, 'an empty input empties the store');
  t.equal(store.stats().dataFiles, 1, 'one (empty, active) file is left');
  await store.close();
  t.equal((await contentsOf(dir, OPTS)).size, 0, 'and it reopens empty');
});

t.test('an input that yields no batch at all, and one that is a plain array', async (t) => {
  const store = await open(t, fastTmpDir(t));
  store.put(b('a'), b('1'));
  t.equal(
    await store.replaceAll(
      (async function* () {
        // Nothing.
      })(),
    ),
    0,
  );
  t.equal(store.size, 0);
  const arrays = {
    async *[Symbol.asyncIterator]() {
      yield [{ key: new Uint8Array([1, 2]), value: new Uint8Array([3]) }];
    },
  };
  t.equal(await store.replaceAll(arrays), 1, 'Uint8Array keys and values');
  t.same(store.get(Buffer.from([1, 2])), Buffer.from([3]));
});

t.test('sync waiters of old writes resolve; the value cache does not serve old values', async (t) => {
  const store = await open(t, fastTmpDir(t), { sync: 'always' });
  store.put(b('k'), b('old'));
  t.same(store.get(b('k')), b('old'), 'cached');
  const synced = store.sync();
  await store.replaceAll(batchesOf([{ key: b('k'), value: b('new') }]));
  await synced;
  t.same(store.get(b('k')), b('new'));
  t.equal(store.hasUnsyncedWrites, false);
});

t.test('keys and values over the limits reject with LimitError; the old contents stand', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir, { maxKeySize: 16, maxValueSize: 100 });
  const before = dataFiles(dir);
  for (const [bad, code] of [
    [{ key: b('k'.repeat(17)), value: b('v') }, 'KEY_TOO_LARGE'],
    [{ key: b('k'), value: Buffer.alloc(101) }, 'VALUE_TOO_LARGE'],
  ] as const) {
    const recs = [...newRecords(40).filter((r) => r.key.length <= 16), bad];
    const err = await rejection(store.replaceAll(batchesOf(recs)));
    t.ok(err instanceof LimitError && err.code === code, code);
    t.equal(diffContents(readAll(store), model), undefined, `${code}: old contents stand`);
    t.same(dataFiles(dir), before, `${code}: the new files are removed`);
    t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)), `${code}: no marker`);
    t.same(tmpFiles(dir).filter((n) => !n.endsWith('.hint.tmp')), [], `${code}: no temporary file`);
  }
  store.put(b('still'), b('writable'));
  model.set('still', b('writable'));
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'reopened: the old contents and the later write');
});

t.test('an input that fails rejects with its error; the old contents stand', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir);
  const boom = new Error('input broke');
  const err = await rejection(
    store.replaceAll(
      batchesOf(newRecords(), 5, (i) => {
        if (i === 4) throw boom;
      }),
    ),
  );
  t.equal(err, boom);
  t.equal(diffContents(readAll(store), model), undefined);
  store.put(b('x'), b('y'));
});

t.test('during a replace: reads see the old contents, writes and merges are BUSY, and so is a second replace', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir);
  const recs = newRecords();
  let checked = 0;
  const run = store.replaceAll(
    batchesOf(recs, 5, () => {
      t.equal(diffContents(readAll(store), model), undefined);
      for (const fn of [() => store.put(b('a'), b('b')), () => store.delete(b('shared')), () => store.rotate()]) {
        t.throws(fn, { code: 'BUSY' });
      }
      checked++;
    }),
  );
  t.ok(hasCode(await rejection(store.merge()), 'BUSY'), 'merge is BUSY');
  t.ok(hasCode(await rejection(store.replaceAll(batchesOf([]))), 'BUSY'), 'a second replace is BUSY');
  await run;
  t.ok(checked > 3);
  store.put(b('a'), b('b'));
  t.equal(store.get(b('a'))!.toString(), 'b', 'writable again');
});

t.test('a replace waits for a running merge', async (t) => {
  const dir = fastTmpDir(t);
  const { store } = await oldStore(t, dir);
  store.rotate();
  const order: string[] = [];
  const merge = store.merge({ yieldEveryBytes: 64, onStep: (step) => void (step === 'done' && order.push('merge done')) });
  const replace = store.replaceAll(
    (async function* () {
      order.push('replace reads its input');
      yield newRecords(5);
    })(),
  );
  await merge;
  await replace;
  t.same(order, ['merge done', 'replace reads its input']);
  t.equal(diffContents(readAll(store), contentsOfRecords(newRecords(5))), undefined);
});

t.test('a read-only store cannot be replaced; nor a closed one', async (t) => {
  const dir = fastTmpDir(t);
  const w = await Bitcask.open(dir, OPTS);
  w.put(b('a'), b('1'));
  await w.close();
  const ro = await open(t, dir, { readOnly: true });
  t.ok(hasCode(await rejection(ro.replaceAll(batchesOf([]))), 'INVALID_ARGUMENT'));
  t.ok(hasCode(await rejection(w.replaceAll(batchesOf([]))), 'CLOSED'));
});

t.test('closing the store during a replace: CLOSED and the old contents; at once or while it waits for a merge', async (t) => {
  for (const variant of ['during input', 'waiting for a merge']) {
    const dir = fastTmpDir(t);
    const { store, model } = await oldStore(t, dir);
    let closing: Promise<void> | undefined;
    let run: Promise<number>;
    if (variant === 'during input') {
      run = store.replaceAll(
        batchesOf(newRecords(), 5, (i) => {
          if (i === 2) closing = store.close();
        }),
      );
    } else {
      store.rotate();
      const merge = store.merge({ yieldEveryBytes: 64 });
      run = store.replaceAll(batchesOf(newRecords()));
      closing = store.close();
      await rejection(merge);
    }
    t.ok(hasCode(await rejection(run), 'CLOSED'), `${variant}: CLOSED`);
    await closing;
    t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, `${variant}: reopens to the old contents`);
    t.same(tmpFiles(dir), [], `${variant}: nothing left behind`);
  }
});

t.test('views opened before the switch read the old contents; the replace resolves once they close', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir);
  const oldFiles = dataFiles(dir);
  const before = store.openView();
  let during: StoreView | undefined;
  const recs = newRecords();
  let resolved = false;
  const run = store
    .replaceAll(
      batchesOf(recs, 10, () => {
        during ??= store.openView();
      }),
    )
    .then((n) => {
      resolved = true;
      return n;
    });
  for (let i = 0; i < 100 && store.get(b('old-1')) !== undefined; i++) await nextTurn();
  t.equal(diffContents(readAll(store), contentsOfRecords(recs)), undefined, 'the switch happened: the store reads the new contents');
  store.put(b('written after the switch'), b('kept'));
  t.equal(resolved, false, 'the replace waits for the views');
  t.ok(oldFiles.every((f) => fs.existsSync(path.join(dir, f))), 'old files kept for them');
  const got = new Map<string, Buffer>();
  for await (const batch of before.batches()) for (const r of batch) got.set(s(r.key), Buffer.from(r.value));
  t.equal(diffContents(got, model), undefined, 'a view opened before the replace reads the old contents');
  const got2 = new Map<string, Buffer>();
  for await (const batch of during!.batches({ maxKeys: 3 })) for (const r of batch) got2.set(s(r.key), Buffer.from(r.value));
  t.equal(diffContents(got2, model), undefined, 'and so does one opened during it');
  await run;
  t.notOk(
    oldFiles.some((f) => fs.existsSync(path.join(dir, f))),
    'old files deleted once the views closed',
  );
  const expected = contentsOfRecords(recs);
  expected.set('written after the switch', b('kept'));
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), expected), undefined);
});

t.test('closing the store while a replace waits for a view does not hang', async (t) => {
  const dir = fastTmpDir(t);
  const { store } = await oldStore(t, dir);
  const view = store.openView();
  const run = store.replaceAll(batchesOf(newRecords()));
  for (let i = 0; i < 100 && store.get(b('old-1')) !== undefined; i++) await nextTurn();
  await store.close();
  t.equal(view.isClosed, true);
  t.equal(await run, contentsOfRecords(newRecords()).size);
  t.equal(diffContents(await contentsOf(dir, OPTS), contentsOfRecords(newRecords())), undefined);
  t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)));
});

// ---- crashes ----

t.test('a copy of the directory taken at every step, and halfway through the input, opens to exactly the old or the new contents', async (t) => {
  const root = fastTmpDir(t, 'bitcask-replace-steps-');
  const dir = path.join(root, 'live');
  const { store, model } = await oldStore(t, dir);
  // Unsynced writes in the active file too: a crash copy may hold them or not, but the
  // copies below are taken by this process, after they were written.
  const recs = newRecords(120);
  const expected = contentsOfRecords(recs);
  const snaps: { what: string; dir: string; committed: boolean }[] = [];
  let committed = false;
  const snap = (what: string): void => {
    const to = path.join(root, `snap-${snaps.length}-${what}`);
    store.flush();
    copyStoreDir(dir, to);
    snaps.push({ what, dir: to, committed });
  };
  snap('before');
  await store.replaceAll(
    batchesOf(recs, 9, (i) => snap(`input-${i}`)),
    {
      onStep: (step) => {
        if (step === 'committed') committed = true;
        snap(step);
      },
    },
  );
  snap('after');
  const steps = snaps.map((x) => x.what.replace(/^input-\d+$/, 'input'));
  t.same(
    steps.filter((x) => x !== 'input' && x !== 'file-written'),
    ['before', 'marker-writing', 'outputs-durable', 'committed', 'old-deleted', 'done', 'after'],
    'the steps in order',
  );
  t.ok(steps.filter((x) => x === 'file-written').length >= 4, 'several files written');
  t.ok(steps.indexOf('input') < steps.lastIndexOf('file-written'), 'copies taken with partial new files');
  for (const { what, dir: d, committed: isNew } of snaps) {
    const want = isNew ? expected : model;
    const marker = readReplaceMarker(d);
    // A read-only open first: it must present the same contents and change nothing.
    const digest = dirDigest(d);
    const ro = await Bitcask.open(d, { ...OPTS, readOnly: true });
    t.equal(diffContents(readAll(ro), want), undefined, `${what}: read-only open gives the ${isNew ? 'new' : 'old'} contents`);
    await ro.close();
    t.same(dirDigest(d), digest, `${what}: the read-only open changed nothing`);
    const w = await Bitcask.open(d, OPTS);
    t.equal(diffContents(readAll(w), want), undefined, `${what}: writable open gives the ${isNew ? 'new' : 'old'} contents (marker ${marker?.phase ?? 'none'})`);
    t.notOk(fs.existsSync(path.join(d, REPLACE_MARKER_FILE)), `${what}: the marker is settled`);
    w.put(b('later'), b('write'));
    await w.close();
    want.set('later', b('write'));
    t.equal(diffContents(await contentsOf(d, OPTS), want), undefined, `${what}: and again after a write`);
    want.delete('later');
  }
});

t.test('a replace that fails at any step: before the commit the old contents stand, from it on the new ones', async (t) => {
  const root = fastTmpDir(t, 'bitcask-replace-fail-');
  let total = 0;
  {
    const { store } = await oldStore(t, path.join(root, 'count'));
    await store.replaceAll(batchesOf(newRecords()), { onStep: () => void total++ });
    await store.close();
  }
  t.ok(total >= 8, `${total} steps`);
  for (let n = 0; n < total; n++) {
    const dir = path.join(root, `fail-${n}`);
    const log = memoryLogger();
    const { store, model } = await oldStore(t, dir, { logger: log });
    const injected = new Error(`injected at step ${n}`);
    let calls = 0;
    let failedAt: ReplaceStep | undefined;
    let committed = false;
    const run = store.replaceAll(batchesOf(newRecords()), {
      onStep: (step) => {
        if (step === 'committed') committed = true;
        if (calls++ === n) {
          failedAt = step;
          throw injected;
        }
      },
    });
    const outcome = await rejection(run);
    const where = `failure at step #${n} (${failedAt})`;
    const want = committed ? contentsOfRecords(newRecords()) : model;
    if (committed) {
      t.equal(outcome, undefined, `${where}: after the commit the replace succeeds`);
      t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes(injected.message)), `${where}: the failure is logged`);
    } else {
      t.equal(outcome, injected, `${where}: rejects with the error`);
      t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)), `${where}: no marker left`);
    }
    t.equal(diffContents(readAll(store), want), undefined, `${where}: the ${committed ? 'new' : 'old'} contents`);
    store.put(b('after'), b('write'));
    want.set('after', b('write'));
    if (committed && n % 2 === 0) {
      // A leftover marker is settled by the next replace before it starts.
      const next = [{ key: b('third'), value: b('contents') }];
      await store.replaceAll(batchesOf(next));
      want.clear();
      want.set('third', b('contents'));
    }
    await store.close();
    t.equal(diffContents(await contentsOf(dir, OPTS), want), undefined, `${where}: reopened`);
    t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)), `${where}: no marker after reopening`);
  }
});

t.test('an I/O error in the middle of writing leaves the old contents usable', async (t) => {
  for (const [fn, after] of [
    ['writeSync', 3],
    ['fdatasyncSync', 1],
    ['renameSync', 2],
    ['openSync', 4],
  ] as const) {
    const dir = fastTmpDir(t);
    const { store, model } = await oldStore(t, dir);
    let calls = 0;
    const orig = fs[fn] as (...args: unknown[]) => unknown;
    const restore = patch(t, fs, fn, ((...args: unknown[]) => {
      if (++calls === after) throw ioError('ENOSPC');
      return orig(...args);
    }) as never);
    const err = await rejection(store.replaceAll(batchesOf(newRecords(200), 20)));
    restore();
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', `${fn} #${after}: the I/O error`);
    t.equal(diffContents(readAll(store), model), undefined, `${fn}: old contents`);
    store.put(b('after'), b('ok'));
    model.set('after', b('ok'));
    await store.sync();
    await store.close();
    t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, `${fn}: reopened`);
    t.same(tmpFiles(dir), [], `${fn}: nothing left behind`);
  }
});

t.test('a failure while writing the done marker: the marker goes back to writing before the new files go', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir);
  let armed = false;
  let failed = false;
  const phases: string[] = [];
  const fsyncSync = fs.fsyncSync;
  const renameSync = fs.renameSync;
  patch(t, fs, 'renameSync', ((from: fs.PathLike, to: fs.PathLike) => {
    renameSync(from, to);
    if (String(to).endsWith(REPLACE_MARKER_FILE)) phases.push(readReplaceMarker(dir)!.phase);
  }) as typeof fs.renameSync);
  patch(t, fs, 'fsyncSync', ((fd: number) => {
    // The directory fsync right after the rename of the done marker fails.
    if (armed && phases.at(-1) === 'done' && !failed) {
      failed = true;
      throw ioError('EIO');
    }
    fsyncSync(fd);
  }) as typeof fs.fsyncSync);
  const err = await rejection(store.replaceAll(batchesOf(newRecords()), { onStep: (step) => void (step === 'outputs-durable' && (armed = true)) }));
  t.equal((err as NodeJS.ErrnoException).code, 'EIO');
  t.same(phases, ['writing', 'done', 'writing'], 'the marker was rewritten as writing');
  t.equal(diffContents(readAll(store), model), undefined, 'old contents');
  t.notOk(fs.existsSync(path.join(dir, REPLACE_MARKER_FILE)));
});

t.test('a failed replace whose cleanup fails too: writes are refused, and reopening restores the old contents', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await oldStore(t, dir);
  const rmSync = fs.rmSync;
  const restore = patch(t, fs, 'rmSync', ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (String(p).endsWith('.data')) throw ioError('EACCES');
    rmSync(p, o);
  }) as typeof fs.rmSync);
  const err = await rejection(store.replaceAll(batchesOf([...newRecords(), { key: b('x'.repeat(2 << 20)), value: b('') }])));
  restore();
  t.ok(err instanceof LimitError, 'the replace failure is what rejects');
  t.equal(readReplaceMarker(dir)?.phase, 'writing', 'the marker stays');
  t.equal(diffContents(readAll(store), model), undefined, 'reads give the old contents');
  for (const fn of [() => store.put(b('a'), b('b')), () => store.delete(b('shared')), () => store.rotate()]) {
    t.throws(fn, { code: 'IO' }, 'writes are refused');
  }
  t.ok(hasCode(await rejection(store.merge()), 'IO'));
  t.ok(hasCode(await rejection(store.replaceAll(batchesOf([]))), 'IO'));
  await store.close();
  const ro = await Bitcask.open(dir, { ...OPTS, readOnly: true });
  t.equal(diffContents(readAll(ro), model), undefined, 'a read-only open ignores the partial new files');
  await ro.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'a writable open removes them');
  t.equal(readReplaceMarker(dir), undefined);
  t.equal(dataFiles(dir).length, dataFiles(dir).filter((f) => fs.statSync(path.join(dir, f)).size >= 0).length);
});

t.test('after the commit, failures to close or remove old files are logged and the replace succeeds', async (t) => {
  const dir = fastTmpDir(t);
  const log = memoryLogger();
  const { store } = await oldStore(t, dir, { logger: log });
  const closeSync = fs.closeSync;
  const rmSync = fs.rmSync;
  let committed = false;
  patch(t, fs, 'closeSync', ((fd: number) => {
    closeSync(fd);
    if (committed) throw ioError('EIO');
  }) as typeof fs.closeSync);
  patch(t, fs, 'rmSync', ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (committed && String(p).endsWith('.hint.tmp')) throw ioError('EACCES');
    rmSync(p, o);
  }) as typeof fs.rmSync);
  const n = await store.replaceAll(batchesOf(newRecords()), { onStep: (step) => void (step === 'committed' && (committed = true)) });
  t.equal(n, contentsOfRecords(newRecords()).size);
  const warns = log.lines.filter((l) => l.startsWith('warn:'));
  t.ok(warns.some((l) => l.includes('closing') && l.includes('failed')), 'a failed close is logged');
  t.ok(warns.some((l) => l.includes('hint of a replaced file')), 'a failed hint removal is logged');
  t.ok(warns.some((l) => l.includes('removing the old files failed')), 'the failed cleanup is logged');
  committed = false;
  t.equal(readReplaceMarker(dir)?.phase, 'done', 'the marker stays for the next open');
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), contentsOfRecords(newRecords())), undefined);
  t.equal(readReplaceMarker(dir), undefined);
});

// ---- the marker ----

t.test('a read-only open with a marker presents what a writable open would, and deletes nothing', async (t) => {
  const dir = fastTmpDir(t);
  const w = await Bitcask.open(dir, OPTS);
  for (let i = 0; i < 30; i++) w.put(b(`a${i}`), value(i, 30));
  w.rotate();
  for (let i = 0; i < 30; i++) w.put(b(`b${i}`), value(i, 30));
  await w.close();
  const files = dataFiles(dir);
  const from = Number(files.find((f) => readAllKeysOf(dir, f).some((k) => k.startsWith('b')))!.slice(0, 10));
  for (const [phase, prefix] of [
    ['writing', 'a'],
    ['done', 'b'],
  ] as const) {
    writeReplaceMarker(dir, { from, phase });
    const digest = dirDigest(dir);
    const ro = await Bitcask.open(dir, { ...OPTS, readOnly: true });
    const keys = [...ro.keys()].map(s);
    t.ok(keys.length > 0 && keys.every((k) => k.startsWith(prefix)), `${phase}: only the ${prefix} keys`);
    await ro.close();
    t.same(dirDigest(dir), digest, `${phase}: nothing changed`);
  }
  fs.rmSync(path.join(dir, REPLACE_MARKER_FILE));
});

/** Keys in one data file (it is small), by opening a copy holding just that file. */
function readAllKeysOf(dir: string, file: string): string[] {
  const data = fs.readFileSync(path.join(dir, file));
  const keys: string[] = [];
  let p = 0;
  while (p < data.length) {
    const k = data.readUInt32LE(p + 13);
    const v = data.readUInt32LE(p + 17);
    keys.push(data.toString('latin1', p + 21, p + 21 + k));
    p += 21 + k + v;
  }
  return keys;
}

t.test('a malformed marker refuses to open', async (t) => {
  for (const text of ['not json', '{"from":-1,"phase":"done"}', '{"from":1.5,"phase":"done"}', '{"from":2,"phase":"maybe"}', 'null', '"x"']) {
    const dir = fastTmpDir(t);
    fs.writeFileSync(path.join(dir, REPLACE_MARKER_FILE), text);
    for (const readOnly of [false, true]) {
      const err = await rejection(Bitcask.open(dir, { ...OPTS, readOnly }));
      t.ok(err instanceof CorruptionError, `${text} (readOnly=${readOnly}): CorruptionError`);
    }
  }
});

t.test('a writable open settles a writing marker: the partial new files go', async (t) => {
  const dir = fastTmpDir(t);
  const w = await Bitcask.open(dir, OPTS);
  w.put(b('old'), b('1'));
  await w.close();
  const from = Number(dataFiles(dir).at(-1)!.slice(0, 10)) + 1;
  const id = String(from).padStart(10, '0');
  fs.writeFileSync(path.join(dir, `${id}.data`), Buffer.from('partial garbage'));
  fs.writeFileSync(path.join(dir, `${id}.hint`), Buffer.from('partial hint'));
  writeReplaceMarker(dir, { from, phase: 'writing' });
  const store = await open(t, dir);
  t.same([...store.keys()].map(s), ['old']);
  t.notOk(fs.existsSync(path.join(dir, `${id}.data`)));
  t.notOk(fs.existsSync(path.join(dir, `${id}.hint`)));
  t.equal(readReplaceMarker(dir), undefined);
});

t.test('while the store closes behind a running merge, views and replaces are refused; a second replace waits for none', async (t) => {
  const dir = fastTmpDir(t);
  const { store } = await oldStore(t, dir);
  const view = store.openView();
  const run = store.replaceAll(batchesOf(newRecords()));
  for (let i = 0; i < 100 && store.get(b('old-1')) !== undefined; i++) await nextTurn();
  // Switched, waiting for the view: writes go on, but another replace is BUSY.
  store.put(b('w'), b('1'));
  t.ok(hasCode(await rejection(store.replaceAll(batchesOf([]))), 'BUSY'), 'a second replace is BUSY until the first resolves');
  view.close();
  await run;
  store.rotate();
  const merge = store.merge({ yieldEveryBytes: 64 });
  const closing = store.close();
  t.throws(() => store.openView(), { code: 'CLOSED' }, 'no view while closing');
  t.ok(hasCode(await rejection(store.replaceAll(batchesOf([]))), 'CLOSED'), 'no replace while closing');
  await rejection(merge);
  await closing;
});
