/**
 * Tests of what a Bitcask store says about its durability (store.ts): `durablePosition`
 * (the active file and the bytes of it fsynced), `openReport` (what the open found in the
 * active file and cut), `lostSince` (whether durable bytes are gone since a position was
 * recorded), and files shorter than their intact hints.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, type BitcaskOptions } from '../../../src/core/bitcask/index.js';
import { HintWriter } from '../../../src/core/bitcask/hint.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, dataFiles, dirDigest, nextTurn, readAll } from '../../helpers/bitcask.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const OPTS: BitcaskOptions = { clock: manualClock(1_700_000_000_000), sync: 'none' };

async function open(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<Bitcask> {
  const store = await Bitcask.open(dir, { ...OPTS, ...opts });
  t.teardown(() => store.close().catch(() => undefined));
  return store;
}

/** Rejects with the CorruptionError `Bitcask.open` throws, or fails. */
async function openFails(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<CorruptionError> {
  const err = await Bitcask.open(dir, { ...OPTS, ...opts }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  if (!(err instanceof CorruptionError)) throw new Error(`expected a CorruptionError, got ${String(err)}`);
  return err;
}

const put = (store: Bitcask, key: string, size: number): void => store.put(b(key), Buffer.alloc(size, key.charCodeAt(0)));

t.test('durablePosition follows fsyncs, rotations, replaces, close and open', async (t) => {
  const dir = tmpDir(t);
  let store = await open(t, dir);
  t.same(store.durablePosition(), { file: '0000000001.data', size: 0 }, 'a new store: its empty active file');
  put(store, 'a', 100);
  t.same(store.durablePosition(), { file: '0000000001.data', size: 0 }, 'a write alone is not durable');
  await store.sync();
  const one = recordSize(1, 100);
  t.same(store.durablePosition(), { file: '0000000001.data', size: one }, 'after sync');
  put(store, 'b', 50);
  store.rotate();
  t.same(store.durablePosition(), { file: '0000000002.data', size: 0 }, 'a rotation seals the file durably and starts the next');
  put(store, 'c', 10);
  await store.close();
  t.equal(store.durablePosition(), undefined, 'closed: none');
  store = await open(t, dir);
  t.same(store.durablePosition(), { file: '0000000002.data', size: recordSize(1, 10) }, 'the open fsyncs what it kept');
  await store.replaceAll(
    (async function* () {
      yield [{ key: b('x'), value: b('y') }];
    })(),
  );
  const active = dataFiles(dir).at(-1)!;
  t.same(store.durablePosition(), { file: active, size: fs.statSync(path.join(dir, active)).size }, 'a replace: its new active file');
  const ro = await open(t, dir, { readOnly: true });
  t.equal(ro.durablePosition(), undefined, 'read-only: none');
  t.equal(ro.openReport, undefined);
  t.equal(ro.lostSince({ file: active, size: 1 }), undefined);
});

t.test('an fsync in flight when the file is rotated does not move the new file\'s position', async (t) => {
  const store = await open(t, tmpDir(t));
  put(store, 'a', 100);
  await nextTurn();
  const synced = store.sync();
  store.rotate();
  await synced;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(store.durablePosition(), { file: '0000000002.data', size: 0 });
});

/** A closed store: three sealed files and an active one holding `a`…`e`; returns the active file's path and record ends. */
async function fourFiles(t: Test, dir: string): Promise<{ active: string; ends: number[] }> {
  const store = await open(t, dir);
  for (let i = 0; i < 3; i++) {
    put(store, `s${i}`, 40);
    store.rotate();
  }
  const ends: number[] = [];
  let end = 0;
  for (const k of ['a', 'b', 'c', 'd', 'e']) {
    put(store, k, 30);
    ends.push((end += recordSize(1, 30)));
  }
  await store.close();
  return { active: path.join(dir, dataFiles(dir).at(-1)!), ends };
}

t.test('openReport and lostSince after damage to the active file', async (t) => {
  t.test('intact: nothing cut, nothing lost', async (t) => {
    const dir = tmpDir(t);
    const { active, ends } = await fourFiles(t, dir);
    const store = await open(t, dir);
    t.same(store.openReport, { file: active, size: ends.at(-1), kept: ends.at(-1) });
    t.equal(store.lostSince({ file: path.basename(active), size: ends.at(-1)! }), undefined);
    t.equal(store.lostSince(), undefined);
  });

  t.test('a torn last record below the recorded size is a loss', async (t) => {
    const dir = tmpDir(t);
    const { active, ends } = await fourFiles(t, dir);
    fs.rmSync(active.replace(/\.data$/, '.hint'));
    fs.truncateSync(active, ends.at(-1)! - 5);
    const store = await open(t, dir);
    t.match(store.openReport, { file: active, size: ends.at(-1)! - 5, kept: ends.at(-2), cut: { kind: 'torn', reason: /cut short/ } });
    t.same(store.lostSince({ file: path.basename(active), size: ends.at(-1)! }), { file: active, offset: ends.at(-2), bytes: ends.at(-1)! - ends.at(-2)!, reason: 'record cut short by end of file' });
    t.equal(store.lostSince({ file: path.basename(active), size: ends.at(-2)! }), undefined, 'a cut beyond the recorded size is no loss');
    t.equal(store.lostSince(), undefined, 'nothing known durable');
  });

  t.test('a file cut at a record boundary is shorter than recorded', async (t) => {
    const dir = tmpDir(t);
    const { active, ends } = await fourFiles(t, dir);
    fs.rmSync(active.replace(/\.data$/, '.hint'));
    fs.truncateSync(active, ends[2]!);
    const store = await open(t, dir);
    t.same(store.openReport, { file: active, size: ends[2], kept: ends[2] }, 'nothing to cut');
    t.same(store.lostSince({ file: path.basename(active), size: ends.at(-1)! }), {
      file: active,
      offset: ends[2],
      bytes: ends.at(-1)! - ends[2]!,
      reason: `the file holds only ${ends[2]} bytes`,
    });
  });

  t.test('an active file shorter than its intact hint lost durable bytes, with or without a position', async (t) => {
    const dir = tmpDir(t);
    const { active, ends } = await fourFiles(t, dir);
    fs.truncateSync(active, ends[3]! + 7);
    const log = memoryLogger();
    const store = await open(t, dir, { logger: log });
    t.match(store.openReport, { file: active, kept: ends[3], hinted: ends.at(-1), cut: { kind: 'torn' } });
    t.same(store.lostSince(), { file: active, offset: ends[3], bytes: ends.at(-1)! - ends[3]!, reason: 'record cut short by end of file' });
    t.match(log.lines, [/ignoring hint .*describes/, /cut torn tail/]);
    t.same(readAll(store).size, 7, 'the three sealed keys and a, b, c, d');
  });

  t.test('a hint listing other records is only a stale hint', async (t) => {
    const dir = tmpDir(t);
    const { active, ends } = await fourFiles(t, dir);
    const hint = new HintWriter(active.replace(/\.data$/, '.hint'));
    hint.add(false, 0, b('zz'), 0, recordSize(2, 30));
    hint.finish(ends.at(-1)! + 100);
    const store = await open(t, dir);
    t.same(store.openReport, { file: active, size: ends.at(-1), kept: ends.at(-1) }, 'no hinted size');
    t.equal(store.lostSince(), undefined);
  });

  t.test('a new store reports its new empty active file', async (t) => {
    const dir = tmpDir(t);
    const store = await open(t, dir);
    t.same(store.openReport, { file: path.join(dir, '0000000001.data'), size: 0, kept: 0 });
  });
});

t.test('lostSince a position in a file that is no longer the active one', async (t) => {
  t.test('a sealed file shorter than recorded', async (t) => {
    const dir = tmpDir(t);
    await fourFiles(t, dir);
    const [first] = dataFiles(dir);
    const size = fs.statSync(path.join(dir, first!)).size;
    fs.rmSync(path.join(dir, first!.replace(/\.data$/, '.hint')));
    const store = await open(t, dir);
    t.equal(store.lostSince({ file: first!, size }), undefined, 'as long as recorded');
    t.same(store.lostSince({ file: first!, size: size + 10 }), { file: path.join(dir, first!), offset: size, bytes: 10, reason: `the file holds only ${size} bytes` });
  });

  t.test('a missing file: lost, unless a merge or a replace took its place', async (t) => {
    const dir = tmpDir(t);
    await fourFiles(t, dir);
    fs.rmSync(path.join(dir, '0000000002.data'));
    fs.rmSync(path.join(dir, '0000000002.hint'));
    const store = await open(t, dir);
    t.same(store.lostSince({ file: '0000000002.data', size: 9 }), { file: path.join(dir, '0000000002.data'), offset: 0, bytes: 9, reason: 'the file is missing' });
    t.equal(store.lostSince({ file: '0000000002.data', size: 0 }), undefined, 'no durable bytes, no loss');
    t.equal(store.lostSince({ file: '0000000000.data', size: 9 }), undefined, 'every file is numbered after it: a replace took its place');
    t.equal(store.lostSince({ file: 'not-a-data-file', size: 9 }), undefined, 'not a data file name: nothing to compare');
    await store.merge();
    t.ok(dataFiles(dir).some((f) => /^0000000003\.\d{6}\.data$/.test(f)), 'the merge wrote (3, n)');
    t.equal(store.lostSince({ file: '0000000001.data', size: 9 }), undefined, 'merged into (3, n)');
    await store.replaceAll(
      (async function* () {
        yield [{ key: b('x'), value: b('y') }];
      })(),
    );
    t.equal(store.lostSince({ file: '0000000004.data', size: 9 }), undefined, 'every file now is numbered after it: replaced');
  });

  t.test('store files all gone: lost', async (t) => {
    const dir = tmpDir(t);
    await fourFiles(t, dir);
    for (const f of fs.readdirSync(dir)) if (/\.(data|hint)$/.test(f)) fs.rmSync(path.join(dir, f));
    const store = await open(t, dir);
    t.same(store.lostSince({ file: '0000000004.data', size: 150 }), { file: path.join(dir, '0000000004.data'), offset: 0, bytes: 150, reason: 'the file is missing' });
  });
});

t.test('a sealed file shorter than its intact hint refuses to open, read-only too, and changes nothing', async (t) => {
  const dir = tmpDir(t);
  await fourFiles(t, dir);
  const [first, second] = dataFiles(dir);
  const file = path.join(dir, second!);
  const size = fs.statSync(file).size;
  // A sealed file holding one record, cut at the record boundary: empty, but its hint lists the record.
  fs.truncateSync(file, 0);
  const before = dirDigest(dir);
  for (const readOnly of [false, true]) {
    const err = await openFails(t, dir, { readOnly });
    t.equal(err.file, file, `readOnly=${readOnly}: names the file`);
    t.equal(err.offset, 0, 'and where it ends');
    t.match(err.message, `the file ends at offset 0, but its intact hint describes ${size} bytes`);
  }
  t.same(dirDigest(dir), before, 'nothing changed');
  t.ok(first, 'the first file is intact');
});

t.test('the newest file, read-only, shorter than its intact hint refuses to open', async (t) => {
  const dir = tmpDir(t);
  const { active, ends } = await fourFiles(t, dir);
  fs.truncateSync(active, ends[1]!);
  const err = await openFails(t, dir, { readOnly: true });
  t.equal(err.file, active);
  t.equal(err.offset, ends[1]);
});

t.test('read-only: a torn newest file without a hint is read up to the tear', async (t) => {
  const dir = tmpDir(t);
  const { active, ends } = await fourFiles(t, dir);
  fs.rmSync(active.replace(/\.data$/, '.hint'));
  fs.truncateSync(active, ends[1]! + 3);
  const log = memoryLogger();
  t.equal((await contentsOf(dir, { ...OPTS, readOnly: true, logger: log })).size, 5);
  t.match(log.lines, [/ignoring 3 bytes after offset/]);
});
