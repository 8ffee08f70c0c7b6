/**
 * Crash tests of the Bitcask engine: torn and corrupt tails, corruption of older files,
 * a merge interrupted at every step (as a copy of the directory taken at that step, and
 * as a fault injected into the live store), and the two faults of the Go original that
 * must not come back (empty values vanishing, deletes resurrected).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask, type BitcaskOptions, type MergeStep } from '../../../src/core/bitcask/index.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import {
  b,
  contentsOf,
  copyStoreDir,
  dataFiles,
  diffContents,
  dirDigest,
  fastTmpDir,
  printable,
  readAll,
  tmpFiles,
} from '../../helpers/bitcask.js';

/** A write whose place in the newest data file is known. */
interface Placed {
  key: string;
  /** undefined for a delete (tombstone). */
  value: Buffer | undefined;
  offset: number;
  end: number;
}

/** Applies writes to a store and a model, recording where each lands in the (fresh) active file. */
class Recorder {
  readonly model = new Map<string, Buffer>();
  readonly placed: Placed[] = [];
  private pos = 0;

  constructor(readonly store: Bitcask) {}

  /** Call right after a rotation: offsets restart at 0 in the new active file. */
  resetOffsets(): void {
    this.placed.length = 0;
    this.pos = 0;
  }

  put(key: string, value: Buffer | string): void {
    const v = typeof value === 'string' ? b(value) : value;
    this.store.put(b(key), v);
    this.model.set(key, v);
    this.place(key, v);
  }

  del(key: string): void {
    if (!this.store.delete(b(key))) throw new Error(`test bug: ${JSON.stringify(key)} did not exist`);
    this.model.delete(key);
    this.place(key, undefined);
  }

  private place(key: string, value: Buffer | undefined): void {
    const size = recordSize(Buffer.byteLength(key, 'latin1'), value?.length ?? 0);
    this.placed.push({ key, value, offset: this.pos, end: this.pos + size });
    this.pos += size;
  }
}

/** Replays the placed writes that end at or before `cut` on top of `baseline`. */
function expectedAtCut(baseline: Map<string, Buffer>, placed: Placed[], cut: number): Map<string, Buffer> {
  const m = new Map(baseline);
  for (const p of placed) {
    if (p.end > cut) break;
    if (p.value === undefined) m.delete(p.key);
    else m.set(p.key, p.value);
  }
  return m;
}

function value(tag: number, size: number): Buffer {
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = (tag * 131 + i * 7) & 0xff;
  return v;
}

const OPTS: BitcaskOptions = { maxFileSize: 64 * 1024, sync: 'none', clock: manualClock(1_700_000_000_000) };

/**
 * A closed store whose older files hold 40 keys (some overwritten, some deleted), and
 * whose newest file holds `placed`: the last three are an empty value, a delete of an
 * old key, and a 150-byte value under the empty key.
 */
async function buildNewestFile(dir: string): Promise<{ baseline: Map<string, Buffer>; placed: Placed[]; newest: string }> {
  const store = await Bitcask.open(dir, OPTS);
  const rec = new Recorder(store);
  for (let i = 0; i < 40; i++) rec.put(`old-${i}`, value(i, 10 + i * 3));
  store.rotate();
  for (let i = 0; i < 40; i += 4) rec.put(`old-${i}`, value(100 + i, 5));
  for (let i = 1; i < 40; i += 6) rec.del(`old-${i}`);
  store.rotate();
  const baseline = new Map(rec.model);
  rec.resetOffsets();
  rec.put('new-a', value(200, 64));
  rec.put('old-2', value(201, 33));
  rec.del('old-3');
  rec.put('new-b', Buffer.alloc(0));
  rec.put('\x00\xff', value(202, 17));
  rec.put('new-c', value(203, 90));
  // The last three records.
  rec.put('empty', Buffer.alloc(0));
  rec.del('old-5');
  rec.put('', value(204, 150));
  await store.close();
  const newest = dataFiles(dir).at(-1)!;
  const size = fs.statSync(path.join(dir, newest)).size;
  if (size !== rec.placed.at(-1)!.end) throw new Error(`test bug: newest file has ${size} bytes, expected ${rec.placed.at(-1)!.end}`);
  return { baseline, placed: [...rec.placed], newest };
}

