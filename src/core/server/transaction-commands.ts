import { arityOk, encodeCommand, TRANSACTION_COMMAND, unknownCommand, WATCH_CHECK_COMMAND, WATCH_COMMAND, wrongArity } from '../kv/index.js';
import { arrayReply, errorReply, OK, simpleReply } from '../resp/replies.js';
import type { BulkReply, Reply } from '../resp/types.js';
import type { AdminCommand } from './admin-command.js';
import type { ServerContext } from './context.js';
import type { Session } from './session.js';

/**
 * MULTI, EXEC, DISCARD, WATCH and UNWATCH. Between MULTI and EXEC a connection's
 * key/value commands are queued (`+QUEUED`); EXEC proposes them as one log entry (the
 * transaction command of `KvMachine`), so they are applied together, in order, with no
 * other write in between, on every replica, and answered as an array. Reads in a
 * transaction are part of that entry too. A command refused while queuing (unknown, a
 * wrong number of arguments, or a node command) makes EXEC discard the transaction, as
 * in Redis; a command that fails when applied fails alone. WATCH reads a digest of each
 * key (through the read path, at the node's consistency level); EXEC puts them first in
 * the entry, which then runs only if none changed — else EXEC answers null (see
 * `kv/watch.ts`).
 */

/** The commands that run at once inside a transaction instead of being queued. */
export const TRANSACTION_CONTROL: ReadonlySet<string> = new Set(['multi', 'exec', 'discard', 'watch', 'unwatch', 'quit']);

const QUEUED = simpleReply('QUEUED');

/** Queues `args` in the session's open transaction; answers `+QUEUED`, or why it cannot be and marks the transaction failed. */
export function queueInTransaction(ctx: ServerContext, session: Session, args: readonly Buffer[], isNodeCommand: boolean): Reply {
  const multi = session.multi!;
  const cmd = ctx.machine.lookup(args, true);
  let refused: Reply | undefined;
  if (isNodeCommand && !cmd) refused = errorReply(`ERR ${args[0]!.toString('latin1').toUpperCase()} is not allowed in a transaction: only key/value commands, PING and ECHO are`);
  else if (!cmd || cmd.name === TRANSACTION_COMMAND) refused = unknownCommand(args);
  else if (!arityOk(cmd.arity, args.length)) refused = wrongArity(cmd.name);
  if (refused) {
    multi.failed = true;
    return refused;
  }
  multi.commands.push(args.map((a) => Buffer.from(a)));
  return QUEUED;
}

function exec(ctx: ServerContext, session: Session): Reply | Promise<Reply> {
  const multi = session.multi;
  if (!multi) return errorReply('ERR EXEC without MULTI');
  const watched = session.watched;
  session.multi = undefined;
  session.watched = undefined;
  if (multi.failed) return errorReply('EXECABORT Transaction discarded because of previous errors.');
  if (multi.commands.length === 0 && !watched) return arrayReply([]);
  const check = watched ? [encodeCommand([Buffer.from(WATCH_CHECK_COMMAND), ...watched])] : [];
  const args = [Buffer.from(TRANSACTION_COMMAND), ...check, ...multi.commands.map((c) => encodeCommand(c))];
  return ctx.machine.check(args) ?? ctx.proposer.propose(args, session);
}

/** WATCH: reads the digests of the keys and adds them to the session's watched keys. */
function watch(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply | Promise<Reply> {
  if (session.multi) return errorReply('ERR WATCH inside MULTI is not allowed');
  const read = [Buffer.from(WATCH_COMMAND), ...args.slice(1).map((a) => Buffer.from(a))];
  const remember = (reply: Reply): Reply => {
    if (reply.type !== 'array') return reply;
    const watched = (session.watched ??= []);
    reply.items.forEach((digest, i) => watched.push(read[i + 1]!, (digest as BulkReply).value));
    return OK;
  };
  const reply = ctx.proposer.read(read, ctx.machine.lookup(read)!, session);
  return reply instanceof Promise ? reply.then(remember) : remember(reply);
}

/** The transaction commands, for the command table. */
export const TRANSACTION_COMMANDS: readonly AdminCommand[] = [
  {
    name: 'multi',
    arity: 1,
    exec: (_ctx, session) => {
      if (session.multi) return errorReply('ERR MULTI calls can not be nested');
      session.multi = { commands: [], failed: false };
      return OK;
    },
  },
  { name: 'exec', arity: 1, exec: (ctx, session) => exec(ctx, session) },
  {
    name: 'discard',
    arity: 1,
    exec: (_ctx, session) => {
      if (!session.multi) return errorReply('ERR DISCARD without MULTI');
      session.multi = undefined;
      session.watched = undefined;
      return OK;
    },
  },
  { name: 'watch', arity: -2, exec: watch },
  {
    name: 'unwatch',
    arity: 1,
    exec: (_ctx, session) => {
      session.watched = undefined;
      return OK;
    },
  },
];
