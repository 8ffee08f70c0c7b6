/**
 * Tests of the online merge (merge.ts through `Bitcask.merge`): what it reports, the order
 * of its steps, writes racing it, a close during it, corrupt inputs, and the guard that
 * keeps inputs which still hold live keys.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, type BitcaskOptions, type MergeStep } from '../../../src/core/bitcask/index.js';
import { parseDataFileName } from '../../../src/core/bitcask/file-id.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { CorruptionError, hasCode } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, dataFiles, diffContents, nextTurn, readAll, tmpFiles } from '../../helpers/bitcask.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const OPTS: BitcaskOptions = { maxFileSize: 512, sync: 'none', clock: manualClock(1_700_000_000_000) };

/** A store with several immutable files full of overwritten and deleted keys; returns it and its model. */
async function filled(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<{ store: Bitcask; model: Map<string, Buffer> }> {
  const store = await Bitcask.open(dir, { ...OPTS, ...opts });
  t.teardown(() => store.close().catch(() => undefined));
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 200; i++) {
    const k = `k${i % 37}`;
    const v = Buffer.alloc(10 + (i % 23), i);
    store.put(b(k), v);
    model.set(k, v);
    if (i % 9 === 0) {
      const d = `k${(i * 7) % 37}`;
      if (store.delete(b(d))) model.delete(d);
    }
  }
  store.put(b(''), Buffer.alloc(0));
  model.set('', Buffer.alloc(0));
  store.rotate();
  store.put(b('active'), b('not merged'));
  model.set('active', b('not merged'));
  return { store, model };
}

function liveBytesOf(model: Map<string, Buffer>): number {
  let n = 0;
  for (const [k, v] of model) n += recordSize(Buffer.byteLength(k, 'latin1'), v.length);
  return n;
}

t.test('merge reports what it did, in order, and leaves only its outputs', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const inputs = dataFiles(dir).slice(0, -1);
  const activeFile = dataFiles(dir).at(-1)!;
  const statsBefore = store.stats();
  const steps: MergeStep[] = [];
  const r = await store.merge({ onStep: (s) => void steps.push(s) });
  t.equal(r.inputFiles, inputs.length, 'every immutable file is an input');
  t.equal(r.inputBytes, statsBefore.dataBytes - fs.statSync(path.join(dir, activeFile)).size);
  t.equal(r.liveKeys, model.size - 1, 'every live key but the active one copied');
  t.equal(r.outputBytes, liveBytesOf(model) - recordSize(6, 10));
  t.equal(r.reclaimedBytes, r.inputBytes - r.outputBytes);
  t.ok(r.outputFiles >= 2, `${r.outputFiles} outputs`);
  t.same(steps, [
    'outputs-written',
    ...Array<MergeStep>(r.outputFiles).fill('output-renamed'),
    'outputs-durable',
    'keydir-swapped',
    ...Array<MergeStep>(r.inputFiles).fill('input-deleted'),
    'done',
  ]);
  const after = dataFiles(dir);
  t.equal(after.length, r.outputFiles + 1);
  t.equal(after.at(-1), activeFile, 'the active file is untouched');
  const lastInput = parseDataFileName(inputs.at(-1)!)!;
  for (const name of after.slice(0, -1)) {
    const id = parseDataFileName(name)!;
    t.equal(id.major, lastInput.major, `${name} sorts right after the inputs`);
    t.ok(id.minor > 0, `${name} has a minor number`);
    t.ok(fs.existsSync(path.join(dir, name.replace(/\.data$/, '.hint'))), `${name} has a hint`);
  }
  for (const name of inputs) t.notOk(fs.existsSync(path.join(dir, name.replace(/\.data$/, '.hint'))), `hint of ${name} deleted`);
  t.same(tmpFiles(dir).filter((n) => !n.startsWith(activeFile.replace(/\.data$/, ''))), []);
  t.equal(diffContents(readAll(store), model), undefined, 'contents unchanged');
  const stats = store.stats();
  t.equal(stats.reclaimableBytes, 0, 'nothing left to reclaim');
  t.equal(stats.liveBytes, liveBytesOf(model));
  // Merging the outputs again keeps everything, with new names.
  const r2 = await store.merge();
  t.equal(r2.inputFiles, r.outputFiles);
  t.equal(r2.reclaimedBytes, 0);
  t.equal(diffContents(readAll(store), model), undefined);
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'contents after reopening');
});

t.test('merge with no immutable files changes nothing', async (t) => {
  const dir = tmpDir(t);
  const store = await Bitcask.open(dir, OPTS);
  t.teardown(() => store.close());
  store.put(b('a'), b('1'));
  store.put(b('a'), b('2'));
  const before = fs.readdirSync(dir).sort();
  const steps: MergeStep[] = [];
  const r = await store.merge({ onStep: (s) => void steps.push(s) });
  t.same(r, { inputFiles: 0, inputBytes: 0, outputFiles: 0, outputBytes: 0, liveKeys: 0, reclaimedBytes: 0 });
  t.same(steps, [], 'no steps');
  t.same(fs.readdirSync(dir).sort(), before);
  t.same(store.get(b('a')), b('2'));
});

