import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { Cluster } from '../../../src/core/cluster/cluster.js';
import { RespClient } from '../../../src/core/cluster/resp-client.js';
import { DEFAULT_CONFIG, startNode, streamLogger, type Node, type ServerConfig } from '../../../src/core/server/index.js';
import { startupWarnings } from '../../../src/core/server/host.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { patch } from '../../helpers/fault-injection.js';
import { freePort } from '../../helpers/processes.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { plain, type Plain } from '../kv/kv-fixture.js';
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

t.test('an election timeout below twice the heartbeat interval is refused before anything is opened', async (t) => {
  const { config, logger, logs } = setup(t, { heartbeatMs: 100, electionMs: 199 });
  await t.rejects(startNode(config, logger, 'x'), {
    code: 'INVALID_ARGUMENT',
    message: 'the election timeout must be at least twice the heartbeat interval',
  });
  t.strictSame(fs.readdirSync(config.dir), [], 'the directory was not touched');
  t.strictSame(logs, []);
  const node = await startNode({ ...config, electionMs: 200 }, logger, 'x');
  await node.stop('test');
  t.pass('exactly twice is fine');
});

t.test('the node id is the advertised address', async (t) => {
  const cases: [string, Partial<ServerConfig>, (port: number) => string][] = [
    ['--advertise', { advertise: 'db9.example:4920' }, () => 'db9.example:4920'],
    ['the bound address', { host: '127.0.0.1' }, (port) => `127.0.0.1:${port}`],
    ['IPv6, in brackets', { host: '::1' }, (port) => `[::1]:${port}`],
    ['0.0.0.0: the host name', { host: '0.0.0.0' }, (port) => `${os.hostname()}:${port}`],
    [':: : the host name', { host: '::' }, (port) => `${os.hostname()}:${port}`],
  ];
  for (const [what, over, expected] of cases) {
    const { config, logger, logs } = setup(t, over);
    const node = await startNode(config, logger, 'x');
    const id = expected(node.port);
    t.equal(node.id, id, what);
    t.match(logs.join(''), `raft: started a new single-node cluster as ${id}\n`, what);
    t.match(logs.join(''), `listening on ${config.host}:${node.port} as ${id} (`, what);
    if (what === '--advertise') {
      const c = await connectRaw(t, node.port);
      c.send('RAFTLEADER');
      await c.until((r) => r.endsWith('\r\n'));
      t.equal(c.received(), `$${id.length}\r\n${id}\r\n`, 'it leads under that id');
    }
    await node.stop('test');
  }
});

t.test('a failure while opening the cluster closes the server and the store again', async (t) => {
  const port = await freePort();
  const { config, logger } = setup(t, { port });
  // The Raft directory cannot be created: a file is in the way.
  fs.writeFileSync(path.join(config.dir, 'raft'), 'not a directory');
  await t.rejects(startNode(config, logger, 'x'), { code: /^(EEXIST|ENOTDIR)$/ });
  const store = await Bitcask.open(config.dir, { sync: 'none' });
  await store.close();
  t.pass('the directory is free again');
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host: '127.0.0.1', port }, resolve));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.pass('the port is free again');
});

