import type { Reply } from '../resp/types.js';
import { messageOf } from '../support/error-message.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { dialAddress, type NodeCredentials } from './credentials.js';
import { RespClient } from './resp-client.js';

/** What a node about to be added to a cluster holds, as it says itself. */
export interface JoinerState {
  /** Its live keys (`INFO keyspace`). */
  keys: number;
  /** The members of the cluster it knows (`RAFTPEERS`); none for a node started with `--join` and never added. */
  members: string[];
}

/**
 * Why `addr`, holding `joiner`, may not be added to a cluster whose members are
 * `members`; undefined when it may. A node may join when it knows no cluster and holds
 * no keys (started with an empty `--dir` and `--join`), or when it knows one of these
 * members besides itself (a node of this cluster added again: its log and keys are this
 * cluster's). Refused: a node of another cluster — its log, though it may look like this
 * cluster's at the same indexes and terms, is another history, and its keys would stay
 * on that one replica — and a node holding keys outside any cluster.
 */
export function joinerRefusal(addr: string, joiner: JoinerState, members: readonly string[]): BitraftError | undefined {
  const keys = `${joiner.keys} key${joiner.keys === 1 ? '' : 's'}`;
  const fix =
    'only a node started with an empty --dir and --join can be added ' +
    '(to keep its keys, copy them in first: bitraft snapshot, then bitraft parse-snapshot | redis-cli --pipe)';
  if (joiner.members.length === 0) {
    return joiner.keys === 0 ? undefined : new BitraftError('INVALID_ARGUMENT', `${addr} holds ${keys} outside any cluster; ${fix}`);
  }
  if (joiner.members.some((m) => m !== addr && members.includes(m))) return undefined;
  return new BitraftError('INVALID_ARGUMENT', `${addr} belongs to another cluster (its members: ${joiner.members.join(', ')}; it holds ${keys}); ${fix}`);
}

/** The key count in an `INFO keyspace` reply (0 when it lists no database). */
export function keysOfInfo(reply: Reply): number {
  if (reply.type !== 'bulk') throw new BitraftError('PROTOCOL', `INFO keyspace answered ${reply.type === 'error' ? reply.text : `a ${reply.type} reply`}`);
  const m = /^db0:keys=(\d+)/m.exec(reply.value.toString('latin1'));
  return m ? Number(m[1]) : 0;
}

/** The member ids in a `RAFTPEERS` reply (each row's first item). */
export function membersOfPeers(reply: Reply): string[] {
  if (reply.type !== 'array') throw new BitraftError('PROTOCOL', `RAFTPEERS answered ${reply.type === 'error' ? reply.text : `a ${reply.type} reply`}`);
  return reply.items.map((row) => {
    const id = row.type === 'array' ? row.items[0] : undefined;
    if (id?.type !== 'bulk') throw new BitraftError('PROTOCOL', 'RAFTPEERS answered a row without a member id');
    return id.value.toString('latin1');
  });
}

/** Settings of `checkJoiner`. */
export interface JoinerCheck {
  /** The node to be added. */
  addr: string;
  /** The cluster's members now. */
  members: readonly string[];
  credentials?: NodeCredentials;
  logger?: Logger;
  timeoutMs: number;
}

/**
 * Asks the node `addr` what it holds (`INFO keyspace`, `RAFTPEERS`) and rejects when it
 * may not be added (`joinerRefusal`), or with UNAVAILABLE when it cannot be asked: a
 * node is added only once it runs, so that it can be checked.
 */
export async function checkJoiner(opts: JoinerCheck): Promise<void> {
  const { host, port } = dialAddress(opts.addr, opts.credentials);
  const client = new RespClient({ host, port, credentials: opts.credentials, logger: opts.logger, name: `joining node ${opts.addr}` });
  let joiner: JoinerState;
  try {
    const [info, peers] = await Promise.all([client.call(['INFO', 'keyspace'], opts.timeoutMs), client.call(['RAFTPEERS'], opts.timeoutMs)]);
    joiner = { keys: keysOfInfo(info), members: membersOfPeers(peers) };
  } catch (err) {
    throw new BitraftError('UNAVAILABLE', `cannot check ${opts.addr} before adding it (${messageOf(err)}): start it first, with an empty --dir`, { cause: err });
  } finally {
    client.close();
  }
  const refusal = joinerRefusal(opts.addr, joiner, opts.members);
  if (refusal) throw refusal;
}
