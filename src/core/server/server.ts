import net from 'node:net';
import tls from 'node:tls';
import { errorReply, ReplyWriter } from '../resp/index.js';
import { Connection } from './connection.js';
import type { ServerContext } from './context.js';
import { DENIED } from './reply-errors.js';
import { newSession } from './session.js';

/** Whether `address` (as `socket.remoteAddress` gives it, or `localhost`) is on the loopback interface. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === 'localhost') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * The RESP server: accepts TCP (or, given `tlsOptions`, TLS) connections, gives each a
 * `Connection`, refuses clients past `maxclients` with Redis's error, applies protected
 * mode (see `ServerConfig.protectedMode`), and closes cleanly.
 */
export class RespServer {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private nextId = 1;

  constructor(ctx: Omit<ServerContext, 'port' | 'sessions'>, tlsOptions?: tls.TlsOptions) {
    // Inherits from `ctx` rather than copying it, so fields the host fills in once it
    // listens (the cluster needs the bound port) are seen.
    const full = Object.create(ctx, {
      port: { value: () => this.port },
      sessions: { value: () => [...this.connections].map((c) => c.session) },
    }) as ServerContext;
    if (tlsOptions) {
      this.server = tls.createServer(tlsOptions, (socket) => this.accept(socket, full));
      // A failed handshake (a plain-TCP client, an untrusted certificate) concerns that client only.
      this.server.on('tlsClientError', (err, socket) => ctx.logger.debug(`client ${socket.remoteAddress}:${socket.remotePort}: TLS: ${err.message}`));
    } else {
      this.server = net.createServer((socket) => this.accept(socket, full));
    }
    this.server.on('error', (err) => ctx.logger.error(`server error: ${err.message}`));
  }

  /** Starts listening; resolves with the bound port, rejects if the address is taken. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolve(this.port);
      });
    });
  }

  /** The bound port (0 before listening). */
  get port(): number {
    const addr = this.server.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  /** Number of connected clients. */
  get clientCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, ends every connection after its ready replies, and waits for the listener to close. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.end();
    await closed;
  }

  private accept(socket: net.Socket, ctx: ServerContext): void {
    ctx.stats.connectionsReceived++;
    socket.on('error', (err) => ctx.logger.debug(`client ${socket.remoteAddress}:${socket.remotePort}: ${err.message}`));
    if (this.connections.size >= ctx.config.maxclients) {
      ctx.stats.rejectedConnections++;
      socket.end(new ReplyWriter().reply(errorReply('ERR max number of clients reached')).take());
      return;
    }
    if (socket instanceof tls.TLSSocket && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
      // --tls-auth-clients optional: a certificate need not be sent, but one that was must check out.
      ctx.logger.debug(`client ${socket.remoteAddress}:${socket.remotePort}: TLS: refused its certificate: ${socket.authorizationError}`);
      socket.destroy();
      return;
    }
    const { config } = ctx;
    const protectedOnly = config.protectedMode && config.requirepass === undefined && !isLoopback(socket.remoteAddress);
    if (protectedOnly && config.clusterSecret === undefined) {
      ctx.stats.rejectedConnections++;
      socket.end(new ReplyWriter().reply(DENIED).take());
      return;
    }
    const addr = `${socket.remoteAddress}:${socket.remotePort}`;
    const conn = new Connection(socket, ctx, newSession(this.nextId++, addr, Date.now(), config.requirepass !== undefined, protectedOnly));
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
  }
}
