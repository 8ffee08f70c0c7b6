import { errorReply } from '../resp/replies.js';
import type { ErrorReply } from '../resp/types.js';
import { NOT_AN_INTEGER } from './command-errors.js';
import { INT64_MAX, INT64_MIN, parseInt64 } from './parse-int.js';

/**
 * How an expiry is given: `ex` seconds and `px` milliseconds from now, `exat` and `pxat`
 * a Unix time in seconds or milliseconds.
 */
export type ExpiryUnit = 'ex' | 'px' | 'exat' | 'pxat';

/** The latest expiry bitraft stores, ms since the epoch (the largest safe integer, ~year 287,000). */
export const MAX_EXPIRY_MS = Number.MAX_SAFE_INTEGER;

/** `ERR invalid expire time in '<name>' command`. */
export function invalidExpireTime(name: string): ErrorReply {
  return errorReply(`ERR invalid expire time in '${name}' command`);
}

const inSeconds = (unit: ExpiryUnit): boolean => unit === 'ex' || unit === 'exat';

/**
 * The number of an expiry option of SET, SETEX, PSETEX or GETEX, checked as Redis does:
 * a 64-bit integer (else `NOT_AN_INTEGER`), above 0 and, in seconds, not past the 64-bit
 * range once in milliseconds (else `invalidExpireTime(name)`).
 */
export function parseExpiryArgument(arg: Buffer, unit: ExpiryUnit, name: string): bigint | ErrorReply {
  const n = parseInt64(arg);
  if (n === undefined) return NOT_AN_INTEGER;
  if (n <= 0n || (inSeconds(unit) && n > INT64_MAX / 1000n)) return invalidExpireTime(name);
  return n;
}

/**
 * The number of EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT: any 64-bit integer, negative
 * included (a time in the past deletes the key), but in seconds not past the 64-bit range
 * once in milliseconds (else `invalidExpireTime(name)`).
 */
export function parseExpireArgument(arg: Buffer, unit: ExpiryUnit, name: string): bigint | ErrorReply {
  const n = parseInt64(arg);
  if (n === undefined) return NOT_AN_INTEGER;
  if (inSeconds(unit) && (n > INT64_MAX / 1000n || n < INT64_MIN / 1000n)) return invalidExpireTime(name);
  return n;
}

/**
 * The absolute expiry, ms since the epoch, of `value` in `unit` at time `now`: at most
 * `MAX_EXPIRY_MS` (else `invalidExpireTime(name)`); a time at or before `now` (or before
 * the epoch) comes out as `now`-or-earlier, meaning "already expired", and at least 1.
 */
export function absoluteExpiry(value: bigint, unit: ExpiryUnit, now: number, name: string): number | ErrorReply {
  let ms = inSeconds(unit) ? value * 1000n : value;
  if (unit === 'ex' || unit === 'px') ms += BigInt(now);
  if (ms > BigInt(MAX_EXPIRY_MS)) return invalidExpireTime(name);
  return ms < 1n ? 1 : Number(ms);
}
