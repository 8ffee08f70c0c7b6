/**
 * Tests of the crash-consistency harness (test/helpers/crash-fs.ts): what the recorder
 * logs for each `node:fs` call it models (sync, callback and file-handle forms), what it
 * refuses, and the crash states the persistence model enumerates and materialises — on
 * small logs whose states are known, including the classic bugs it must expose (a rename
 * before the data's fsync, a rename without a directory fsync).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  crashStates,
  describeOp,
  materializeCrashState,
  planCrashStates,
  recordFs,
  snapshotDir,
  tearPoints,
  type CrashFsRecorder,
  type CrashStateSpec,
  type FsOp,
} from '../../helpers/crash-fs.js';
import { fastTmpDir } from '../../helpers/bitcask.js';

/** The log as one line per operation (`describeOp`), marks and closes included. */
const lines = (rec: CrashFsRecorder): string[] => rec.log.map(describeOp);

/** A recorder on a fresh directory, with `files` created in it first (durable). */
function setup(t: Test, files: Record<string, string> = {}): { root: string; rec: CrashFsRecorder; p: (rel: string) => string } {
  const root = fastTmpDir(t);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  const rec = recordFs(t, root);
  return { root, rec, p: (rel) => path.join(root, rel) };
}

/** Every distinct crash state of `rec`'s log, each as `{k, kind, files}` with files as `path: text` (dirs end in /). */
function statesOf(t: Test, rec: CrashFsRecorder, options = { keepDuplicates: true }): { k: number; kind: string; describe: string; files: Record<string, string> }[] {
  rec.stop();
  const out = [];
  for (const state of crashStates(rec.log, rec.initial, { base: fastTmpDir(t), ...options })) out.push({ k: state.k, kind: state.kind, describe: state.describe, files: readTree(state.dir) });
  return out;
}

function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (fs.statSync(path.join(dir, r)).isDirectory()) {
        out[`${r}/`] = '';
        walk(r);
      } else out[r] = fs.readFileSync(path.join(dir, r), 'latin1');
    }
  };
  walk('');
  return out;
}

t.test('snapshotDir numbers the tree in walk order', async (t) => {
  const root = fastTmpDir(t);
  fs.mkdirSync(path.join(root, 'd'));
  fs.writeFileSync(path.join(root, 'd', 'f'), 'x');
  fs.writeFileSync(path.join(root, 'a'), 'y');
  const snap = snapshotDir(root);
  t.equal(snap.root, 0);
  t.same([...snap.nodes.keys()], [0, 1, 2, 3]);
  t.same(snap.nodes.get(1), { kind: 'file', data: Buffer.from('y') });
  t.same(snap.nodes.get(3), { kind: 'file', data: Buffer.from('x') });
});

