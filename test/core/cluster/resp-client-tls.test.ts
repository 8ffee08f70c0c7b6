/**
 * RespClient over TLS and with the cluster secret: a TLS peer made with test
 * certificates; the server's certificate is checked against the CA given, a client
 * certificate is presented when given, RAFTAUTH goes first when a cluster secret is set.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import t from 'tap';
import { RespClient } from '../../../src/core/cluster/resp-client.js';
import { RequestParser } from '../../../src/core/resp/index.js';
import { makeCerts, type TestCerts } from '../../helpers/tls-certs.js';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** A TLS peer on 127.0.0.1 answering +OK to everything; records the commands and whether the client's certificate checked out. */
async function tlsPeer(t: Teardown, certs: TestCerts, requestCert: boolean): Promise<{ port: number; commands: string[][]; clientAuthorized: boolean[] }> {
  const commands: string[][] = [];
  const clientAuthorized: boolean[] = [];
  const server = tls.createServer(
    { cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey), ca: fs.readFileSync(certs.caCert), requestCert, rejectUnauthorized: false },
    (socket) => {
      clientAuthorized.push(socket.authorized);
      const parser = new RequestParser();
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        for (const cmd of parser.push(chunk)) {
          commands.push(cmd.args.map((a) => a.toString('latin1')));
          socket.write('+OK\r\n');
        }
      });
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, commands, clientAuthorized };
}

let certs: TestCerts;
t.before(() => {
  certs = makeCerts(t);
});

function client(t: Teardown, port: number, credentials: ConstructorParameters<typeof RespClient>[0]['credentials']): RespClient {
  const c = new RespClient({ host: '127.0.0.1', port, credentials, connectTimeoutMs: 5000 });
  t.teardown(() => c.close());
  return c;
}

t.test('TLS: the server certificate is checked against the CA; a client certificate is presented', async (t) => {
  const peer = await tlsPeer(t, certs, true);
  const ca = fs.readFileSync(certs.caCert);
  const c = client(t, peer.port, { tls: { ca, cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) } });
  t.same(await c.call(['PING']), { type: 'simple', value: 'OK' });
  t.equal(c.connected, true);
  t.same(peer.clientAuthorized, [true], 'the peer saw a client certificate signed by the CA');
  t.same(peer.commands, [['PING']], 'no handshake command without a password or secret');

  const untrusting = client(t, peer.port, { tls: { ca: fs.readFileSync(certs.otherCaCert) } });
  await t.rejects(untrusting.call(['PING']), { code: 'UNAVAILABLE', message: /certificate/ }, 'a server the CA did not sign is refused');
});

t.test('with a cluster secret, RAFTAUTH goes first (over TLS too)', async (t) => {
  const peer = await tlsPeer(t, certs, false);
  const c = client(t, peer.port, { clusterSecret: 'cs', password: 'pw', tls: { ca: fs.readFileSync(certs.caCert) } });
  t.same(await c.call(['PING']), { type: 'simple', value: 'OK' });
  t.same(peer.commands, [['RAFTAUTH', 'cs'], ['PING']]);
});
