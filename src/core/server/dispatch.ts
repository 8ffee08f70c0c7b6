import { arityOk, KV_COMMANDS, unknownCommand, wrongArity } from '../kv/index.js';
import type { Reply } from '../resp/types.js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import type { ServerContext } from './context.js';
import { NOAUTH, replyForError } from './reply-errors.js';
import type { Session } from './session.js';

/**
 * Routes one command: node-local commands (PING, INFO, AUTH, …) are answered here;
 * key/value writes are checked, then go through the proposer (the log); reads run on
 * local state and, like Redis with `appendfsync always`, their reply waits until every
 * write already applied is durable, so no client ever sees data a crash could lose.
 * Never throws; may return a promise when the reply waits for the disk.
 */
export function dispatch(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply | Promise<Reply> {
  const name = args[0]!.toString('latin1').toLowerCase();
  ctx.stats.commandsProcessed++;
  session.commands++;
  session.lastCommand = name;
  try {
    const admin = ADMIN_COMMANDS.get(name);
    if (!session.authenticated && !admin?.noauth) return NOAUTH;
    if (admin) return arityOk(admin.arity, args.length) ? admin.exec(ctx, session, args) : wrongArity(name);
    const kv = KV_COMMANDS.get(name);
    if (!kv) return unknownCommand(args);
    const refused = ctx.machine.check(args, kv);
    if (refused) return refused;
    if (kv.write) return ctx.proposer.propose(args);
    const reply = ctx.machine.read(args, kv);
    const durable = ctx.proposer.durable();
    return durable ? durable.then(() => reply, replyForError) : reply;
  } catch (err) {
    ctx.logger.error(`command ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return replyForError(err);
  }
}
