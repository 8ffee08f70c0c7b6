import { errorReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import type { NodeId } from '../raft/types.js';
import type { RedirectMode } from '../server/config.js';
import { replyForError } from '../server/reply-errors.js';
import type { Logger } from '../support/logger.js';
import { RespClient, UnavailableError } from './resp-client.js';
import { dialAddress, type NodeCredentials } from './credentials.js';

/** The internal command a follower wraps forwarded commands in. */
export const FORWARD_COMMAND = 'RAFTFWD';

/** `-ERR leader not known`: no leader is known (an election is under way, or no quorum). */
export const LEADER_NOT_KNOWN: Reply = errorReply('ERR leader not known');

/** How many leader changes a forwarded command follows before it gives up. */
const MAX_LEADER_CHANGES = 2;

/** A forwarded command reached a node that no longer leads. */
export const NOT_LEADER_ANY_MORE: Reply = errorReply('ERR not the leader any more; retry');

/** What the router needs to know about the cluster. */
export interface LeaderView {
  readonly id: NodeId;
  readonly leader: NodeId | undefined;
  waitForLeader(ms: number, except?: NodeId): Promise<NodeId | undefined>;
}

/** Settings of a `LeaderRouter`. */
export interface LeaderRouterOptions {
  cluster: LeaderView;
  mode: RedirectMode;
  /** How to authenticate to the leader (and TLS). */
  credentials?: NodeCredentials;
  /** How long a forwarded command may take. */
  timeoutMs: number;
  /** How long to wait for a leader to be elected before answering `LEADER_NOT_KNOWN`. */
  leaderWaitMs: number;
  logger: Logger;
}

/**
 * Answers, on a node that does not lead, a command that only the leader may answer: by
 * forwarding it to the leader over one pipelined connection and relaying its reply
 * (`forward`, the default), or by telling the client where the leader is (`-TRY host:port`
 * as the Go bitraft did, or `-MOVED 0 host:port`, which `redis-cli -c` and cluster
 * clients follow). While no leader is known it waits up to `leaderWaitMs` for an
 * election, then answers `-ERR leader not known`. Commands that were themselves
 * forwarded are never forwarded again (no loops while nodes disagree on the leader).
 */
export class LeaderRouter {
  private readonly opts: LeaderRouterOptions;
  private readonly clients = new Map<NodeId, RespClient>();

  constructor(opts: LeaderRouterOptions) {
    this.opts = opts;
  }

  /**
   * Sends `args` where the leader can answer them; `forwarded` marks a command that
   * already was. `local` answers it here, for when this node is elected while waiting.
   */
  route(args: readonly Buffer[], forwarded: boolean, local: () => Reply | Promise<Reply>): Reply | Promise<Reply> {
    if (forwarded) return NOT_LEADER_ANY_MORE;
    const { cluster } = this.opts;
    const leader = cluster.leader;
    if (leader !== undefined && leader !== cluster.id) return this.toLeader(leader, args, local);
    // No leader, or this node is handing leadership over: wait for the next one.
    return cluster.waitForLeader(this.opts.leaderWaitMs, leader).then((found) => {
      if (found === undefined) return LEADER_NOT_KNOWN;
      if (found === this.opts.cluster.id) return local();
      return this.toLeader(found, args, local);
    });
  }

  /** Closes every connection to a leader. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private toLeader(leader: NodeId, args: readonly Buffer[], local: () => Reply | Promise<Reply>): Reply | Promise<Reply> {
    if (this.opts.mode === 'try') return errorReply(`TRY ${leader}`);
    if (this.opts.mode === 'moved') return errorReply(`MOVED 0 ${leader}`);
    return this.forward(leader, args, local, MAX_LEADER_CHANGES);
  }

  /**
   * Forwards to `leader`. When it cannot be reached and the command never left (a dead
   * leader, before the others noticed), waits for the next leader and forwards there —
   * a client sees a short pause across a failover rather than an error.
   */
  private forward(leader: NodeId, args: readonly Buffer[], local: () => Reply | Promise<Reply>, changes: number): Promise<Reply> {
    let client: RespClient;
    try {
      client = this.client(leader);
    } catch (err) {
      return Promise.resolve(replyForError(err));
    }
    return client.call([FORWARD_COMMAND, ...args], this.opts.timeoutMs).catch((err: unknown) => {
      if (!(err instanceof UnavailableError) || !err.unsent || changes === 0) return replyForError(err);
      return this.opts.cluster.waitForLeader(this.opts.leaderWaitMs, leader).then((next) => {
        if (next === undefined) return LEADER_NOT_KNOWN;
        if (next === this.opts.cluster.id) return local();
        return this.forward(next, args, local, changes - 1);
      });
    });
  }

  private client(leader: NodeId): RespClient {
    let c = this.clients.get(leader);
    if (!c) {
      const { host, port } = dialAddress(leader, this.opts.credentials);
      c = new RespClient({ host, port, credentials: this.opts.credentials, logger: this.opts.logger, name: `leader ${leader}` });
      this.clients.set(leader, c);
    }
    return c;
  }
}
