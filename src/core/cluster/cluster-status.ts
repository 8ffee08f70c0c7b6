import type { Reply } from '../resp/types.js';
import { parseAddress } from '../server/config.js';
import { messageOf } from '../support/error-message.js';
import { BitraftError } from '../support/errors.js';
import type { NodeCredentials } from './credentials.js';
import { RespClient } from './resp-client.js';

/** How a member looks from outside: `ok`, or what is wrong with it. */
export type MemberHealth = 'ok' | 'unreachable' | 'no leader' | 'other leader' | 'behind';

/** One member of the cluster, as its own `RAFTSTATS` reports it. */
export interface MemberStatus {
  address: string;
  suffrage: 'voter' | 'learner';
  health: MemberHealth;
  /** Why it is unreachable (or refused RAFTSTATS). */
  error?: string;
  /** `Leader`, `Follower`, `Candidate`, … (absent when unreachable, as the fields below). */
  role?: string;
  term?: number;
  /** The leader it knows ('' when none). */
  leader?: string;
  commitIndex?: number;
  appliedIndex?: number;
  lastLogIndex?: number;
  lastSnapshotIndex?: number;
  logEntries?: number;
  logBytes?: number;
  /** Entries it has still to apply to reach the leader's commit index. */
  lag?: number;
}

/** The whole cluster, as `bitraft status` shows it. */
export interface ClusterStatus {
  /** The node asked for the membership. */
  host: string;
  /** The leader: the member that reports itself leader in the highest term, else the one `host` knows. */
  leader: string | undefined;
  /** Every member is `ok`. */
  healthy: boolean;
  members: MemberStatus[];
}

/** Settings of `fetchClusterStatus`. */
export interface StatusRequest {
  /** A node of the cluster (`host:port`). */
  target: string;
  credentials?: NodeCredentials;
  /** The deadline of each node's answer. */
  timeoutMs: number;
  /** A member more than this many entries behind the leader's commit index is `behind`. */
  maxLag: number;
}

/** `RAFTSTATS`' flat field/value array as a map. */
function pairsOf(reply: Reply, from: string, command: string): Map<string, string> {
  if (reply.type === 'error') throw new BitraftError('INVALID_ARGUMENT', `${from} refused ${command}: ${reply.text}`);
  if (reply.type !== 'array' || reply.items.length % 2 !== 0 || !reply.items.every((i) => i.type === 'bulk')) {
    throw new BitraftError('UNAVAILABLE', `${from} answered ${command} with something else than field/value pairs`);
  }
  const out = new Map<string, string>();
  for (let i = 0; i < reply.items.length; i += 2) {
    out.set((reply.items[i] as { value: Buffer }).value.toString('utf8'), (reply.items[i + 1] as { value: Buffer }).value.toString('utf8'));
  }
  return out;
}

/** The members `RAFTPEERS` lists: one array per member, its address and `voter`/`learner` first. */
function membersOf(reply: Reply, from: string): { address: string; suffrage: 'voter' | 'learner' }[] {
  if (reply.type === 'error') throw new BitraftError('INVALID_ARGUMENT', `${from} refused RAFTPEERS: ${reply.text}`);
  const rows = reply.type === 'array' ? reply.items : [];
  const out = rows.map((row) => {
    const cells = row.type === 'array' ? row.items : [];
    const text = (i: number): string => (cells[i]?.type === 'bulk' ? cells[i].value.toString('utf8') : '');
    return { address: text(0), suffrage: text(1) };
  });
  if (reply.type !== 'array' || out.some((m) => m.address === '' || (m.suffrage !== 'voter' && m.suffrage !== 'learner'))) {
    throw new BitraftError('UNAVAILABLE', `${from} answered RAFTPEERS with something else than its members`);
  }
  return out as { address: string; suffrage: 'voter' | 'learner' }[];
}