t.test('sync calls: opens, writes, truncates, syncs, closes', async (t) => {
  const { rec, p } = setup(t, { old: 'abcdef' });
  const fd = fs.openSync(p('new'), 'w');
  fs.writeSync(fd, Buffer.from('0123456789'), 2, 3, 100);
  fs.writeSync(fd, 'ab');
  fs.writeSync(fd, 'cd', null, 'latin1');
  // The options form (Node ≥ 18.3; not in these type definitions).
  const writeSync = fs.writeSync as (...args: unknown[]) => number;
  writeSync(fd, new Uint8Array([1, 2, 3]), { offset: 1, length: 1, position: 7 });
  writeSync(fd, Buffer.from('xy'), { position: null });
  // An offset but no position: at the current position.
  fs.writeSync(fd, Buffer.from('zz'), 0);
  fs.fdatasyncSync(fd);
  fs.ftruncateSync(fd, 3);
  fs.ftruncateSync(fd);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.closeSync(fs.openSync(p('old'), 'w'));
  fs.closeSync(fs.openSync(p('old'), 'r+'));
  fs.closeSync(fs.openSync(p('old'), fs.constants.O_RDWR | fs.constants.O_TRUNC));
  fs.closeSync(fs.openSync(p('old'), fs.constants.O_RDONLY | fs.constants.O_TRUNC));
  const created = fs.openSync(p('num'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND);
  fs.writeSync(created, 'abc');
  fs.writeSync(created, 'de');
  fs.closeSync(created);
  fs.truncateSync(p('num'), 1);
  fs.truncateSync(p('num'));
  t.equal(rec.mark('done'), rec.position - 1);
  t.same(lines(rec), [
    'create new',
    'write new @100 +3',
    'write new @0 +2',
    'write new @2 +2',
    'write new @7 +1',
    'write new @4 +2',
    'write new @6 +2',
    'fsync new',
    'truncate new to 3',
    'truncate new to 0',
    'fsync new',
    'close new',
    'truncate old to 0',
    'close old',
    'close old',
    'truncate old to 0',
    'close old',
    'close old',
    'create num',
    'write num @0 +3',
    'write num @3 +2',
    'close num',
    'truncate num to 1',
    'truncate num to 0',
    'mark done',
  ]);
  t.equal(rec.operations, 24);
  const fsync = rec.log[7] as Extract<FsOp, { kind: 'fsync' }>;
  t.equal(fsync.covers, 7, 'an fsync covers what was logged before it');
  t.same((rec.log[1] as Extract<FsOp, { kind: 'write' }>).data, Buffer.from('234'));
});

t.test('sync calls on the tree: mkdir, rename, unlink, rmdir, rm, whole-file writes, copies', async (t) => {
  const { root, rec, p } = setup(t, { 'd/x': '1', 'd/e/y': '2', keep: 'k' });
  fs.mkdirSync(p('a/b/c'), { recursive: true });
  fs.mkdirSync(p('a/b/c'), { recursive: true });
  fs.mkdirSync(p('m'));
  fs.renameSync(p('keep'), p('a/b/moved'));
  fs.writeFileSync(p('f'), 'hello');
  fs.writeFileSync(p('g'), Buffer.from('bytes'), { flag: 'w', mode: 0o600 });
  fs.writeFileSync(p('h'), 'bin', 'latin1');
  const fd = fs.openSync(p('f'), 'r+');
  fs.writeFileSync(fd, 'HE');
  fs.closeSync(fd);
  fs.copyFileSync(p('f'), p('f2'));
  fs.copyFileSync(p('f'), p('f3'), fs.constants.COPYFILE_EXCL);
  fs.renameSync(p('f2'), p('f3'));
  fs.unlinkSync(p('f3'));
  fs.rmdirSync(p('m'));
  fs.rmSync(p('g'));
  fs.rmSync(p('d'), { recursive: true });
  fs.rmSync(p('missing'), { force: true });
  t.same(lines(rec), [
    'mkdir a',
    'mkdir a/b',
    'mkdir a/b/c',
    'mkdir m',
    'rename keep -> a/b/moved',
    'create f',
    'write f @0 +5',
    'close f',
    'create g',
    'write g @0 +5',
    'close g',
    'create h',
    'write h @0 +3',
    'close h',
    'write f @0 +2',
    'close f',
    'close f',
    'create f2',
    'write f2 @0 +5',
    'close f2',
    'close f',
    'create f3',
    'write f3 @0 +5',
    'close f3',
    'rename f2 -> f3',
    'unlink f3',
    'rmdir m',
    'unlink g',
    'unlink d/e/y',
    'rmdir d/e',
    'unlink d/x',
    'rmdir d',
  ]);
  t.equal(fs.readFileSync(p('f'), 'latin1'), 'HEllo', 'the calls happened for real');
  rec.stop();
  t.same(readTree(root), { 'a/': '', 'a/b/': '', 'a/b/c/': '', 'a/b/moved': 'k', f: 'HEllo', h: 'bin' });
});

t.test('calls outside the root and failed calls are not logged; a read logs only its close', async (t) => {
  const { rec, p } = setup(t, { there: 'x' });
  const outside = fastTmpDir(t);
  const o = (rel: string): string => path.join(outside, rel);
  const fd = fs.openSync(o('f'), 'w');
  fs.writeSync(fd, 'abc');
  fs.ftruncateSync(fd, 1);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.writeFileSync(o('g'), 'x');
  fs.copyFileSync(o('g'), o('h'));
  fs.mkdirSync(o('d'));
  fs.renameSync(o('h'), o('d/h'));
  fs.rmSync(o('d'), { recursive: true });
  fs.appendFileSync(o('g'), 'y');
  await new Promise<void>((resolve, reject) => fs.fdatasync(fs.openSync(o('g'), 'r'), (err) => (err ? reject(err) : resolve())));
  await (await fs.promises.open(o('g'), 'r')).close();
  t.throws(() => fs.openSync(p('there'), 'wx'), { code: 'EEXIST' });
  t.throws(() => fs.mkdirSync(p('there')), { code: 'EEXIST' });
  t.throws(() => fs.renameSync(p('nope'), p('else')), { code: 'ENOENT' });
  t.throws(() => fs.rmSync(p('nope')), { code: 'ENOENT' });
  const read = fs.readFileSync(p('there'), 'latin1');
  t.equal(read, 'x');
  t.same(lines(rec), ['close there'], 'a read opens and closes, nothing else');
  t.same(rec.operations, 1);
});

t.test('asynchronous calls: callback fsync, file handles', async (t) => {
  const { rec, p } = setup(t, { old: 'abc' });
  const fd = fs.openSync(p('f'), 'w');
  fs.writeSync(fd, 'x');
  const synced = new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  // Logged before the fsync completes: not covered by it.
  fs.writeSync(fd, 'y');
  await synced;
  await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  fs.closeSync(fd);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const bad = fs.openSync(p('old'), 'r');
    fs.closeSync(bad);
    (rec as unknown as { fds: Map<number, unknown> }).fds.set(bad, { node: 1, path: 'old', pos: 0, append: false });
    fs.fdatasync(bad, resolve);
  });
  t.equal(err?.code, 'EBADF', 'a failed fsync is reported and not logged');
  const h = await fs.promises.open(p('g'), 'wx');
  await h.write(Buffer.from('hello'), 0, 5, 0);
  await h.write('!', 5);
  await h.write('??', null, 'latin1');
  await h.writeFile('end');
  await h.writeFile(Buffer.from('..'), { encoding: 'utf8' });
  await h.writeFile('é', 'latin1');
  await h.truncate(4);
  await h.truncate();
  await h.sync();
  await h.datasync();
  await t.rejects(h.appendFile('x'), /not recorded/);
  await t.rejects(h.writev([Buffer.from('x')]), /not recorded/);
  await h.close();
  await (await fs.promises.open(p('old'), 'r')).close();
  t.same(lines(rec), [
    'create f',
    'write f @0 +1',
    'write f @1 +1',
    'fsync f',
    'fsync f',
    'close f',
    'close old',
    'create g',
    'write g @0 +5',
    'write g @5 +1',
    'write g @0 +2',
    'write g @2 +3',
    'write g @5 +2',
    'write g @7 +1',
    'truncate g to 4',
    'truncate g to 0',
    'fsync g',
    'fsync g',
    'close g',
    'close old',
  ]);
  t.equal((rec.log[3] as Extract<FsOp, { kind: 'fsync' }>).covers, 2, 'the callback fsync covers only what preceded the call');
  t.equal((rec.log[4] as Extract<FsOp, { kind: 'fsync' }>).covers, 4);
});

