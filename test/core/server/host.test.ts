import net from 'node:net';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { DEFAULT_CONFIG, startNode, streamLogger, type ServerConfig } from '../../../src/core/server/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { connectRaw } from './net-client.js';

function setup(t: { teardown(fn: () => void): void }, over: Partial<ServerConfig> = {}) {
  const logs: string[] = [];
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: tmpDir(t), port: 0, ...over };
  const logger = streamLogger('debug', { write: (s: string) => logs.push(s) });
  return { logs, config, logger };
}

t.test('startNode opens the store, listens, and stops on SHUTDOWN', async (t) => {
  const { logs, config, logger } = setup(t);
  const node = await startNode(config, logger, '1.0.0-test');
  t.teardown(() => node.stop('teardown'));
  t.ok(node.port > 0);
  const c = await connectRaw(t, node.port);
  c.send('SET', 'k', 'v');
  c.send('GET', 'k');
  c.send('INFO', 'server');
  await c.until((s) => s.includes('bitraft_version:1.0.0-test'));
  t.match(c.received(), /^\+OK\r\n\$1\r\nv\r\n/);
  c.send('SHUTDOWN');
  await c.untilClosed();
  t.match(c.received(), /bitraft_version:1\.0\.0-test[^]*\r\n$/, 'SHUTDOWN closes without a reply');
  await node.stopped;
  const text = logs.join('');
  t.match(text, new RegExp(`info  opened ${config.dir}: 0 keys\\n`));
  t.match(text, new RegExp(`info  raft: started a new single-node cluster as 127\\.0\\.0\\.1:${node.port}\\n`));
  t.match(text, new RegExp(`info  listening on 127\\.0\\.0\\.1:${node.port} as 127\\.0\\.0\\.1:${node.port} \\(durability high, consistency high\\)\\n`));
  t.match(text, /info  raft: became the leader at term 2\n/);
  t.match(text, /info  shutting down: SHUTDOWN from client 127\.0\.0\.1:\d+\n/);
  t.match(text, /info  stopped\n$/);
  const again = await startNode(config, logger, '1.0.0-test');
  t.teardown(() => again.stop('teardown'));
  const d = await connectRaw(t, again.port);
  d.send('GET', 'k');
  await d.until((s) => s === '$1\r\nv\r\n');
  t.match(logs.join(''), new RegExp(`opened ${config.dir}: 1 keys\\n`), 'the data survived the restart');
});

t.test('stop() is idempotent and releases the directory', async (t) => {
  for (const durability of ['low', 'medium', 'high'] as const) {
    const { logs, config, logger } = setup(t, { durability });
    const node = await startNode(config, logger, 'x');
    const one = node.stop('first');
    const two = node.stop('second');
    t.equal(one, two, 'the same stop');
    await one;
    await node.stopped;
    t.equal(logs.filter((l) => l.includes('shutting down')).length, 1, durability);
    t.match(logs.join(''), /shutting down: first\n/);
    const store = await Bitcask.open(config.dir, { sync: 'none' });
    await store.close();
    t.pass(`${durability}: the lock was released`);
  }
});

t.test('a taken port: the error is raised and the store closed again', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as net.AddressInfo).port;
  const { config, logger } = setup(t, { port });
  await t.rejects(startNode(config, logger, 'x'), { code: 'EADDRINUSE' });
  const store = await Bitcask.open(config.dir, { sync: 'none' });
  await store.close();
  t.pass('the directory is free again');
});
