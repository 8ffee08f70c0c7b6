/**
 * `bitraft serve --metrics` on real processes: a node started with `--metrics
 * 127.0.0.1:0` logs where it serves; after N SETs through a client, /metrics counts
 * exactly N SETs with N latency samples, the Raft gauges agree with each other, the log
 * and (after the applied-index checkpoint) the data files were fsynced, other paths answer
 * 404, and the endpoint goes away on SIGTERM. In a three-node cluster, the leader reports
 * each follower's replication lag (a paused follower falls behind by the writes made
 * meanwhile) and the followers report that they do not lead. A bad or taken `--metrics`
 * address fails the start with one clear line; without the flag nothing is served.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { startCluster, type ClusterNode } from '../helpers/cluster.js';
import { HOST, runServeToExit, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { loggedMetricsPort, samples, scrape, scrapeUntil, valueOf } from '../core/metrics/exposition.js';

/** The status of GET http://127.0.0.1:port<path>. */
async function statusOf(port: number, path: string): Promise<number> {
  const res = await fetch(`http://${HOST}:${port}${path}`);
  await res.arrayBuffer();
  return res.status;
}

t.test('one node: commands, latency, Raft state and fsyncs; the endpoint stops with the node', async (t) => {
  const server = await startServer(t, { args: ['--metrics', `${HOST}:0`, '--durability', 'high'] });
  const port = loggedMetricsPort(server.stderr());
  const redis = new Redis(server.port, HOST, { lazyConnect: true });
  t.teardown(() => redis.disconnect());
  await redis.connect();
  const N = 37;
  for (let i = 0; i < N; i++) t.equal(await redis.set(`k${i}`, `v${i}`), 'OK');
  t.equal(await redis.get('k0'), 'v0');
  t.equal(await redis.get('missing'), null);
  await t.rejects(redis.call('NO-SUCH-COMMAND'), /unknown command/);
  const text = await scrape(port);
  t.equal(valueOf(text, 'bitraft_commands_total{command="set",result="ok"}'), N, `exactly ${N} SETs`);
  t.equal(valueOf(text, 'bitraft_commands_total{command="set",result="error"}'), 0);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_count{command="set"}'), N, `${N} latency samples`);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_bucket{command="set",le="+Inf"}'), N);
  t.ok(valueOf(text, 'bitraft_command_duration_seconds_sum{command="set"}')! > 0);
  t.equal(valueOf(text, 'bitraft_commands_total{command="get",result="ok"}'), 2);
  t.equal(valueOf(text, 'bitraft_commands_total{command="unknown",result="error"}'), 1, 'an unknown name counts as "unknown"');
  t.notOk(text.includes('no-such-command'), 'and never as itself');
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 1);
  const last = valueOf(text, 'bitraft_raft_last_log_index')!;
  t.ok(last >= N + 2, `the bootstrap entry, the leader's no-op and the SETs (${last})`);
  t.equal(valueOf(text, 'bitraft_raft_commit_index'), last);
  t.equal(valueOf(text, 'bitraft_raft_applied_index'), last);
  t.ok(valueOf(text, 'bitraft_raft_term')! >= 2);
  t.equal(samples(text, 'bitraft_raft_follower_lag_entries').size, 0, 'no followers');
  t.equal(valueOf(text, 'bitraft_store_keys'), N);
  t.equal(valueOf(text, 'bitraft_connected_clients'), 1);
  t.ok(valueOf(text, 'bitraft_fsync_duration_seconds_count{file="log"}')! > 0, 'durability high fsyncs the log');
  t.ok(valueOf(text, 'bitraft_process_resident_memory_bytes')! > 0);
  const later = await scrapeUntil(port, (s) => valueOf(s, 'bitraft_fsync_duration_seconds_count{file="data"}')! > 0);
  t.ok(valueOf(later, 'bitraft_fsync_duration_seconds_count{file="data"}')! > 0, 'the checkpoint fsyncs the data files');
  t.equal(await statusOf(port, '/'), 404);
  t.equal(await statusOf(port, '/metric'), 404);
  const exit = await server.stop('SIGTERM');
  t.equal(exit.code, 0);
  await t.rejects(fetch(`http://${HOST}:${port}/metrics`), 'nothing listens after SIGTERM');
});

t.test('three nodes: the leader reports each follower\'s lag; followers do not lead', async (t) => {
  const cluster = await startCluster(t, { size: 3, args: ['--metrics', `${HOST}:0`] });
  const leader = await cluster.leader();
  const followers = cluster.nodes.filter((n) => n !== leader);
  const port = (n: ClusterNode): number => loggedMetricsPort(n.proc!.stderr());
  for (const f of followers) {
    const text = await scrape(port(f));
    t.equal(valueOf(text, 'bitraft_raft_is_leader'), 0, `${f.name} does not lead`);
    t.equal(samples(text, 'bitraft_raft_follower_lag_entries').size, 0, `${f.name} reports no lag`);
    t.ok(valueOf(text, 'bitraft_raft_leader_changes_total')! >= 1, `${f.name} knows a leader`);
  }
  const [paused, running] = followers as [ClusterNode, ClusterNode];
  cluster.pause(paused);
  const redis = new Redis(leader.port, HOST, { lazyConnect: true });
  t.teardown(() => redis.disconnect());
  await redis.connect();
  const N = 25;
  for (let i = 0; i < N; i++) await redis.set(`k${i}`, 'v');
  const lag = (text: string, n: ClusterNode): number | undefined => valueOf(text, `bitraft_raft_follower_lag_entries{peer="${n.addr}"}`);
  const text = await scrapeUntil(port(leader), (s) => lag(s, running) === 0);
  t.equal(valueOf(text, 'bitraft_raft_is_leader'), 1);
  t.equal(lag(text, running), 0, 'the running follower has every entry');
  t.ok(lag(text, paused)! >= N, `the paused follower is behind by the ${N} writes at least (${lag(text, paused)})`);
  t.equal(samples(text, 'bitraft_raft_follower_lag_entries').size, 2, 'one series per follower');
  cluster.resume(paused);
  const caughtUp = await scrapeUntil(port(leader), (s) => lag(s, paused) === 0);
  t.equal(lag(caughtUp, paused), 0, 'resumed, it catches up');
});

t.test('a bad or taken --metrics address fails the start with one clear line', async (t) => {
  const bad = await runServeToExit(t, tmpDir(t), ['--metrics', 'not-an-address']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^Error: invalid address "not-an-address": expected host:port$/m);
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen({ host: HOST, port: 0 }, () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const taken = (blocker.address() as net.AddressInfo).port;
  const inUse = await runServeToExit(t, tmpDir(t), ['--metrics', `${HOST}:${taken}`]);
  t.equal(inUse.code, 1);
  t.match(inUse.stderr, new RegExp(`^Error: cannot serve metrics on 127\\.0\\.0\\.1:${taken}: listen EADDRINUSE`, 'm'));
  t.notMatch(inUse.stderr, /\n\s+at /, 'no stack trace');
});

t.test('without --metrics nothing is served', async (t) => {
  const server = await startServer(t);
  t.notMatch(server.stderr(), /metrics/);
  t.equal((await server.stop('SIGTERM')).code, 0);
});

t.test('serve --help documents the flag', async (t) => {
  const r = runCli(['serve', '--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /--metrics=<value>\s+Serve Prometheus metrics over plain HTTP at/);
  t.match(r.stdout, /bitraft serve --metrics 127\.0\.0\.1:9121/);
});
