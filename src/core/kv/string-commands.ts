import { bulkReply, errorReply, intReply, NULL_BULK, simpleReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { checkSizes, NOT_AN_INTEGER } from './command-errors.js';
import { INT64_MAX, INT64_MIN, parseInt64 } from './parse-int.js';
import type { KvCommand, KvLimits } from './command-types.js';
import type { KeySpace } from './key-space.js';

/**
 * The string commands beyond GET/SET/DEL — counters (INCR, INCRBY, DECR, DECRBY),
 * APPEND, STRLEN, GETSET, GETDEL, SETNX and TYPE — with Redis's replies and
 * error texts. Every write is deterministic: what it does depends only on the stored
 * value and its arguments, so each replica applying the entry computes the same reply.
 */

const OVERFLOW = errorReply('ERR increment or decrement would overflow');
const DECREMENT_OVERFLOW = errorReply('ERR decrement would overflow');
const TOO_LONG = errorReply('ERR string exceeds maximum allowed size (proto-max-bulk-len)');

/** The expiry `key` has, to keep when its value changes (INCR, APPEND): 0 for none or when absent. */
function keptExpiry(store: KeySpace, key: Buffer): number {
  return Math.max(0, store.expiryOf(key));
}

/**
 * Adds `by` to the integer stored at `key` (0 when absent) and stores the sum as its
 * decimal text; the key keeps its expiry, as in Redis.
 */
function incrementBy(store: KeySpace, key: Buffer, by: bigint): Reply {
  const stored = store.get(key);
  const old = stored === undefined ? 0n : parseInt64(stored);
  if (old === undefined) return NOT_AN_INTEGER;
  const sum = old + by;
  if (sum < INT64_MIN || sum > INT64_MAX) return OVERFLOW;
  store.put(key, Buffer.from(sum.toString(), 'latin1'), keptExpiry(store, key));
  return intReply(sum);
}

/** INCRBY/DECRBY: the increment must be an integer, checked before the command enters the log. */
function checkIncrement(args: readonly Buffer[], limits: KvLimits): Reply | undefined {
  return parseInt64(args[2]!) === undefined ? NOT_AN_INTEGER : checkSizes(limits, args[1]!);
}

/** `NAME key`: a write of one key, its size checked before the log. */
function keyWrite(name: string, exec: KvCommand['exec']): KvCommand {
  return { name, keys: [1, 1, 1], arity: 2, write: true, check: (args, limits) => checkSizes(limits, args[1]!), exec };
}

/** `NAME key value`: a write of one key and one value, their sizes checked before the log. */
function keyValueWrite(name: string, exec: KvCommand['exec']): KvCommand {
  return { name, keys: [1, 1, 1], arity: 3, write: true, check: (args, limits) => checkSizes(limits, args[1]!, args[2]!), exec };
}

/** The string commands, for the command table. */
export const STRING_COMMANDS: readonly KvCommand[] = [
  keyWrite('incr', (store, args) => incrementBy(store, args[1]!, 1n)),
  keyWrite('decr', (store, args) => incrementBy(store, args[1]!, -1n)),
  {
    name: 'incrby',
    keys: [1, 1, 1],
    arity: 3,
    write: true,
    check: checkIncrement,
    exec: (store, args) => incrementBy(store, args[1]!, parseInt64(args[2]!)!),
  },
  {
    name: 'decrby',
    keys: [1, 1, 1],
    arity: 3,
    write: true,
    check: checkIncrement,
    exec: (store, args) => {
      const by = parseInt64(args[2]!)!;
      return by === INT64_MIN ? DECREMENT_OVERFLOW : incrementBy(store, args[1]!, -by);
    },
  },
  keyValueWrite('append', (store, args) => {
    const old = store.get(args[1]!);
    if (old !== undefined && old.length + args[2]!.length > store.options.maxValueSize) return TOO_LONG;
    const value = old === undefined ? args[2]! : Buffer.concat([old, args[2]!]);
    store.put(args[1]!, value, keptExpiry(store, args[1]!));
    return intReply(value.length);
  }),
  {
    name: 'strlen',
    keys: [1, 1, 1],
    arity: 2,
    write: false,
    exec: (store, args) => intReply(store.get(args[1]!)?.length ?? 0),
  },
  keyValueWrite('getset', (store, args) => {
    const old = store.get(args[1]!);
    store.put(args[1]!, args[2]!);
    return old === undefined ? NULL_BULK : bulkReply(old);
  }),
  {
    name: 'getdel',
    keys: [1, 1, 1],
    arity: 2,
    write: true,
    exec: (store, args) => {
      const old = store.get(args[1]!);
      if (old === undefined) return NULL_BULK;
      store.delete(args[1]!);
      return bulkReply(old);
    },
  },
  keyValueWrite('setnx', (store, args) => {
    if (store.has(args[1]!)) return intReply(0);
    store.put(args[1]!, args[2]!);
    return intReply(1);
  }),
  {
    name: 'type',
    keys: [1, 1, 1],
    arity: 2,
    write: false,
    exec: (store, args) => simpleReply(store.has(args[1]!) ? 'string' : 'none'),
  },
];
