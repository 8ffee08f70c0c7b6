import type tls from 'node:tls';
import { formatAddress, parseAddress } from '../server/config.js';
import { BitraftError } from '../support/errors.js';

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

/**
 * Parses `serve --peer-route` values, each `<node id>=<host:port>`: dial that node at that
 * address instead of its id. Throws INVALID_ARGUMENT for a malformed value or an id given twice.
 */
export function parsePeerRoutes(values: readonly string[] | undefined): Map<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const routes = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq < 0) throw new BitraftError('INVALID_ARGUMENT', `--peer-route ${JSON.stringify(value)}: expected <node id>=<host:port>`);
    const id = formatAddress(parseAddress(value.slice(0, eq)));
    if (routes.has(id)) throw new BitraftError('INVALID_ARGUMENT', `--peer-route: ${id} is routed twice`);
    routes.set(id, formatAddress(parseAddress(value.slice(eq + 1))));
  }
  return routes;
}
