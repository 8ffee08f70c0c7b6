import type { KeySpace } from './key-space.js';
import { arrayReply, bulkReply } from '../resp/replies.js';
import type { ErrorReply, Reply } from '../resp/types.js';
import { NOT_AN_INTEGER, SYNTAX_ERROR } from './command-errors.js';
import { globMatch, isLiteral, literalPrefix } from './glob.js';
import { parseInteger } from './parse-int.js';

/** A parsed `KEYS pattern [PIVOT key] [LIMIT n] [DESC] [WITHVALUES]`. */
export interface KeysQuery {
  /** The pattern as latin1 (one char per byte). */
  pattern: string;
  /** Exclusive start: keys after it (before it with `desc`). */
  pivot?: Buffer;
  limit?: number;
  desc: boolean;
  withValues: boolean;
}

/**
 * Parses the arguments after `KEYS` (options in any order, case-insensitive; the last
 * of a repeated option wins). Returns an error reply for an unknown option, a missing
 * option value (`ERR syntax error`) or a LIMIT that is not a non-negative integer.
 */
export function parseKeysQuery(args: readonly Buffer[]): KeysQuery | ErrorReply {
  const query: KeysQuery = { pattern: args[0]!.toString('latin1'), desc: false, withValues: false };
  for (let i = 1; i < args.length; i++) {
    const opt = args[i]!.toString('latin1').toLowerCase();
    if (opt === 'desc') query.desc = true;
    else if (opt === 'withvalues') query.withValues = true;
    else if (opt === 'pivot' && i + 1 < args.length) query.pivot = args[++i];
    else if (opt === 'limit' && i + 1 < args.length) {
      const n = parseInteger(args[++i]!);
      if (n === undefined || n < 0) return NOT_AN_INTEGER;
      query.limit = n;
    } else return SYNTAX_ERROR;
  }
  return query;
}

/**
 * Runs a KEYS query: matching keys in byte order (descending with `desc`), starting after
 * the pivot, at most `limit` of them, with values when asked. Walks only the keys that
 * share the pattern's literal prefix and stops at the limit, so a page costs about the
 * same whatever the size of the keyspace.
 */
export function runKeysQuery(store: KeySpace, q: KeysQuery): Reply {
  const out: Reply[] = [];
  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  if (limit === 0) return arrayReply(out);
  const emit = (key: Buffer, value?: Buffer): boolean => {
    out.push(bulkReply(key));
    if (value) out.push(bulkReply(value));
    return out.length < (q.withValues ? 2 * limit : limit);
  };
  if (isLiteral(q.pattern)) {
    const key = Buffer.from(q.pattern, 'latin1');
    const after = q.pivot === undefined || (q.desc ? Buffer.compare(key, q.pivot) < 0 : Buffer.compare(key, q.pivot) > 0);
    const value = after ? store.get(key) : undefined;
    if (value) emit(key, q.withValues ? value : undefined);
    return arrayReply(out);
  }
  const prefix = Buffer.from(literalPrefix(q.pattern), 'latin1');
  const matchAll = q.pattern === '*';
  const start = startOf(prefix, q);
  for (const key of store.keys(start)) {
    // The walk starts inside the prefix range, so the first key outside it ends the range.
    if (!hasPrefix(key, prefix)) break;
    if (!matchAll && !globMatch(q.pattern, key.toString('latin1'))) continue;
    const value = q.withValues ? store.get(key) : undefined;
    if (q.withValues && value === undefined) continue;
    if (!emit(key, value)) break;
  }
  return arrayReply(out);
}

function startOf(prefix: Buffer, q: KeysQuery): { from?: Buffer; inclusive: boolean; reverse: boolean } {
  if (!q.desc) {
    if (q.pivot !== undefined && Buffer.compare(q.pivot, prefix) >= 0) return { from: q.pivot, inclusive: false, reverse: false };
    return { from: prefix, inclusive: true, reverse: false };
  }
  const upper = prefixUpperBound(prefix);
  if (q.pivot !== undefined && (upper === undefined || Buffer.compare(q.pivot, upper) < 0)) return { from: q.pivot, inclusive: false, reverse: true };
  return upper === undefined ? { inclusive: false, reverse: true } : { from: upper, inclusive: false, reverse: true };
}

/** The smallest key greater than every key starting with `prefix`, or undefined if none is. */
function prefixUpperBound(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const upper = Buffer.from(prefix.subarray(0, end));
  upper[end - 1]!++;
  return upper;
}

function hasPrefix(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
