import { decodeMessages } from '../raft/message-codec.js';
import { arrayReply, bulkReply, errorReply, intReply, NULL_BULK, OK, simpleReply } from '../resp/index.js';
import type { Reply } from '../resp/types.js';
import { hasCode } from '../support/errors.js';
import type { AdminCommand } from './admin-command.js';
import { formatAddress, parseAddress } from './config.js';
import type { ServerContext } from './context.js';
import { replyForError } from './reply-errors.js';
import type { Session } from './session.js';

/** How long a node being added may take to catch up with the log before it is promoted. */
export const CATCH_UP_MS = 30_000;

const str = (b: Buffer): string => b.toString('latin1');

/** Checks a peer address argument; returns it normalised, or an error reply. */
function peerAddress(arg: Buffer): string | Reply {
  try {
    const addr = parseAddress(str(arg));
    return addr.port === 0 ? errorReply('ERR invalid peer address: port 0') : formatAddress(addr);
  } catch (err) {
    return replyForError(err);
  }
}

/**
 * Runs a membership command on the leader; elsewhere it goes to the router like a write
 * (forwarded, or redirected with -TRY/-MOVED).
 */
function onLeader(ctx: ServerContext, session: Session, args: readonly Buffer[], run: () => Promise<Reply>): Reply | Promise<Reply> {
  const local = (): Promise<Reply> => run().catch((err: unknown) => (hasCode(err, 'NOT_LEADER') ? ctx.router.route(args, session.forwarded, local) : replyForError(err)));
  return ctx.cluster.isLeader ? local() : ctx.router.route(args, session.forwarded, local);
}

function membership(ctx: ServerContext, session: Session, args: readonly Buffer[], change: (addr: string) => Promise<unknown>): Reply | Promise<Reply> {
  const addr = peerAddress(args[1]!);
  if (typeof addr !== 'string') return addr;
  return onLeader(ctx, session, args, () => change(addr).then(() => OK));
}

/** Adds `addr` on the leader, checking first that a node not yet a member may join. */
async function addPeer(ctx: ServerContext, addr: string): Promise<void> {
  if (ctx.checkJoiner) {
    const { conf } = ctx.cluster.status();
    if (!conf.voters.includes(addr) && !conf.learners.includes(addr)) await ctx.checkJoiner(addr);
  }
  await ctx.cluster.addPeer(addr, CATCH_UP_MS);
}

/** The `raft` section of INFO. */
export function raftInfo(ctx: ServerContext): [string, string | number][] {
  const st = ctx.cluster.status();
  return [
    ['raft_id', st.id],
    ['raft_state', ctx.cluster.roleName.toLowerCase()],
    ['raft_leader', st.leader ?? ''],
    ['raft_term', st.term],
    ['raft_commit_index', st.commit],
    ['raft_applied_index', st.applied],
    ['raft_last_log_index', st.lastIndex],
    ['raft_first_log_index', st.firstIndex],
    ['raft_last_snapshot_index', ctx.cluster.lastSnapshotIndex],
    ['raft_voters', st.conf.voters.length],
    ['raft_learners', st.conf.learners.length],
  ];
}

function stats(ctx: ServerContext): Reply {
  const st = ctx.cluster.status();
  const pairs: [string, string | number][] = [
    ['id', st.id],
    ['state', ctx.cluster.roleName],
    ['term', st.term],
    ['vote', st.vote],
    ['leader', st.leader ?? ''],
    ['commit_index', st.commit],
    ['applied_index', st.applied],
    ['first_log_index', st.firstIndex],
    ['last_log_index', st.lastIndex],
    ['last_snapshot_index', ctx.cluster.lastSnapshotIndex],
    ['log_entries', ctx.cluster.logSize().entries],
    ['log_bytes', ctx.cluster.logSize().bytes],
    ['num_peers', [...st.conf.voters, ...st.conf.learners].filter((id) => id !== st.id).length],
    ['num_voters', st.conf.voters.length],
    ['num_learners', st.conf.learners.length],
    ['transferee', st.transferee ?? ''],
  ];
  return arrayReply(pairs.flatMap(([k, v]) => [bulkReply(k), bulkReply(String(v))]));
}

/**
 * `RAFTPEERS`: one array per member — address, `voter`/`learner`, `leader`/`follower`,
 * and (on the leader) its replicated log index and replication state, else -1 and ''.
 */
function peers(ctx: ServerContext): Reply {
  const st = ctx.cluster.status();
  const row = (id: string, suffrage: string): Reply => {
    const pr = st.progress[id];
    return arrayReply([
      bulkReply(id),
      bulkReply(suffrage),
      bulkReply(id === st.leader ? 'leader' : 'follower'),
      intReply(pr ? pr.match : -1),
      bulkReply(pr ? pr.state : ''),
    ]);
  };
  return arrayReply([...st.conf.voters.map((id) => row(id, 'voter')), ...st.conf.learners.map((id) => row(id, 'learner'))]);
}

/** The Raft commands of SPEC §2, plus RAFTTRANSFER and the internal RAFTMSG. */
export const RAFT_COMMANDS: AdminCommand[] = [
  { name: 'raftleader', arity: 1, exec: (ctx) => (ctx.cluster.leader === undefined ? NULL_BULK : bulkReply(ctx.cluster.leader)) },
  { name: 'raftstate', arity: 1, exec: (ctx) => simpleReply(ctx.cluster.roleName) },
  { name: 'raftstats', arity: 1, exec: stats },
  { name: 'raftpeers', arity: 1, exec: peers },
  { name: 'raftaddpeer', arity: 2, peer: true, exec: (ctx, s, a) => membership(ctx, s, a, (addr) => addPeer(ctx, addr)) },
  { name: 'raftremovepeer', arity: 2, peer: true, exec: (ctx, s, a) => membership(ctx, s, a, (addr) => ctx.cluster.removePeer(addr)) },
  {
    name: 'rafttransfer',
    arity: -1,
    exec: (ctx, s, a) => {
      if (a.length > 2) return errorReply("ERR wrong number of arguments for 'rafttransfer' command");
      const to = a.length === 2 ? peerAddress(a[1]!) : undefined;
      if (to !== undefined && typeof to !== 'string') return to;
      return onLeader(ctx, s, a, async () => {
        const leader = await ctx.cluster.transferLeadership(to, ctx.config.electionMs * 2);
        return leader === undefined ? errorReply('ERR leadership was not transferred (no other voter, or it did not catch up in time)') : bulkReply(leader);
      });
    },
  },
  {
    name: 'raftmsg',
    peer: true,
    arity: 2,
    exec: (ctx, _s, a) => {
      try {
        ctx.cluster.receive(decodeMessages(a[1]!));
        return OK;
      } catch (err) {
        return replyForError(err);
      }
    },
  },
];
