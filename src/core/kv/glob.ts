/**
 * Redis glob matching (`stringmatchlen`) over binary strings held as latin1 (one char per
 * byte): `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (ends may come in
 * either order), and `\` escaping the next byte, also inside brackets. An unclosed `[`
 * takes the rest of the pattern as its set, as in Redis. Matching is case-sensitive.
 */
export function globMatch(pattern: string, subject: string): boolean {
  const skipLonger = { value: false };
  return match(pattern, 0, subject, 0, skipLonger, 0);
}

const MAX_NESTING = 1000;

function match(p: string, pi: number, s: string, si: number, skipLonger: { value: boolean }, nesting: number): boolean {
  // Deep recursion only comes from patterns with very many stars; Redis gives up too.
  if (nesting > MAX_NESTING) return false;
  const pl = p.length;
  const sl = s.length;
  while (pi < pl && si < sl) {
    const c = p.charCodeAt(pi);
    if (c === STAR) {
      while (pi + 1 < pl && p.charCodeAt(pi + 1) === STAR) pi++;
      if (pi + 1 === pl) return true;
      while (si < sl) {
        if (match(p, pi + 1, s, si, skipLonger, nesting + 1)) return true;
        if (skipLonger.value) return false;
        si++;
      }
      skipLonger.value = true;
      return false;
    } else if (c === QUESTION) {
      si++;
    } else if (c === OPEN) {
      pi++;
      const not = pi < pl && p.charCodeAt(pi) === CARET;
      if (not) pi++;
      const ch = s.charCodeAt(si);
      let matched = false;
      for (;;) {
        if (pi < pl && p.charCodeAt(pi) === BACKSLASH && pl - pi >= 2) {
          pi++;
          if (p.charCodeAt(pi) === ch) matched = true;
        } else if (pi < pl && p.charCodeAt(pi) === CLOSE) {
          break;
        } else if (pi >= pl) {
          pi--;
          break;
        } else if (pl - pi >= 3 && p.charCodeAt(pi + 1) === DASH) {
          let start = p.charCodeAt(pi);
          let end = p.charCodeAt(pi + 2);
          if (start > end) [start, end] = [end, start];
          pi += 2;
          if (ch >= start && ch <= end) matched = true;
        } else if (p.charCodeAt(pi) === ch) {
          matched = true;
        }
        pi++;
      }
      if (not) matched = !matched;
      if (!matched) return false;
      si++;
    } else {
      if (c === BACKSLASH && pl - pi >= 2) pi++;
      if (p.charCodeAt(pi) !== s.charCodeAt(si)) return false;
      si++;
    }
    pi++;
    if (si === sl) {
      while (pi < pl && p.charCodeAt(pi) === STAR) pi++;
      break;
    }
  }
  return pi === pl && si === sl;
}

/**
 * The bytes every match must start with: the pattern up to its first special character,
 * with escapes resolved. Lets `KEYS user:*` walk only the keys under `user:`.
 */
export function literalPrefix(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === STAR || c === QUESTION || c === OPEN) break;
    if (c === BACKSLASH) {
      if (i + 1 >= pattern.length) break;
      i++;
    }
    out += pattern[i];
  }
  return out;
}

/** Whether the pattern is a plain literal, matching exactly one key. */
export function isLiteral(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === STAR || c === QUESTION || c === OPEN || c === BACKSLASH) return false;
  }
  return true;
}

const STAR = 42;
const QUESTION = 63;
const OPEN = 91;
const CLOSE = 93;
const CARET = 94;
const DASH = 45;
const BACKSLASH = 92;