t.test('mutating calls it does not model throw inside the root', async (t) => {
  const { rec, p } = setup(t, { f: 'x' });
  t.throws(() => fs.appendFileSync(p('f'), 'y'), /appendFileSync is not recorded/);
  t.throws(() => fs.writeFile(p('f'), 'y', () => undefined), /writeFile is not recorded/);
  t.throws(() => fs.promises.rename(p('f'), p('g')), /rename is not recorded/);
  const fd = fs.openSync(p('f'), 'r+');
  t.throws(() => fs.write(fd, 'y', () => undefined), /write is not recorded/);
  fs.closeSync(fd);
  const outside = fastTmpDir(t);
  t.throws(() => fs.renameSync(p('f'), path.join(outside, 'f')), /into or out of the recorded root/);
  t.throws(() => fs.renameSync(rec.root, path.join(rec.root, 'x')), /cannot record an entry change of the root/);
  t.throws(() => fs.renameSync(p('f'), rec.root), /cannot record an entry change of the root/);
  t.throws(() => fs.unlinkSync(rec.root), /cannot record an entry change of the root/);
  execFileSync('touch', [p('sneaky')]);
  t.throws(() => fs.truncateSync(p('sneaky')), /sneaky is not in the recorded tree/);
  execFileSync('mkdir', [p('sneaky-dir')]);
  t.throws(() => fs.writeFileSync(p('sneaky-dir/x'), ''), /the directory of sneaky-dir\/x is not in the recorded tree/);
  t.equal(fs.readFileSync(p('f'), 'latin1'), 'x', 'nothing refused happened');
});

