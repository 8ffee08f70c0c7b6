import type { Reply } from '../resp/types.js';
import { parseAddress } from '../server/config.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { RespClient } from './resp-client.js';
import { messageOf } from '../support/error-message.js';
import type { NodeCredentials } from './credentials.js';

/** Settings of `requestMembershipChange`. */
export interface MembershipRequest {
  /** Any node of the cluster (`host:port`); redirects to the leader are followed. */
  target: string;
  command: 'RAFTADDPEER' | 'RAFTREMOVEPEER';
  /** The node to add or remove (`host:port`). */
  addr: string;
  /** How to authenticate to the nodes (and TLS). */
  credentials?: NodeCredentials;
  logger: Logger;
  /** Give up after this long (a `TIMEOUT` error). */
  timeoutMs: number;
  /** Resolving stops the attempts (a `CLOSED` error). */
  cancelled?: Promise<void>;
}

/** Errors that retrying cannot fix: wrong password, bad address, not a bitraft node, a change that cannot apply, a node holding another cluster's keys. */
const FINAL = /(?:^|AUTH refused: )(WRONGPASS|NOAUTH|NOPERM|ERR invalid|ERR unknown command|ERR wrong number|ERR dropped: invalid-conf|ERR .+ is not a (member|voter) of the cluster|ERR .+ (?:belongs to another cluster|holds \d+ keys? outside any cluster))/;

/**
 * Sends `RAFTADDPEER addr` or `RAFTREMOVEPEER addr` to the cluster until it is committed:
 * follows `-TRY`/`-MOVED` to the leader, and retries with back-off while the cluster has
 * no leader or cannot be reached. Resolves once a node answered `+OK`; rejects with the
 * error for a final refusal (e.g. a wrong password), `TIMEOUT`, or `CLOSED`.
 */
export async function requestMembershipChange(req: MembershipRequest): Promise<void> {
  const deadline = Date.now() + req.timeoutMs;
  let target = req.target;
  let backoff = 100;
  let cancelled = false;
  void req.cancelled?.then(() => {
    cancelled = true;
  });
  for (;;) {
    if (cancelled) throw new BitraftError('CLOSED', 'cancelled');
    const { host, port } = parseAddress(target);
    const client = new RespClient({ host, port, credentials: req.credentials, logger: req.logger, name: `cluster node ${target}` });
    let reply: Reply | undefined;
    let problem: string;
    try {
      reply = await client.call([req.command, req.addr], Math.max(1, deadline - Date.now()));
      problem = reply.type === 'error' ? reply.text : '';
    } catch (err) {
      problem = messageOf(err);
    } finally {
      client.close();
    }
    if (reply && reply.type !== 'error') return;
    const redirect = /^(?:TRY|MOVED \d+) (\S+)$/.exec(problem);
    if (redirect) {
      req.logger.info(`${target} redirected to the leader ${redirect[1]}`);
      target = redirect[1]!;
      continue;
    }
    if (FINAL.test(problem)) throw new BitraftError('INVALID_ARGUMENT', `${target} refused ${req.command} ${req.addr}: ${problem}`);
    if (Date.now() + backoff > deadline) throw new BitraftError('TIMEOUT', `${req.command} ${req.addr} did not succeed within ${req.timeoutMs} ms; last error: ${problem}`);
    req.logger.info(`${req.command} ${req.addr} via ${target} failed (${problem}); retrying in ${backoff} ms`);
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 2000);
    // The leader we were sent to may be gone: start again from the node we were given.
    target = req.target;
  }
}

/** Settings of `joinCluster`. */
export interface JoinOptions {
  /** A node of the cluster to join. */
  target: string;
  /** This node's advertised address. */
  self: string;
  /** How to authenticate to the nodes (and TLS). */
  credentials?: NodeCredentials;
  logger: Logger;
  /** Resolves when the node stops (the attempts end). */
  stopped: Promise<void>;
}

/**
 * `serve --join`: asks the cluster to add this node, retrying until it is added or the
 * node stops, and logs the outcome. Never rejects.
 */
export async function joinCluster(opts: JoinOptions): Promise<void> {
  opts.logger.info(`joining the cluster through ${opts.target}`);
  try {
    await requestMembershipChange({
      target: opts.target,
      command: 'RAFTADDPEER',
      addr: opts.self,
      credentials: opts.credentials,
      logger: opts.logger,
      timeoutMs: Number.POSITIVE_INFINITY,
      cancelled: opts.stopped,
    });
    opts.logger.info(`joined the cluster through ${opts.target}`);
  } catch (err) {
    opts.logger.warn(`could not join the cluster through ${opts.target}: ${messageOf(err)}`);
  }
}