t.test('torn tail: every cut within the last three records opens without the torn record', async (t) => {
  const root = fastTmpDir(t, 'bitcask-torn-');
  const src = path.join(root, 'src');
  const { baseline, placed, newest } = await buildNewestFile(src);
  const hintName = newest.replace(/\.data$/, '.hint');
  t.ok(fs.existsSync(path.join(src, hintName)), 'a clean close wrote a hint for the newest file');
  const fileSize = placed.at(-1)!.end;
  const firstCut = placed.at(-3)!.offset;
  const staleHintCuts = new Set([firstCut, firstCut + 1, fileSize - 1]);
  let checked = 0;
  for (let cut = firstCut; cut <= fileSize; cut++) {
    for (const keepHint of staleHintCuts.has(cut) ? [false, true] : [false]) {
      const dir = path.join(root, `cut-${cut}${keepHint ? '-hint' : ''}`);
      copyStoreDir(src, dir);
      const file = path.join(dir, newest);
      fs.truncateSync(file, cut);
      if (!keepHint || cut === fileSize) fs.rmSync(path.join(dir, hintName));
      const expected = expectedAtCut(baseline, placed, cut);
      const torn = placed.find((p) => p.offset < cut && p.end > cut);
      const what = `cut at ${cut}${keepHint ? ' with the stale hint' : ''}`;

      const log = memoryLogger();
      const store = await Bitcask.open(dir, { ...OPTS, logger: log });
      const diff = diffContents(readAll(store), expected);
      if (diff) t.fail(`${what}: ${diff}`);
      const cutLines = log.lines.filter((l) => l.startsWith('warn:') && l.includes('torn tail'));
      if (torn) {
        t.equal(cutLines.length, 1, `${what}: one warn line reports the cut`);
        t.match(cutLines[0] ?? '', new RegExp(`${newest}.*offset ${torn.offset}\\b`), `${what}: names file and offset`);
        t.equal(fs.statSync(file).size, torn.offset, `${what}: torn bytes removed`);
      } else if (cutLines.length !== 0) {
        t.fail(`${what}: nothing torn, yet ${cutLines.join(' | ')}`);
      }
      if (keepHint && cut < fileSize) t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes(hintName)), `${what}: stale hint reported`);
      await store.close();

      const log2 = memoryLogger();
      const again = await Bitcask.open(dir, { ...OPTS, logger: log2 });
      const diff2 = diffContents(readAll(again), expected);
      if (diff2) t.fail(`${what}, second open: ${diff2}`);
      if (log2.lines.length !== 0) t.fail(`${what}, second open logged: ${log2.lines.join(' | ')}`);
      // Appends after a recovered cut land right after the last whole record.
      again.put(b('after-cut'), b('x'));
      await again.close();
      expected.set('after-cut', b('x'));
      const diff3 = diffContents(await contentsOf(dir, OPTS), expected);
      if (diff3) t.fail(`${what}, after a write: ${diff3}`);
      fs.rmSync(dir, { recursive: true });
      checked++;
    }
  }
  t.equal(checked, fileSize - firstCut + 1 + staleHintCuts.size, 'every cut was checked');
});

