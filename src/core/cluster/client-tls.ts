import fs from 'node:fs';
import type tls from 'node:tls';
import { BitraftError } from '../support/errors.js';
import { messageOf } from '../support/error-message.js';

/** TLS settings of a command-line client of the nodes (PEM files); all optional. */
export interface ClientTlsFiles {
  /** CAs to check the node's certificate with (default: Node's trusted CAs). */
  caFile?: string;
  /** A client certificate, for nodes that check clients' certificates; needs `keyFile`. */
  certFile?: string;
  keyFile?: string;
}

/** Reads the file named by `flag` (a PEM file, a secret), or throws INVALID_ARGUMENT naming the flag, the file and why. */
export function readPemFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new BitraftError('INVALID_ARGUMENT', `cannot read ${flag} ${file}: ${messageOf(err)}`);
  }
}

/** The `tls.connect` options of `files` (flags `--tls-ca`, `--tls-cert`, `--tls-key`); throws INVALID_ARGUMENT on an unreadable file or a certificate without its key. */
export function clientTlsOptions(files: ClientTlsFiles): tls.ConnectionOptions {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) throw new BitraftError('INVALID_ARGUMENT', '--tls-cert and --tls-key go together');
  return {
    ca: files.caFile === undefined ? undefined : readPemFile('--tls-ca', files.caFile),
    cert: files.certFile === undefined ? undefined : readPemFile('--tls-cert', files.certFile),
    key: files.keyFile === undefined ? undefined : readPemFile('--tls-key', files.keyFile),
  };
}

/**
 * A secret (password, cluster secret) read from `file`, so it need not appear on a
 * command line: the file's text without one trailing newline. Throws INVALID_ARGUMENT
 * naming `flag` and the file when it cannot be read or holds nothing.
 */
export function readSecretFile(flag: string, file: string): string {
  const text = readPemFile(flag, file).toString('utf8').replace(/\r?\n$/, '');
  if (text === '') throw new BitraftError('INVALID_ARGUMENT', `${flag} ${file} is empty`);
  return text;
}
