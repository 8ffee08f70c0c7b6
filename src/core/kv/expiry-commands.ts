import { bulkReply, errorReply, intReply, NULL_BULK } from '../resp/replies.js';
import type { ErrorReply, Reply } from '../resp/types.js';
import { checkSizes, SYNTAX_ERROR } from './command-errors.js';
import type { KvCommand } from './command-types.js';
import { absoluteExpiry, parseExpireArgument, parseExpiryArgument, type ExpiryUnit } from './expiry-time.js';
import type { KeySpace } from './key-space.js';
import { parseSetOptions, type SetOptions } from './set-options.js';

/**
 * The commands of keys that expire — EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX,
 * GT, LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, SETEX, PSETEX and GETEX — with
 * Redis 7's replies and error texts, plus the internal RAFTEXPIRE. Writes run at the
 * time the leader stamped in their log entry (`KeySpace.now`), so a relative expiry
 * comes out the same on every replica.
 */

/** The internal write a leader proposes to delete keys whose expiry has passed. */
export const EXPIRE_SWEEP_COMMAND = 'raftexpire';

/**
 * The expiry a SET-like write gives `key`: from its expiry option, the one `key` has
 * with `KEEPTTL`, else 0 (never). The option's number is checked (see
 * `parseExpiryArgument`); `ERR invalid expire time` too when beyond the latest expiry
 * bitraft stores.
 */
export function setExpiryOf(store: KeySpace, key: Buffer, opts: Pick<SetOptions, 'expiry' | 'keepTtl'>, name: string): number | ErrorReply {
  if (!opts.expiry) return opts.keepTtl ? Math.max(0, store.expiryOf(key)) : 0;
  const { unit, arg } = opts.expiry;
  const value = parseExpiryArgument(arg, unit, name);
  return typeof value === 'bigint' ? absoluteExpiry(value, unit, store.now, name) : value;
}

/** Stores `value` under `key` expiring at `expiresAt` (0: never); an expiry already past deletes the key instead. */
export function storeWithExpiry(store: KeySpace, key: Buffer, value: Buffer, expiresAt: number): void {
  if (expiresAt > 0 && expiresAt <= store.now) store.delete(key);
  else store.put(key, value, expiresAt);
}

/** Gives the live `key` a new expiry (0: none), keeping its value; an expiry already past deletes it. */
function changeExpiry(store: KeySpace, key: Buffer, expiresAt: number): void {
  storeWithExpiry(store, key, store.get(key)!, expiresAt);
}

type ExpireFlag = 'nx' | 'xx' | 'gt' | 'lt';
const EXPIRE_FLAGS: ReadonlySet<string> = new Set(['nx', 'xx', 'gt', 'lt']);