t.test('torn tail inside a record larger than the scan buffer', async (t) => {
  const root = fastTmpDir(t, 'bitcask-torn-big-');
  const src = path.join(root, 'src');
  const store = await Bitcask.open(src, { ...OPTS, maxFileSize: 8 << 20 });
  const rec = new Recorder(store);
  for (let i = 0; i < 10; i++) rec.put(`k${i}`, value(i, 100));
  const big = value(77, 1_600_000);
  rec.put('big', big);
  rec.put('last', value(78, 30));
  await store.close();
  const newest = dataFiles(src).at(-1)!;
  const bigRec = rec.placed.at(-2)!;
  const cuts = [bigRec.offset + 10, bigRec.offset + 30, bigRec.offset + 1_048_576, bigRec.end - 1, bigRec.end, bigRec.end + 5, rec.placed.at(-1)!.end];
  for (const cut of cuts) {
    const dir = path.join(root, `cut-${cut}`);
    copyStoreDir(src, dir);
    fs.rmSync(path.join(dir, newest.replace(/\.data$/, '.hint')));
    fs.truncateSync(path.join(dir, newest), cut);
    const log = memoryLogger();
    const got = await contentsOf(dir, { ...OPTS, logger: log });
    t.same(printable(got), printable(expectedAtCut(new Map(), rec.placed, cut)), `cut at ${cut}`);
    const tornAt = rec.placed.find((p) => p.offset < cut && p.end > cut);
    t.equal(log.lines.some((l) => l.includes('torn tail')), tornAt !== undefined, `cut at ${cut}: warn line iff a record is torn`);
  }
});

/** A copy of store `src` in `dir` without the hint of file `newest`, whose byte `at` (of `original`) has bit `bit` flipped. */
function flippedCopy(src: string, dir: string, newest: string, original: Buffer, at: number, bit: number): { dir: string; file: string; damaged: Buffer } {
  copyStoreDir(src, dir);
  fs.rmSync(path.join(dir, newest.replace(/\.data$/, '.hint')));
  const file = path.join(dir, newest);
  const damaged = Buffer.from(original);
  damaged[at]! ^= 1 << bit;
  fs.writeFileSync(file, damaged);
  return { dir, file, damaged };
}

