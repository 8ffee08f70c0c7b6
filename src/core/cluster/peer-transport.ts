import type { Transport } from '../raft/driver.js';
import { encodeMessages } from '../raft/message-codec.js';
import type { Message, NodeId } from '../raft/types.js';
import type { Logger } from '../support/logger.js';
import { RespClient } from './resp-client.js';
import { dialAddress, type NodeCredentials } from './credentials.js';

/** The internal command carrying a batch of Raft messages to a peer. */
export const RAFT_MESSAGE_COMMAND = 'RAFTMSG';

/** Settings of a `PeerTransport`. */
export interface PeerTransportOptions {
  /** How to authenticate to the peers (and TLS). */
  credentials?: NodeCredentials;
  logger: Logger;
}

/**
 * Carries Raft messages to peers over their own RESP ports: one connection per peer
 * (a node id is its address), and all the messages of one Ready for one peer in one
 * `RAFTMSG <batch>` command. Raft tolerates lost messages, so nothing is queued for a
 * peer that cannot be reached: its messages are dropped while the connection is
 * re-established with back-off, or while too much is waiting to be written to it.
 */
export class PeerTransport implements Transport {
  private readonly opts: PeerTransportOptions;
  private readonly peers = new Map<NodeId, RespClient>();
  /** Ids that are not addresses (reported once). */
  private readonly unreachable = new Set<NodeId>();
  private closed = false;

  constructor(opts: PeerTransportOptions) {
    this.opts = opts;
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [to, batch] of byPeer) {
      const peer = this.peer(to);
      if (peer) peer.send([RAFT_MESSAGE_COMMAND, Buffer.from(encodeMessages(batch))]);
    }
  }

  /** Closes every peer connection; later messages are dropped. */
  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }

  private peer(id: NodeId): RespClient | undefined {
    let p = this.peers.get(id);
    if (!p && !this.unreachable.has(id)) {
      try {
        const addr = dialAddress(id, this.opts.credentials);
        p = new RespClient({ host: addr.host, port: addr.port, credentials: this.opts.credentials, logger: this.opts.logger, name: `peer ${id}` });
      } catch {
        this.opts.logger.warn(`raft: cannot reach peer ${JSON.stringify(id)}: not a host:port address`);
        this.unreachable.add(id);
        return undefined;
      }
      this.peers.set(id, p);
    }
    return p;
  }
}
