import { ASCII } from './ascii.js';

const { MINUS, ZERO, NINE } = ASCII;
/** The signed 64-bit limits of a RESP integer. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `v` as a number when it is a safe integer, else as it is. */
export function exactInteger(v: bigint): number | bigint {
  return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
}

/**
 * Parses a RESP length or integer exactly as Redis's `string2ll` does: an optional '-',
 * then decimal digits with no leading zero ("0" alone is fine; "-0", "01", "+1", " 1"
 * and "" are not), within the signed 64-bit range. Returns undefined when the bytes are
 * not such an integer. Values beyond 2^53 come back rounded, which is harmless for the
 * length checks they feed.
 */
export function parseInteger(bytes: Buffer): number | undefined {
  const v = parseExactInteger(bytes);
  return v === undefined ? undefined : Number(v);
}

/**
 * `parseInteger` without the rounding: a safe integer comes back as a number, a larger
 * one (up to the signed 64-bit limits) as a bigint.
 */
export function parseExactInteger(bytes: Buffer): number | bigint | undefined {
  const n = bytes.length;
  const neg = bytes[0] === MINUS ? 1 : 0;
  if (n === neg || n > 20) return undefined;
  if (bytes[neg] === ZERO) return n === 1 ? 0 : undefined;
  for (let i = neg; i < n; i++) {
    const c = bytes[i]!;
    if (c < ZERO || c > NINE) return undefined;
  }
  const text = bytes.toString('latin1');
  if (n < 16) return Number(text);
  const big = BigInt(text);
  if (big < INT64_MIN || big > INT64_MAX) return undefined;
  return exactInteger(big);
}
