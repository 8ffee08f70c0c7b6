import http from 'node:http';
import type { Registry } from 'prom-client';
import { messageOf } from '../support/error-message.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';

/** The path metrics are served at. */
export const METRICS_PATH = '/metrics';

/** A running metrics endpoint. */
export interface MetricsEndpoint {
  /** The port bound (differs from the one asked for when that was 0). */
  readonly port: number;
  /** Stops listening and closes every connection (idle keep-alive ones included). Idempotent. */
  close(): Promise<void>;
}

/** `host:port`, with an IPv6 host in brackets. */
const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** Answers one request: `GET /metrics` with the registry's text; 405 for other methods there, 404 for other paths. */
function answer(registry: Registry, logger: Logger, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url!.split('?')[0] !== METRICS_PATH) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: metrics are served at ${METRICS_PATH}\n`);
    return;
  }
  if (req.method !== 'GET') {
    res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET' }).end('method not allowed: use GET\n');
    return;
  }
  registry.metrics().then(
    (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
    (err: unknown) => {
      logger.warn(`metrics: collecting failed: ${messageOf(err)}`);
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`collecting the metrics failed: ${messageOf(err)}\n`);
    },
  );
}

/**
 * Serves `registry` in the Prometheus text format at `GET /metrics` over plain HTTP on
 * `host:port` (port 0 picks a free one), and logs `serving metrics on
 * http://host:port/metrics` with the bound port. Rejects with `INVALID_ARGUMENT` when it
 * cannot listen there (an address in use or not local, an unknown host).
 */
export function serveMetrics(registry: Registry, host: string, port: number, logger: Logger): Promise<MetricsEndpoint> {
  const server = http.createServer((req, res) => answer(registry, logger, req, res));
  server.on('error', (err) => logger.warn(`metrics endpoint: ${err.message}`));
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new BitraftError('INVALID_ARGUMENT', `cannot serve metrics on ${hostPort(host, port)}: ${err.message}`, { cause: err })));
    server.listen({ host, port }, () => {
      const bound = (server.address() as { port: number }).port;
      logger.info(`serving metrics on http://${hostPort(host, bound)}${METRICS_PATH}`);
      let closing: Promise<void> | undefined;
      const close = (): Promise<void> => {
        closing ??= new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        return closing;
      };
      resolve({ port: bound, close });
    });
  });
}
