/**
 * Tests of what `Cluster.open` does about lost durable data (cluster.ts): a store that
 * lost bytes the saved applied index counts in is rebuilt from the newest fitting
 * snapshot, or from nothing when the log was never compacted, then the log replays;
 * without either it refuses with a `CorruptionError` naming the file and offset. A log
 * that lost entries the node knew committed makes a voter of a larger cluster with
 * durability `high` refuse to start; others log it and go on.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { APPLIED_FILE, readApplied } from '../../../src/core/cluster/applied-index.js';
import { encodeStampedCommand } from '../../../src/core/kv/index.js';
import { Cluster, RAFT_DIR, SNAPSHOTS_DIR, type ClusterOptions } from '../../../src/core/cluster/cluster.js';
import { DiskLogStore, LOG_FILE } from '../../../src/core/raft/log-store.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { openMember, set, until, type Member, type Teardown } from './cluster-member.js';
import { Net } from './in-process-net.js';

const A = '127.0.0.1:7201';
const B = '127.0.0.1:7202';

/** Opens a node in `dir` over a fresh store (Cluster.open); closed in teardown. Rejects with what the open threw. */
function open(t: Teardown, dir: string, over: Partial<ClusterOptions> = {}, net = new Net(), id = A): Promise<Member> {
  return openMember(t, {
    net,
    id,
    dir,
    store: { maxFileSize: 2048, logger: silentLogger },
    cluster: { durability: 'high', electionMs: 50, checkpointMs: 3_600_000, snapshots: { entries: 0, logBytes: 0, retain: 2, tail: 1000 }, ...over },
  });
}

/** Starts `m` and waits until it leads and has applied its whole log. */
async function run(m: Member): Promise<void> {
  m.cluster.start();
  await until('leadership', () => m.cluster.isLeader);
  await until('the replay', () => m.cluster.driver.applied === m.cluster.status().lastIndex);
}

/**
 * A stopped one-node cluster in `dir` that wrote k0…k(n-1) (each twice), with a snapshot
 * after the first half when `snapshot`, and `compact` entries dropped behind it. Returns
 * its contents and the durable position saved with its applied index.
 */
async function node(t: Teardown, dir: string, n: number, opts: { snapshot?: boolean; tail?: number } = {}): Promise<Record<string, string>> {
  const m = await open(t, dir, { snapshots: { entries: 0, logBytes: 0, retain: 2, tail: opts.tail ?? 1000 } });
  await run(m);
  for (let i = 0; i < n; i++) await set(m.cluster, `k${i}`, `first-${i}-${'x'.repeat(i * 7)}`);
  if (opts.snapshot) await m.cluster.snapshotNow();
  for (let i = 0; i < n; i++) await set(m.cluster, `k${i}`, `second-${i}`);
  const contents = m.kv.contents();
  await m.close();
  return contents;
}

/** The durable position saved in `dir`, with its path. */
function saved(dir: string): { file: string; size: number; index: number } {
  const s = readApplied(path.join(dir, RAFT_DIR), silentLogger);
  if (!s.position) throw new Error('no position saved');
  return { file: path.join(dir, s.position.file), size: s.position.size, index: s.index };
}

t.test('a new cluster saves the store position with its first applied index', async (t) => {
  const dir = tmpDir(t);
  await open(t, dir);
  t.strictSame(readApplied(path.join(dir, RAFT_DIR), silentLogger), { index: 1, position: { file: '0000000001.data', size: 0 } });
});

t.test('a store that lost durable bytes is rebuilt from the newest snapshot and the log', async (t) => {
  const dir = tmpDir(t);
  const want = await node(t, dir, 12, { snapshot: true });
  const pos = saved(dir);
  t.ok(pos.size > 40, 'the active file holds records');
  fs.truncateSync(pos.file, pos.size - 30);
  const m = await open(t, dir);
  const error = m.logs.find((l) => l.startsWith('error'));
  t.match(error, new RegExp(`the store lost data it had made durable: \\d+ bytes of ${pos.file} from offset \\d+ are gone \\(record cut short by end of file\\), though the applied index ${pos.index} saved with them counts them in`));
  t.match(m.logs.join('\n'), new RegExp(`rebuilt the store up to index ${pos.index} from the snapshot \\d+-\\d+-\\d+ \\(12 keys\\) and 12 commands of the log after index \\d+`));
  t.strictSame(m.kv.contents(), want, 'every key, before Raft runs');
  t.equal(saved(dir).index, pos.index, 'the applied index stays');
  await run(m);
  t.strictSame(m.kv.contents(), want, 'and after');
  await m.close();
  const again = await open(t, dir);
  t.notOk(again.logs.some((l) => /lost data|loaded the snapshot/.test(l)), 'the next open repairs nothing');
  t.strictSame(again.kv.contents(), want);
});