t.test('a corrupt record followed by valid ones in the newest file refuses to open and changes nothing', async (t) => {
  const root = fastTmpDir(t, 'bitcask-corrupt-mid-');
  const src = path.join(root, 'src');
  const { placed, newest } = await buildNewestFile(src);
  const target = placed[3]!; // 'new-b' with an empty value, followed by five more records
  const original = fs.readFileSync(path.join(src, newest));
  for (let j = 0; j < target.end - target.offset; j++) {
    const { dir, file } = flippedCopy(src, path.join(root, `flip-${j}`), newest, original, target.offset + j, j % 8);
    const before = dirDigest(dir);
    for (const readOnly of [false, true]) {
      const err = await Bitcask.open(dir, { ...OPTS, readOnly }).then(
        async (s) => {
          await s.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      if (!(err instanceof CorruptionError) || err.file !== file || err.offset !== target.offset || !/followed by a valid record at offset \d+/.test(err.message)) {
        t.fail(`flip in byte ${j}, readOnly=${readOnly}: expected a CorruptionError at ${file}:${target.offset}, got ${String(err)}`);
      }
    }
    t.same(dirDigest(dir), before, `flip in byte ${j}: nothing changed`);
    fs.rmSync(dir, { recursive: true });
  }
});

t.test('a corrupt last record of the newest file is cut and kept aside', async (t) => {
  const root = fastTmpDir(t, 'bitcask-corrupt-tail-');
  const src = path.join(root, 'src');
  const { baseline, placed, newest } = await buildNewestFile(src);
  const target = placed.at(-1)!; // a 150-byte value under the empty key
  const original = fs.readFileSync(path.join(src, newest));
  const expected = expectedAtCut(baseline, placed, target.offset);
  for (let j = 0; j < target.end - target.offset; j += 7) {
    const { dir, file, damaged } = flippedCopy(src, path.join(root, `flip-${j}`), newest, original, target.offset + j, j % 8);
    const log = memoryLogger();
    const store = await Bitcask.open(dir, { ...OPTS, logger: log });
    const diff = diffContents(readAll(store), expected);
    if (diff) t.fail(`flip in byte ${j}: ${diff}`);
    const aside = `${file}.${target.offset}.corrupt`;
    t.ok(fs.existsSync(aside), `flip in byte ${j}: ${path.basename(aside)} exists`);
    t.ok(fs.readFileSync(aside).equals(damaged.subarray(target.offset)), `flip in byte ${j}: it holds the cut bytes`);
    t.equal(fs.statSync(file).size, target.offset, `flip in byte ${j}: data file cut at the bad record`);
    const warns = log.lines.filter((l) => l.startsWith('warn:') && l.includes(path.basename(aside)));
    t.equal(warns.length, 1, `flip in byte ${j}: a warn line names the .corrupt file`);
    t.match(store.openReport, { file, size: original.length, kept: target.offset, cut: { kind: 'corrupt' } }, `flip in byte ${j}: reported`);
    await store.close();

    const log2 = memoryLogger();
    const diff2 = diffContents(await contentsOf(dir, { ...OPTS, logger: log2 }), expected);
    if (diff2) t.fail(`flip in byte ${j}, second open: ${diff2}`);
    t.same(log2.lines, [], `flip in byte ${j}: second open is quiet`);
    fs.rmSync(dir, { recursive: true });
  }
});

/** Three sealed files written from an empty store, with the offset of every record of the first. */
async function buildThreeFiles(dir: string): Promise<{ model: Map<string, Buffer>; first: Placed[] }> {
  const store = await Bitcask.open(dir, OPTS);
  const rec = new Recorder(store);
  for (let i = 0; i < 12; i++) rec.put(`a${i}`, value(i, 20 + i));
  const first = [...rec.placed];
  store.rotate();
  for (let i = 0; i < 12; i += 3) rec.put(`a${i}`, value(50 + i, 8));
  rec.del('a1');
  store.rotate();
  rec.put('c', value(90, 12));
  await store.close();
  return { model: rec.model, first };
}

t.test('corruption in an older file without a hint refuses to open and changes nothing', async (t) => {
  const dir = fastTmpDir(t, 'bitcask-corrupt-old-');
  const { first } = await buildThreeFiles(dir);
  const oldest = dataFiles(dir)[0]!;
  fs.rmSync(path.join(dir, oldest.replace(/\.data$/, '.hint')));
  const bad = first[5]!;
  const fd = fs.openSync(path.join(dir, oldest), 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, bad.offset + 23);
  byte[0]! ^= 0x10;
  fs.writeSync(fd, byte, 0, 1, bad.offset + 23);
  fs.closeSync(fd);
  const before = dirDigest(dir);

  for (const readOnly of [false, true]) {
    const err = await Bitcask.open(dir, { ...OPTS, readOnly }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof CorruptionError, `readOnly=${readOnly}: rejects with a CorruptionError`);
    t.equal((err as CorruptionError).code, 'CORRUPT');
    t.equal((err as CorruptionError).file, path.join(dir, oldest), 'error names the file');
    t.equal((err as CorruptionError).offset, bad.offset, 'error names the offset of the bad record');
    t.same(dirDigest(dir), before, `readOnly=${readOnly}: directory untouched, no lock left behind`);
  }
});

t.test('corruption in an older file with an intact hint surfaces on read', async (t) => {
  const dir = fastTmpDir(t, 'bitcask-corrupt-old-hint-');
  const { model, first } = await buildThreeFiles(dir);
  const oldest = dataFiles(dir)[0]!;
  const bad = first.find((p) => p.key === 'a5')!;
  const data = fs.readFileSync(path.join(dir, oldest));
  data[bad.offset + 25]! ^= 0x01;
  fs.writeFileSync(path.join(dir, oldest), data);
  const store = await Bitcask.open(dir, OPTS);
  t.teardown(() => store.close());
  const err = (() => {
    try {
      store.get(b('a5'));
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.equal((err as CorruptionError | undefined)?.code, 'CORRUPT');
  t.equal((err as CorruptionError).file, path.join(dir, oldest));
  t.equal((err as CorruptionError).offset, bad.offset);
  for (const [k, v] of model) if (k !== 'a5') t.same(store.get(b(k)), v, `${k} still reads`);
});

/**
 * Data for merge tests, in a store left open: keys set in old files and deleted or
 * overwritten (some with empty values) in later immutable files, a key deleted and set
 * again, binary and empty keys, and writes in the active file that the merge leaves alone.
 */
async function buildForMerge(dir: string, opts: BitcaskOptions = {}): Promise<{ store: Bitcask; model: Map<string, Buffer> }> {
  const store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 1024, ...opts });
  const rec = new Recorder(store);
  for (let i = 0; i < 30; i++) rec.put(`k${i}`, value(i, 40));
  rec.put('', value(31, 5));
  rec.put('\xff\x00', value(32, 9));
  store.rotate();
  for (let i = 0; i < 10; i++) rec.del(`k${i}`);
  for (let i = 10; i < 15; i++) rec.put(`k${i}`, Buffer.alloc(0));
  for (let i = 15; i < 20; i++) rec.put(`k${i}`, value(100 + i, 60));
  store.rotate();
  rec.put('k0', value(200, 7));
  rec.del('k20');
  rec.del('');
  rec.put('empty-only', Buffer.alloc(0));
  store.rotate();
  rec.del('k21');
  rec.put('k22', value(300, 11));
  rec.put('active-new', value(301, 30));
  await store.sync();
  return { store, model: rec.model };
}

t.test('a copy of the directory taken at every merge step opens to the same contents', async (t) => {
  const root = fastTmpDir(t, 'bitcask-merge-steps-');
  const dir = path.join(root, 'live');
  const { store, model } = await buildForMerge(dir);
  t.teardown(() => store.close());
  const snaps: { step: MergeStep | 'before' | 'after'; dir: string }[] = [];
  const snap = (step: MergeStep | 'before' | 'after'): void => {
    const to = path.join(root, `snap-${snaps.length}-${step}`);
    copyStoreDir(dir, to);
    snaps.push({ step, dir: to });
  };
  snap('before');
  const result = await store.merge({ onStep: (step) => snap(step) });
  snap('after');
  t.ok(result.inputFiles >= 4 && result.outputFiles >= 2, `a real merge (${result.inputFiles} inputs, ${result.outputFiles} outputs)`);
  const steps = snaps.map((x) => x.step);
  t.same(steps, [
    'before',
    'outputs-written',
    ...Array<MergeStep>(result.outputFiles).fill('output-renamed'),
    'outputs-durable',
    'keydir-swapped',
    ...Array<MergeStep>(result.inputFiles).fill('input-deleted'),
    'done',
    'after',
  ]);
  t.equal(diffContents(readAll(store), model), undefined, 'live store unchanged by the merge');
  for (const { step, dir: d } of snaps) {
    const s1 = await Bitcask.open(d, OPTS);
    t.equal(diffContents(readAll(s1), model), undefined, `${path.basename(d)}: opens to the same contents`);
    const active = dataFiles(d).at(-1)!.replace(/\.data$/, '.hint.tmp');
    t.same(
      tmpFiles(d).filter((n) => n !== active),
      [],
      `${path.basename(d)}: leftovers of the merge (${step}) removed at open`,
    );
    await s1.merge();
    t.equal(diffContents(readAll(s1), model), undefined, `${path.basename(d)}: merging the recovered directory keeps the contents`);
    await s1.close();
    t.equal(diffContents(await contentsOf(d, OPTS), model), undefined, `${path.basename(d)}: and so does reopening it`);
  }
});

t.test('a merge that fails at any step leaves the live store whole', async (t) => {
  const root = fastTmpDir(t, 'bitcask-merge-fail-');
  // Count the steps of this merge once.
  let total = 0;
  {
    const { store } = await buildForMerge(path.join(root, 'count'));
    await store.merge({ onStep: () => void total++ });
    await store.close();
  }
  t.ok(total >= 10, `${total} steps`);
  for (let n = 0; n < total; n++) {
    const dir = path.join(root, `fail-${n}`);
    const { store, model } = await buildForMerge(dir);
    const injected = new Error(`injected at step ${n}`);
    let calls = 0;
    let failedAt: MergeStep | undefined;
    await t.rejects(
      store.merge({
        onStep: (step) => {
          if (calls++ === n) {
            failedAt = step;
            throw injected;
          }
        },
      }),
      injected,
      `merge rejects when step #${n} fails`,
    );
    const where = `failure at step #${n} (${failedAt})`;
    t.equal(diffContents(readAll(store), model), undefined, `${where}: contents unchanged`);
    // The store keeps working: writes, reads, even another merge.
    for (let i = 0; i < 40; i++) {
      const k = `after-${i % 13}`;
      const v = value(500 + i, 20 + i);
      store.put(b(k), v);
      model.set(k, v);
    }
    store.delete(b('k25'));
    model.delete('k25');
    store.put(b('k11'), Buffer.alloc(0));
    model.set('k11', Buffer.alloc(0));
    await store.sync();
    t.equal(diffContents(readAll(store), model), undefined, `${where}: writes after the failure read back`);
    if (n % 2 === 1) await store.merge();
    await store.close();
    t.same(tmpFiles(dir), [], `${where}: no temporary files after close`);
    t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, `${where}: reopened contents`);
    t.same(tmpFiles(dir), [], `${where}: none after reopening either`);
  }
});

t.test('a merge failing after its first output is in place leaves the files the store opened since alone', async (t) => {
  // The failed merge cleans up its outputs; it must not close descriptors it no longer owns
  // (here: the new active file that a rotation during the step opened).
  const dir = fastTmpDir(t, 'bitcask-merge-fd-');
  const { store, model } = await buildForMerge(dir);
  const injected = new Error('injected');
  await t.rejects(
    store.merge({
      onStep: async (step) => {
        if (step !== 'output-renamed') return;
        await Promise.resolve();
        store.put(b('during'), value(600, 2000));
        store.rotate();
        model.set('during', value(600, 2000));
        throw injected;
      },
    }),
    injected,
  );
  for (let i = 0; i < 20; i++) {
    store.put(b(`post-${i}`), value(700 + i, 50));
    model.set(`post-${i}`, value(700 + i, 50));
  }
  await store.sync();
  t.equal(diffContents(readAll(store), model), undefined, 'reads after the failure');
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'contents after reopening');
});

t.test('empty values survive reopen and merge', async (t) => {
  const dir = fastTmpDir(t, 'bitcask-empty-');
  let store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 256 });
  store.put(b('e1'), Buffer.alloc(0));
  store.put(b(''), Buffer.alloc(0));
  store.put(b('e2'), b('not yet empty'));
  store.rotate();
  store.put(b('e2'), Buffer.alloc(0));
  for (let i = 0; i < 20; i++) store.put(b(`fill-${i}`), value(i, 30));
  const expectEmpty = async (what: string): Promise<void> => {
    for (const k of ['e1', '', 'e2']) {
      t.same(store.get(b(k)), Buffer.alloc(0), `${what}: ${JSON.stringify(k)} is an empty value`);
      t.ok(store.has(b(k)), `${what}: has(${JSON.stringify(k)})`);
    }
  };
  await expectEmpty('written');
  await store.close();
  store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 256 });
  await expectEmpty('reopened from hints');
  await store.close();
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.hint')) fs.rmSync(path.join(dir, n));
  store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 256 });
  await expectEmpty('reopened by scanning');
  store.rotate();
  await store.merge();
  await expectEmpty('merged');
  await store.close();
  store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 256 });
  await expectEmpty('merged and reopened');
  await store.close();
});