/** Sends one command to 127.0.0.1:port over a fresh connection; the reply as plain data. */
async function ask(port: number, ...args: string[]): Promise<Plain> {
  const client = new RespClient({ host: '127.0.0.1', port, connectTimeoutMs: 1000 });
  try {
    return plain(await client.call(args, 5000));
  } finally {
    client.close();
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.test('three nodes: --join, forwarding, and a leader handing over when it stops', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const ids = ports.map((p) => `127.0.0.1:${p}`);
  const first = ids[0]!;
  const timing = { heartbeatMs: 20, electionMs: 200, durability: 'low' as const };
  const setups = ports.map((port, i) => setup(t, { port, ...timing, join: i === 0 ? undefined : first }));
  const nodes: (Node | undefined)[] = [];
  t.teardown(async () => {
    for (const n of nodes) await n?.stop('teardown');
  });
  for (const s of setups) nodes.push(await startNode(s.config, s.logger, 'x'));
  const text = (i: number) => setups[i]!.logs.join('');

  await until('three voters', async () => {
    const peers = (await ask(ports[0]!, 'RAFTPEERS')) as string[][];
    return peers.filter((p) => p[1] === 'voter').length === 3;
  });
  for (const i of [1, 2]) {
    t.match(text(i), `info  joining the cluster through ${first}\n`);
    await until(`node ${i} says it joined`, () => text(i).includes(`info  joined the cluster through ${first}\n`));
    t.notMatch(text(i), /started a new single-node cluster/, 'a joining node starts no cluster of its own');
  }
  t.strictSame(await ask(ports[1]!, 'RAFTLEADER'), first);
  // A membership command sent to a follower is forwarded to the leader.
  t.strictSame(await ask(ports[1]!, 'RAFTADDPEER', ids[2]!), { simple: 'OK' });
  t.strictSame(await ask(ports[2]!, 'SET', 'k', 'v'), { simple: 'OK' }, 'a write through a follower');
  t.strictSame(await ask(ports[2]!, 'INCRBY', 'n', '9007199254740993'), 9007199254740993n, 'a 64-bit reply forwarded exactly');
  const tx = new RespClient({ host: '127.0.0.1', port: ports[2]!, connectTimeoutMs: 1000 });
  try {
    const replies = await Promise.all([['MULTI'], ['SET', 'tx', '1'], ['INCR', 'tx'], ['EXEC']].map((c) => tx.call(c, 5000)));
    t.strictSame(replies.map(plain), [{ simple: 'OK' }, { simple: 'QUEUED' }, { simple: 'QUEUED' }, [{ simple: 'OK' }, 2]], 'a transaction through a follower');
  } finally {
    tx.close();
  }
  t.strictSame(await ask(ports[0]!, 'GET', 'tx'), '2');

  // The leader hands leadership to another voter before it stops.
  await nodes[0]!.stop('test');
  const after = text(0);
  const handed = /info  shutting down: test\n[^]*info  handed leadership to (\S+)\n[^]*info  stopped\n$/.exec(after);
  t.ok(handed, 'handed over, then stopped');
  const leader = handed?.[1] ?? '';
  t.ok([ids[1], ids[2]].includes(leader), 'to one of the others');
  t.strictSame(await ask(ports[1]!, 'RAFTLEADER'), leader, 'which leads');
  t.strictSame(await ask(ports[2]!, 'RAFTLEADER'), leader);
  t.strictSame(await ask(ports[1]!, 'GET', 'k'), 'v');

  // Restarted with --join, it keeps its state and ignores the flag.
  const logsBefore = setups[0]!.logs.length;
  nodes[0] = await startNode({ ...setups[0]!.config, join: ids[1] }, setups[0]!.logger, 'x');
  const restarted = setups[0]!.logs.slice(logsBefore).join('');
  t.notMatch(restarted, /joining the cluster/);
  t.match(restarted, `info  --join ${ids[1]} ignored: this node already has cluster state\n`);
  await until('it follows again', async () => (await ask(ports[0]!, 'RAFTLEADER')) === leader);

  // A hand-over that fails does not keep the leader from stopping.
  patch(t, Cluster.prototype, 'transferLeadership', () => Promise.reject(new BitraftError('TIMEOUT', 'injected')));
  const l = ids.indexOf(leader);
  await nodes[l]!.stop('test');
  t.match(text(l), /info  could not hand leadership over; the others will elect a leader\n[^]*info  stopped\n$/);
  const rest = [0, 1, 2].filter((i) => i !== l);
  await until('the others elect a leader', async () => {
    const next = await ask(ports[rest[0]!]!, 'RAFTLEADER');
    return next !== null && next !== leader;
  });
});

t.test('--join is ignored once the node has cluster state', async (t) => {
  const { config, logger, logs } = setup(t);
  const node = await startNode(config, logger, 'x');
  const port = node.port;
  await node.stop('test');
  const again = await startNode({ ...config, port, join: '127.0.0.1:1' }, logger, 'x');
  t.teardown(() => again.stop('teardown'));
  t.match(logs.join(''), `info  --join 127.0.0.1:1 ignored: this node already has cluster state\n`);
  t.notMatch(logs.join(''), /joining the cluster/);
  const c = await connectRaw(t, again.port);
  c.send('RAFTSTATE');
  await c.until((r) => r === '+Leader\r\n');
  t.pass('it leads its own cluster still');
});

t.test('--join on a node stopped while still a learner asks again, and the node is made a voter', async (t) => {
  const a = setup(t, { heartbeatMs: 20, electionMs: 200, durability: 'low' });
  const leader = await startNode(a.config, a.logger, 'x');
  t.teardown(() => leader.stop('teardown'));
  const first = `127.0.0.1:${leader.port}`;
  t.strictSame(await ask(leader.port, 'SET', 'k', 'v'), { simple: 'OK' });
  // The promotion fails: the joiner is added as a learner, receives the log, and stops so.
  const addPeer = Cluster.prototype.addPeer;
  let refuse = true;
  patch(t, Cluster.prototype, 'addPeer', async function (this: Cluster, addr: string, ms: number) {
    if (!refuse) return addPeer.call(this, addr, ms);
    // Added as a learner (with a catch-up deadline already past, so never promoted), then refused.
    if (!this.status().conf.learners.includes(addr)) await addPeer.call(this, addr, -1).catch(() => undefined);
    throw new BitraftError('TIMEOUT', 'injected');
  });
  const port = await freePort();
  const b = setup(t, { port, heartbeatMs: 20, electionMs: 200, durability: 'low', join: first });
  let joiner = await startNode(b.config, b.logger, 'x');
  t.teardown(() => joiner.stop('teardown'));
  const self = `127.0.0.1:${port}`;
  const peers = async () => Object.fromEntries((await ask(leader.port, 'RAFTPEERS')) as string[][]);
  const lastIndex = async () => {
    const flat = (await ask(port, 'RAFTSTATS')) as string[];
    return Number(flat[flat.indexOf('last_log_index') + 1]);
  };
  await until('a learner with the log', async () => (await peers())[self] === 'learner' && (await lastIndex()) > 0);
  await joiner.stop('test');
  refuse = false;
  const before = b.logs.length;
  joiner = await startNode(b.config, b.logger, 'x');
  const restarted = () => b.logs.slice(before).join('');
  t.match(restarted(), 'info  this node is still a learner: asking to be made a voter\n');
  t.notMatch(restarted(), /ignored: this node already has cluster state/);
  await until('a voter', async () => (await peers())[self] === 'voter');
  await until('it says it joined', () => restarted().includes(`info  joined the cluster through ${first}\n`));
});

t.test('startupWarnings: a node bound beyond loopback without a password, in protected mode', async (t) => {
  const base = { ...DEFAULT_CONFIG, dir: 'data' };
  t.same(startupWarnings(base), [], 'loopback');
  t.same(startupWarnings({ ...base, host: 'localhost' }), []);
  t.same(startupWarnings({ ...base, host: '0.0.0.0' }), [
    'protected mode: no password is set, so clients from addresses other than loopback are refused (peers too: set --cluster-secret); set --requirepass, or --protected-mode no on a trusted network',
  ]);
  t.match(startupWarnings({ ...base, host: '0.0.0.0', clusterSecret: 'cs' }), [/refused; set --requirepass/], 'with a cluster secret, peers get in');
  t.same(startupWarnings({ ...base, host: '0.0.0.0', requirepass: 'pw' }), [], 'with a password');
  t.same(startupWarnings({ ...base, host: '0.0.0.0', protectedMode: false }), [], 'protected mode off');
});

t.test('a damaged applied-index file is read once at start-up: one warning, and the store rebuilt from the log', async (t) => {
  const { logs, config, logger } = setup(t);
  const node = await startNode(config, logger, 'x');
  for (let i = 0; i < 5; i++) t.strictSame(await ask(node.port, 'INCR', 'n'), i + 1);
  await node.stop('test');
  const file = path.join(config.dir, 'raft', 'applied');
  fs.writeFileSync(file, 'garbage\n');
  logs.length = 0;
  const again = await startNode(config, logger, 'x');
  t.teardown(() => again.stop('teardown'));
  t.strictSame(await ask(again.port, 'GET', 'n'), '5', 'every INCR counted once');
  const text = logs.join('');
  t.equal(text.split(`${file} is damaged`).length - 1, 1, 'one warning');
  t.match(text, /the applied index is not known/);
});
