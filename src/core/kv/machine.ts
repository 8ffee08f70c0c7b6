import type { Bitcask } from '../bitcask/index.js';
import { arrayReply, binaryString, errorReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { decodeCommand } from './command-codec.js';
import { unknownCommand, wrongArity } from './command-errors.js';
import { arityOk, KV_COMMANDS, type KvCommand, type KvLimits } from './commands.js';
import { messageOf } from '../support/error-message.js';
import { BitraftError } from '../support/errors.js';

/**
 * Whether `err` is a failure of this node's storage — an I/O error (`ENOSPC`, `EIO`, …),
 * or a store that is closed or blocked — rather than anything the command did: the same
 * entry may well succeed on every other replica, so it must not become a reply.
 */
export function isStorageFailure(err: unknown): boolean {
  if (err instanceof BitraftError) return err.code === 'IO' || err.code === 'CLOSED';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return err instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/**
 * The internal command of a MULTI/EXEC transaction, one log entry: the arguments after
 * its name are the queued commands, each encoded as a log entry's data (`encodeCommand`).
 */
export const TRANSACTION_COMMAND = 'rafttxn';

const MALFORMED_TRANSACTION = errorReply('ERR malformed transaction');

/**
 * The key/value state machine over a Bitcask store. Writes are applied in log order
 * through `apply`, which is deterministic: whatever a committed entry holds, every
 * replica computes the same reply and state (an unknown or malformed entry becomes an
 * error reply, not a crash). The one exception is a failure of this node's own storage
 * (`isStorageFailure`: a full disk, an I/O error), which `apply` throws: the entry was
 * not applied here, and the caller must stop applying rather than answer and move on.
 * Reads run through `read` on local state.
 */
export class KvMachine {
  readonly store: Bitcask;
  private readonly limits: KvLimits;

  constructor(store: Bitcask) {
    this.store = store;
    this.limits = { maxKeySize: store.options.maxKeySize, maxValueSize: store.options.maxValueSize };
  }

  /**
   * A transaction (`TRANSACTION_COMMAND`): its commands are applied one after the other,
   * as one write, and answered as an array of their replies; a command that fails (a
   * syntax error, a value that is not an integer) fails alone, as in Redis.
   */
  private readonly transaction: KvCommand = {
    name: TRANSACTION_COMMAND,
    arity: -1,
    write: true,
    check: (args) => {
      for (const data of args.slice(1)) {
        const cmd = decodeCommand(data);
        if (!cmd || cmd[0]!.toString('latin1').toLowerCase() === TRANSACTION_COMMAND) return MALFORMED_TRANSACTION;
      }
      return undefined;
    },
    exec: (_store, args) => arrayReply(args.slice(1).map((data) => this.apply(decodeCommand(data)!))),
  };

  /** The key/value command named `args[0]` (any case, the transaction command included), or undefined. */
  lookup(args: readonly Buffer[]): KvCommand | undefined {
    const name = args[0]!.toString('latin1').toLowerCase();
    return name === TRANSACTION_COMMAND ? this.transaction : KV_COMMANDS.get(name);
  }

  /**
   * Everything that would make the command fail, checked before a write enters the log:
   * unknown name, wrong arity, syntax and size limits. Returns the error reply, or
   * undefined when the command may be proposed.
   */
  check(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args)): Reply | undefined {
    if (!cmd) return unknownCommand(args);
    if (!arityOk(cmd.arity, args.length)) return wrongArity(cmd.name);
    return cmd.check?.(args, this.limits);
  }

  /**
   * Applies a committed write (or runs any command) and returns its reply. Throws only a
   * storage failure of this node (see `isStorageFailure`); any other error is the reply.
   * `cmd` may be passed when the caller already looked it up.
   */
  apply(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args)): Reply {
    const refused = this.check(args, cmd);
    if (refused) return refused;
    try {
      return cmd!.exec(this.store, args);
    } catch (err) {
      if (cmd!.write && isStorageFailure(err)) throw err;
      return errorReply(binaryString(`ERR ${messageOf(err)}`).replace(/[\r\n]/g, ' '));
    }
  }

  /** Runs a read command against local state; same contract as `apply`. */
  read(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args)): Reply {
    return this.apply(args, cmd);
  }
}
