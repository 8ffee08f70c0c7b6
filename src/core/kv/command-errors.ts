import { errorReply } from '../resp/replies.js';
import type { ErrorReply } from '../resp/types.js';
import { isReservedKey } from '../support/reserved-keys.js';
import type { KvLimits } from './command-types.js';

/**
 * The error replies of command handling, worded exactly as Redis words them so that
 * clients and scripts that match on Redis's texts keep working.
 */
export const SYNTAX_ERROR: ErrorReply = errorReply('ERR syntax error');

/** `ERR value is not an integer or out of range`. */
export const NOT_AN_INTEGER: ErrorReply = errorReply('ERR value is not an integer or out of range');

/** `ERR <what> of <size> bytes exceeds the limit of <limit> bytes`: a key or value over the configured size. */
function tooLarge(what: 'key' | 'value', size: number, limit: number): ErrorReply {
  return errorReply(`ERR ${what} of ${size} bytes exceeds the limit of ${limit} bytes`);
}

/** `ERR the key name … is reserved`: the one name bitraft keeps for itself (see `EXPIRY_RECORD_KEY`). */
export const RESERVED_KEY: ErrorReply = errorReply("ERR the key name '\\x00bitraft:expiry' is reserved by bitraft (snapshots use it for expiries)");

/**
 * The error for a `key` (and, when given, a `value`) argument of a write that stores it:
 * over the size limits, or the reserved key name (`RESERVED_KEY`); undefined when it may be stored.
 */
export function checkSizes(limits: KvLimits, key: Buffer, value?: Buffer): ErrorReply | undefined {
  if (isReservedKey(key)) return RESERVED_KEY;
  if (key.length > limits.maxKeySize) return tooLarge('key', key.length, limits.maxKeySize);
  if (value && value.length > limits.maxValueSize) return tooLarge('value', value.length, limits.maxValueSize);
  return undefined;
}

/** `ERR wrong number of arguments for '<name>' command`; `name` is the canonical lower-case name. */
export function wrongArity(name: string): ErrorReply {
  return errorReply(`ERR wrong number of arguments for '${name}' command`);
}

/**
 * `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' ` — Redis's text,
 * with at most about 128 characters of arguments quoted and line breaks turned into spaces.
 * Quoted bytes are echoed exactly, as Redis does (error texts are binary strings).
 */
export function unknownCommand(args: readonly Buffer[]): ErrorReply {
  let quoted = '';
  for (let i = 1; i < args.length && quoted.length < 128; i++) {
    quoted += `'${args[i]!.toString('latin1').slice(0, 128 - quoted.length)}' `;
  }
  const name = args[0]!.toString('latin1').slice(0, 128);
  return errorReply(`ERR unknown command '${name}', with args beginning with: ${quoted}`.replace(/[\r\n]/g, ' '));
}

/** `ERR unknown subcommand '<sub>'. Try <NAME> HELP.` */
export function unknownSubcommand(name: string, sub: Buffer): ErrorReply {
  return errorReply(`ERR unknown subcommand '${sub.toString('latin1').slice(0, 128)}'. Try ${name.toUpperCase()} HELP.`.replace(/[\r\n]/g, ' '));
}
