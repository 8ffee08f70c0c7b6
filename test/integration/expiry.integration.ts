/**
 * Keys that expire, in real clusters of `bitraft serve` processes:
 *
 * - an expired key disappears from every replica by a replicated delete (the leader's
 *   sweep), also when nobody touches it again; a key given a new value meanwhile stays;
 * - expiries survive a restart (SIGKILL: replayed from the log; SIGTERM: from the data
 *   files and hints) and travel with a snapshot to a node added after compaction;
 * - `bitraft parse-snapshot` emits `SET … PXAT`, which redis-server and bitraft both load.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { pairs, sleep, startCluster, type TestCluster } from '../helpers/cluster.js';

/** Polls `fn` until it returns true (or fails the wait after `ms`, with `what`). */
async function until(what: string, ms: number, fn: () => Promise<boolean>, c?: TestCluster): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${c ? `\n${c.logs()}` : ''}`);
    await sleep(50);
  }
}

const FAR = 4102444800123; // 2100-01-01T00:00:00.123Z

t.test('expired keys are deleted on every replica; expiries survive restarts and snapshots', async (t) => {
  const c = await startCluster(t, { size: 3, args: ['--consistency', 'low', '--snapshot-entries', '0', '--log-tail', '5'] });
  const leader = await c.leader();
  const followers = c.members().filter((n) => n !== leader);
  const redis = await c.client(leader);
  await redis.set('short', 'v', 'PX', 300);
  await redis.set('renewed', 'v', 'PX', 300);
  await redis.set('far', 'v', 'PXAT', FAR);
  await redis.set('plain', 'v');
  await redis.set('renewed', 'v2');
  for (const n of c.members()) await until(`${n.name} to apply the writes`, 10_000, async () => (await c.tryCall(n, ['GET', 'renewed'])) === 'v2', c);
  // Nobody reads 'short' again: the leader's sweep deletes it everywhere, through the log.
  for (const n of c.members()) await until(`${n.name} to drop the expired key`, 10_000, async () => (await c.tryCall(n, ['DBSIZE'])) === 3, c);
  for (const n of c.members()) {
    t.equal(await c.call(n, ['PEXPIRETIME', 'far']), FAR, `${n.name}: the far expiry`);
    t.equal(await c.call(n, ['TTL', 'renewed']), -1, `${n.name}: a new value cleared the expiry`);
    t.equal(await c.call(n, ['EXISTS', 'short']), 0);
    t.match(await c.call(n, ['INFO', 'keyspace']), /db0:keys=3,expires=1,/);
  }

  // Restarts: SIGKILL (the log replays the stamped entries), SIGTERM (data files and hints).
  await redis.set('later', 'v', 'PXAT', FAR + 1);
  await until('the follower to apply it', 10_000, async () => (await c.tryCall(followers[0]!, ['EXISTS', 'later'])) === 1, c);
  await c.kill(followers[0]!, 'SIGKILL');
  await c.restart(followers[0]!);
  await c.kill(followers[1]!, 'SIGTERM');
  await c.restart(followers[1]!);
  for (const n of followers) {
    await until(`${n.name} to serve again`, 15_000, async () => (await c.tryCall(n, ['PEXPIRETIME', 'later'])) === FAR + 1, c);
    t.equal(await c.call(n, ['PEXPIRETIME', 'far']), FAR, `${n.name}: after a restart`);
  }

  // A snapshot carries the expiries to a node added after the log was compacted.
  const snap = (await c.call(leader, ['RAFTSNAPSHOT'])) as unknown[];
  t.ok(Array.isArray(snap));
  // Compaction stops at the index the store saved as applied (once a second): ask until it reaches the snapshot.
  await until('the log to be compacted behind the snapshot', 10_000, async () => {
    await c.call(leader, ['RAFTSHRINKLOG', '0']);
    const stats = pairs(await c.call(leader, ['RAFTSTATS']));
    return Number(stats['first_log_index']) === Number(stats['last_snapshot_index']) + 1;
  }, c);
  const added = await c.add();
  await until('the new node to catch up', 20_000, async () => (await c.tryCall(added, ['DBSIZE'])) === 4, c);
  // Its log lines reach this process a little later than its replies.
  await until('the install to show in its log', 5_000, async () => /installed the snapshot/.test(c.log(added)), c);
  t.equal(await c.call(added, ['PEXPIRETIME', 'far']), FAR, 'the expiry came with the snapshot');
  t.equal(await c.call(added, ['PEXPIRETIME', 'later']), FAR + 1);
  t.equal(await c.call(added, ['TTL', 'plain']), -1);

  // parse-snapshot shows the expiry.
  const dir = path.join(leader.dir, 'snapshots');
  const newest = fs.readdirSync(dir).filter((d) => /^\d+-\d+-\d+$/.test(d)).sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])).at(-1)!;
  const parsed = runCli(['parse-snapshot', path.join(dir, newest, 'state.bin'), '--format', 'json']);
  t.equal(parsed.status, 0, parsed.stderr);
  const records = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; expiresAt?: number });
  t.same(Object.fromEntries(records.map((r) => [r.key, r.expiresAt ?? 0])), { far: FAR, later: FAR + 1, plain: 0, renewed: 0 });
  // A clean stop of the node that swept and snapshotted (it exits 0).
  t.equal((await c.kill(leader, 'SIGTERM'))?.code, 0);
});
