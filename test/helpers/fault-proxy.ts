/**
 * One direction of a network link between two cluster nodes, as a TCP proxy in the test
 * process: node A is told (`serve --peer-route B=127.0.0.1:<proxy port>`) to dial node B
 * through it, so everything A sends to B — Raft messages, forwarded commands, snapshot
 * streams — and B's replies on those connections pass here.
 *
 * While the link is up, each accepted connection is forwarded to B's port, byte for byte.
 * Cutting it blackholes: the forwarded connections are destroyed at once (bytes this
 * process still holds are dropped, nothing is delivered late), and connections accepted
 * while it is cut are kept open and silent, their bytes read and dropped — A sees no
 * reply rather than a refused connection, as behind a real partition. Healing destroys
 * those silent connections (A notices at once and reconnects) and forwards new ones.
 */
import net from 'node:net';
import { HOST } from './processes.js';

/** A proxied connection: the socket A opened and, while forwarding, the one to B. */
interface Pair {
  readonly inbound: net.Socket;
  upstream: net.Socket | undefined;
}

/** A one-way link (A dials B through it) that can be cut and healed. */
export class LinkProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private cut = false;
  private listening = 0;
  /** Connections accepted, forwarded and blackholed, for the run's report. */
  readonly counts = { accepted: 0, forwarded: 0, blackholed: 0 };

  /** A proxy (not yet listening) forwarding to 127.0.0.1:`targetPort`. */
  constructor(readonly targetPort: number) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', () => {});
  }

  /** Listens on a free loopback port; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: HOST, port: 0 }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.listening = addr && typeof addr === 'object' ? addr.port : 0;
        resolve(this.listening);
      });
    });
  }

  /** The port A dials (0 before `listen`). */
  get port(): number {
    return this.listening;
  }

  /** Whether the link is cut. */
  get isCut(): boolean {
    return this.cut;
  }

  /** Cuts (`true`) or heals (`false`) the link; see the file comment. Idempotent. */
  setCut(cut: boolean): void {
    if (cut === this.cut) return;
    this.cut = cut;
    // Either way every current connection ends: forwarded ones on a cut, silent ones on a heal.
    for (const pair of [...this.pairs]) this.end(pair);
  }

  /** Stops listening and destroys every connection. */
  close(): Promise<void> {
    for (const pair of [...this.pairs]) this.end(pair);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: net.Socket): void {
    this.counts.accepted++;
    const pair: Pair = { inbound, upstream: undefined };
    this.pairs.add(pair);
    inbound.on('error', () => {});
    inbound.on('close', () => this.end(pair));
    if (this.cut) {
      this.counts.blackholed++;
      // Read and drop: the sender's writes never block, nothing is answered.
      inbound.on('data', () => {});
      return;
    }
    this.counts.forwarded++;
    inbound.setNoDelay(true);
    const upstream = net.connect({ host: HOST, port: this.targetPort });
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('error', () => {});
    upstream.on('close', () => this.end(pair));
    // Manual forwarding (not pipe): after `end` nothing more is written either way.
    this.forward(pair, inbound, upstream);
    this.forward(pair, upstream, inbound);
  }

  /** Copies `from`'s bytes to `to` while `pair` lives, pausing `from` while `to` is full. */
  private forward(pair: Pair, from: net.Socket, to: net.Socket): void {
    from.on('data', (d: Buffer) => {
      if (this.pairs.has(pair) && !to.write(d)) from.pause();
    });
    to.on('drain', () => from.resume());
  }

  private end(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.inbound.destroy();
    pair.upstream?.destroy();
  }
}