t.test('a delete is never resurrected by reopen or merge', async (t) => {
  const dir = fastTmpDir(t, 'bitcask-resurrect-');
  const opts = { ...OPTS, maxFileSize: 512 };
  let store = await Bitcask.open(dir, opts);
  for (let i = 0; i < 10; i++) store.put(b(`d${i}`), value(i, 30));
  store.put(b('keep'), b('kept'));
  store.rotate();
  for (let i = 0; i < 10; i++) store.delete(b(`d${i}`));
  // A key deleted, set again and deleted again.
  store.put(b('d3'), b('again'));
  store.delete(b('d3'));
  const expectGone = (what: string): void => {
    for (let i = 0; i < 10; i++) {
      if (store.get(b(`d${i}`)) !== undefined || store.has(b(`d${i}`))) t.fail(`${what}: d${i} came back`);
    }
    t.same(store.get(b('keep')), b('kept'), `${what}: live key kept`);
    t.equal(store.size, 1, `${what}: one key`);
  };
  expectGone('deleted');
  await store.close();
  store = await Bitcask.open(dir, opts);
  expectGone('reopened from hints');
  await store.close();
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.hint')) fs.rmSync(path.join(dir, n));
  store = await Bitcask.open(dir, opts);
  expectGone('reopened by scanning');
  // Merge with the tombstones still in the active file, then with them sealed too.
  await store.merge();
  expectGone('merged, tombstones in the active file');
  await store.close();
  store = await Bitcask.open(dir, opts);
  expectGone('reopened after the first merge');
  store.rotate();
  await store.merge();
  expectGone('merged, tombstones sealed');
  await store.close();
  store = await Bitcask.open(dir, opts);
  expectGone('reopened after the second merge');
  await store.merge();
  await store.close();
  store = await Bitcask.open(dir, opts);
  expectGone('merged again and reopened');
  await store.close();
});

