/**
 * The RESP server's security: TLS listeners (certificates made with openssl at test
 * time; plain clients, untrusted certificates and missing client certificates refused)
 * and protected mode (clients seen from a non-loopback address: the address is faked on
 * the accepted socket, since tests use only 127.0.0.1).
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { encodeCommand } from '../../../src/core/resp/index.js';
import { isLoopback, RespServer } from '../../../src/core/server/server.js';
import { loadNodeTls, type TlsAuthClients } from '../../../src/core/server/tls.js';
import { makeCerts, type TestCerts } from '../../helpers/tls-certs.js';
import { connectRaw } from './net-client.js';
import { makeServer, type ServerFixtureOptions } from './server-fixture.js';

type Teardown = Parameters<typeof makeServer>[0];

/** A RespServer over the hand-built context, listening on 127.0.0.1:0, closed in teardown. */
async function start(t: Teardown, opts: ServerFixtureOptions = {}, tlsOptions?: tls.TlsOptions) {
  const f = await makeServer(t, opts);
  const { port: _port, sessions: _sessions, ...ctx } = f.ctx;
  const server = new RespServer(ctx, tlsOptions);
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  return { f, server, port };
}

/** Sends PING over TLS with `options`; resolves with what came back (or the error's message). */
function tlsPing(t: Teardown, port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    t.teardown(() => void socket.destroy());
    let data = '';
    socket.on('secureConnect', () => socket.write(encodeCommand(['PING'])));
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.endsWith('\r\n')) {
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', (err) => resolve(`error: ${err.message}`));
    socket.on('close', () => resolve(data === '' ? 'closed' : data));
  });
}

let certs: TestCerts;
t.before(() => {
  certs = makeCerts(t);
});

const serverTls = (authClients: TlsAuthClients) => loadNodeTls({ certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert, authClients }).server;

t.test('TLS: clients that trust the CA are served; plain TCP and untrusted certificates are not', async (t) => {
  const { f, port } = await start(t, {}, serverTls('no'));
  const ca = fs.readFileSync(certs.caCert);
  t.equal(await tlsPing(t, port, { ca }), '+PONG\r\n');
  t.match(await tlsPing(t, port, {}), /^error: .*self[- ]signed certificate/, 'a client that does not trust the CA refuses the server');
  const plain = await connectRaw(t, port);
  plain.send('PING');
  await plain.untilClosed();
  t.equal(plain.received(), '', 'a plain-TCP client gets nothing');
  for (let i = 0; i < 200 && !f.logs.some((l) => / TLS: /.test(l)); i++) await new Promise((r) => setTimeout(r, 10));
  t.match(f.logs.join(''), / debug client 127\.0\.0\.1:\d+: TLS: /, 'the failed handshake is logged (debug)');
});

t.test('TLS with --tls-auth-clients yes: a client certificate signed by the CA is required', async (t) => {
  const { port } = await start(t, {}, serverTls('yes'));
  const ca = fs.readFileSync(certs.caCert);
  const cert = fs.readFileSync(certs.clientCert);
  const key = fs.readFileSync(certs.clientKey);
  t.equal(await tlsPing(t, port, { ca, cert, key }), '+PONG\r\n');
  t.notMatch(await tlsPing(t, port, { ca }), /PONG/, 'no certificate: refused');
  t.notMatch(await tlsPing(t, port, { ca, cert: fs.readFileSync(certs.otherCert), key: fs.readFileSync(certs.otherKey) }), /PONG/, 'a certificate of another CA: refused');
  const optional = await start(t, {}, serverTls('optional'));
  t.equal(await tlsPing(t, optional.port, { ca }), '+PONG\r\n', 'optional: no certificate is fine');
  t.notMatch(await tlsPing(t, optional.port, { ca, cert: fs.readFileSync(certs.otherCert), key: fs.readFileSync(certs.otherKey) }), /PONG/, 'but a bad one is refused');
});

t.test('isLoopback', async (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost']) t.ok(isLoopback(a), a);
  for (const a of ['10.0.0.1', '0.0.0.0', '::ffff:10.0.0.1', 'fe80::1', '192.168.1.127', undefined]) t.notOk(isLoopback(a), String(a));
});

/** Makes `server` see every client as coming from `address`. */
function fakeRemoteAddress(server: RespServer, address: string): void {
  const inner = (server as unknown as { server: net.Server }).server;
  const listeners = inner.listeners('connection') as ((s: net.Socket) => void)[];
  inner.removeAllListeners('connection');
  inner.on('connection', (socket: net.Socket) => {
    Object.defineProperty(socket, 'remoteAddress', { value: address });
    for (const l of listeners) l.call(inner, socket);
  });
}

t.test('protected mode: without a password, a non-loopback client gets -DENIED and is disconnected', async (t) => {
  const { f, server, port } = await start(t);
  fakeRemoteAddress(server, '10.1.2.3');
  const c = await connectRaw(t, port);
  await c.untilClosed();
  t.match(c.received(), /^-DENIED bitraft is running in protected mode .*--protected-mode no.*\r\n$/);
  t.equal(f.stats.rejectedConnections, 1);
  t.equal(server.clientCount, 0);
});

t.test('protected mode: with a cluster secret a non-loopback peer may RAFTAUTH, anything else is denied', async (t) => {
  const { server, port } = await start(t, { config: { clusterSecret: 'cs' } });
  fakeRemoteAddress(server, '10.1.2.3');
  const peer = await connectRaw(t, port);
  peer.send('RAFTAUTH', 'cs');
  peer.send('PING');
  await peer.until((s) => s === '+OK\r\n+PONG\r\n');
  const client = await connectRaw(t, port);
  client.send('GET', 'k');
  await client.untilClosed();
  t.match(client.received(), /^-DENIED /);
});

t.test('protected mode is off with a password, or with protectedMode false', async (t) => {
  const withPassword = await start(t, { config: { requirepass: 'pw' } });
  fakeRemoteAddress(withPassword.server, '10.1.2.3');
  const a = await connectRaw(t, withPassword.port);
  a.send('PING');
  await a.until((s) => s === '+PONG\r\n');
  const off = await start(t, { config: { protectedMode: false } });
  fakeRemoteAddress(off.server, '10.1.2.3');
  const b = await connectRaw(t, off.port);
  b.send('PING');
  await b.until((s) => s === '+PONG\r\n');
  t.pass('both served');
});
