import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { clientTlsOptions, readSecretFile } from '../../../src/core/cluster/client-tls.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

t.test('clientTlsOptions reads the files it is given', async (t) => {
  const dir = tmpDir(t);
  for (const f of ['ca.pem', 'c.pem', 'k.pem']) fs.writeFileSync(path.join(dir, f), `${f}\n`);
  t.same(clientTlsOptions({}), { ca: undefined, cert: undefined, key: undefined }, "nothing: Node's trusted CAs, no client certificate");
  const all = clientTlsOptions({ caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'c.pem'), keyFile: path.join(dir, 'k.pem') });
  t.same([all.ca, all.cert, all.key].map(String), ['ca.pem\n', 'c.pem\n', 'k.pem\n']);
  t.throws(() => clientTlsOptions({ certFile: path.join(dir, 'c.pem') }), { code: 'INVALID_ARGUMENT', message: '--tls-cert and --tls-key go together' });
  t.throws(() => clientTlsOptions({ caFile: path.join(dir, 'missing.pem') }), { code: 'INVALID_ARGUMENT', message: /^cannot read --tls-ca .*missing\.pem: ENOENT/ });
});

t.test('readSecretFile: the text without one trailing newline; empty or unreadable files are errors', async (t) => {
  const dir = tmpDir(t);
  const file = (name: string, text: string): string => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  t.equal(readSecretFile('--x-file', file('a', 's3cret\n')), 's3cret');
  t.equal(readSecretFile('--x-file', file('b', 'with space \r\n')), 'with space ', 'CRLF too; other whitespace is kept');
  t.equal(readSecretFile('--x-file', file('c', 'two\n\n')), 'two\n', 'only one newline is taken off');
  t.throws(() => readSecretFile('--x-file', file('d', '\n')), { code: 'INVALID_ARGUMENT', message: /^--x-file .*d is empty$/ });
  t.throws(() => readSecretFile('--x-file', path.join(dir, 'none')), { code: 'INVALID_ARGUMENT', message: /^cannot read --x-file .*none: ENOENT/ });
});
