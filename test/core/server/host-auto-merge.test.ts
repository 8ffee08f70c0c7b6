/**
 * Automatic merges in a node started in-process (`startNode`): the settings are checked
 * before anything opens, a node with dead bytes merges by itself and shows it in INFO,
 * and a node stopped in the middle of a slow merge stops promptly with its data whole.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { RespClient } from '../../../src/core/cluster/resp-client.js';
import { DEFAULT_CONFIG, startNode, streamLogger, type ServerConfig } from '../../../src/core/server/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { plain } from '../kv/kv-fixture.js';

function setup(t: { teardown(fn: () => void): void }, over: Partial<ServerConfig> = {}) {
  const logs: string[] = [];
  const config: ServerConfig = { ...DEFAULT_CONFIG, dir: tmpDir(t), port: 0, durability: 'low', maxFileSize: 4096, mergeMinDeadBytes: 0, mergeCheckMs: 20, ...over };
  const logger = streamLogger('debug', { write: (s: string) => logs.push(s) });
  return { logs, config, logger };
}

/** INFO persistence of the node as a map. */
async function persistence(client: RespClient): Promise<Map<string, string>> {
  const text = plain(await client.call(['INFO', 'persistence'], 5000)) as string;
  return new Map(text.split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':') as [string, string]));
}

/** Writes `rounds` values to each of `keys` keys; returns the last value of each. */
async function overwrite(client: RespClient, keys: number, rounds: number): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  for (let round = 0; round < rounds; round++) {
    const replies = await Promise.all(
      Array.from({ length: keys }, (_, i) => {
        const value = `${round}:${i}:`.padEnd(60, 'v');
        latest.set(`key${i}`, value);
        return client.call(['SET', `key${i}`, value], 5000);
      }),
    );
    const failed = replies.map((r) => JSON.stringify(plain(r))).find((r) => r !== '{"simple":"OK"}');
    if (failed !== undefined) throw new Error(`a SET failed: ${failed}`);
  }
  return latest;
}

t.test('bad merge settings are refused before the directory is opened', async (t) => {
  const { config, logger } = setup(t, { mergeDeadRatio: 2 });
  await t.rejects(startNode(config, logger, 'x'), { code: 'INVALID_ARGUMENT', message: /--merge-dead-ratio/ });
  const store = await Bitcask.open(config.dir, { sync: 'none' });
  await store.close();
  t.pass('the directory was not locked');
});

t.test('a node with dead bytes merges by itself; INFO shows it; every key reads its latest value', async (t) => {
  const { logs, config, logger } = setup(t, { mergeDeadRatio: 0.5 });
  const node = await startNode(config, logger, 'x');
  t.teardown(() => node.stop('teardown'));
  const client = new RespClient({ host: '127.0.0.1', port: node.port, connectTimeoutMs: 1000 });
  t.teardown(() => client.close());
  const before = await persistence(client);
  t.equal(before.get('bitraft_auto_merge'), 'yes');
  t.equal(before.get('bitraft_auto_merges'), '0');
  const latest = await overwrite(client, 100, 6);
  let info = await persistence(client);
  while (info.get('bitraft_auto_merges') === '0' || info.get('bitraft_merge_in_progress') === '1') {
    await sleep(20);
    info = await persistence(client);
  }
  t.ok(Number(info.get('bitraft_auto_merges')) >= 1, 'merged');
  t.equal(info.get('bitraft_last_merge_status'), 'ok');
  t.ok(Number(info.get('bitraft_last_merge_reclaimed_bytes')) > 0, `reclaimed ${info.get('bitraft_last_merge_reclaimed_bytes')} bytes`);
  const text = logs.join('');
  t.match(text, /info  merge: starting \([\d.]+ MiB of [\d.]+ MiB dead \(\d+%, threshold 50%\), [\d.]+ MiB reclaimable in \d+ files; at most 32\.0 MiB\/s\)\n/);
  t.match(text, /info  merge: done in [\d.]+ s: reclaimed [\d.]+ MiB \(\d+ files of [\d.]+ MiB became \d+ of [\d.]+ MiB, \d+ live keys\)\n/);
  for (const [key, value] of latest) t.equal(plain(await client.call(['GET', key], 5000)), value, key);
});

t.test('stopping a node in the middle of a slow merge abandons the merge; the data stays whole', async (t) => {
  // 1 KiB/s: the merge would take minutes; the stop must not wait for it.
  const { logs, config, logger } = setup(t, { mergeDeadRatio: 0.5, mergeRate: 1024 });
  const node = await startNode(config, logger, 'x');
  const client = new RespClient({ host: '127.0.0.1', port: node.port, connectTimeoutMs: 1000 });
  t.teardown(() => client.close());
  const latest = await overwrite(client, 100, 6);
  while ((await persistence(client)).get('bitraft_merge_in_progress') !== '1') await sleep(20);
  client.close();
  await node.stop('test');
  t.match(logs.join(''), /info  merge: abandoned after [\d.]+ s: the node is stopping\n/);
  const store = await Bitcask.open(config.dir, { sync: 'none' });
  t.teardown(() => store.close());
  for (const [key, value] of latest) t.equal(store.get(Buffer.from(key))?.toString(), value, key);
});
