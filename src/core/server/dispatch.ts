import { arityOk, unknownCommand, wrongArity } from '../kv/index.js';
import type { Reply } from '../resp/types.js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import type { ServerContext } from './context.js';
import { DENIED, LOADING, NOAUTH, NOPERM_PEER, replyForError } from './reply-errors.js';
import type { Session } from './session.js';
import { queueInTransaction, TRANSACTION_CONTROL } from './transaction-commands.js';

/** Commands answered while the node is loading. */
const ANSWERED_WHILE_LOADING: ReadonlySet<string> = new Set(['auth', 'hello', 'ping', 'quit', 'echo']);

/**
 * Routes one command: node-local commands (PING, INFO, AUTH, RAFT…) are answered here;
 * key/value writes are checked, then go through the proposer (the Raft log); reads go
 * through the proposer at the node's consistency level. `RAFTFWD cmd …` is a command
 * forwarded by another node. Never throws; may return a promise when the reply waits.
 */
export function dispatch(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply | Promise<Reply> {
  const name = args[0]!.toString('latin1').toLowerCase();
  ctx.stats.commandsProcessed++;
  session.commands++;
  session.lastCommand = name;
  try {
    const admin = ADMIN_COMMANDS.get(name);
    if (session.protectedOnly && name !== 'raftauth') {
      session.closeAfterReplies = true;
      return DENIED;
    }
    if (!session.authenticated && !admin?.noauth) return NOAUTH;
    if ((admin?.peer || name === 'raftfwd') && ctx.config.clusterSecret !== undefined && !session.peer) return NOPERM_PEER;
    if (ctx.loading?.() && !ANSWERED_WHILE_LOADING.has(name)) return LOADING;
    if (name === 'raftfwd') {
      // Another node forwarding its clients' commands: run them here, never forward again.
      if (args.length < 2) return wrongArity(name);
      session.forwarded = true;
      return dispatch(ctx, session, args.slice(1));
    }
    if (session.multi && !TRANSACTION_CONTROL.has(name)) return queueInTransaction(ctx, session, args, admin !== undefined);
    if (admin) return arityOk(admin.arity, args.length) ? admin.exec(ctx, session, args) : wrongArity(name);
    const kv = ctx.machine.lookup(args);
    if (!kv) return unknownCommand(args);
    const refused = ctx.machine.check(args, kv);
    if (refused) return refused;
    return kv.write ? ctx.proposer.propose(args, session) : ctx.proposer.read(args, kv, session);
  } catch (err) {
    ctx.logger.error(`command ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return replyForError(err);
  }
}
