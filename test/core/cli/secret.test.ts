import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { credentialsFromFlags, secretOf } from '../../../src/core/cli/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

t.test('secretOf: the flag, or the file, never both', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'pw');
  fs.writeFileSync(file, 'from-file\n');
  t.equal(secretOf(undefined, '--requirepass-file', undefined), undefined);
  t.equal(secretOf('direct', '--requirepass-file', undefined), 'direct');
  t.equal(secretOf(undefined, '--requirepass-file', file), 'from-file');
  t.throws(() => secretOf('direct', '--requirepass-file', file), { code: 'INVALID_ARGUMENT', message: '--requirepass-file and --requirepass (or its environment variable) cannot both be set' });
});

t.test('credentialsFromFlags: password, cluster secret, and TLS when any --tls flag is given', async (t) => {
  const dir = tmpDir(t);
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, 'CA');
  t.same(credentialsFromFlags({ tls: false }), { password: undefined, clusterSecret: undefined, tls: undefined });
  t.same(credentialsFromFlags({ tls: false, password: 'pw', 'cluster-secret': 'cs' }), { password: 'pw', clusterSecret: 'cs', tls: undefined });
  t.same(credentialsFromFlags({ tls: true }).tls, { ca: undefined, cert: undefined, key: undefined }, '--tls alone');
  t.same(String(credentialsFromFlags({ tls: false, 'tls-ca': ca }).tls?.ca), 'CA', '--tls-ca implies --tls');
  t.throws(() => credentialsFromFlags({ tls: false, 'tls-cert': ca }), { code: 'INVALID_ARGUMENT' }, 'a certificate without its key');
});
