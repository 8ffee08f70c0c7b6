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
