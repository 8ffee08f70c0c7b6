import { errorReply } from '../resp/replies.js';
import type { ErrorReply } from '../resp/types.js';
import { SYNTAX_ERROR } from './command-errors.js';

/** The options of `SET key value [NX|XX] [GET] [KEEPTTL]` that bitraft takes. */
export interface SetOptions {
  /** `NX` (only when absent), `XX` (only when present), or undefined: always. */
  condition: 'nx' | 'xx' | undefined;
  /** `GET`: reply with the old value (or null) instead of `+OK`. */
  get: boolean;
}

/** The reply to SET with an expiry: keys do not expire in bitraft (yet). */
export const EXPIRY_UNSUPPORTED: ErrorReply = errorReply('ERR SET with an expiry (EX, PX, EXAT, PXAT) is not supported: keys do not expire');

/**
 * Parses SET's options, `args[3…]`, as Redis does (any order and case; `NX` and `XX`
 * exclude each other; `KEEPTTL` is accepted and, with no expiring keys, changes
 * nothing). Returns the options, or the error reply: `ERR syntax error`, or
 * `EXPIRY_UNSUPPORTED` for a well-formed expiry.
 */
export function parseSetOptions(args: readonly Buffer[]): SetOptions | ErrorReply {
  const out: SetOptions = { condition: undefined, get: false };
  let expiry = false;
  let keepTtl = false;
  for (let i = 3; i < args.length; i++) {
    const opt = args[i]!.toString('latin1').toLowerCase();
    if (opt === 'nx' || opt === 'xx') {
      if (out.condition !== undefined && out.condition !== opt) return SYNTAX_ERROR;
      out.condition = opt;
    } else if (opt === 'get') out.get = true;
    else if (opt === 'keepttl' && !expiry) keepTtl = true;
    else if ((opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') && !expiry && !keepTtl && i + 1 < args.length) {
      expiry = true;
      i++;
    } else return SYNTAX_ERROR;
  }
  return expiry ? EXPIRY_UNSUPPORTED : out;
}
