import { formatAddress, parseAddress } from '../server/index.js';
import { BitraftError } from '../support/errors.js';

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
