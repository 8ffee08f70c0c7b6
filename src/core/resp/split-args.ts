import { ASCII } from './ascii.js';

const { SPACE, TAB, LF, CR, VT, FF, DQUOTE, SQUOTE } = ASCII;
const BACKSLASH = 0x5c;
const LOWER_X = 0x78;
/** Stands for "past the end of the line", like the C string terminator in Redis. */
const END = -1;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR || c === VT || c === FF;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

const ESCAPES: Record<number, number> = { 0x6e: LF, 0x72: CR, 0x74: TAB, 0x62: 0x08, 0x61: 0x07 };

/**
 * Splits one inline-command line (without its line ending) into arguments the way
 * Redis's `sdssplitargs` does:
 * - whitespace separates arguments;
 * - "double quotes" understand `\n \r \t \b \a`, `\xHH`, and `\<c>` for any other c;
 * - 'single quotes' understand only `\'`;
 * - a quote may start mid-argument (`a"b c"` is `ab c`), but a closing quote must be
 *   followed by whitespace or the end of the line.
 * Returns undefined for unbalanced quotes (Redis: `unbalanced quotes in request`), and
 * an empty array for a blank line. Unlike Redis, a 0x00 byte is an ordinary character,
 * not the end of the line.
 */
export function splitArgs(line: Buffer): Buffer[] | undefined {
  const end = line.length;
  const at = (i: number): number => (i < end ? line[i]! : END);
  const args: Buffer[] = [];
  let p = 0;
  for (;;) {
    while (p < end && isSpace(line[p]!)) p++;
    if (p >= end) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        const h1 = hexValue(at(p + 2));
        const h2 = hexValue(at(p + 3));
        if (c === BACKSLASH && at(p + 1) === LOWER_X && h1 >= 0 && h2 >= 0) {
          current.push(h1 * 16 + h2);
          p += 3;
        } else if (c === BACKSLASH && at(p + 1) !== END) {
          p++;
          const e = at(p);
          current.push(ESCAPES[e] ?? e);
        } else if (c === DQUOTE) {
          if (at(p + 1) !== END && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === END) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (inSingle) {
        if (c === BACKSLASH && at(p + 1) === SQUOTE) {
          p++;
          current.push(SQUOTE);
        } else if (c === SQUOTE) {
          if (at(p + 1) !== END && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === END) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (c === SPACE || c === LF || c === CR || c === TAB || c === END) {
        done = true;
      } else if (c === DQUOTE) {
        inDouble = true;
      } else if (c === SQUOTE) {
        inSingle = true;
      } else {
        current.push(c);
      }
      if (p < end) p++;
    }
    args.push(Buffer.from(current));
  }
}
