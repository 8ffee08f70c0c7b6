import { arrayReply, bulkReply, intReply, NULL_BULK, OK } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { checkSizes, SYNTAX_ERROR, wrongArity } from './command-errors.js';
import { globMatch } from './glob.js';
import { parseKeysQuery, runKeysQuery } from './keys-query.js';
import type { KvCommand, KvLimits } from './command-types.js';
import type { KeySpace } from './key-space.js';
import { parseSetOptions, type SetOptions } from './set-options.js';
import { STRING_COMMANDS } from './string-commands.js';
import { EXPIRY_COMMANDS, setExpiryOf, storeWithExpiry } from './expiry-commands.js';
import { SCAN_COMMANDS } from './scan-command.js';
import { WATCH_READ } from './watch.js';

export type { KvCommand, KvLimits } from './command-types.js';

function checkPairs(args: readonly Buffer[], limits: KvLimits): Reply | undefined {
  for (let i = 1; i < args.length; i += 2) {
    const refused = checkSizes(limits, args[i]!, args[i + 1]!);
    if (refused) return refused;
  }
  return undefined;
}

/** DEL and UNLINK: deletes the keys given, and answers how many existed. */
function deleteKeys(store: KeySpace, args: readonly Buffer[]): Reply {
  return intReply(args.slice(1).filter((k) => store.delete(k)).length);
}

function deleteMatching(store: KeySpace, pattern: string): number {
  // Collect first: deleting while walking would be correct too, but this keeps the walk simple.
  const doomed: Buffer[] = [];
  for (const key of store.keys()) if (pattern === '*' || globMatch(pattern, key.toString('latin1'))) doomed.push(key);
  for (const key of doomed) store.delete(key);
  return doomed.length;
}

const table: KvCommand[] = [
  {
    name: 'get',
    keys: [1, 1, 1],
    arity: 2,
    write: false,
    exec: (store, args) => {
      const v = store.get(args[1]!);
      return v === undefined ? NULL_BULK : bulkReply(v);
    },
  },
  {
    name: 'mget',
    keys: [1, -1, 1],
    arity: -2,
    write: false,
    exec: (store, args) =>
      arrayReply(
        args.slice(1).map((k) => {
          const v = store.get(k);
          return v === undefined ? NULL_BULK : bulkReply(v);
        }),
      ),
  },
  {
    name: 'exists',
    keys: [1, -1, 1],
    arity: -2,
    write: false,
    exec: (store, args) => intReply(args.slice(1).filter((k) => store.has(k)).length),
  },
  { name: 'dbsize', arity: 1, write: false, exec: (store) => intReply(store.size) },
  {
    name: 'keys',
    arity: -2,
    write: false,
    ordered: true,
    exec: (store, args) => {
      const q = parseKeysQuery(args.slice(1));
      return 'type' in q ? q : runKeysQuery(store, q);
    },
  },
  {
    name: 'set',
    keys: [1, 1, 1],
    arity: -3,
    write: true,
    check: (args, limits) => {
      const opts = parseSetOptions(args);
      return 'type' in opts ? opts : checkPairs(args.slice(0, 3), limits);
    },
    exec: (store, args) => {
      const opts = parseSetOptions(args) as SetOptions;
      const expiresAt = setExpiryOf(store, args[1]!, opts, 'set');
      if (typeof expiresAt !== 'number') return expiresAt;
      const old = opts.get ? store.get(args[1]!) : undefined;
      const exists = opts.get ? old !== undefined : opts.condition !== undefined && store.has(args[1]!);
      const allowed = opts.condition === undefined || (opts.condition === 'nx') !== exists;
      if (allowed) storeWithExpiry(store, args[1]!, args[2]!, expiresAt);
      if (opts.get) return old === undefined ? NULL_BULK : bulkReply(old);
      return allowed ? OK : NULL_BULK;
    },
  },
  {
    name: 'mset',
    keys: [1, -1, 2],
    arity: -3,
    write: true,
    check: (args, limits) => (args.length % 2 === 0 ? wrongArity('mset') : checkPairs(args, limits)),
    exec: (store, args) => {
      for (let i = 1; i < args.length; i += 2) store.put(args[i]!, args[i + 1]!);
      return OK;
    },
  },
  // No size check: a key stored under a larger limit must stay deletable.
  { name: 'del', keys: [1, -1, 1], arity: -2, write: true, exec: deleteKeys },
  { name: 'unlink', keys: [1, -1, 1], arity: -2, write: true, exec: deleteKeys },
  {
    name: 'pdel',
    arity: 2,
    write: true,
    exec: (store, args) => intReply(deleteMatching(store, args[1]!.toString('latin1'))),
  },
  {
    name: 'flushdb',
    arity: -1,
    write: true,
    check: (args) => (args.length > 2 || (args.length === 2 && !/^(a?sync)$/i.test(args[1]!.toString('latin1'))) ? SYNTAX_ERROR : undefined),
    exec: (store) => {
      deleteMatching(store, '*');
      return OK;
    },
  },
  ...STRING_COMMANDS,
  ...EXPIRY_COMMANDS,
  ...SCAN_COMMANDS,
  WATCH_READ,
];

/** Every key/value command by lower-case name. */
export const KV_COMMANDS: ReadonlyMap<string, KvCommand> = new Map(table.map((c) => [c.name, c]));

/** Whether `argc` args (the name included) satisfy `arity`. */
export function arityOk(arity: number, argc: number): boolean {
  return arity > 0 ? argc === arity : argc >= -arity;
}
