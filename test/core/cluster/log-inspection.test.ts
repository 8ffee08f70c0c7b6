/**
 * Tests of the read-only log inspection behind `bitraft inspect-log`
 * (cluster/log-inspection.ts), over Raft directories written by the real DiskLogStore:
 * the summary, decoded and filtered entries, verification of good, torn and corrupt
 * logs, and directories without a log.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { APPLIED_FILE, writeAppliedIndex } from '../../../src/core/cluster/applied-index.js';
import { describe, describeEntries, inspectLog, raftDirOf, verifyLog, type DescribedEntry } from '../../../src/core/cluster/log-inspection.js';
import { encodeCommand } from '../../../src/core/kv/index.js';
import { encodeConfChange } from '../../../src/core/raft/conf-change.js';
import { DiskLogStore, LOG_FILE } from '../../../src/core/raft/log-store.js';
import type { Entry } from '../../../src/core/raft/types.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const cmd = (...args: (string | Buffer)[]): Uint8Array => encodeCommand(args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a)));

/** A data directory whose raft log holds: 2 bootstrap voters, a no-op, 3 commands, a learner; applied index 5. */
function dataDir(t: Parameters<typeof tmpDir>[0]): string {
  const dir = tmpDir(t);
  const raft = path.join(dir, 'raft');
  const s = DiskLogStore.bootstrap(raft, ['127.0.0.1:1', '127.0.0.1:2']);
  const more: Entry[] = [
    { index: 3, term: 2, type: 'noop', data: new Uint8Array() },
    { index: 4, term: 2, type: 'command', data: cmd('set', 'k', 'v') },
    { index: 5, term: 2, type: 'command', data: cmd('MSET', Buffer.from([0, 0x22, 0x5c, 0x0a, 0x0d, 0x09, 0xff]), 'x'.repeat(100)) },
    { index: 6, term: 3, type: 'command', data: cmd('del', 'k') },
    { index: 7, term: 3, type: 'config', data: encodeConfChange({ op: 'add-learner', node: '127.0.0.1:3', context: '127.0.0.1:3' }) },
  ];
  s.append(more);
  s.setHardState({ term: 3, vote: '127.0.0.1:1', commit: 7 });
  s.setConf({ voters: ['127.0.0.1:1', '127.0.0.1:2'], learners: ['127.0.0.1:3'] });
  s.sync(true);
  s.close();
  writeAppliedIndex(raft, 5);
  return dir;
}

t.test('the summary of a log', async (t) => {
  const dir = dataDir(t);
  fs.mkdirSync(path.join(dir, 'snapshots', '3-7-100'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'snapshots', '2-5-90'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'snapshots', '.tmp-4-9-110'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'snapshots', '.incoming-4-10-120'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'snapshots', '1-12-80'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'snapshots', 'stray-file'), '');
  const s = inspectLog(dir, () => {});
  t.equal(s.dir, path.join(dir, 'raft'));
  t.equal(s.logBytes, fs.statSync(path.join(dir, 'raft', LOG_FILE)).size);
  t.match(s, { entries: 7, firstIndex: 1, lastIndex: 7, firstTerm: 1, lastTerm: 3, applied: 5, torn: undefined });
  t.same(s.byType.command.count, 3);
  t.same(s.byType.noop, { count: 1, bytes: 0 });
  t.equal(s.byType.config.count, 3);
  t.same(s.hardState, { term: 3, vote: '127.0.0.1:1', commit: 7 });
  t.same(s.membership, { voters: ['127.0.0.1:1', '127.0.0.1:2'], learners: ['127.0.0.1:3'] });
  t.equal(s.snapshot!.index, 0);
  t.same(s.snapshots, ['2-5-90', '3-7-100', '1-12-80'], 'snapshot directories by index, not temporary or incoming ones or files');
});

t.test('a torn last record is reported; a damaged applied index is read as 0 with a warning', async (t) => {
  const dir = dataDir(t);
  fs.appendFileSync(path.join(dir, 'raft', LOG_FILE), Buffer.from([9, 9, 9]));
  fs.writeFileSync(path.join(dir, 'raft', APPLIED_FILE), 'garbage');
  const warnings: string[] = [];
  const s = inspectLog(dir, (m) => warnings.push(m));
  t.equal(s.entries, 7);
  t.match(s.torn, { offset: s.logBytes - 3, reason: 'incomplete header' });
  t.equal(s.applied, 0);
  t.match(warnings, [/damaged/]);
  t.equal(inspectLog(dataDirWithoutApplied(t), () => {}).applied, 0, 'no applied file: 0');
});

