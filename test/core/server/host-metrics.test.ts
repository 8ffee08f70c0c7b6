/**
 * The metrics endpoint of a node started in-process (startNode with `metrics`): what the
 * commands, the log and the store report, the endpoint's lifecycle with the node's, a
 * metrics address that cannot be used, and metrics served after Raft stopped on a failed
 * write.
 */
import fs from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { DEFAULT_CONFIG, startNode, streamLogger, type ServerConfig } from '../../../src/core/server/index.js';
import { ioError, patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { loggedMetricsPort, scrape, scrapeUntil, valueOf } from '../metrics/exposition.js';
import { connectRaw } from './net-client.js';

function setup(t: { teardown(fn: () => void): void }, over: Partial<ServerConfig> = {}) {
  const logs: string[] = [];
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: tmpDir(t), port: 0, metrics: { host: '127.0.0.1', port: 0 }, ...over };
  const logger = streamLogger('debug', { write: (s: string) => logs.push(s) });
  return { logs, config, logger };
}

t.test('the node counts its commands, fsyncs and Raft state; the endpoint stops with the node', async (t) => {
  const { logs, config, logger } = setup(t);
  const node = await startNode(config, logger, 'x');
  t.teardown(() => node.stop('teardown'));
  const port = loggedMetricsPort(logs.join(''));
  t.ok(logs.join('').indexOf('serving metrics on') < logs.join('').indexOf('listening on'), 'logged before the node listens for clients');
  const c = await connectRaw(t, node.port);
  for (let i = 0; i < 5; i++) c.send('SET', `k${i}`, 'v');
  c.send('GET', 'k0');
  c.send('NOSUCH');
  await c.until((s) => s.endsWith("-ERR unknown command 'NOSUCH', with args beginning with: \r\n"));
  const text = await scrape(port);
  t.equal(valueOf(text, 'bitraft_commands_total{command="set",result="ok"}'), 5);
  t.equal(valueOf(text, 'bitraft_commands_total{command="set",result="error"}'), 0);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_count{command="set"}'), 5);
  t.equal(valueOf(text, 'bitraft_commands_total{command="get",result="ok"}'), 1);
  t.equal(valueOf(text, 'bitraft_commands_total{command="unknown",result="error"}'), 1);
  t.ok(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="log"}')! > 0, 'durability high fsyncs the log');
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 1);
  t.equal(valueOf(text, 'bitraft_raft_term'), 2);
  t.equal(valueOf(text, 'bitraft_raft_elections_total'), 1, 'the election of the start');
  t.equal(valueOf(text, 'bitraft_raft_leader_changes_total'), 1);
  const last = valueOf(text, 'bitraft_raft_last_log_index')!;
  t.ok(last >= 7, 'the bootstrap, the leader\'s no-op and the writes');
  t.equal(valueOf(text, 'bitraft_raft_commit_index'), last);
  t.equal(valueOf(text, 'bitraft_raft_applied_index'), last);
  t.equal(valueOf(text, 'bitraft_store_keys'), 5);
  t.equal(valueOf(text, 'bitraft_connected_clients'), 1);
  t.ok(valueOf(text, 'bitraft_disk_bytes{files="data"}')! > 0);
  t.ok(valueOf(text, 'bitraft_disk_bytes{files="log"}')! > 0);
  const later = await scrapeUntil(port, (s) => valueOf(s, 'bitraft_fsync_duration_seconds_count{file="data"}')! > 0);
  t.ok(valueOf(later, 'bitraft_fsync_duration_seconds_count{file="data"}')! > 0, 'the applied-index checkpoint fsyncs the store');
  c.send('SHUTDOWN');
  await node.stopped;
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the endpoint stopped with the node');
});

t.test('without metrics, no endpoint is started', async (t) => {
  const { logs, config, logger } = setup(t, { metrics: undefined });
  const node = await startNode(config, logger, 'x');
  t.teardown(() => node.stop('teardown'));
  t.notMatch(logs.join(''), /metrics/);
});

t.test('a metrics address that cannot be used: startup fails and frees the store and the port', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const taken = (blocker.address() as net.AddressInfo).port;
  const { config, logger } = setup(t, { metrics: { host: '127.0.0.1', port: taken } });
  await t.rejects(startNode(config, logger, 'x'), { code: 'INVALID_ARGUMENT', message: new RegExp(`^cannot serve metrics on 127\\.0\\.0\\.1:${taken}: listen EADDRINUSE`) });
  const store = await Bitcask.open(config.dir, { sync: 'none' });
  await store.close();
  t.pass('the directory is free again');
});

t.test('a failure after the endpoint started closes it again', async (t) => {
  const { config, logger, logs } = setup(t);
  // The Raft directory cannot be created: a file is in the way.
  fs.writeFileSync(`${config.dir}/raft`, 'not a directory');
  await t.rejects(startNode(config, logger, 'x'), { code: /^(EEXIST|ENOTDIR)$/ });
  await t.rejects(fetch(`http://127.0.0.1:${loggedMetricsPort(logs.join(''))}/metrics`), 'nothing listens');
});

t.test('after Raft stopped on a failed write, the metrics are still served', async (t) => {
  const { logs, config, logger } = setup(t);
  const node = await startNode(config, logger, 'x');
  t.teardown(() => node.stop('teardown'));
  const port = loggedMetricsPort(logs.join(''));
  const c = await connectRaw(t, node.port);
  c.send('SET', 'a', '1');
  await c.until((s) => s === '+OK\r\n');
  const restore = patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(ioError('EIO'))) as typeof fs.fdatasync);
  c.send('SET', 'b', '2');
  await c.until((s) => s.length > '+OK\r\n'.length);
  t.match(c.received(), /^\+OK\r\n-/, 'the write failed');
  const text = await scrapeUntil(port, (s) => valueOf(s, 'bitraft_raft_is_leader') === 0);
  restore();
  t.match(logs.join(''), /raft: stopping after a failed write/);
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 0);
  t.equal(valueOf(text, 'bitraft_commands_total{command="set",result="error"}'), 1);
  t.equal(valueOf(text, 'bitraft_store_keys'), 1);
  // Stopping syncs the failed log once more, which fails again: logged, and the rest of the stop still runs.
  await node.stop('test');
  t.equal(node.stopFailed, true);
  t.match(logs.join(''), /stopping: closing the Raft log failed: .*failed earlier[\s\S]*stopped, with errors/);
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the endpoint closed with the node');
  const again = await startNode({ ...config, metrics: undefined }, logger, 'x');
  t.ok(again.port > 0, 'the store and its lock were released: the directory opens again');
  await again.stop('test');
  t.equal(again.stopFailed, false);
});
