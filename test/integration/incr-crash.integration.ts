/**
 * Counters across SIGKILL: a node killed right after clients pipelined INCR (and
 * transactions of two INCRs) at it — before its applied index caught up with its store —
 * comes back with each counter at exactly the number of increments, because a restart
 * rolls the store back to where its applied index was saved before the log replays the
 * entries after it. (An INCR applied twice shows as too many.)
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { sleep } from '../helpers/cluster.js';
import { startServer } from '../helpers/server.js';

const ROUNDS = 3;

t.test('INCR and transactions survive SIGKILL exactly once', async (t) => {
  let dir: string | undefined;
  let sent = 0;
  let pairs = 0;
  let rolledBack = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const node = await startServer(t, dir ? { dir } : {});
    dir = node.dir;
    const clients = Array.from({ length: 4 }, () => new Redis(node.port, '127.0.0.1'));
    let running = true;
    const load = clients.map(async (c, i) => {
      while (running) {
        const batch = c.pipeline();
        for (let j = 0; j < 50; j++) batch.incr('counter');
        if (i === 0) batch.call('MULTI').incr('pair:a').incr('pair:b').call('EXEC');
        const replies = (await batch.exec())!;
        t.ok(replies.every(([err]) => err === null), 'every reply ok');
        sent += 50;
        if (i === 0) pairs++;
      }
    });
    await sleep(700 + round * 400);
    running = false;
    await Promise.all(load);
    // At once: the store holds entries the saved applied index (once a second) does not cover yet.
    await node.kill();
    for (const c of clients) c.disconnect();
    const again = await startServer(t, { dir });
    if (/rolled the store back/.test(again.stderr())) rolledBack++;
    const check = new Redis(again.port, '127.0.0.1');
    t.equal(Number(await check.get('counter')), sent, `round ${round}: every INCR once`);
    t.strictSame((await check.mget('pair:a', 'pair:b')).map(Number), [pairs, pairs], `round ${round}: every transaction once`);
    check.disconnect();
    await again.stop('SIGTERM');
  }
  t.ok(rolledBack > 0, `the store was rolled back on ${rolledBack} of ${ROUNDS} restarts`);
});
