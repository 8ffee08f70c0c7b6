/** Tests of `mergeDirectory` (offline-merge.ts): the offline compaction behind `bitraft merge`. */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask, LOCK_FILE, mergeDirectory, type MergeStep } from '../../../src/core/bitcask/index.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, dataFiles, diffContents, dirDigest } from '../../helpers/bitcask.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

/** A closed store with overwrites and deletes spread over many files; returns its contents. */
async function fill(dir: string): Promise<Map<string, Buffer>> {
  const store = await Bitcask.open(dir, { maxFileSize: 2048, sync: 'none' });
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 600; i++) {
    const k = `key:${i % 90}`;
    const v = Buffer.from(`value ${i} `.repeat(1 + (i % 4)));
    store.put(b(k), v);
    model.set(k, v);
  }
  for (let i = 0; i < 90; i += 7) {
    store.delete(b(`key:${i}`));
    model.delete(`key:${i}`);
  }
  store.put(b(''), Buffer.alloc(0));
  model.set('', Buffer.alloc(0));
  await store.close();
  return model;
}

/** Data files and bytes of data and hint files, as the report counts them. */
function onDisk(dir: string): { files: number; bytes: number } {
  let bytes = 0;
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.data') || n.endsWith('.hint')) bytes += fs.statSync(path.join(dir, n)).size;
  return { files: dataFiles(dir).length, bytes };
}

t.test('mergeDirectory compacts a stopped directory and reports before and after', async (t) => {
  const dir = tmpDir(t);
  const model = await fill(dir);
  const before = onDisk(dir);
  const steps: (MergeStep | 'opened' | 'sealed')[] = [];
  const log = memoryLogger();
  const report = await mergeDirectory(dir, { onProgress: (s) => void steps.push(s), logger: log });
  t.equal(report.dir, dir);
  t.equal(report.dryRun, false);
  t.same(report.before.files, before.files);
  t.same(report.before.bytes, before.bytes);
  t.equal(report.before.liveKeys, model.size);
  t.ok(report.before.deadBytes > 0, 'there was dead data');
  const after = onDisk(dir);
  t.same(report.after, { ...after, liveKeys: model.size, deadBytes: 0 });
  t.ok(after.files < before.files, `fewer files (${before.files} -> ${after.files})`);
  t.equal(report.reclaimedBytes, before.bytes - after.bytes);
  t.same(steps.slice(0, 3), ['opened', 'sealed', 'outputs-written']);
  t.equal(steps.at(-1), 'done');
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
  t.same(log.lines.filter((l) => l.startsWith('warn:')), [], 'nothing to warn about');
  t.equal(diffContents(await contentsOf(dir), model), undefined, 'contents unchanged');

  // Once compacted, a second run finds nothing to do.
  const steps2: string[] = [];
  const again = await mergeDirectory(dir, { onProgress: (s) => void steps2.push(s) });
  t.equal(again.before.deadBytes, 0);
  t.equal(again.reclaimedBytes, 0);
  t.same(steps2, ['opened', 'sealed'], 'no merge run');
  t.equal(diffContents(await contentsOf(dir), model), undefined);
});

t.test('a dry run reports the dead bytes and changes nothing', async (t) => {
  const dir = tmpDir(t);
  const model = await fill(dir);
  const digest = dirDigest(dir);
  const steps: string[] = [];
  const report = await mergeDirectory(dir, { dryRun: true, onProgress: (s) => void steps.push(s) });
  t.same(dirDigest(dir), digest, 'directory untouched, no lock left');
  t.equal(report.dryRun, true);
  t.same(steps, ['opened']);
  t.same({ files: report.before.files, bytes: report.before.bytes }, onDisk(dir));
  t.equal(report.before.liveKeys, model.size);
  t.ok(report.before.deadBytes > 0);
  t.equal(report.reclaimedBytes, report.before.deadBytes);
  t.equal(report.after.liveKeys, model.size);
  t.equal(report.after.deadBytes, 0);
  t.equal(report.after.bytes, report.before.bytes - report.before.deadBytes);
  t.ok(report.after.files < report.before.files, 'estimates fewer files');
  // The estimate is close to what a real merge does.
  const real = await mergeDirectory(dir);
  t.equal(real.before.deadBytes, report.before.deadBytes, 'the same dead bytes');
});

t.test('a directory a live process holds is refused with LOCKED (a dry run still reads it)', async (t) => {
  const dir = tmpDir(t);
  await fill(dir);
  const live = await Bitcask.open(dir);
  t.teardown(() => live.close());
  const digest = dirDigest(dir);
  await t.rejects(mergeDirectory(dir), { code: 'LOCKED' });
  t.same(dirDigest(dir), digest, 'nothing changed');
  const report = await mergeDirectory(dir, { dryRun: true });
  t.ok(report.before.liveKeys > 0);
  t.ok(fs.existsSync(path.join(dir, LOCK_FILE)), "the live process's lock is untouched");
});

t.test('a missing directory is NOT_FOUND and is not created', async (t) => {
  const dir = path.join(tmpDir(t), 'missing');
  await t.rejects(mergeDirectory(dir), { code: 'NOT_FOUND' });
  await t.rejects(mergeDirectory(dir, { dryRun: true }), { code: 'NOT_FOUND' });
  t.notOk(fs.existsSync(dir));
});

t.test('a failing merge releases the lock and leaves the contents openable', async (t) => {
  const dir = tmpDir(t);
  const model = await fill(dir);
  const files = dataFiles(dir);
  const victim = path.join(dir, files[2]!);
  const data = fs.readFileSync(victim);
  data[40]! ^= 0x01;
  fs.writeFileSync(victim, data); // its hint is intact, so open trusts it; the merge reads it
  await t.rejects(mergeDirectory(dir), { code: 'CORRUPT', file: victim });
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'lock released');
  t.same(
    fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary files',
  );
  const store = await Bitcask.open(dir);
  t.equal(store.size, model.size, 'every key still listed');
  await store.close();
});

t.test('a torn tail left by a crash is cut, then merged', async (t) => {
  const dir = tmpDir(t);
  const model = await fill(dir);
  const newest = path.join(dir, dataFiles(dir).at(-1)!);
  fs.rmSync(newest.replace(/\.data$/, '.hint'));
  fs.appendFileSync(newest, Buffer.from('torn record'));
  const log = memoryLogger();
  await mergeDirectory(dir, { logger: log });
  t.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('torn tail')), 'the cut is logged');
  t.equal(diffContents(await contentsOf(dir), model), undefined);
});