t.test('the bytes kept aside are durable before the data file is cut', async (t) => {
  const root = fastTmpDir(t, 'bitcask-corrupt-durable-');
  const dir = path.join(root, 'd');
  const { placed, newest } = await buildNewestFile(dir);
  fs.rmSync(path.join(dir, newest.replace(/\.data$/, '.hint')));
  const file = path.join(dir, newest);
  const damaged = fs.readFileSync(file);
  damaged[placed.at(-1)!.offset + 8]! ^= 0x80;
  fs.writeFileSync(file, damaged);
  const aside = `${file}.${placed.at(-1)!.offset}.corrupt`;

  // Record, in order, fsyncs of the aside file and of the directory, and the cut.
  const events: string[] = [];
  const paths = new Map<number, string>();
  const orig = { openSync: fs.openSync, fsyncSync: fs.fsyncSync, fdatasyncSync: fs.fdatasyncSync, ftruncateSync: fs.ftruncateSync };
  const name = (fd: number): string => {
    const p = paths.get(fd);
    return p === aside ? 'aside' : p === file ? 'data' : p === dir ? 'dir' : 'other';
  };
  fs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
    const fd = (orig.openSync as (...a: unknown[]) => number)(p, ...rest);
    paths.set(fd, String(p));
    return fd;
  }) as typeof fs.openSync;
  fs.fsyncSync = (fd: number) => {
    events.push(`fsync ${name(fd)}`);
    orig.fsyncSync(fd);
  };
  fs.fdatasyncSync = (fd: number) => {
    events.push(`fsync ${name(fd)}`);
    orig.fdatasyncSync(fd);
  };
  fs.ftruncateSync = ((fd: number, len?: number) => {
    events.push(`cut ${name(fd)}`);
    orig.ftruncateSync(fd, len);
  }) as typeof fs.ftruncateSync;
  let store: Bitcask;
  try {
    store = await Bitcask.open(dir, OPTS);
  } finally {
    Object.assign(fs, orig);
  }
  await store.close();
  t.ok(fs.existsSync(aside));
  const cut = events.indexOf('cut data');
  t.ok(cut >= 0, `the data file was cut (${events.join(', ')})`);
  t.ok(events.slice(0, cut).includes('fsync aside'), 'the aside file was fsynced before the cut');
  t.ok(events.slice(events.indexOf('fsync aside'), cut).includes('fsync dir'), 'and its directory entry too');
});
