/**
 * Certificates for TLS tests, made at test time with the `openssl` command: a CA, a
 * server certificate for 127.0.0.1 (and localhost) signed by it — used by nodes both to
 * serve and as their client certificate towards peers — a client certificate signed by
 * it, and a second, unrelated CA with a certificate of its own (what a stranger holds).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { requireTools } from './server.js';
import { tmpDir } from './tmp-dir.js';

/** Paths of the PEM files `makeCerts` wrote. */
export interface TestCerts {
  dir: string;
  caCert: string;
  /** For 127.0.0.1 / localhost, signed by the CA. */
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the CA. */
  clientCert: string;
  clientKey: string;
  /** Another CA, and a certificate for 127.0.0.1 it signed: trusted by no one here. */
  otherCaCert: string;
  otherCert: string;
  otherKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a CA (`name`) in `dir`: returns its cert and key file names. */
function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = `${name}.crt`;
  const key = `${name}.key`;
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`]);
  return { cert, key };
}

/** Makes a key and a certificate `name` signed by `ca`, with `san` as subjectAltName. */
function makeSigned(dir: string, ca: { cert: string; key: string }, name: string, san: string): { cert: string; key: string } {
  const cert = `${name}.crt`;
  const key = `${name}.key`;
  const ext = `${name}.ext`;
  fs.writeFileSync(path.join(dir, ext), `subjectAltName=${san}\n`);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

/** Writes a fresh set of test certificates into a temp dir removed when the test ends. */
export function makeCerts(t: { teardown(fn: () => void): void }): TestCerts {
  requireTools('openssl');
  const dir = tmpDir(t, 'bitraft-tls-');
  const ca = makeCa(dir, 'ca');
  const server = makeSigned(dir, ca, 'server', 'IP:127.0.0.1,DNS:localhost');
  const client = makeSigned(dir, ca, 'client', 'DNS:client');
  const otherCa = makeCa(dir, 'other-ca');
  const other = makeSigned(dir, otherCa, 'other', 'IP:127.0.0.1,DNS:localhost');
  const at = (f: string): string => path.join(dir, f);
  return {
    dir,
    caCert: at(ca.cert),
    serverCert: at(server.cert),
    serverKey: at(server.key),
    clientCert: at(client.cert),
    clientKey: at(client.key),
    otherCaCert: at(otherCa.cert),
    otherCert: at(other.cert),
    otherKey: at(other.key),
  };
}
