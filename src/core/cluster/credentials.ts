import type tls from 'node:tls';

/**
 * How a connection to a bitraft node authenticates and is secured: what a node uses
 * towards its peers, and what `bitraft join`/`leave`/`snapshot --host` use.
 */
export interface NodeCredentials {
  /** The nodes' client password (`--requirepass`): sent with `AUTH` when no cluster secret is given. */
  password?: string;
  /**
   * The cluster secret (`--cluster-secret`): sent with `RAFTAUTH`, which both
   * authenticates the connection and lets it send the internal Raft commands and
   * membership changes.
   */
  clusterSecret?: string;
  /** Set when the nodes serve TLS: the options of `tls.connect` (CA, client certificate). */
  tls?: tls.ConnectionOptions;
}

/**
 * The command a new connection sends before any other: `RAFTAUTH <secret>` when a
 * cluster secret is known, else `AUTH <password>` when a password is, else none.
 */
export function handshakeOf(credentials: NodeCredentials | undefined): readonly string[] | undefined {
  if (credentials?.clusterSecret !== undefined) return ['RAFTAUTH', credentials.clusterSecret];
  if (credentials?.password !== undefined) return ['AUTH', credentials.password];
  return undefined;
}