t.test('writes made while a merge runs win over its copies', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  let settled = false;
  const merge = store.merge({ yieldEveryBytes: 1 }).finally(() => {
    settled = true;
  });
  const keys = [...model.keys()].filter((k) => k.startsWith('k')).sort();
  let i = 0;
  for (const k of keys) {
    if (i % 3 === 0) {
      store.delete(b(k));
      model.delete(k);
    } else if (i % 3 === 1) {
      const v = b(`new value ${i}`);
      store.put(b(k), v);
      model.set(k, v);
    }
    i++;
    t.same(store.get(b(k)), model.get(k), `${k} reads its newest value during the merge`);
    await nextTurn();
  }
  t.notOk(settled, 'the writes happened while the merge ran');
  const r = await merge;
  t.ok(r.liveKeys < keys.length, 'keys written during the merge were not swapped to the copies');
  t.equal(diffContents(readAll(store), model), undefined, 'contents after the merge');
  t.equal(store.stats().liveBytes, liveBytesOf(model), 'live bytes add up');
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'contents after reopening');
  const again = await Bitcask.open(dir, OPTS);
  again.rotate();
  await again.merge();
  t.equal(diffContents(readAll(again), model), undefined, 'and after merging the tombstones away');
  await again.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});

t.test('close during a long merge: the merge rejects with CLOSED and the directory reopens whole', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const filesBefore = dataFiles(dir);
  const merge = store.merge({ yieldEveryBytes: 64 });
  await nextTurn();
  await nextTurn();
  const closed = store.close();
  t.equal(store.isClosed, false, 'close waits for the merge to stop');
  await t.rejects(store.merge(), { code: 'CLOSED' }, 'no new merge once close was asked for');
  await t.rejects(merge, { code: 'CLOSED' });
  await closed;
  t.equal(store.isClosed, true);
  t.same(tmpFiles(dir), [], 'no temporary files');
  t.same(dataFiles(dir), filesBefore, 'the outputs were discarded, the inputs kept');
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'contents after reopening');
});

t.test('close requested once the outputs are written stops the merge before the swap', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const filesBefore = dataFiles(dir);
  const steps: MergeStep[] = [];
  let closed: Promise<void> | undefined;
  const merge = store.merge({
    onStep: (s) => {
      steps.push(s);
      if (s === 'outputs-written') closed = store.close();
    },
  });
  await t.rejects(merge, { code: 'CLOSED' });
  await closed;
  t.notOk(steps.includes('keydir-swapped'), `stopped before the swap (${steps.join(', ')})`);
  t.same(dataFiles(dir), filesBefore);
  t.same(tmpFiles(dir), []);
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});

t.test('a corrupt record in an input makes merge reject with CORRUPT and discard its outputs', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const files = dataFiles(dir);
  const victim = path.join(dir, files[1]!); // an immutable file, loaded from its hint
  const data = fs.readFileSync(victim);
  data[30]! ^= 0x04;
  fs.writeFileSync(victim, data);
  const err = await store.merge().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CorruptionError, 'a CorruptionError');
  t.ok(hasCode(err, 'CORRUPT'));
  t.equal((err as CorruptionError).file, victim);
  t.ok((err as CorruptionError).offset <= 30, 'offset of the bad record');
  t.same(dataFiles(dir), files, 'outputs discarded');
  t.same(tmpFiles(dir).filter((n) => !n.startsWith(files.at(-1)!.replace(/\.data$/, ''))), []);
  store.put(b('still'), b('works'));
  t.same(store.get(b('still')), b('works'));
  t.same(store.get(b('active')), model.get('active'));
});

t.test('a merge whose inputs still hold live keys keeps them', async (t) => {
  const dir = tmpDir(t);
  const log = memoryLogger();
  const { store, model } = await filled(t, dir, { logger: log });
  const inputs = dataFiles(dir).slice(0, -1);
  const steps: MergeStep[] = [];
  const r = await store.merge({
    onStep: (s) => {
      steps.push(s);
      // Pretend a record escaped the copy: an input still counts a live key after the swap.
      if (s === 'outputs-durable') store.files.find((f) => f && inputs.includes(path.basename(f.file.path)))!.liveKeys++;
    },
  });
  t.ok(r.outputFiles > 0);
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('kept its inputs')), 'logged');
  t.notOk(steps.includes('input-deleted'), 'nothing deleted');
  for (const name of inputs) t.ok(fs.existsSync(path.join(dir, name)), `${name} kept`);
  t.equal(diffContents(readAll(store), model), undefined);
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'inputs and outputs together open to the same contents');
});

t.test('files sealed while a merge runs are not among its inputs', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const inputs = dataFiles(dir).slice(0, -1);
  const merge = store.merge({ yieldEveryBytes: 64 });
  for (let i = 0; i < 30; i++) {
    const v = Buffer.alloc(100, i);
    store.put(b(`late-${i}`), v);
    model.set(`late-${i}`, v);
    if (i % 10 === 0) await nextTurn();
  }
  const r = await merge;
  t.equal(r.inputFiles, inputs.length);
  for (const name of inputs) t.notOk(fs.existsSync(path.join(dir, name)), `${name} merged away`);
  t.equal(diffContents(readAll(store), model), undefined);
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});

t.test('a failed merge whose cleanup fails too leaves only what the next open removes', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await filled(t, dir);
  const filesBefore = dataFiles(dir);
  const rmSync = fs.rmSync;
  let refused = 0;
  const patched = ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (String(p).endsWith('.tmp')) {
      refused++;
      throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
    }
    rmSync(p, o);
  }) as typeof fs.rmSync;
  const injected = new Error('injected');
  fs.rmSync = patched;
  try {
    await t.rejects(
      store.merge({
        onStep: (s) => {
          if (s === 'outputs-written') throw injected;
        },
      }),
      injected,
      'the merge reports its own failure, not the cleanup one',
    );
  } finally {
    fs.rmSync = rmSync;
  }
  t.ok(refused > 0, 'cleanup was refused');
  t.ok(tmpFiles(dir).length > 0, 'unfinished outputs left behind');
  t.equal(diffContents(readAll(store), model), undefined, 'live contents unchanged');
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'contents after reopening');
  t.same(tmpFiles(dir), [], 'the next open removed them');
  t.same(dataFiles(dir), filesBefore);
});