t.test('patched functions kept by reference pass through once stopped', async (t) => {
  const { rec, p } = setup(t, { f: 'x', d: '' });
  fs.rmSync(p('d'));
  fs.mkdirSync(p('d'));
  const kept = {
    openSync: fs.openSync,
    rmSync: fs.rmSync,
    mkdirSync: fs.mkdirSync,
    renameSync: fs.renameSync,
    writeFileSync: fs.writeFileSync,
    copyFileSync: fs.copyFileSync,
    fdatasync: fs.fdatasync,
    open: fs.promises.open,
    unlinkSync: fs.unlinkSync,
    appendFileSync: fs.appendFileSync,
  };
  const fd = fs.openSync(p('f'), 'r+');
  const before = rec.log.length;
  rec.stop();
  fs.closeSync(kept.openSync(p('g'), 'w'));
  kept.mkdirSync(p('e'));
  kept.renameSync(p('g'), p('h'));
  kept.writeFileSync(p('h'), 'y');
  kept.copyFileSync(p('h'), p('i'));
  kept.unlinkSync(p('i'));
  kept.appendFileSync(p('h'), 'z');
  await new Promise<void>((resolve, reject) => kept.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  await (await kept.open(p('j'), 'w')).close();
  kept.rmSync(p('d'), { recursive: true });
  fs.closeSync(fd);
  t.equal(rec.log.length, before, 'nothing more recorded');
  t.equal(fs.readFileSync(p('h'), 'latin1'), 'yz');
});

t.test('paths that are not strings are not recorded; open defaults to reading', async (t) => {
  const { rec, p } = setup(t, { f: 'x' });
  fs.closeSync(fs.openSync(Buffer.from(p('f')), 'r'));
  fs.closeSync((fs.openSync as (file: string) => number)(p('f')));
  t.same(lines(rec), ['close f'], 'only the string path was tracked');
});

t.test('stop restores node:fs; so does removing the root', async (t) => {
  const originals = [fs.openSync, fs.writeSync, fs.promises.open, fs.appendFileSync];
  const { rec } = setup(t);
  t.not(fs.openSync, originals[0]);
  rec.stop();
  rec.stop();
  t.same([fs.openSync, fs.writeSync, fs.promises.open, fs.appendFileSync], originals);
  const again = setup(t, { f: 'x' });
  fs.rmSync(again.rec.root, { recursive: true });
  t.same([fs.openSync, fs.writeSync, fs.promises.open, fs.appendFileSync], originals);
  t.same(again.rec.log, []);
  t.notOk(fs.existsSync(again.rec.root));
});

t.test('tearPoints cuts at 1, 3 and 4 KiB file boundaries, at most max, evenly spread', async (t) => {
  t.same(tearPoints({ offset: 0, data: Buffer.alloc(1000) }, 4), [], 'within one KiB: not torn');
  t.same(tearPoints({ offset: 1000, data: Buffer.alloc(100) }, 4), [24]);
  t.same(tearPoints({ offset: 1000, data: Buffer.alloc(5000) }, 10), [24, 1048, 2072, 3096, 4120]);
  t.same(tearPoints({ offset: 1000, data: Buffer.alloc(5000) }, 3), [24, 2072, 4120]);
  t.same(tearPoints({ offset: 0, data: Buffer.alloc(1 << 20) }, 1), [1024]);
});

t.test('describeOp names every kind of operation', async (t) => {
  t.same(
    (
      [
        { kind: 'mkdir', parent: 0, name: 'd', node: 1, path: 'd' },
        { kind: 'create', parent: 0, name: '', node: 1, path: '' },
        { kind: 'rename', parent: 0, name: 'a', toParent: 0, toName: 'b', node: 1, path: 'a', to: 'b' },
        { kind: 'write', node: 1, offset: 3, data: Buffer.alloc(2), path: 'a' },
        { kind: 'truncate', node: 1, size: 0, path: 'a' },
        { kind: 'fsync', node: 1, covers: 0, path: 'a' },
        { kind: 'close', node: 1, path: 'a' },
        { kind: 'mark', label: 'ack' },
      ] as FsOp[]
    ).map(describeOp),
    ['mkdir d', 'create .', 'rename a -> b', 'write a @3 +2', 'truncate a to 0', 'fsync a', 'close a', 'mark ack'],
  );
});

t.test('a rename before the data is fsynced: a crash can leave the new name empty', async (t) => {
  const { rec, p } = setup(t, { f: 'old' });
  const fd = fs.openSync(p('f.tmp'), 'w');
  fs.writeSync(fd, 'new');
  fs.closeSync(fd);
  fs.renameSync(p('f.tmp'), p('f'));
  const states = statesOf(t, rec);
  t.ok(states.some((s) => s.k === rec.log.length && s.files.f === ''), 'an empty f after the rename');
  t.ok(states.some((s) => s.files.f === 'new'));
  t.ok(states.every((s) => Object.keys(s.files).length >= 1));
});

t.test('a rename without a directory fsync: a crash can undo it; with one, it stays', async (t) => {
  const { rec, p } = setup(t, { f: 'old' });
  const fd = fs.openSync(p('f.tmp'), 'w');
  fs.writeSync(fd, 'new');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(p('f.tmp'), p('f'));
  const before = rec.position;
  const dir = fs.openSync(rec.root, 'r');
  fs.fsyncSync(dir);
  fs.closeSync(dir);
  rec.mark('durable');
  const states = statesOf(t, rec);
  const after = states.filter((s) => s.k > before);
  t.ok(after.length > 0);
  t.ok(
    after.every((s) => s.files.f === 'new' && !('f.tmp' in s.files)),
    'once the directory is fsynced, every state has the new f',
  );
  t.ok(
    states.some((s) => s.k === before && s.kind === 'dir-revert' && s.files.f === 'old' && s.files['f.tmp'] === 'new'),
    'before, the rename may be missing',
  );
  t.notOk(
    states.some((s) => s.files.f === ''),
    'never an empty f: the data was fsynced first',
  );
  t.ok(states.some((s) => s.kind === 'power-loss' && s.k === before && s.files.f === 'old' && !('f.tmp' in s.files)), 'power loss: the create is lost too');
});

t.test('unsynced appends: lost, kept, or torn at KiB boundaries', async (t) => {
  const { rec, p } = setup(t);
  const fd = fs.openSync(p('log'), 'w');
  const dir = fs.openSync(rec.root, 'r');
  fs.fsyncSync(dir);
  fs.writeSync(fd, Buffer.alloc(1500, 'a'));
  fs.fdatasyncSync(fd);
  fs.writeSync(fd, Buffer.alloc(3000, 'b'));
  const states = statesOf(t, rec).filter((s) => s.k === rec.log.length);
  const sizes = states.map((s) => `${s.kind}:${s.files.log!.length}`);
  t.same(sizes, ['power-loss:1500', 'process-crash:4500', 'unsynced-lost:1500', 'torn:2048', 'torn:3072', 'torn:4096']);
  t.ok(states.find((s) => s.kind === 'torn' && s.files.log!.length === 2048)!.describe.includes('write log @1500 +3000 torn after 548 bytes'));
});

t.test('directory operations reverted one at a time, with the rules of a consistent tree', async (t) => {
  const { rec, p } = setup(t, { 'd/a': 'A', 'd/b': 'B', keep: 'K' });
  fs.rmSync(p('d'), { recursive: true });
  fs.unlinkSync(p('keep'));
  fs.writeFileSync(p('keep'), 'K2');
  fs.mkdirSync(p('n'));
  fs.writeFileSync(p('n/x'), 'X');
  fs.renameSync(p('n/x'), p('y'));
  const states = statesOf(t, rec).filter((s) => s.k === rec.log.length && s.kind !== 'process-crash');
  const shapes = states.map((s) => `${s.describe.split(': ').at(-1)} => ${Object.entries(s.files).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  t.same(shapes, [
    'unsynced data and 8 unsynced directory operations lost => d/= d/a=A d/b=B keep=K',
    'unsynced data lost, directory operations kept => keep= n/= y=',
    // rmdir d cannot apply: d still holds a.
    'unsynced data lost, unlink d/a missing => d/= d/a=A keep= n/= y=',
    'unsynced data lost, unlink d/b missing => d/= d/b=B keep= n/= y=',
    'unsynced data lost, rmdir d missing => d/= keep= n/= y=',
    // The create of the new keep cannot apply: the name still holds the old one.
    'unsynced data lost, unlink keep missing => keep=K n/= y=',
    'unsynced data lost, create keep missing => n/= y=',
    // n is unlinked; the entry made in it was renamed out of it.
    'unsynced data lost, mkdir n missing => keep= y=',
    // The rename has nothing to move.
    'unsynced data lost, create n/x missing => keep= n/=',
    'unsynced data lost, rename n/x -> y missing => keep= n/= n/x=',
  ]);
});

t.test('states are deduplicated per mark, and sampled past maxStates', async (t) => {
  const { rec, p } = setup(t);
  fs.writeFileSync(p('f'), 'x');
  rec.mark('one');
  rec.mark('two');
  rec.stop();
  const all = planCrashStates(rec.log, rec.initial);
  t.ok(all.candidates > all.distinct);
  t.same(
    all.states.filter((s) => s.kind === 'process-crash').map((s) => s.k),
    [1, 2, 4, 5],
    'k=0 is power loss at k=0; the close changes nothing on disk (k=3); the marks do',
  );
  t.equal(planCrashStates(rec.log, rec.initial, { maxStates: 4 }).states.length, 4, 'seed 1 by default');
  const sample = planCrashStates(rec.log, rec.initial, { maxStates: 4, seed: 7 });
  t.equal(sample.states.length, 4);
  t.equal(sample.distinct, all.distinct);
  t.same(sample.states, planCrashStates(rec.log, rec.initial, { maxStates: 4, seed: 7 }).states, 'deterministic');
  t.same(
    sample.states.map((s) => s.k),
    [...sample.states.map((s) => s.k)].sort((a, b) => a - b),
    'in log order',
  );
});

t.test('materialised contents: truncates zero-fill, writes past the end leave a hole, torn writes are cut', async (t) => {
  const { rec, p } = setup(t, { f: 'abcdef' });
  const fd = fs.openSync(p('f'), 'r+');
  fs.ftruncateSync(fd, 2);
  fs.ftruncateSync(fd, 4);
  fs.writeSync(fd, 'Z', 6);
  fs.closeSync(fd);
  rec.stop();
  const out = fastTmpDir(t);
  const spec: CrashStateSpec = { k: rec.log.length, kind: 'process-crash', keepUnsynced: true, missing: [], describe: '' };
  materializeCrashState(rec.log, rec.initial, spec, out);
  t.same(fs.readFileSync(path.join(out, 'f')), Buffer.from('ab\0\0\0\0Z'));
});

t.test('iterating crash states removes each directory, also when stopped early', async (t) => {
  const { rec, p } = setup(t);
  fs.writeFileSync(p('f'), 'x');
  rec.stop();
  const base = fastTmpDir(t);
  const seen: string[] = [];
  for (const state of crashStates(rec.log, rec.initial, { base })) {
    seen.push(state.dir);
    t.ok(fs.existsSync(state.dir));
    if (seen.length === 2) break;
  }
  t.equal(seen.length, 2);
  t.same(fs.readdirSync(base), []);
  t.ok(crashStates(rec.log, rec.initial).states.length > 0, 'by default in the OS temp dir');
  for (const state of crashStates(rec.log, rec.initial)) {
    t.ok(state.dir.startsWith(path.resolve(os.tmpdir())));
    break;
  }
});
