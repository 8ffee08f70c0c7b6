/**
 * Damage to the synced part of a stopped node's active data file, with real `bitraft
 * serve` processes:
 *
 * - a one-node cluster whose log was never compacted rebuilds its store from its log on
 *   restart, logging the file and offset of the loss, and serves every key;
 * - one whose log was compacted and whose snapshots are gone cannot be rebuilt: `serve`
 *   exits 1 with `Error: corrupt data in <file> at offset N: …` saying how to recover,
 *   and does so again on the next try;
 * - a follower of a three-node cluster repairs itself and catches up with the leader:
 *   once both have applied the same index, their `RAFTDIGEST`s are the same.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { pairs, respCall, sleep, startCluster, type ClusterNode, type Resp, type TestCluster } from '../helpers/cluster.js';
import { runServeToExit, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

/** Small data files, so the store has several and the active one holds a few hundred records at most. */
const FILE_SIZE = ['--max-file-size', '8192'];

/** The active data file of a stopped node and the bytes of it its applied-index checkpoint says were fsynced. */
function durable(dir: string): { file: string; size: number } {
  const m = /^\d+ (\S+) (\d+) \d+\n$/.exec(fs.readFileSync(path.join(dir, 'raft', 'applied'), 'utf8'));
  if (!m) throw new Error('the applied index was saved without the store position');
  return { file: path.join(dir, m[1]!), size: Number(m[2]) };
}

/** Cuts `bytes` off the end of the node's active data file, all of them in its synced part; returns the file and its new size. */
function damage(dir: string, bytes: number): { file: string; size: number } {
  const { file, size } = durable(dir);
  if (size <= bytes || fs.statSync(file).size !== size) throw new Error(`test bug: ${file} holds ${fs.statSync(file).size} bytes, ${size} synced`);
  fs.truncateSync(file, size - bytes);
  return { file, size: size - bytes };
}

/** `n` keys from `from` with values of a few dozen bytes. */
function keys(from: number, n: number): Map<string, string> {
  return new Map(Array.from({ length: n }, (_, i) => [`key:${from + i}`, `value-${from + i}-${'v'.repeat((from + i) % 40)}`]));
}

/** Writes `kv` through `port`, 20 pairs per MSET. */
async function write(port: number, kv: Map<string, string>): Promise<void> {
  const entries = [...kv];
  for (let i = 0; i < entries.length; i += 20) {
    const reply = await respCall(port, ['MSET', ...entries.slice(i, i + 20).flat()], 10_000);
    if (reply !== 'OK') throw new Error(`MSET: ${String(reply)}`);
  }
}

/** Polls MGET through `port` until every key of `want` has its value; rejects with the differences after `ms`. */
async function readBack(port: number, want: Map<string, string>, ms = 20_000): Promise<void> {
  const names = [...want.keys()];
  const deadline = Date.now() + ms;
  let last: Resp | string = '';
  for (;;) {
    last = await respCall(port, ['MGET', ...names], 5000).catch((err: unknown) => String(err));
    if (Array.isArray(last) && names.every((k, i) => last instanceof Array && last[i] === want.get(k))) return;
    if (Date.now() > deadline) {
      const wrong = Array.isArray(last) ? names.filter((k, i) => (last as Resp[])[i] !== want.get(k)) : [];
      throw new Error(`keys not read back within ${ms} ms: ${Array.isArray(last) ? wrong.slice(0, 5).join(', ') : String(last)}`);
    }
    await sleep(100);
  }
}

