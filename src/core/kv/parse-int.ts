/**
 * Parses a Redis integer argument: optional '-', decimal digits, no spaces or '+', no
 * leading zeros except "0" itself, and within the safe integer range. Returns undefined
 * when the argument is not such an integer.
 */
export function parseInteger(arg: Buffer): number | undefined {
  const s = arg.toString('latin1');
  if (!/^-?(0|[1-9][0-9]{0,15})$/.test(s) || s === '-0') return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The signed 64-bit limits of a Redis integer. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * Parses a Redis 64-bit integer (a counter's value or increment) by the same rules as
 * `parseInteger`, over the whole signed 64-bit range, exactly. Returns undefined when
 * the argument is not such an integer.
 */
export function parseInt64(arg: Buffer): bigint | undefined {
  const s = arg.toString('latin1');
  if (!/^-?(0|[1-9][0-9]{0,18})$/.test(s) || s === '-0') return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}
