import { Flags } from '@oclif/core';
import { clientTlsOptions, type NodeCredentials } from '../cluster/index.js';

/** Flags of the commands that talk to running nodes (`join`, `leave`, `snapshot --host`): authentication and TLS. */
export const connectionFlags = {
  password: Flags.string({ char: 'p', summary: "The nodes' password (their --requirepass).", env: 'BITRAFT_REQUIREPASS' }),
  'cluster-secret': Flags.string({
    summary: "The cluster secret (the nodes' --cluster-secret): sent with RAFTAUTH instead of the password; membership changes need it when the nodes have one.",
    env: 'BITRAFT_CLUSTER_SECRET',
  }),
  tls: Flags.boolean({ summary: 'Connect with TLS (implied by the other --tls-* flags).', default: false }),
  'tls-ca': Flags.string({ summary: "CA certificate(s), PEM, to check the node's certificate with (default: the system's CAs)." }),
  'tls-cert': Flags.string({ summary: 'Client certificate, PEM, for nodes that check clients (--tls-auth-clients).', dependsOn: ['tls-key'] }),
  'tls-key': Flags.string({ summary: "The client certificate's private key, PEM.", dependsOn: ['tls-cert'] }),
};

/** The flags `connectionFlags` parses to. */
export interface ConnectionFlagValues {
  password?: string;
  'cluster-secret'?: string;
  tls: boolean;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

/** The credentials those flags describe (reads the TLS files; throws INVALID_ARGUMENT naming an unreadable one). */
export function credentialsFromFlags(flags: ConnectionFlagValues): NodeCredentials {
  const useTls = flags.tls || flags['tls-ca'] !== undefined || flags['tls-cert'] !== undefined;
  return {
    password: flags.password,
    clusterSecret: flags['cluster-secret'],
    tls: useTls ? clientTlsOptions({ caFile: flags['tls-ca'], certFile: flags['tls-cert'], keyFile: flags['tls-key'] }) : undefined,
  };
}