function dataDirWithoutApplied(t: Parameters<typeof tmpDir>[0]): string {
  const dir = dataDir(t);
  fs.rmSync(path.join(dir, 'raft', APPLIED_FILE));
  return dir;
}

t.test('entries, decoded and filtered', async (t) => {
  const dir = dataDir(t);
  const all: DescribedEntry[] = [];
  describeEntries(dir, {}, (e) => all.push(e));
  t.same(
    all.map((e) => [e.index, e.term, e.type, e.text]),
    [
      [1, 1, 'config', 'add-voter 127.0.0.1:1'],
      [2, 1, 'config', 'add-voter 127.0.0.1:2'],
      [3, 2, 'noop', 'noop'],
      [4, 2, 'command', 'SET "k" "v"'],
      [5, 2, 'command', `MSET "\\x00\\"\\\\\\n\\r\\t\\xff" "${'x'.repeat(64)}"… (100 bytes)`],
      [6, 3, 'command', 'DEL "k"'],
      [7, 3, 'config', 'add-learner 127.0.0.1:3'],
    ],
  );
  t.equal(all[0]!.offset, 0);
  t.ok(all[1]!.offset > 0);
  t.equal(all[3]!.bytes, cmd('set', 'k', 'v').length);
  const pick = (filter: Parameters<typeof describeEntries>[1]): number[] => {
    const out: number[] = [];
    describeEntries(dir, filter, (e) => out.push(e.index));
    return out;
  };
  t.same(pick({ from: 3, to: 5 }), [3, 4, 5]);
  t.same(pick({ type: 'command' }), [4, 5, 6]);
  t.same(pick({ type: 'config', limit: 2 }), [1, 2]);
  t.same(pick({ from: 8 }), []);
});

t.test('malformed entries are described, not thrown', async (t) => {
  t.equal(describe({ type: 'command', data: new Uint8Array([1, 2]) }), 'malformed command (2 bytes)');
  t.equal(describe({ type: 'config', data: new TextEncoder().encode('{"op":"nope"}') }), 'malformed membership change (13 bytes)');
});

t.test('verify: good, torn and corrupt logs', async (t) => {
  const dir = dataDir(t);
  t.same(verifyLog(dir), { records: 7, bad: undefined });
  const file = path.join(dir, 'raft', LOG_FILE);
  const size = fs.statSync(file).size;
  fs.appendFileSync(file, Buffer.alloc(10, 1));
  t.match(verifyLog(dir), { records: 7, bad: { file, offset: size, reason: /torn last record/ } });
  const bytes = fs.readFileSync(file);
  bytes[30]! ^= 0xff; // inside the first record, valid ones follow
  fs.writeFileSync(file, bytes.subarray(0, size));
  t.match(verifyLog(dir), { records: 0, bad: { file, offset: 0, reason: /checksum mismatch, followed by valid records/ } });
  t.throws(() => inspectLog(dir, () => {}), { code: 'CORRUPT' }, 'the summary refuses a corrupt log');
  fs.rmSync(file);
  fs.mkdirSync(file);
  t.throws(() => verifyLog(dir), { code: 'EISDIR' }, 'an I/O error is raised, not reported as a bad record');
});

t.test('a directory without a raft log', async (t) => {
  const dir = tmpDir(t);
  t.throws(() => raftDirOf(dir), { code: 'NOT_FOUND', message: /holds no raft log/ });
  t.throws(() => inspectLog(dir, () => {}), { code: 'NOT_FOUND' });
  t.throws(() => describeEntries(dir, {}, () => {}), { code: 'NOT_FOUND' });
  t.throws(() => verifyLog(dir), { code: 'NOT_FOUND' });
  fs.mkdirSync(path.join(dir, 'raft'));
  fs.writeFileSync(path.join(dir, 'raft', 'state'), '{}');
  t.equal(raftDirOf(dir), path.join(dir, 'raft'), 'a state file alone is enough');
});

t.test('a transaction entry is described as its commands between MULTI and EXEC', async (t) => {
  const enc = (...args: string[]) => encodeCommand(args.map((a) => Buffer.from(a)));
  const txn = encodeCommand([Buffer.from('rafttxn'), enc('SET', 'k', 'v'), enc('incr', 'n'), Buffer.from([9])]);
  t.equal(describe({ type: 'command', data: txn }), 'MULTI; SET "k" "v"; INCR "n"; malformed command (1 bytes); EXEC');
});
