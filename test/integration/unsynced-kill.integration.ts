/**
 * SIGKILL under load, with the data a power loss would lose thrown away: a one-node
 * bitraft (durability high) takes writes from several pipelining clients; it is
 * SIGKILLed at a random moment, every file it wrote is cut back to its last fsynced size
 * (`unsynced-rollback.ts`: its unsynced appends are gone), and it is started again —
 * BITRAFT_KILLS times (default 50). Every start must succeed, and every write that was
 * ever acknowledged must be there with its value: the Raft log is fsynced before a write
 * is acknowledged, the key/value store is not, and a restart replays the log from the
 * index the store had durably applied.
 *
 * Every write goes to a key of its own (`w:<kill>:<client>:<n>`), so an acknowledged
 * write is missing exactly when its key is; a write in flight at the kill may or may not
 * survive. The seed (BITRAFT_KILL_SEED) picks the load time before each kill.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { seededRng } from '../../src/core/support/rng.js';
import { sleep, startServer, type ServerHandle } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { rollBackUnsynced, UNSYNCED_PRELOAD } from '../helpers/unsynced-rollback.js';

const KILLS = Number(process.env.BITRAFT_KILLS ?? 50);
const SEED = process.env.BITRAFT_KILL_SEED !== undefined ? Number(process.env.BITRAFT_KILL_SEED) : Math.floor(Math.random() * 2 ** 31);
const CLIENTS = 4;
/** Writes each client keeps in flight. */
const PIPELINE = 16;

/** Writes through `port` until `stop()`; adds every acknowledged key (with its value) to `acked`. */
async function writer(port: number, kill: number, client: number, acked: Map<string, string>, stop: () => boolean): Promise<number> {
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  let sent = 0;
  try {
    await redis.connect();
    let failed = false;
    // A failed write means the node is gone: stop (failures come back at once, and a loop
    // of them would never let the event loop run).
    while (!stop() && !failed) {
      const batch = Array.from({ length: PIPELINE }, () => {
        const key = `w:${kill}:${client}:${sent++}`;
        const value = `${key}:${'v'.repeat(sent % 200)}`;
        return redis.set(key, value).then(
          () => acked.set(key, value),
          () => (failed = true),
        );
      });
      await Promise.all(batch);
    }
  } catch {
    // The node was killed: whatever was in flight is unknown.
  } finally {
    redis.disconnect();
  }
  return sent;
}

t.test(`${KILLS} SIGKILLs under load, unsynced data discarded: every start succeeds, no acknowledged write is lost (seed ${SEED})`, async (t) => {
  t.setTimeout(Math.max(300_000, KILLS * 6000));
  const rng = seededRng(SEED);
  const dir = path.join(tmpDir(t, 'bitraft-kill-'), 'data');
  const journal = `${dir}.journal`;
  const env = { ...process.env, BITRAFT_UNSYNCED_JOURNAL: journal };
  const start = (): Promise<ServerHandle> => startServer(t, { dir, env, nodeArgs: ['--import', UNSYNCED_PRELOAD], args: ['--snapshot-entries', '2000', '--log-tail', '500'] });
  const acked = new Map<string, string>();
  let dropped = 0;
  let cutFiles = 0;
  let replayed = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const server = await start();
    const loadMs = 50 + rng.int(700);
    let stopped = false;
    const writers = Array.from({ length: CLIENTS }, (_, c) => writer(server.port, kill, c, acked, () => stopped));
    await sleep(loadMs);
    await server.kill();
    stopped = true;
    await Promise.all(writers);
    const rollback = rollBackUnsynced(dir, journal);
    dropped += rollback.bytesDropped;
    cutFiles += rollback.cut.length;
  }
  // Restart once more and read everything back.
  const server = await start();
  replayed = Number(/replaying (\d+)/.exec(server.stderr())?.[1] ?? 0);
  const redis = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 });
  t.teardown(() => redis.disconnect());
  const keys = [...acked.keys()];
  let missing = 0;
  let wrong = 0;
  const missingByKill = new Map<string, string[]>();
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const values = await redis.mget(...chunk);
    chunk.forEach((k, j) => {
      if (values[j] === null) {
        missing++;
        const kill = k.split(':')[1]!;
        missingByKill.set(kill, [...(missingByKill.get(kill) ?? []), k]);
      }
      else if (values[j] !== acked.get(k)) wrong++;
    });
  }
  t.comment(
    `seed ${SEED}: ${KILLS} kills, ${acked.size} acknowledged writes, ${dropped} unsynced bytes in ${cutFiles} file cuts thrown away` +
      (replayed ? `, ${replayed} entries replayed at the last start` : ''),
  );
  t.ok(acked.size >= KILLS * 10, `the load was real: ${acked.size} acknowledged writes`);
  t.ok(dropped > 0, 'unsynced data was really thrown away');
  t.equal(missing, 0, 'no acknowledged write is missing', { missing: [...missingByKill].map(([kill, keys]) => `kill ${kill}: ${keys.length} (${keys.slice(0, 3).join(' ')} …)`) });
  t.equal(wrong, 0, 'none has another value');
  t.notMatch(fs.readFileSync(journal, 'utf8'), /^$/, 'the journal recorded syncs');
  await server.stop();
});
