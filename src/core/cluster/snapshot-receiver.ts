import { errorReply, intReply, OK } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { replyForError } from '../server/reply-errors.js';
import { decodeSnapshotMeta, type IncomingSnapshots } from '../snapshot/index.js';

const str = (b: Buffer): string => b.toString('latin1');

/** The syntax error `RAFTINSTALL` answers to anything it does not understand. */
export const INSTALL_SYNTAX = errorReply('ERR syntax error: RAFTINSTALL BEGIN <meta.json> | CHUNK <id> <offset> <bytes> | END <id>');

/**
 * Runs `RAFTINSTALL …` (`args[0]` is the command name) against `incoming`: the follower's
 * side of `SnapshotSender`. `BEGIN <meta.json>` and `CHUNK <id> <offset> <bytes>` answer
 * the bytes of the snapshot held so far; `END <id>` answers OK once the snapshot passed
 * its CRC check and was stored. Failures become error replies; nothing throws.
 */
export async function receiveInstall(incoming: IncomingSnapshots, args: readonly Buffer[]): Promise<Reply> {
  const sub = args.length > 1 ? str(args[1]!).toUpperCase() : '';
  try {
    if (sub === 'BEGIN' && args.length === 3) return intReply(await incoming.begin(decodeSnapshotMeta(args[2]!.toString('utf8'), 'RAFTINSTALL BEGIN')));
    if (sub === 'CHUNK' && args.length === 5) {
      const offset = str(args[3]!);
      if (!/^\d{1,15}$/.test(offset)) return errorReply('ERR invalid offset');
      return intReply(await incoming.write(str(args[2]!), Number(offset), args[4]!));
    }
    if (sub === 'END' && args.length === 3) {
      await incoming.finish(str(args[2]!));
      return OK;
    }
  } catch (err) {
    return replyForError(err);
  }
  return INSTALL_SYNTAX;
}
