import type { Bitcask } from '../bitcask/index.js';
import { arrayReply, binaryString, bulkReply, errorReply, NULL_ARRAY, simpleReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { decodeCommand } from './command-codec.js';
import { KeySpace } from './key-space.js';
import { WATCH_CHECK_COMMAND, watchedUnchanged } from './watch.js';
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
/** What a replica whose reply nobody reads answers for a walk it skipped in a transaction (see `KvMachine.apply`). */
export const NOT_RUN_HERE = errorReply('ERR not run on this replica: its reply is read on the node that proposed it');

/**
 * Commands of the node that a transaction may also hold, answered in EXEC's array as
 * Redis answers them there: PING (`+PONG`, or its argument) and ECHO.
 */
export const TRANSACTION_EXTRAS: ReadonlyMap<string, KvCommand> = new Map<string, KvCommand>([
  ['ping', { name: 'ping', arity: -1, write: false, exec: (_keys, args) => (args.length === 1 ? simpleReply('PONG') : args.length === 2 ? bulkReply(args[1]!) : wrongArity('ping')) }],
  ['echo', { name: 'echo', arity: 2, write: false, exec: (_keys, args) => bulkReply(args[1]!) }],
]);

/**
 * The key/value state machine over a Bitcask store. Writes are applied in log order
 * through `apply`, which is deterministic: whatever a committed entry holds, every
 * replica computes the same reply and state (an unknown or malformed entry becomes an
 * error reply, not a crash). The one exception is a failure of this node's own storage
 * (`isStorageFailure`: a full disk, an I/O error), which `apply` throws: the entry was
 * not applied here, and the caller must stop applying rather than answer and move on.
 * Reads run through `read` on local state.
 *
 * Time: a write runs at the time the leader stamped in its entry (`stamp` makes one), so
 * expiries are judged alike on every replica; a read runs at this node's clock, but never
 * before the newest stamp applied (see `KeySpace`).
 */
export class KvMachine {
  readonly store: Bitcask;
  private readonly limits: KvLimits;
  private readonly clock: () => number;
  private readonly keys: KeySpace;
  /** The newest stamp applied. */
  private applied = 0;
  /** The newest stamp handed out. */
  private issued = 0;
  /** Whether the entry being applied has a reader for its reply (see `apply`). */
  private replyWanted = true;

  /** `clock` gives ms since the epoch (default `Date.now`). */
  constructor(store: Bitcask, clock: () => number = Date.now) {
    this.store = store;
    this.clock = clock;
    this.keys = new KeySpace(store);
    this.limits = { maxKeySize: store.options.maxKeySize, maxValueSize: store.options.maxValueSize };
  }

  /**
   * The time for a leader to stamp in a new entry: its clock, but never before a stamp
   * applied or handed out already, so stamps never go back along the log.
   */
  stamp(): number {
    this.issued = Math.max(this.clock(), this.applied, this.issued);
    return this.issued;
  }

  /** The time reads run at: this node's clock, or the newest stamp applied if that is later. */
  readTime(): number {
    return Math.max(this.clock(), this.applied);
  }

  /**
   * A transaction (`TRANSACTION_COMMAND`): its commands are applied one after the other,
   * as one write, and answered as an array of their replies; a command that fails (a
   * syntax error, a value that is not an integer) fails alone, as in Redis. When its
   * first command is a watch check (`WATCH_CHECK_COMMAND`) and a watched key changed,
   * nothing runs and the reply is null, as EXEC's after a WATCH in Redis.
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
    exec: (keys, args) => {
      const commands = args.slice(1).map((data) => decodeCommand(data)!);
      if (commands[0]?.[0]!.toString('latin1').toLowerCase() === WATCH_CHECK_COMMAND) {
        if (!watchedUnchanged(keys, commands.shift()!)) return NULL_ARRAY;
      }
      return arrayReply(commands.map((cmd) => this.runQueued(cmd, keys)));
    },
  };

  /**
   * The key/value command named `args[0]` (any case, the transaction command included),
   * or undefined. `inTransaction` also finds the commands a transaction may hold besides
   * them (PING, ECHO: see `TRANSACTION_EXTRAS`).
   */
  lookup(args: readonly Buffer[], inTransaction = false): KvCommand | undefined {
    const name = args[0]!.toString('latin1').toLowerCase();
    if (name === TRANSACTION_COMMAND) return this.transaction;
    return KV_COMMANDS.get(name) ?? (inTransaction ? TRANSACTION_EXTRAS.get(name) : undefined);
  }

  /**
   * Undefined when `args` can run at once; else (a KEYS or SCAN, or a transaction holding
   * one, while the store's ordered index is not built) a promise that resolves once the
   * index is built in steps (`Bitcask.prepareOrdered`), the node serving meanwhile.
   * Running the command without waiting would build it in one go, stopping the node for
   * seconds on millions of keys.
   */
  prepareFor(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args)): Promise<void> | undefined {
    if (this.store.ordered || this.store.isClosed || !cmd) return undefined;
    const walks = cmd === this.transaction ? args.slice(1).some((data) => this.walksInOrder(data)) : cmd.ordered === true;
    return walks ? this.store.prepareOrdered() : undefined;
  }

  /**
   * `prepareFor` for a write about to be proposed, cheap on the write path: of the
   * writes, only a transaction can hold a walk, and others are told apart by the length
   * of their name alone.
   */
  prepareForWrite(args: readonly Buffer[]): Promise<void> | undefined {
    if (args[0]!.length !== TRANSACTION_COMMAND.length) return undefined;
    return this.prepareFor(args);
  }

  private walksInOrder(encoded: Buffer): boolean {
    const cmd = decodeCommand(encoded);
    return cmd !== undefined && this.lookup(cmd, true)?.ordered === true;
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
   * Applies a committed entry's command (any command) at the time `at` stamped in the
   * entry (ms since the epoch; 0, for an entry without a stamp: nothing has expired), and
   * returns its reply. Throws only a storage failure of this node (see
   * `isStorageFailure`); any other error is the reply. `cmd` may be passed when the
   * caller already looked it up. Without `replyWanted` (a replica whose reply nobody
   * reads), a transaction skips its KEYS and SCAN while the ordered index is not built —
   * building it here would stop the node for seconds on millions of keys — and answers
   * them with `NOT_RUN_HERE`; the state changes alike.
   */
  apply(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args), at = 0, replyWanted = true): Reply {
    if (at > this.applied) this.applied = at;
    this.replyWanted = replyWanted;
    try {
      return this.run(args, cmd, this.keys.at(at, true));
    } finally {
      this.replyWanted = true;
    }
  }

  /** Runs a read command against local state at `readTime`; same contract as `apply`. */
  read(args: readonly Buffer[], cmd: KvCommand | undefined = this.lookup(args)): Reply {
    return this.run(args, cmd, this.keys.at(this.readTime(), false));
  }

  /** Runs one command of a transaction (see `apply` for the walks it may skip). */
  private runQueued(args: readonly Buffer[], keys: KeySpace): Reply {
    const cmd = this.lookup(args, true);
    if (!this.replyWanted && cmd?.ordered && !this.store.ordered) return NOT_RUN_HERE;
    return this.run(args, cmd, keys);
  }

  private run(args: readonly Buffer[], cmd: KvCommand | undefined, keys: KeySpace): Reply {
    const refused = this.check(args, cmd);
    if (refused) return refused;
    try {
      return cmd!.exec(keys, args);
    } catch (err) {
      if (cmd!.write && isStorageFailure(err)) throw err;
      return errorReply(binaryString(`ERR ${messageOf(err)}`).replace(/[\r\n]/g, ' '));
    }
  }
}
