import type tls from 'node:tls';
import { parseAddress } from '../server/config.js';

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
  /**
   * Node id → the address to dial it at instead of its id (`serve --peer-route`): for
   * tests that put fault-injecting proxies between nodes. Absent ids are dialled as is.
   */
  routes?: ReadonlyMap<string, string>;
}

/** Where to connect to the node `id` (its advertised address, unless `credentials.routes` says otherwise); throws INVALID_ARGUMENT for a malformed address. */
export function dialAddress(id: string, credentials: NodeCredentials | undefined): { host: string; port: number } {
  return parseAddress(credentials?.routes?.get(id) ?? id);
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
