/**
 * Security of real `bitraft serve` processes:
 *
 * - TLS: a 3-node cluster whose nodes serve TLS only and require client certificates
 *   (`--tls-auth-clients yes`) joins, replicates and forwards over TLS; `redis-cli --tls`
 *   and ioredis with `tls` work; a plain-TCP client, a client without a certificate and
 *   one with a certificate of another CA get nothing; `bitraft snapshot --host` works
 *   over TLS.
 * - The cluster secret: nodes started with `--cluster-secret` (one from a file) join and
 *   replicate; a client without the secret cannot send RAFTMSG / RAFTADDPEER /
 *   RAFTREMOVEPEER / RAFTFWD; a node with another secret cannot join; `bitraft leave`
 *   needs the secret; a password given with `--requirepass-file` does not appear on the
 *   process's command line.
 *
 * Certificates are made with openssl for this run; everything listens on 127.0.0.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { freePort, redisCli, requireTools, sleep, startServer, type ServerHandle } from '../helpers/server.js';
import { makeCerts } from '../helpers/tls-certs.js';
import { tmpDir } from '../helpers/tmp-dir.js';

requireTools('redis-cli', 'openssl');

const FAST = ['--heartbeat-interval', '50', '--election-timeout', '500'];

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

t.test('TLS: a cluster over TLS with client certificates; redis-cli --tls and ioredis', async (t) => {
  const c = makeCerts(t);
  const tlsArgs = ['--tls-cert', c.serverCert, '--tls-key', c.serverKey, '--tls-ca', c.caCert, '--tls-auth-clients', 'yes'];
  const cliTls = ['--tls', '--cacert', c.caCert, '--cert', c.clientCert, '--key', c.clientKey];
  const cli = (port: number, ...args: string[]): string => redisCli(port, [...cliTls, ...args]).stdout.trim();
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes: ServerHandle[] = [await startServer(t, { port: ports[0], args: [...tlsArgs, ...FAST] })];
  t.match(nodes[0]!.stderr(), /listening on 127\.0\.0\.1:\d+ \(TLS\)/);
  for (const port of ports.slice(1)) nodes.push(await startServer(t, { port, args: [...tlsArgs, ...FAST, '--join', `127.0.0.1:${ports[0]}`] }));
  await until('all three are voters', () => (cli(ports[0]!, 'RAFTPEERS').match(/voter/g) ?? []).length === 3);
  t.equal(cli(ports[1]!, 'SET', 'k', 'over-tls'), 'OK', 'a write through a follower is forwarded over TLS');
  t.equal(cli(ports[2]!, 'GET', 'k'), 'over-tls');

  const redis = new Redis({
    host: '127.0.0.1',
    port: ports[2],
    tls: { ca: fs.readFileSync(c.caCert), cert: fs.readFileSync(c.clientCert), key: fs.readFileSync(c.clientKey) },
    maxRetriesPerRequest: 1,
  });
  t.teardown(() => redis.disconnect());
  t.equal(await redis.set('io', 'redis'), 'OK', 'ioredis with tls');
  t.equal(await redis.get('io'), 'redis');

  const plain = redisCli(ports[0]!, ['PING'], undefined, 5000);
  t.notMatch(plain.stdout, /PONG/, 'a plain-TCP client gets no answer');
  const noCert = redisCli(ports[0]!, ['--tls', '--cacert', c.caCert, 'PING'], undefined, 5000);
  t.notMatch(noCert.stdout, /PONG/, 'a client without a certificate is refused');
  const stranger = redisCli(ports[0]!, ['--tls', '--cacert', c.caCert, '--cert', c.otherCert, '--key', c.otherKey, 'PING'], undefined, 5000);
  t.notMatch(stranger.stdout, /PONG/, 'a certificate of another CA is refused');

  const snap = runCli(['snapshot', '--host', `127.0.0.1:${ports[0]}`, '--tls-ca', c.caCert, '--tls-cert', c.clientCert, '--tls-key', c.clientKey, '--json']);
  t.equal(snap.status, 0, snap.stderr);
  t.match(JSON.parse(snap.stdout), { index: Number, voters: [String, String, String] }, 'bitraft snapshot --host over TLS');
  const untrusted = runCli(['snapshot', '--host', `127.0.0.1:${ports[0]}`, '--tls', '--timeout', '3000']);
  t.not(untrusted.status, 0, "without the CA, the node's certificate is not trusted");
  for (const n of nodes) t.same((await n.stop()).code, 0, 'stops cleanly');
});

t.test('the cluster secret: only nodes that know it send Raft messages and change membership', async (t) => {
  const secretDir = tmpDir(t);
  const secretFile = path.join(secretDir, 'secret');
  fs.writeFileSync(secretFile, 'cluster-s3cret\n');
  const passFile = path.join(secretDir, 'password');
  fs.writeFileSync(passFile, 'client-pw\n');
  const ports = [await freePort(), await freePort(), await freePort()];
  const base = ['--requirepass-file', passFile, ...FAST];
  const nodes: ServerHandle[] = [await startServer(t, { port: ports[0], args: [...base, '--cluster-secret-file', secretFile] })];
  nodes.push(await startServer(t, { port: ports[1], args: [...base, '--join', `127.0.0.1:${ports[0]}`], env: { ...process.env, BITRAFT_CLUSTER_SECRET: 'cluster-s3cret' } }));
  nodes.push(await startServer(t, { port: ports[2], args: [...base, '--cluster-secret', 'cluster-s3cret', '--join', `127.0.0.1:${ports[0]}`] }));
  const cli = (port: number, ...args: string[]): string => redisCli(port, ['--no-auth-warning', '-a', 'client-pw', ...args]).stdout.trim();
  await until('all three are voters', () => (cli(ports[0]!, 'RAFTPEERS').match(/voter/g) ?? []).length === 3);
  t.equal(cli(ports[1]!, 'SET', 'k', 'v'), 'OK', 'forwarded with the secret');
  t.equal(cli(ports[2]!, 'GET', 'k'), 'v');
  t.notMatch(fs.readFileSync(`/proc/${nodes[0]!.pid}/cmdline`, 'latin1'), /client-pw|cluster-s3cret/, 'secrets from files are not on the command line');

  for (const args of [['RAFTMSG', 'x'], ['RAFTADDPEER', '127.0.0.1:1'], ['RAFTREMOVEPEER', `127.0.0.1:${ports[2]}`], ['RAFTFWD', 'SET', 'k', 'hijacked'], ['RAFTINSTALL', 'END', 'x']]) {
    t.match(cli(ports[0]!, ...args), /^NOPERM this command is reserved for cluster members/, `${args[0]} from a client with the password only`);
  }
  t.equal(cli(ports[0]!, 'GET', 'k'), 'v', 'nothing changed');
  t.match(cli(ports[0]!, 'RAFTAUTH', 'guess'), /^WRONGPASS invalid cluster secret/);

  const wrongPort = await freePort();
  const wrong = await startServer(t, { port: wrongPort, args: [...base, '--cluster-secret', 'other', '--join', `127.0.0.1:${ports[0]}`] });
  await until('the node with another secret gives up', () => /could not join the cluster/.test(wrong.stderr()));
  t.match(wrong.stderr(), /WRONGPASS invalid cluster secret/, 'it says why');
  t.notMatch(cli(ports[0]!, 'RAFTPEERS'), new RegExp(`127\\.0\\.0\\.1:${wrongPort}`), 'it was not added');

  const refused = runCli(['leave', `127.0.0.1:${ports[0]}`, '--addr', `127.0.0.1:${ports[2]}`, '--password', 'client-pw', '--timeout', '5000']);
  t.not(refused.status, 0, 'bitraft leave with the password only is refused');
  t.match(refused.stderr, /NOPERM/);
  const left = runCli(['leave', `127.0.0.1:${ports[0]}`, '--addr', `127.0.0.1:${ports[2]}`, '--cluster-secret', 'cluster-s3cret', '--timeout', '20000']);
  t.equal(left.status, 0, left.stderr);
  await until('two voters remain', () => (cli(ports[0]!, 'RAFTPEERS').match(/voter/g) ?? []).length === 2);
  for (const n of [...nodes, wrong]) await n.stop();
});

t.test('serve refuses a secret given twice, an empty secret file, and unreadable TLS files', async (t) => {
  const dir = tmpDir(t);
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '');
  const cases: [string[], RegExp][] = [
    [['--requirepass', 'a', '--requirepass-file', empty], /--requirepass-file and --requirepass \(or its environment variable\) cannot both be set/],
    [['--cluster-secret-file', empty], /--cluster-secret-file .*empty is empty/],
    [['--tls-cert', path.join(dir, 'none.crt'), '--tls-key', path.join(dir, 'none.key')], /cannot read --tls-cert .*none\.crt/],
  ];
  for (const [args, message] of cases) {
    const run = runCli(['serve', '--dir', path.join(dir, 'data'), '--bind', '127.0.0.1:0', ...args]);
    t.equal(run.status, 1, args.join(' '));
    t.match(run.stderr, message);
  }
});