t.test('a single node whose active data file lost synced bytes rebuilds its store from its log', async (t) => {
  const dir = tmpDir(t, 'bitraft-it-');
  const first = await startServer(t, { dir, args: FILE_SIZE });
  const want = keys(0, 300);
  await write(first.port, want);
  t.equal((await first.stop('SIGTERM')).code, 0, 'stopped cleanly');
  const { file, size } = damage(dir, 100);

  const second = await startServer(t, { dir, args: FILE_SIZE });
  const m = /error raft: the store lost data it had made durable: (\d+) bytes of (\S+) from offset (\d+) are gone/.exec(second.stderr());
  t.ok(m, 'the loss is logged');
  t.equal(m?.[2], file, 'naming the active data file');
  t.ok(Number(m?.[3]) <= size, 'and the offset where the kept records end');
  t.match(second.stderr(), /rebuilt the store up to index \d+ from nothing and \d+ commands of the log after index 0/, 'rebuilt from the whole log');
  await readBack(second.port, want).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${second.stderr()}`);
  });
  t.pass('every key reads its value');
  t.equal((await second.stop('SIGTERM')).code, 0, 'stopped cleanly again');

  const third = await startServer(t, { dir, args: FILE_SIZE });
  t.notMatch(third.stderr(), /lost data/, 'repaired for good: the next start is quiet');
  await readBack(third.port, want);
  await third.stop('SIGTERM');
});

t.test('a node that cannot rebuild its store refuses to start, naming the file and offset', async (t) => {
  const dir = tmpDir(t, 'bitraft-it-');
  const server = await startServer(t, { dir, args: FILE_SIZE });
  await write(server.port, keys(0, 200));
  t.ok(Array.isArray(await respCall(server.port, ['RAFTSNAPSHOT'], 10_000)), 'a snapshot');
  t.ok(Number(await respCall(server.port, ['RAFTSHRINKLOG', '0'], 10_000)) > 0, 'the log compacted behind it');
  await write(server.port, keys(200, 20));
  await server.stop('SIGTERM');
  fs.rmSync(path.join(dir, 'snapshots'), { recursive: true });
  const { file } = damage(dir, 50);

  for (const attempt of ['first', 'second']) {
    const run = await runServeToExit(t, dir, FILE_SIZE);
    t.equal(run.code, 1, `${attempt} start: exit code 1`);
    const m = new RegExp(`^Error: corrupt data in ${file.replace(/[.\\/]/g, '\\$&')} at offset (\\d+): \\d+ bytes the store had made durable are gone`, 'm').exec(run.stderr);
    t.ok(m, `${attempt} start: the error names the file and offset`);
    t.match(run.stderr, /remove this node \(bitraft leave\), delete its data directory and add it again \(bitraft serve --join\)/, 'and says how to recover');
  }
});

/** RAFTDIGEST of `node`: the applied index and the digest. */
async function digest(c: TestCluster, node: ClusterNode): Promise<{ index: number; digest: string }> {
  const d = pairs(await c.call(node, ['RAFTDIGEST'], 10_000));
  return { index: Number(d.index), digest: String(d.digest) };
}

t.test('a follower whose store was damaged repairs itself and ends with the leader\'s RAFTDIGEST', async (t) => {
  const c = await startCluster(t, { args: FILE_SIZE });
  const leader = await c.leader();
  await write(leader.port, keys(0, 250));
  const follower = c.members().find((n) => n !== leader)!;
  await readBack(follower.port, keys(0, 250));
  await c.kill(follower, 'SIGTERM');
  const { file } = damage(follower.dir, 200);
  await c.restart(follower);
  t.match(c.log(follower), new RegExp(`the store lost data it had made durable: \\d+ bytes of ${file.replace(/[.\\/]/g, '\\$&')} from offset \\d+`), 'the follower logs its loss');
  await write(leader.port, keys(250, 50));

  const deadline = Date.now() + 30_000;
  for (;;) {
    const [l, f] = [await digest(c, leader), await digest(c, follower)];
    if (l.index === f.index) {
      t.equal(f.digest, l.digest, `the same digest at index ${l.index}`);
      break;
    }
    if (Date.now() > deadline) throw new Error(`the follower is at index ${f.index}, the leader at ${l.index}\n${c.logs()}`);
    await sleep(100);
  }
  await readBack(follower.port, new Map([...keys(0, 250), ...keys(250, 50)]));
});
