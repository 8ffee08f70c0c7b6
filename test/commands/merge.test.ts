import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Bitcask } from '../../src/core/bitcask/index.js';
import { writeAppliedIndex } from '../../src/core/cluster/applied-index.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

/** Writes keys with overwrites and deletes across several files; returns the expected contents. */
async function fill(dir: string): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  const store = await Bitcask.open(dir, { maxFileSize: 16 * 1024 });
  for (let i = 0; i < 3000; i++) {
    const k = `key:${i % 700}`;
    const v = `value ${i} `.repeat(3);
    store.put(Buffer.from(k), Buffer.from(v));
    expected.set(k, v);
  }
  for (let i = 0; i < 100; i++) {
    store.delete(Buffer.from(`key:${i * 3}`));
    expected.delete(`key:${i * 3}`);
  }
  store.put(Buffer.from(''), Buffer.from(''));
  expected.set('', '');
  await store.close();
  return expected;
}

async function contents(dir: string): Promise<Map<string, string>> {
  const store = await Bitcask.open(dir);
  const out = new Map<string, string>();
  for (const [k, v] of store.entries()) out.set(k.toString(), v.toString());
  await store.close();
  return out;
}

function listing(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => `${n}:${fs.statSync(path.join(dir, n)).size}`);
}

t.test('merge compacts a real directory and keeps its contents', async (t) => {
  const dir = tmpDir(t);
  const expected = await fill(dir);
  const filesBefore = fs.readdirSync(dir).filter((n) => n.endsWith('.data')).length;
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /data files/);
  t.match(r.stdout, /reclaimed \d/);
  const filesAfter = fs.readdirSync(dir).filter((n) => n.endsWith('.data')).length;
  t.ok(filesAfter < filesBefore, `fewer data files (${filesBefore} -> ${filesAfter})`);
  t.same(await contents(dir), expected);
  t.notOk(fs.existsSync(path.join(dir, 'LOCK')), 'lock released');
});

t.test('merge --json reports before and after for scripts', async (t) => {
  const dir = tmpDir(t);
  const expected = await fill(dir);
  const r = runCli(['merge', '--dir', dir, '--json']);
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.equal(report.dryRun, false);
  t.equal(report.before.liveKeys, expected.size);
  t.equal(report.after.liveKeys, expected.size);
  t.ok(report.before.deadBytes > 0);
  t.equal(report.after.deadBytes, 0);
  t.ok(report.reclaimedBytes > 0);
  t.equal(report.reclaimedBytes, report.before.bytes - report.after.bytes);
  // Merging again finds nothing to reclaim.
  const again = JSON.parse(runCli(['merge', '--dir', dir, '--json']).stdout);
  t.equal(again.reclaimedBytes, 0);
  t.same(await contents(dir), expected);
});

t.test('merge --dry-run changes nothing and estimates the gain', async (t) => {
  const dir = tmpDir(t);
  await fill(dir);
  const before = listing(dir);
  const r = runCli(['merge', '--dir', dir, '--dry-run', '--json']);
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.equal(report.dryRun, true);
  t.ok(report.reclaimedBytes > 0);
  t.same(listing(dir), before, 'directory untouched');
  const human = runCli(['merge', '--dir', dir, '--dry-run']);
  t.match(human.stdout, /would reclaim/);
});

t.test('merge refuses a directory a running process holds', async (t) => {
  const dir = tmpDir(t);
  await fill(dir);
  const holder = await Bitcask.open(dir);
  t.teardown(() => holder.close());
  const before = listing(dir);
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`in use by running process ${process.pid}`));
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.same(listing(dir), before, 'directory untouched');
});

t.test('merge of a missing directory is one clear error', async (t) => {
  const dir = path.join(tmpDir(t), 'nope');
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 1);
  t.match(r.stderr, /no data directory/);
  t.notOk(fs.existsSync(dir), 'not created');
});

t.test('merge of a corrupt directory names the file and offset', async (t) => {
  const dir = tmpDir(t);
  await fill(dir);
  const first = fs.readdirSync(dir).filter((n) => n.endsWith('.data')).sort()[0]!;
  fs.rmSync(path.join(dir, first.replace('.data', '.hint')));
  const fd = fs.openSync(path.join(dir, first), 'r+');
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 100);
  fs.closeSync(fd);
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`${first}.*offset \\d+`));
});

t.test('merge reports a torn tail it cut on its way, as a warning', async (t) => {
  const dir = tmpDir(t);
  const expected = await fill(dir);
  const newest = fs.readdirSync(dir).filter((n) => n.endsWith('.data')).sort().at(-1)!;
  fs.rmSync(path.join(dir, newest.replace('.data', '.hint')), { force: true });
  fs.appendFileSync(path.join(dir, newest), Buffer.from([1, 2, 3, 4, 5]));
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /Warning: cut torn tail/);
  t.same(await contents(dir), expected);
});

t.test("merge leaves a node's files from its saved applied-index position on unmerged", async (t) => {
  const dir = tmpDir(t);
  const expected = await fill(dir);
  const files = fs.readdirSync(dir).filter((n) => n.endsWith('.data')).sort();
  const kept = files[Math.floor(files.length / 2)]!;
  fs.mkdirSync(path.join(dir, 'raft'));
  writeAppliedIndex(path.join(dir, 'raft'), 7, { file: kept, size: 10 });
  const r = runCli(['merge', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  for (const f of files) if (f >= kept) t.ok(fs.existsSync(path.join(dir, f)), `${f} kept`);
  t.notOk(fs.existsSync(path.join(dir, files[0]!)), 'an older file was merged');
  t.same(await contents(dir), expected);
});