t.test('a store that lost durable bytes and a log never compacted: rebuilt from the whole log', async (t) => {
  const dir = tmpDir(t);
  const m0 = await open(t, dir);
  await run(m0);
  t.match(await m0.cluster.driver.propose(Buffer.from('not a command')), { type: 'error' }, 'a malformed entry in the log');
  await m0.close();
  const want = await node(t, dir, 10);
  const pos = saved(dir);
  fs.rmSync(pos.file.replace(/\.data$/, '.hint'));
  const bytes = fs.readFileSync(pos.file);
  bytes[bytes.length - 3]! ^= 0x20;
  fs.writeFileSync(pos.file, bytes);
  const m = await open(t, dir);
  t.match(m.logs.join('\n'), /bytes of .* are gone \(record checksum mismatch\)/);
  t.match(m.logs.join('\n'), new RegExp(`rebuilt the store up to index ${pos.index} from nothing and 21 commands of the log after index 0`));
  t.strictSame(m.kv.contents(), want);
  await run(m);
  t.strictSame(m.kv.contents(), want);
});

t.test('a store whose files are gone is rebuilt', async (t) => {
  const dir = tmpDir(t);
  const want = await node(t, dir, 8, { snapshot: true });
  for (const f of fs.readdirSync(dir)) if (/\.(data|hint)$/.test(f)) fs.rmSync(path.join(dir, f));
  const m = await open(t, dir);
  // The open started a new, empty file under the lost active file's name.
  t.match(m.logs.join('\n'), /bytes of .*0000000001\.data from offset 0 are gone \(the file holds only 0 bytes\)/);
  await run(m);
  t.strictSame(m.kv.contents(), want);
});

t.test('a store that lost durable bytes with no snapshot to rebuild from refuses to start, every time', async (t) => {
  const dir = tmpDir(t);
  await node(t, dir, 12, { snapshot: true, tail: 0 });
  const pos = saved(dir);
  for (const s of fs.readdirSync(path.join(dir, SNAPSHOTS_DIR))) fs.rmSync(path.join(dir, SNAPSHOTS_DIR, s, 'state.bin'));
  fs.truncateSync(pos.file, pos.size - 10);
  for (const attempt of ['first', 'second']) {
    const err = await open(t, dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof CorruptionError, `${attempt} attempt: a CorruptionError`);
    const c = err as CorruptionError;
    t.equal(c.file, pos.file, 'naming the data file');
    t.ok(c.offset < pos.size - 10 && c.offset > 0, `and the offset where the kept bytes end (${c.offset})`);
    t.match(c.message, /bytes the store had made durable are gone .*no valid snapshot in .* covers the log, which starts after index \d+\. .*remove this node \(bitraft leave\), delete its data directory and add it again/);
  }
});

t.test('a store cut beyond its durable position is only a torn tail: the log replays it', async (t) => {
  const dir = tmpDir(t);
  const m0 = await open(t, dir);
  await run(m0);
  for (let i = 0; i < 5; i++) await set(m0.cluster, `k${i}`, `v${i}`);
  await m0.close();
  const pos = saved(dir);
  // Written after the checkpoint: not durable as far as it knows.
  const m1 = await open(t, dir);
  await run(m1);
  await set(m1.cluster, 'late', 'x'.repeat(50));
  const want = m1.kv.contents();
  const checkpointAfter = fs.readFileSync(path.join(dir, RAFT_DIR, 'applied'));
  await m1.close();
  // As a crash before the second checkpoint leaves it, with the last record torn.
  fs.writeFileSync(path.join(dir, RAFT_DIR, 'applied'), checkpointAfter);
  const active = saved(dir).file;
  t.equal(active, pos.file, 'the same active file');
  fs.rmSync(active.replace(/\.data$/, '.hint'));
  fs.truncateSync(active, fs.statSync(active).size - 5);
  const m = await open(t, dir);
  t.notOk(m.logs.some((l) => /lost data/.test(l)), 'no loss');
  await run(m);
  t.strictSame(m.kv.contents(), want);
});

/** A and B, both voters of one cluster, after writing k0…k9; both stopped. */
async function twoVoterDirs(t: Teardown): Promise<{ a: string; b: string }> {
  const net = new Net();
  const a = await open(t, tmpDir(t), {}, net, A);
  const b = await open(t, tmpDir(t), { join: true }, net, B);
  a.cluster.start();
  b.cluster.start();
  await a.cluster.waitForLeader(5000);
  await a.cluster.addPeer(B, 5000);
  for (let i = 0; i < 10; i++) await set(a.cluster, `k${i}`, `v${i}`);
  await until('B applied all', () => b.cluster.driver.applied === a.cluster.driver.applied);
  await a.close();
  await b.close();
  return { a: a.dir, b: b.dir };
}

/** Cuts the last `n` bytes of the raft log in `dir`; returns its path and new size. */
function cutLog(dir: string, n: number): { file: string; size: number } {
  const file = path.join(dir, RAFT_DIR, LOG_FILE);
  const size = fs.statSync(file).size - n;
  fs.truncateSync(file, size);
  return { file, size };
}

t.test('a voter of a larger cluster whose log lost committed entries refuses to start', async (t) => {
  const { a } = await twoVoterDirs(t);
  const log = cutLog(a, 3);
  const err = await open(t, a, {}, new Net(), A).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CorruptionError, 'a CorruptionError');
  const c = err as CorruptionError;
  t.equal(c.file, log.file, 'naming the log');
  t.ok(c.offset < log.size, 'where it now ends: the torn record was cut');
  t.match(c.message, /the raft log ends at index \d+, but index \d+ was applied here: entries \d+ to \d+, written durably, are gone\. This node votes .*remove it from the cluster \(bitraft leave\)/);
});

