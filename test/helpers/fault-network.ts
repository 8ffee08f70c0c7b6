/**
 * The network between the nodes of a fault run: one `LinkProxy` per ordered pair of node
 * addresses (A→B: the link A dials B over), so every direction can be cut on its own.
 * Nodes are given `routeArgs(A)` — `--peer-route B=127.0.0.1:<A→B proxy>` for every other
 * B — at every start, so restarts keep their links. The proxies live as long as the test
 * (closed in teardown), whatever happens to the nodes; clients still talk to nodes
 * directly.
 *
 * `partition` cuts exactly the links between nodes of different groups (both directions)
 * and heals the others; `isolate` and `bridge` are shapes of it. `heal` restores every link.
 */
import { LinkProxy } from './fault-proxy.js';
import { HOST } from './processes.js';
import type { Teardownable } from './server.js';

/** A node as the network knows it: its id (advertised address) and real port. */
export interface NetNode {
  readonly addr: string;
  readonly port: number;
}

/** Proxies for every ordered pair of `nodes`. */
export class FaultNetwork {
  private readonly links = new Map<string, LinkProxy>();
  /** The description of the current partition, '' while healed. */
  private shape = '';

  private constructor(readonly nodes: readonly NetNode[]) {}

  /** Starts the proxies (each on a free loopback port); closed when `t` ends. */
  static async start(t: Teardownable, nodes: readonly NetNode[]): Promise<FaultNetwork> {
    const net = new FaultNetwork(nodes);
    t.teardown(() => net.close());
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        const link = new LinkProxy(to.port);
        net.links.set(key(from.addr, to.addr), link);
        await link.listen();
      }
    }
    return net;
  }

  /** The `serve` flags routing `addr`'s traffic to every other node through its proxies. */
  routeArgs(addr: string): string[] {
    return this.nodes.filter((n) => n.addr !== addr).flatMap((to) => ['--peer-route', `${to.addr}=${HOST}:${this.link(addr, to.addr).port}`]);
  }

  /** Whether `from` can currently send to `to`. */
  connected(from: string, to: string): boolean {
    return from === to || !this.link(from, to).isCut;
  }

  /** What is cut now, e.g. `{a,b} | {c}`; '' while healed. */
  get current(): string {
    return this.shape;
  }

  /**
   * Cuts every link between nodes in different `groups` (both directions) and heals the
   * links inside a group. Nodes in no group keep all their links.
   */
  partition(groups: readonly (readonly string[])[]): void {
    const group = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((addr) => group.set(addr, i)));
    this.apply((a, b) => group.has(a) && group.has(b) && group.get(a) !== group.get(b));
    this.shape = groups.map((g) => `{${g.join(',')}}`).join(' | ');
  }

  /**
   * A bridge: `left` and `right` cannot reach each other; `bridge` reaches both (so it
   * can see a majority on either side, the others only through it).
   */
  bridge(left: readonly string[], bridge: string, right: readonly string[]): void {
    this.apply((a, b) => (left.includes(a) && right.includes(b)) || (right.includes(a) && left.includes(b)));
    this.shape = `{${left.join(',')}} <-> ${bridge} <-> {${right.join(',')}}`;
  }

  /** Restores every link. */
  heal(): void {
    this.apply(() => false);
    this.shape = '';
  }

  /** Connections seen by all proxies: accepted, forwarded, blackholed. */
  counts(): { accepted: number; forwarded: number; blackholed: number } {
    const sum = { accepted: 0, forwarded: 0, blackholed: 0 };
    for (const l of this.links.values()) {
      sum.accepted += l.counts.accepted;
      sum.forwarded += l.counts.forwarded;
      sum.blackholed += l.counts.blackholed;
    }
    return sum;
  }

  /** Closes every proxy. */
  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }

  private apply(cut: (from: string, to: string) => boolean): void {
    for (const from of this.nodes) for (const to of this.nodes) if (from !== to) this.link(from.addr, to.addr).setCut(cut(from.addr, to.addr));
  }

  private link(from: string, to: string): LinkProxy {
    const l = this.links.get(key(from, to));
    if (!l) throw new Error(`no link ${from} -> ${to}`);
    return l;
  }
}

function key(from: string, to: string): string {
  return `${from}>${to}`;
}
