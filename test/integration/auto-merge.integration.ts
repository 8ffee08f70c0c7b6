/**
 * Automatic merges of a real `bitraft serve`: with small data files and low thresholds,
 * overwriting keys makes dead bytes, and the node merges by itself — INFO persistence
 * counts it, the data files on disk shrink below what was written, the log says so —
 * and every key still reads its latest value, also after a restart. Bad flag values
 * are refused with a clear message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { runServeToExit, sleep, startServer, type ServerHandle } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const KEYS = 200;
const ROUNDS = 8;
const VALUE = 400;
const BASE_ARGS = ['--max-file-size', String(64 << 10), '--merge-min-dead-bytes', '0', '--merge-check-interval', '100', '--merge-rate', String(1 << 20)];
const ARGS = [...BASE_ARGS, '--merge-dead-ratio', '0.5'];

/** Bytes of the data files in `dir` (not hints, not the Raft log). */
function dataFileBytes(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.data'))
    .reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0);
}

/** INFO persistence as a map. */
async function persistence(redis: Redis): Promise<Map<string, string>> {
  const text = await redis.info('persistence');
  return new Map(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(':') as [string, string]));
}

/** Polls INFO persistence until `done` holds (failing after `ms`, with the server's log). */
async function until(server: ServerHandle, redis: Redis, what: string, done: (info: Map<string, string>) => boolean, ms = 60_000): Promise<Map<string, string>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await persistence(redis);
    if (done(info)) return info;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; INFO ${JSON.stringify([...info])}\n${server.stderr()}`);
    await sleep(100);
  }
}

function client(t: Test, port: number): Redis {
  const redis = new Redis(port, '127.0.0.1');
  t.teardown(() => redis.disconnect());
  return redis;
}

t.test('a node merges by itself; the files shrink; every key keeps its latest value, across a restart', async (t) => {
  const server = await startServer(t, { args: ARGS });
  const redis = client(t, server.port);
  const before = await persistence(redis);
  t.equal(before.get('bitraft_auto_merge'), 'yes');
  t.equal(before.get('bitraft_auto_merges'), '0');
  const latest = new Map<string, string>();
  let written = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const pipeline = redis.pipeline();
    for (let i = 0; i < KEYS; i++) {
      const key = `key:${i}`;
      const value = `${round}:${i}:`.padEnd(VALUE, String.fromCharCode(97 + ((round + i) % 26)));
      latest.set(key, value);
      written += 21 + key.length + value.length;
      pipeline.set(key, value);
    }
    const replies = await pipeline.exec();
    t.ok(replies!.every(([err, reply]) => err === null && reply === 'OK'), `round ${round} written`);
  }
  const info = await until(server, redis, 'an automatic merge that leaves less than half dead', (i) => Number(i.get('bitraft_auto_merges')) >= 1 && i.get('bitraft_merge_in_progress') === '0' && Number(i.get('bitraft_dead_bytes')) * 2 < Number(i.get('bitraft_data_bytes')));
  t.equal(info.get('bitraft_last_merge_status'), 'ok');
  t.equal(info.get('bitraft_auto_merge_failures'), '0');
  const onDisk = dataFileBytes(server.dir);
  const live = [...latest].reduce((sum, [k, v]) => sum + 21 + k.length + v.length, 0);
  t.ok(onDisk < written / 2, `data files hold ${onDisk} bytes of the ${written} written`);
  t.ok(onDisk >= live, `and at least the ${live} live ones`);
  t.match(server.stderr(), /info  merge: starting \([\d.]+ MiB of [\d.]+ MiB dead \(\d+%, threshold 50%\), [\d.]+ MiB reclaimable in \d+ files; at most 1\.0 MiB\/s\)\n/);
  t.match(server.stderr(), /info  merge: done in [\d.]+ s: reclaimed [\d.]+ MiB/);
  const values = await redis.mget(...latest.keys());
  t.same(values, [...latest.values()], 'every key reads its latest value');

  redis.disconnect();
  const exit = await server.stop();
  t.equal(exit.code, 0, 'a clean stop');
  const again = await startServer(t, { dir: server.dir, args: ARGS });
  const reopened = client(t, again.port);
  t.same(await reopened.mget(...latest.keys()), [...latest.values()], 'and after a restart');
  t.equal(await reopened.dbsize(), KEYS, 'no key came back from a merged-away file');
});

t.test('--merge-dead-ratio 0: no automatic merges', async (t) => {
  const server = await startServer(t, { args: [...BASE_ARGS, '--merge-dead-ratio', '0'] });
  const redis = client(t, server.port);
  for (let round = 0; round < 3; round++) await redis.mset(...Array.from({ length: KEYS }, (_, i) => [`key:${i}`, `${round}`.padEnd(VALUE, 'x')]).flat());
  await sleep(500); // five check intervals, had merges been on
  const info = await persistence(redis);
  t.equal(info.get('bitraft_auto_merge'), 'no');
  t.equal(info.get('bitraft_auto_merges'), '0');
  t.ok(Number(info.get('bitraft_dead_bytes')) > Number(info.get('bitraft_data_bytes')) / 2, 'the dead bytes stay');
});

t.test('bad merge flags are refused with a clear message', async (t) => {
  const dir = tmpDir(t);
  const ratio = await runServeToExit(t, dir, ['--merge-dead-ratio', '1.5']);
  t.not(ratio.code, 0);
  t.match(ratio.stderr, /Error: --merge-dead-ratio must be a number from 0 to 1 \(0: no automatic merges\), not "1\.5"/);
  const rate = await runServeToExit(t, dir, ['--merge-rate', '-1']);
  t.equal(rate.code, 2);
  t.match(rate.stderr, /merge-rate/);
});
