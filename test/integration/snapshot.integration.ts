/**
 * Snapshots and log compaction in real clusters of `bitraft serve` processes:
 *
 * - a follower that was down while the leader compacted its log catches up from a
 *   streamed snapshot, and its store is replaced — keys deleted meanwhile do not survive
 *   on it (the Go original kept them: its replicas diverged);
 * - a node added after compaction catches up the same way;
 * - RAFTSNAPSHOT, RAFTSHRINKLOG and `bitraft snapshot --host` on a one-node cluster; the
 *   snapshot's state.bin holds exactly the keys; a restart with a compacted log serves
 *   everything; a store that fell behind the log is rebuilt from the snapshot; with only
 *   a corrupt snapshot the node refuses to start, saying why.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { pairs, sleep, startCluster, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { runServeToExit } from '../helpers/server.js';

const SNAPSHOT_ARGS = ['--snapshot-entries', '300', '--log-tail', '50'];

/** Polls `fn` until it returns true (or fails the wait after `ms`, with `what`). */
async function until(what: string, ms: number, fn: () => Promise<boolean>, c?: TestCluster): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${c ? `\n${c.logs()}` : ''}`);
    await sleep(100);
  }
}

/** The snapshot directories of a node, oldest first. */
function snapshotDirs(node: ClusterNode): string[] {
  const dir = path.join(node.dir, 'snapshots');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => /^\d+-\d+-\d+$/.test(d))
    .sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]))
    .map((d) => path.join(dir, d));
}

/** Every key and value a node holds (read locally: the node runs with --consistency low). */
async function contents(c: TestCluster, node: ClusterNode): Promise<Record<string, string>> {
  const redis = await c.client(node);
  try {
    const keys = (await redis.keys('*')).sort();
    const values = keys.length > 0 ? await redis.mget(...keys) : [];
    return Object.fromEntries(keys.map((k, i) => [k, values[i]!]));
  } finally {
    c.drop(redis);
  }
}

t.test('a follower behind the compacted log catches up from a snapshot; deleted keys do not survive on it', async (t) => {
  const c = await startCluster(t, { size: 3, args: [...SNAPSHOT_ARGS, '--consistency', 'low'] });
  const leader = await c.leader();
  const follower = c.members().find((n) => n !== leader)!;
  const redis = await c.client(leader, { commandTimeout: 10_000 });
  const stale = Array.from({ length: 100 }, (_, i) => `stale:${i}`);
  await redis.mset(...stale.flatMap((k) => [k, 'old']));
  await until('the follower to apply the stale keys', 10_000, async () => (await c.tryCall(follower, ['DBSIZE'])) === 100, c);
  await c.kill(follower);

  // While it is down: the stale keys go, 1,000 others come, one entry each, so the leader
  // snapshots and compacts its log past everything the follower has.
  const followerLast = Number((await c.stats(leader))['commit_index']);
  await redis.del(...stale);
  for (let i = 0; i < 1000; i += 50) {
    const batch = redis.pipeline();
    for (let j = i; j < i + 50; j++) batch.set(`fresh:${j}`, `v${j}`);
    await batch.exec();
  }
  await until('the leader to compact its log', 15_000, async () => Number((await c.stats(leader))['first_log_index']) > followerLast + 1, c);
  t.ok(snapshotDirs(leader).length >= 1, 'the leader holds a snapshot');
  // A new snapshot is renamed into place before the oldest is deleted: retain + 1 may show for a moment.
  await until('at most --snapshot-retain (2) snapshots to be kept', 5_000, async () => snapshotDirs(leader).length <= 2, c);

  await c.restart(follower);
  const want = await contents(c, leader);
  t.equal(Object.keys(want).length, 1000);
  await until('the follower to catch up', 20_000, async () => JSON.stringify(await contents(c, follower)) === JSON.stringify(want), c);
  t.match(c.log(follower), /installed the snapshot \d+-\d+-\d+/, 'it installed a snapshot');
  t.match(c.log(leader), /sent the snapshot \d+-\d+-\d+ to /);
  t.same(await c.call(follower, ['KEYS', 'stale:*']), [], 'no stale key survived the install');
  t.ok(snapshotDirs(follower).length >= 1, 'the received snapshot is kept on the follower');

  // Still replicating from the log after the install.
  await redis.set('after', 'install');
  await until('the write after the install to reach the follower', 10_000, async () => (await c.tryCall(follower, ['GET', 'after'])) === 'install', c);

  // A node added now also starts from a snapshot.
  const added = await c.add();
  await until('the new node to catch up', 20_000, async () => (await c.tryCall(added, ['DBSIZE'])) === 1001, c);
  t.match(c.log(added), /installed the snapshot/);
  t.same(await contents(c, added), await contents(c, leader));
});

t.test('RAFTSNAPSHOT, RAFTSHRINKLOG and bitraft snapshot --host on a one-node cluster; restarts after compaction', async (t) => {
  const c = await startCluster(t, { size: 1, args: ['--snapshot-entries', '0', '--log-tail', '10'] });
  const node = c.nodes[0]!;
  const redis = await c.client(node);
  for (let i = 0; i < 200; i++) await redis.set(`k${i}`, `value ${i}`);
  await redis.del('k0');

  t.match(await c.call(node, ['RAFTSHRINKLOG']), { message: /^ERR there is no snapshot to compact the log behind/ }, 'nothing to compact behind yet');
  const cli = runCli(['snapshot', '--host', node.addr, '--json']);
  t.equal(cli.status, 0, cli.stderr);
  const snap = JSON.parse(cli.stdout) as { path: string; id: string; index: number; term: number; size: number; crc: string; voters: string[] };
  t.equal(snap.voters.join(), node.addr);
  t.ok(fs.existsSync(path.join(snap.path, 'meta.json')) && fs.existsSync(path.join(snap.path, 'state.bin')));
  t.equal(fs.statSync(path.join(snap.path, 'state.bin')).size, snap.size);
  const parsed = runCli(['parse-snapshot', path.join(snap.path, 'state.bin'), '--format', 'json']);
  t.equal(parsed.status, 0, parsed.stderr);
  const records = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; value: string });
  t.equal(records.length, 199, 'the deleted key is not in it');
  t.same(Object.fromEntries(records.map((r) => [r.key, r.value])), await contents(c, node));

  const table = runCli(['snapshot', '--host', node.addr]);
  t.equal(table.status, 0, table.stderr);
  t.match(table.stdout, snap.path, 'nothing new: the same snapshot is reported');
  t.match(table.stdout, /index\s.*\d+/);

  const stats = pairs(await c.call(node, ['RAFTSTATS']));
  t.equal(Number(stats['last_snapshot_index']), snap.index);
  t.equal(Number(stats['first_log_index']), snap.index - 10 + 1, 'compacted behind the snapshot, keeping --log-tail entries');
  t.ok(Number(await c.call(node, ['RAFTSHRINKLOG', '0'])) === 10, 'RAFTSHRINKLOG 0 drops the tail too');
  t.equal(Number(pairs(await c.call(node, ['RAFTSTATS']))['first_log_index']), snap.index + 1);
  t.match(await c.call(node, ['RAFTSHRINKLOG', 'x']), { message: 'ERR the tail to keep must be a non-negative integer' });
  await redis.set('after', 'snapshot');

  // A restart with a compacted log: the store is current, nothing is reloaded.
  await c.kill(node, 'SIGTERM');
  await c.restart(node);
  await c.waitForLeader();
  t.equal(await c.call(node, ['DBSIZE']), 200);
  t.equal(await c.call(node, ['GET', 'after']), 'snapshot');
  t.notMatch(c.log(node), /loaded the snapshot/, 'no snapshot reload when the store is current');

  // The store falls behind the log (its applied index is lost): rebuilt from the snapshot, then the log replayed.
  await c.kill(node, 'SIGTERM');
  fs.rmSync(path.join(node.dir, 'raft', 'applied'));
  await c.restart(node);
  await c.waitForLeader();
  t.match(c.log(node), /loaded the snapshot/);
  t.equal(await c.call(node, ['DBSIZE']), 200);
  t.equal(await c.call(node, ['GET', 'after']), 'snapshot');
  t.equal(await c.call(node, ['GET', 'k0']), null);

  // With only a corrupt snapshot to rebuild from, the node refuses to start and says why.
  await c.kill(node, 'SIGTERM');
  fs.rmSync(path.join(node.dir, 'raft', 'applied'));
  const state = path.join(snapshotDirs(node).at(-1)!, 'state.bin');
  const bytes = fs.readFileSync(state);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.writeFileSync(state, bytes);
  const run = await runServeToExit(t, node.dir);
  t.not(run.code, 0);
  t.match(run.stderr, /skipped the snapshot .*(CRC|checksum)/i);
  t.match(run.stderr, /no valid snapshot .* covers the gap/);
});