t.test('with durability low, or as the only voter, a log that lost committed entries is logged and the node goes on', async (t) => {
  const { a } = await twoVoterDirs(t);
  const log = cutLog(a, 3);
  const m = await open(t, a, { durability: 'low' }, new Net(), A);
  t.match(m.logs.find((l) => l.startsWith('error')), new RegExp(`raft: corrupt data in ${log.file} at offset \\d+: the raft log ends at index \\d+, but index \\d+ was applied here: .*; going on with the entries that are left`));

  const single = tmpDir(t);
  const want = await node(t, single, 6);
  const cut = cutLog(single, 40);
  const s = await open(t, single);
  t.match(s.logs.find((l) => l.startsWith('error')), new RegExp(`corrupt data in ${cut.file} at offset`));
  await run(s);
  t.strictSame(s.kv.contents(), want, 'the store keeps what it applied');
});

t.test('without an applied checkpoint, the saved commit index tells what the log lost', async (t) => {
  const { a } = await twoVoterDirs(t);
  fs.rmSync(path.join(a, RAFT_DIR, 'applied'));
  // The commit index saved in the state file (written with a new term), past where the log now ends.
  const log = DiskLogStore.open(path.join(a, RAFT_DIR));
  const last = log.lastIndex();
  const hs = log.initialState().hardState;
  log.setHardState({ ...hs, term: hs.term + 1, commit: last });
  log.sync();
  const dropped = log.bytesAfter(last - 2);
  log.close();
  const file = path.join(a, RAFT_DIR, LOG_FILE);
  fs.truncateSync(file, fs.statSync(file).size - dropped);
  const err = await open(t, a, {}, new Net(), A).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CorruptionError, 'a CorruptionError');
  t.match((err as CorruptionError).message, new RegExp(`the raft log ends at index ${last - 2}, but index ${last} was committed here: entries ${last - 1} to ${last}, written durably, are gone`));
});

/** A stopped one-node cluster in `dir` whose counter `n` was incremented `times` times (and `s` set), with a snapshot halfway when asked. */
async function counted(t: Teardown, dir: string, times: number, snapshot = false): Promise<Record<string, string>> {
  const m = await open(t, dir);
  await run(m);
  await set(m.cluster, 's', 'v');
  for (let i = 0; i < times; i++) {
    await m.cluster.driver.propose(encodeStampedCommand(Date.now(), [Buffer.from('INCR'), Buffer.from('n')]));
    if (snapshot && i === times / 2) await m.cluster.snapshotNow();
  }
  const contents = m.kv.contents();
  await m.close();
  return contents;
}

for (const damage of ['damaged', 'missing'] as const) {
  t.test(`an applied index ${damage} over a store holding keys: the store is rebuilt from the log, no INCR counted twice`, async (t) => {
    const dir = tmpDir(t);
    const want = await counted(t, dir, 20);
    t.strictSame(want, { n: '20', s: 'v' });
    const file = path.join(dir, RAFT_DIR, APPLIED_FILE);
    if (damage === 'damaged') fs.writeFileSync(file, 'garbage\n');
    else fs.rmSync(file);
    const m = await open(t, dir);
    t.match(m.logs.join('\n'), /the applied index is not known \(.*applied is missing or damaged\) and the store holds 2 keys: replaying the log onto them would apply some entries twice/);
    t.match(m.logs.join('\n'), /rebuilt the store up to index \d+ from nothing and \d+ commands of the log after index 0/);
    await run(m);
    t.strictSame(m.kv.contents(), want, 'every counter as it was');
    t.notOk(readApplied(path.join(dir, RAFT_DIR), silentLogger).unknown, 'an applied index saved again');
  });
}

t.test('an applied index unknown over a store holding keys, with a snapshot: rebuilt from it and the log after it', async (t) => {
  const dir = tmpDir(t);
  const want = await counted(t, dir, 20, true);
  fs.rmSync(path.join(dir, RAFT_DIR, APPLIED_FILE));
  const m = await open(t, dir);
  t.match(m.logs.join('\n'), /rebuilt the store up to index \d+ from the snapshot \S+ \(2 keys\) and \d+ commands of the log after index \d+/);
  await run(m);
  t.strictSame(m.kv.contents(), want);
});

t.test('an applied index unknown over an empty store: nothing to rebuild, the log replays onto it', async (t) => {
  const dir = tmpDir(t);
  const want = await counted(t, dir, 5);
  fs.rmSync(path.join(dir, RAFT_DIR, APPLIED_FILE));
  for (const f of fs.readdirSync(dir)) if (/\.(data|hint)$/.test(f)) fs.rmSync(path.join(dir, f));
  const m = await open(t, dir);
  t.notOk(m.logs.some((l) => /not known|rebuilt/.test(l)), 'no rebuild');
  await run(m);
  t.strictSame(m.kv.contents(), want);
});