/** The NX/XX/GT/LT options of EXPIRE and its kin, checked as Redis checks them; or the error. */
function parseExpireFlags(args: readonly Buffer[]): Set<ExpireFlag> | ErrorReply {
  const flags = new Set<ExpireFlag>();
  for (const arg of args.slice(3)) {
    const opt = arg.toString('latin1').toLowerCase();
    if (!EXPIRE_FLAGS.has(opt)) return errorReply(`ERR Unsupported option ${arg.toString('latin1')}`.replace(/[\r\n]/g, ' '));
    flags.add(opt as ExpireFlag);
  }
  if (flags.has('nx') && flags.size > 1) return errorReply('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (flags.has('gt') && flags.has('lt')) return errorReply('ERR GT and LT options at the same time are not compatible');
  return flags;
}

/** Whether an expiry `when` may replace `current` (-1: none) under `flags`, as Redis decides. */
function flagsAllow(flags: Set<ExpireFlag>, current: number, when: number): boolean {
  if (flags.has('nx') && current !== -1) return false;
  if (flags.has('xx') && current === -1) return false;
  if (flags.has('gt') && (current === -1 || when <= current)) return false;
  if (flags.has('lt') && current !== -1 && when >= current) return false;
  return true;
}

/** EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: 1 when the expiry was set (or, being past, the key deleted), else 0. */
function expireCommand(name: string, unit: ExpiryUnit): KvCommand {
  const parse = (args: readonly Buffer[]): { flags: Set<ExpireFlag>; value: bigint } | ErrorReply => {
    const flags = parseExpireFlags(args);
    if (!(flags instanceof Set)) return flags;
    const value = parseExpireArgument(args[2]!, unit, name);
    return typeof value === 'bigint' ? { flags, value } : value;
  };
  return {
    name,
    keys: [1, 1, 1],
    arity: -3,
    write: true,
    check: (args) => {
      const parsed = parse(args);
      return 'type' in parsed ? parsed : undefined;
    },
    exec: (store, args) => {
      const { flags, value } = parse(args) as { flags: Set<ExpireFlag>; value: bigint };
      const when = absoluteExpiry(value, unit, store.now, name);
      if (typeof when !== 'number') return when;
      const key = args[1]!;
      const current = store.expiryOf(key);
      if (current === -1) return intReply(0);
      if (!flagsAllow(flags, current === 0 ? -1 : current, when)) return intReply(0);
      changeExpiry(store, key, when);
      return intReply(1);
    },
  };
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for one that never expires. */
function ttlCommand(name: string, reply: (expiresAt: number, now: number) => number): KvCommand {
  return {
    name,
    keys: [1, 1, 1],
    arity: 2,
    write: false,
    exec: (store, args) => {
      const at = store.expiryOf(args[1]!);
      return intReply(at === -1 ? -2 : at === 0 ? -1 : reply(at, store.now));
    },
  };
}

/** SETEX and PSETEX: `NAME key time value`, SET with EX or PX. */
function setexCommand(name: string, unit: ExpiryUnit): KvCommand {
  return {
    name,
    keys: [1, 1, 1],
    arity: 4,
    write: true,
    check: (args, limits) => {
      const value = parseExpiryArgument(args[2]!, unit, name);
      return typeof value !== 'bigint' ? value : checkSizes(limits, args[1]!, args[3]!);
    },
    exec: (store, args) => {
      const expiresAt = setExpiryOf(store, args[1]!, { expiry: { unit, arg: args[2]! }, keepTtl: false }, name);
      if (typeof expiresAt !== 'number') return expiresAt;
      storeWithExpiry(store, args[1]!, args[3]!, expiresAt);
      return { type: 'simple', value: 'OK' };
    },
  };
}

/**
 * GETEX's options (`EX|PX|EXAT|PXAT n` or `PERSIST`), through SET's parser with the
 * options SET alone takes refused; `persist` when PERSIST was given.
 */
function parseGetexOptions(args: readonly Buffer[]): { opts: SetOptions; persist: boolean } | ErrorReply {
  const persistAt = args.findIndex((a, i) => i >= 2 && a.toString('latin1').toLowerCase() === 'persist');
  const rest = persistAt < 0 ? args : args.filter((_, i) => i !== persistAt);
  if (persistAt >= 0 && rest.length > 2) return SYNTAX_ERROR;
  // SET's parser reads options from index 3: put a placeholder where SET has its value.
  // Its number is checked only once the key is found, as in Redis.
  const opts = parseSetOptions([...rest.slice(0, 2), Buffer.alloc(0), ...rest.slice(2)], 'getex', false);
  if ('type' in opts) return opts;
  if (opts.condition || opts.get || opts.keepTtl) return SYNTAX_ERROR;
  return { opts, persist: persistAt >= 0 };
}

/** The expiry commands, for the command table. */
export const EXPIRY_COMMANDS: readonly KvCommand[] = [
  expireCommand('expire', 'ex'),
  expireCommand('pexpire', 'px'),
  expireCommand('expireat', 'exat'),
  expireCommand('pexpireat', 'pxat'),
  ttlCommand('ttl', (at, now) => Math.floor((Math.max(0, at - now) + 500) / 1000)),
  ttlCommand('pttl', (at, now) => Math.max(0, at - now)),
  ttlCommand('expiretime', (at) => Math.floor(at / 1000)),
  ttlCommand('pexpiretime', (at) => at),
  {
    name: 'persist',
    keys: [1, 1, 1],
    arity: 2,
    write: true,
    exec: (store, args) => {
      if (store.expiryOf(args[1]!) <= 0) return intReply(0);
      changeExpiry(store, args[1]!, 0);
      return intReply(1);
    },
  },
  setexCommand('setex', 'ex'),
  setexCommand('psetex', 'px'),
  {
    name: 'getex',
    keys: [1, 1, 1],
    arity: -2,
    write: true,
    check: (args) => {
      const parsed = parseGetexOptions(args);
      return 'type' in parsed ? parsed : undefined;
    },
    exec: (store, args) => {
      const { opts, persist } = parseGetexOptions(args) as { opts: SetOptions; persist: boolean };
      const key = args[1]!;
      const value = store.get(key);
      if (value === undefined) return NULL_BULK;
      if (opts.expiry) {
        const expiresAt = setExpiryOf(store, key, opts, 'getex');
        if (typeof expiresAt !== 'number') return expiresAt;
        changeExpiry(store, key, expiresAt);
      } else if (persist && store.expiryOf(key) > 0) changeExpiry(store, key, 0);
      return bulkReply(value);
    },
  },
  {
    // Deletes those of the keys given whose expiry has passed at the entry's time; answers how many.
    name: EXPIRE_SWEEP_COMMAND,
    keys: [1, -1, 1],
    arity: -2,
    write: true,
    exec: (store, args) => {
      let deleted = 0;
      for (const key of args.slice(1)) {
        const at = store.store.expiryOf(key);
        if (at > 0 && at <= store.now && store.store.delete(key)) deleted++;
      }
      return intReply(deleted);
    },
  },
];
