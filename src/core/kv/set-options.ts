import type { ErrorReply } from '../resp/types.js';
import { SYNTAX_ERROR } from './command-errors.js';
import { parseExpiryArgument, type ExpiryUnit } from './expiry-time.js';

/** An expiry option: `EX`/`PX` (relative), `EXAT`/`PXAT` (absolute), with its number's argument. */
export interface ExpiryOption {
  unit: ExpiryUnit;
  arg: Buffer;
}

/** The options of `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`. */
export interface SetOptions {
  /** `NX` (only when absent), `XX` (only when present), or undefined: always. */
  condition: 'nx' | 'xx' | undefined;
  /** `GET`: reply with the old value (or null) instead of `+OK`. */
  get: boolean;
  /** `KEEPTTL`: the key keeps the expiry it had. */
  keepTtl: boolean;
  /** The expiry to set; none: the key will not expire (unless `keepTtl`). */
  expiry: ExpiryOption | undefined;
}

const EXPIRY_UNITS: ReadonlySet<string> = new Set(['ex', 'px', 'exat', 'pxat']);

/**
 * Parses SET's options, `args[3…]`, as Redis 7 does: any order and case; `NX` and `XX`
 * exclude each other, and so do `KEEPTTL` and the expiry options, and two expiry
 * options (`ERR syntax error`). Unless `checkNumber` is false, an expiry's number must be
 * an integer (`ERR value is not an integer or out of range`) above 0 (`ERR invalid expire
 * time in '<name>' command`, `name` being the command's; see `parseExpiryArgument`).
 * Returns the options or the error reply.
 */
export function parseSetOptions(args: readonly Buffer[], name = 'set', checkNumber = true): SetOptions | ErrorReply {
  const out: SetOptions = { condition: undefined, get: false, keepTtl: false, expiry: undefined };
  let unit: ExpiryUnit | undefined;
  let number: Buffer | undefined;
  for (let i = 3; i < args.length; i++) {
    const opt = args[i]!.toString('latin1').toLowerCase();
    if (opt === 'nx' || opt === 'xx') {
      if (out.condition !== undefined && out.condition !== opt) return SYNTAX_ERROR;
      out.condition = opt;
    } else if (opt === 'get') out.get = true;
    else if (opt === 'keepttl' && !unit) out.keepTtl = true;
    else if (EXPIRY_UNITS.has(opt) && !out.keepTtl && (!unit || unit === opt) && i + 1 < args.length) {
      unit = opt as ExpiryUnit;
      number = args[++i];
    } else return SYNTAX_ERROR;
  }
  // As in Redis, the number is checked once the options are known to be well formed.
  if (unit) {
    const value = checkNumber ? parseExpiryArgument(number!, unit, name) : 0n;
    if (typeof value !== 'bigint') return value;
    out.expiry = { unit, arg: number! };
  }
  return out;
}