async function call(target: string, credentials: NodeCredentials | undefined, timeoutMs: number, args: string[]): Promise<Reply> {
  const { host, port } = parseAddress(target);
  const client = new RespClient({ host, port, credentials, name: `node ${target}`, connectTimeoutMs: timeoutMs });
  try {
    return await client.call(args, timeoutMs);
  } finally {
    client.close();
  }
}

function num(stats: Map<string, string>, field: string): number {
  return Number(stats.get(field) ?? Number.NaN);
}

/** A member's status from its `RAFTSTATS` (health and lag are settled by `assessHealth`). */
export function memberFromStats(address: string, suffrage: 'voter' | 'learner', stats: Map<string, string>): MemberStatus {
  return {
    address,
    suffrage,
    health: 'ok',
    role: stats.get('state') ?? '',
    term: num(stats, 'term'),
    leader: stats.get('leader') ?? '',
    commitIndex: num(stats, 'commit_index'),
    appliedIndex: num(stats, 'applied_index'),
    lastLogIndex: num(stats, 'last_log_index'),
    lastSnapshotIndex: num(stats, 'last_snapshot_index'),
    logEntries: num(stats, 'log_entries'),
    logBytes: num(stats, 'log_bytes'),
  };
}

/**
 * Settles who leads and each member's lag and health: the leader is the reachable member
 * that reports itself `Leader` in the highest term (else the leader `fallback` knows);
 * a member is `unreachable`, knows `no leader`, follows an `other leader`, is `behind`
 * (more than `maxLag` entries short of the leader's commit index), or `ok`.
 */
export function assessHealth(host: string, members: MemberStatus[], fallback: string | undefined, maxLag: number): ClusterStatus {
  let leaderStatus: MemberStatus | undefined;
  for (const m of members) {
    if (m.health !== 'unreachable' && m.role === 'Leader' && (leaderStatus === undefined || m.term! > leaderStatus.term!)) leaderStatus = m;
  }
  const leader = leaderStatus?.address ?? (fallback || undefined);
  for (const m of members) {
    if (m.health === 'unreachable') continue;
    if (leaderStatus) m.lag = Math.max(0, leaderStatus.commitIndex! - m.appliedIndex!);
    if (m.leader === '') m.health = 'no leader';
    else if (leader !== undefined && m.leader !== leader) m.health = 'other leader';
    else if (m.lag !== undefined && m.lag > maxLag) m.health = 'behind';
  }
  return { host, leader, healthy: members.every((m) => m.health === 'ok'), members };
}

/**
 * Asks `target` for the membership (`RAFTPEERS`), then every member for its own state
 * (`RAFTSTATS`, all at once), and assesses the cluster. A member that cannot be reached
 * is reported `unreachable` with the reason; rejects only when `target` itself cannot
 * be asked (`UNAVAILABLE`, `TIMEOUT`, or `INVALID_ARGUMENT` for a refusal such as a
 * wrong password).
 */
export async function fetchClusterStatus(req: StatusRequest): Promise<ClusterStatus> {
  const [peersReply, ownStats] = await Promise.all([
    call(req.target, req.credentials, req.timeoutMs, ['RAFTPEERS']),
    call(req.target, req.credentials, req.timeoutMs, ['RAFTSTATS']),
  ]);
  const members = membersOf(peersReply, req.target);
  const targetStats = pairsOf(ownStats, req.target, 'RAFTSTATS');
  const statuses = await Promise.all(
    members.map(async ({ address, suffrage }): Promise<MemberStatus> => {
      // The node asked has answered already.
      if (address === req.target) return memberFromStats(address, suffrage, targetStats);
      try {
        const reply = await call(address, req.credentials, req.timeoutMs, ['RAFTSTATS']);
        return memberFromStats(address, suffrage, pairsOf(reply, address, 'RAFTSTATS'));
      } catch (err) {
        return { address, suffrage, health: 'unreachable', error: messageOf(err) };
      }
    }),
  );
  return assessHealth(req.target, statuses, targetStats.get('leader'), req.maxLag);
}
