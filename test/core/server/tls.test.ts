import t from 'tap';
import { loadNodeTls } from '../../../src/core/server/tls.js';
import { makeCerts } from '../../helpers/tls-certs.js';

t.test('loads the certificate, key and CA for the listener and for connections to peers', async (t) => {
  const c = makeCerts(t);
  for (const [authClients, requestCert, rejectUnauthorized] of [
    ['no', false, false],
    ['optional', true, false],
    ['yes', true, true],
  ] as const) {
    const loaded = loadNodeTls({ certFile: c.serverCert, keyFile: c.serverKey, caFile: c.caCert, authClients });
    t.match(loaded.server, { requestCert, rejectUnauthorized }, authClients);
    t.ok(Buffer.isBuffer(loaded.server.cert) && Buffer.isBuffer(loaded.server.key) && Buffer.isBuffer(loaded.server.ca));
    t.same(loaded.client, { cert: loaded.server.cert, key: loaded.server.key, ca: loaded.server.ca }, 'peers are shown the same certificate');
  }
  const noCa = loadNodeTls({ certFile: c.serverCert, keyFile: c.serverKey, authClients: 'no' });
  t.equal(noCa.client.ca, undefined, "without --tls-ca, Node's trusted CAs");
});

t.test('a missing file or a key that does not fit is a clear error', async (t) => {
  const c = makeCerts(t);
  t.throws(() => loadNodeTls({ certFile: `${c.dir}/nope.crt`, keyFile: c.serverKey, authClients: 'no' }), { code: 'INVALID_ARGUMENT', message: /^cannot read --tls-cert .*nope\.crt: ENOENT/ });
  t.throws(() => loadNodeTls({ certFile: c.serverCert, keyFile: `${c.dir}/nope.key`, authClients: 'no' }), { message: /^cannot read --tls-key / });
  t.throws(() => loadNodeTls({ certFile: c.serverCert, keyFile: c.serverKey, caFile: `${c.dir}/nope.pem`, authClients: 'no' }), { message: /^cannot read --tls-ca / });
  t.throws(() => loadNodeTls({ certFile: c.serverCert, keyFile: c.otherKey, authClients: 'no' }), {
    code: 'INVALID_ARGUMENT',
    message: /^the TLS certificate, key or CA \(.*server\.crt, .*other\.key\) cannot be used: .*key values mismatch/,
  });
  t.throws(() => loadNodeTls({ certFile: c.serverKey, keyFile: c.serverKey, caFile: c.caCert, authClients: 'no' }), { message: /cannot be used/ }, 'a key where the certificate should be');
});
