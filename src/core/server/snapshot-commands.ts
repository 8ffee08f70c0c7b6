import { snapshotReply } from '../cluster/remote-snapshot.js';
import { receiveInstall } from '../cluster/snapshot-receiver.js';
import { arrayReply, bulkReply, errorReply, intReply } from '../resp/index.js';
import type { Reply } from '../resp/types.js';
import type { AdminCommand } from './admin-command.js';
import type { ServerContext } from './context.js';
import { replyForError } from './reply-errors.js';

/** A non-negative integer argument, or undefined. */
function count(arg: Buffer): number | undefined {
  const text = arg.toString('latin1');
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

async function settle(run: () => Promise<Reply>): Promise<Reply> {
  try {
    return await run();
  } catch (err) {
    return replyForError(err);
  }
}

/** RAFTSNAPSHOT, RAFTSHRINKLOG, RAFTDIGEST and the internal RAFTINSTALL. */
export const SNAPSHOT_COMMANDS: AdminCommand[] = [
  { name: 'raftsnapshot', arity: 1, exec: (ctx) => settle(async () => snapshotReply(await ctx.cluster.snapshotNow())) },
  {
    name: 'raftshrinklog',
    arity: -1,
    exec: (ctx, _s, a) => {
      if (a.length > 2) return errorReply("ERR wrong number of arguments for 'raftshrinklog' command");
      const tail = a.length === 2 ? count(a[1]!) : undefined;
      if (a.length === 2 && tail === undefined) return errorReply('ERR the tail to keep must be a non-negative integer');
      return settle(async () => intReply(await ctx.cluster.shrinkLog(tail)));
    },
  },
  {
    // This node's state as name/value pairs: `index` (applied), `keys`, `digest` (see StateDigest).
    name: 'raftdigest',
    arity: 1,
    exec: (ctx) =>
      settle(async () => {
        const d = await ctx.cluster.stateDigest();
        return arrayReply([bulkReply('index'), intReply(d.index), bulkReply('keys'), intReply(d.keys), bulkReply('digest'), bulkReply(d.digest)]);
      }),
  },
  { name: 'raftinstall', arity: -3, peer: true, exec: (ctx, _s, a) => receiveInstall(ctx.cluster.incoming, a) },
];
