import { arrayReply, bulkReply, errorReply, NULL_BULK } from '../resp/replies.js';
import type { ErrorReply, Reply } from '../resp/types.js';
import { NOT_AN_INTEGER, SYNTAX_ERROR } from './command-errors.js';
import type { KvCommand } from './command-types.js';
import { globMatch, isLiteral, literalPrefix } from './glob.js';
import type { KeySpace } from './key-space.js';
import { parseInteger } from './parse-int.js';

/** A parsed `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`. */
export interface ScanArgs {
  cursor: string;
  /** The pattern as latin1; undefined: every key. */
  pattern: string | undefined;
  /** How many keys to look at (Redis's COUNT: work, not results). */
  count: number;
  /** TYPE: only keys of this type (every bitraft key is a string). */
  onlyType: string | undefined;
}

/** `ERR invalid cursor`, Redis's reply to a cursor that is not a number. */
const INVALID_CURSOR = errorReply('ERR invalid cursor');

/** The reply to a cursor this node does not know: expired, or handed out by another node. */
export const UNKNOWN_CURSOR: ErrorReply = errorReply('ERR unknown SCAN cursor (forgotten, or handed out by another node): start again from 0');

const DEFAULT_COUNT = 10;
/** Keys looked at by one call at most, whatever COUNT asks (a call must stay short). */
const MAX_COUNT = 100_000;

/** Parses SCAN's arguments as Redis does; returns them or the error reply. */
export function parseScanArgs(args: readonly Buffer[]): ScanArgs | ErrorReply {
  const cursor = args[1]!.toString('latin1');
  if (!/^[0-9]+$/.test(cursor) || BigInt(cursor) >= 2n ** 64n) return INVALID_CURSOR;
  const out: ScanArgs = { cursor: String(BigInt(cursor)), pattern: undefined, count: DEFAULT_COUNT, onlyType: undefined };
  for (let i = 2; i < args.length; i += 2) {
    const opt = args[i]!.toString('latin1').toLowerCase();
    const value = args[i + 1];
    if (value === undefined) return SYNTAX_ERROR;
    if (opt === 'match') out.pattern = value.toString('latin1');
    else if (opt === 'type') out.onlyType = value.toString('latin1').toLowerCase();
    else if (opt === 'count') {
      const n = parseInteger(value);
      if (n === undefined) return NOT_AN_INTEGER;
      if (n < 1) return SYNTAX_ERROR;
      out.count = Math.min(n, MAX_COUNT);
    } else return SYNTAX_ERROR;
  }
  return out;
}

/**
 * SCAN over the keys in byte order: from where the cursor stands, looks at up to `count`
 * keys (within the pattern's literal prefix, when it has one) and answers
 * `[next cursor, [matching keys]]`; the next cursor is "0" when the walk reached the
 * end. Every key present from the first call to the last is returned exactly once, and
 * keys come in byte order. Expired keys are skipped.
 */
export function runScan(keys: KeySpace, a: ScanArgs): Reply {
  let after: Buffer | undefined;
  if (a.cursor !== '0') {
    after = keys.cursors.lastKey(a.cursor);
    if (!after) return UNKNOWN_CURSOR;
  }
  const found: Reply[] = [];
  const done = (next: string): Reply => arrayReply([bulkReply(next), arrayReply(found)]);
  // A type other than string matches nothing: the walk still moves on, as in Redis.
  const typeOk = a.onlyType === undefined || a.onlyType === 'string';
  const pattern = a.pattern;
  if (pattern !== undefined && isLiteral(pattern)) {
    const key = Buffer.from(pattern, 'latin1');
    if (typeOk && after === undefined && keys.has(key)) found.push(bulkReply(key));
    return done('0');
  }
  const prefix = Buffer.from(pattern === undefined ? '' : literalPrefix(pattern), 'latin1');
  const from = after !== undefined && Buffer.compare(after, prefix) >= 0 ? { from: after, inclusive: false } : { from: prefix, inclusive: true };
  let seen = 0;
  for (const key of keys.keys(from)) {
    if (key.length < prefix.length || key.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return done('0');
    if (typeOk && (pattern === undefined || globMatch(pattern, key.toString('latin1')))) found.push(bulkReply(key));
    if (++seen >= a.count) return done(keys.cursors.open(key));
  }
  return done('0');
}

/** SCAN and RANDOMKEY, for the command table. */
export const SCAN_COMMANDS: readonly KvCommand[] = [
  {
    name: 'scan',
    arity: -2,
    write: false,
    ordered: true,
    exec: (keys, args) => {
      const parsed = parseScanArgs(args);
      return 'type' in parsed ? parsed : runScan(keys, parsed);
    },
  },
  {
    name: 'randomkey',
    arity: 1,
    write: false,
    exec: (keys) => {
      const key = keys.randomKey();
      return key === undefined ? NULL_BULK : bulkReply(key);
    },
  },
];
