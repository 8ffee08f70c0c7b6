import tls from 'node:tls';
import { readPemFile } from '../cluster/client-tls.js';
import { BitraftError } from '../support/errors.js';
import { messageOf } from '../support/error-message.js';

/** Whether clients must present a certificate signed by the CA: never asked, checked if sent, or required. */
export type TlsAuthClients = 'no' | 'optional' | 'yes';

/** The TLS settings of a node, as files (PEM). */
export interface TlsFiles {
  /** The node's certificate chain, presented to clients and to peers (as a client certificate). */
  certFile: string;
  /** The certificate's private key. */
  keyFile: string;
  /** CAs that sign the certificates of peers (and of clients, see `authClients`); default: Node's trusted CAs. */
  caFile?: string;
  authClients: TlsAuthClients;
}

/** A node's TLS, loaded: for its listener and for its own connections to peers. */
export interface NodeTls {
  server: tls.TlsOptions;
  client: tls.ConnectionOptions;
}

/**
 * Loads a node's certificate, key and CA and checks that they make a TLS context
 * (a key that does not match the certificate, or a file that is not PEM, is an
 * INVALID_ARGUMENT error naming the files), before anything listens.
 */
export function loadNodeTls(files: TlsFiles): NodeTls {
  const cert = readPemFile('--tls-cert', files.certFile);
  const key = readPemFile('--tls-key', files.keyFile);
  const ca = files.caFile === undefined ? undefined : readPemFile('--tls-ca', files.caFile);
  try {
    tls.createSecureContext({ cert, key, ca });
  } catch (err) {
    const names = [files.certFile, files.keyFile, files.caFile].filter((f) => f !== undefined).join(', ');
    throw new BitraftError('INVALID_ARGUMENT', `the TLS certificate, key or CA (${names}) cannot be used: ${messageOf(err)}`);
  }
  return {
    server: { cert, key, ca, requestCert: files.authClients !== 'no', rejectUnauthorized: files.authClients === 'yes' },
    client: { cert, key, ca },
  };
}
