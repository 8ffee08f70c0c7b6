import { createHash, timingSafeEqual } from 'node:crypto';
import os from 'node:os';
import { globMatch, KV_COMMANDS, parseInteger, unknownSubcommand } from '../kv/index.js';
import { arrayReply, bulkReply, errorReply, intReply, NULL_BULK, OK, simpleReply } from '../resp/index.js';
import type { Reply } from '../resp/types.js';
import type { ServerContext } from './context.js';
import type { AdminCommand } from './admin-command.js';
import { mergeInfo } from './merge-info.js';
import { NO_REPLY } from './no-reply.js';
import { RAFT_COMMANDS, raftInfo } from './raft-commands.js';
import { SNAPSHOT_COMMANDS } from './snapshot-commands.js';
import { TRANSACTION_COMMANDS } from './transaction-commands.js';
import { WRONGPASS } from './reply-errors.js';
import type { Session } from './session.js';

/** The version clients are told, so that they enable the Redis 7 features they know. */
export const REDIS_COMPAT_VERSION = '7.0.15';

const str = (b: Buffer): string => b.toString('latin1');
const lower = (b: Buffer): string => str(b).toLowerCase();

function auth(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply {
  const pass = ctx.config.requirepass;
  if (args.length > 3) return errorReply('ERR syntax error');
  const user = args.length === 3 ? str(args[1]!) : 'default';
  if (pass === undefined) {
    // As Redis: the default user has no password, so naming it with any password works.
    if (args.length === 2) {
      return errorReply('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
    }
    if (user !== 'default') return WRONGPASS;
    session.authenticated = true;
    return OK;
  }
  if (user !== 'default' || !samePassword(args[args.length - 1]!, pass)) return WRONGPASS;
  session.authenticated = true;
  return OK;
}

/**
 * `RAFTAUTH <secret>`: with the node's cluster secret, authenticates the connection as a
 * cluster member (also past the password and protected mode).
 */
function raftAuth(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply {
  const secret = ctx.config.clusterSecret;
  if (secret === undefined) return errorReply('ERR RAFTAUTH called, but this node has no cluster secret (--cluster-secret)');
  if (!samePassword(args[1]!, secret)) return errorReply('WRONGPASS invalid cluster secret');
  session.authenticated = true;
  session.peer = true;
  session.protectedOnly = false;
  return OK;
}

/** Compares a given password with the configured one (UTF-8 bytes) in constant time, its length included (digests are compared). */
function samePassword(given: Buffer, expected: string): boolean {
  const digest = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Redis's rule for client names: printable ASCII without spaces. */
function validClientName(name: string): boolean {
  return /^[\x21-\x7e]*$/.test(name);
}

const BAD_CLIENT_NAME = errorReply('ERR Client names cannot contain spaces, newlines or special characters.');

function hello(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply {
  let i = 1;
  if (args.length > 1) {
    const proto = parseInteger(args[1]!);
    if (proto === undefined) return errorReply('ERR Protocol version is not an integer or out of range');
    if (proto !== 2) return errorReply('NOPROTO unsupported protocol version');
    i = 2;
  }
  for (; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === 'auth' && i + 2 < args.length) {
      const r = auth(ctx, session, [args[0]!, args[i + 1]!, args[i + 2]!]);
      if (r.type === 'error') return r;
      i += 2;
    } else if (opt === 'setname' && i + 1 < args.length) {
      const name = str(args[++i]!);
      if (!validClientName(name)) return BAD_CLIENT_NAME;
      session.name = name || undefined;
    } else {
      return errorReply(`ERR Syntax error in HELLO option '${str(args[i]!)}'`);
    }
  }
  if (!session.authenticated) {
    return errorReply(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  return arrayReply([
    bulkReply('server'), bulkReply('redis'),
    bulkReply('version'), bulkReply(REDIS_COMPAT_VERSION),
    bulkReply('proto'), intReply(2),
    bulkReply('id'), intReply(session.id),
    bulkReply('mode'), bulkReply('standalone'),
    bulkReply('role'), bulkReply('master'),
    bulkReply('modules'), arrayReply([]),
  ]);
}

function client(ctx: ServerContext, session: Session, args: readonly Buffer[]): Reply {
  const sub = lower(args[1]!);
  const arity = (n: number): Reply | undefined => (args.length === n ? undefined : errorReply(`ERR wrong number of arguments for 'client|${sub}' command`));
  switch (sub) {
    case 'setname': {
      const bad = arity(3);
      if (bad) return bad;
      const name = str(args[2]!);
      if (!validClientName(name)) return BAD_CLIENT_NAME;
      session.name = name || undefined;
      return OK;
    }
    case 'getname':
      return arity(2) ?? (session.name === undefined ? NULL_BULK : bulkReply(session.name));
    case 'setinfo': {
      const bad = arity(4);
      if (bad) return bad;
      const attr = lower(args[2]!);
      if (attr === 'lib-name') session.libName = str(args[3]!);
      else if (attr === 'lib-ver') session.libVer = str(args[3]!);
      else return errorReply(`ERR Unrecognized option '${str(args[2]!)}'`);
      return OK;
    }
    case 'id':
      return arity(2) ?? intReply(session.id);
    case 'info':
      return arity(2) ?? bulkReply(`${describeClient(session, Date.now())}\n`);
    case 'list':
      return bulkReply([...ctx.sessions()].map((s) => `${describeClient(s, Date.now())}\n`).join(''));
    case 'no-evict':
    case 'no-touch':
      return arity(3) ?? (/^(on|off)$/i.test(str(args[2]!)) ? OK : errorReply('ERR syntax error'));
    default:
      return unknownSubcommand('client', args[1]!);
  }
}

function describeClient(s: Session, now: number): string {
  const age = Math.floor((now - s.createdAt) / 1000);
  return `id=${s.id} addr=${s.addr} name=${s.name ?? ''} age=${age} db=0 cmd=${s.lastCommand} lib-name=${s.libName ?? ''} lib-ver=${s.libVer ?? ''}`;
}

function config(ctx: ServerContext, _session: Session, args: readonly Buffer[]): Reply {
  const sub = lower(args[1]!);
  if (sub === 'get') {
    if (args.length < 3) return errorReply("ERR wrong number of arguments for 'config|get' command");
    const c = ctx.config;
    const values: [string, string][] = [
      ['bind', c.host],
      ['port', String(ctx.port())],
      ['dir', c.dir],
      ['databases', '1'],
      ['maxclients', String(c.maxclients)],
      ['appendonly', c.durability === 'low' ? 'no' : 'yes'],
      ['appendfsync', { high: 'always', medium: 'everysec', low: 'no' }[c.durability]],
      ['save', ''],
      ['proto-max-bulk-len', String(c.maxValueSize)],
      ['protected-mode', c.protectedMode ? 'yes' : 'no'],
    ];
    const out: Reply[] = [];
    const seen = new Set<string>();
    for (const pattern of args.slice(2).map(lower)) {
      for (const [name, value] of values) {
        if (seen.has(name) || !globMatch(pattern, name)) continue;
        seen.add(name);
        out.push(bulkReply(name), bulkReply(value));
      }
    }
    return arrayReply(out);
  }
  if (sub === 'resetstat') return OK;
  if (sub === 'set') return errorReply('ERR CONFIG SET is not supported by bitraft; restart the node with the flag instead');
  return unknownSubcommand('config', args[1]!);
}

function info(ctx: ServerContext, _session: Session, args: readonly Buffer[]): Reply {
  const c = ctx.config;
  const uptime = Math.floor((Date.now() - ctx.stats.startedAt) / 1000);
  const sessions = [...ctx.sessions()];
  const memory = process.memoryUsage();
  const store = ctx.machine.store.stats();
  const sections: Record<string, [string, string | number][]> = {
    server: [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['bitraft_version', ctx.version],
      ['redis_mode', 'standalone'],
      ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['arch_bits', 64],
      ['process_id', process.pid],
      ['tcp_port', ctx.port()],
      ['uptime_in_seconds', uptime],
      ['uptime_in_days', Math.floor(uptime / 86400)],
      ['executable', process.argv[1] ?? ''],
    ],
    clients: [
      ['connected_clients', sessions.length],
      ['maxclients', c.maxclients],
    ],
    memory: [
      ['used_memory', memory.heapUsed],
      ['used_memory_rss', memory.rss],
      ['bitraft_cached_values', store.cachedValues],
      ['bitraft_cache_bytes', store.cacheBytes],
    ],
    persistence: [
      ['loading', 0],
      ['aof_enabled', c.durability === 'low' ? 0 : 1],
      ['bitraft_durability', c.durability],
      ...mergeInfo(store, ctx.autoMerge?.status()),
    ],
    stats: [
      ['total_connections_received', ctx.stats.connectionsReceived],
      ['total_commands_processed', ctx.stats.commandsProcessed],
      ['rejected_connections', ctx.stats.rejectedConnections],
    ],
    replication: [
      ['role', 'master'],
      ['connected_slaves', 0],
    ],
    raft: raftInfo(ctx),
    keyspace: ctx.machine.store.size > 0 ? [['db0', `keys=${ctx.machine.store.size},expires=${ctx.machine.store.expiringCount},avg_ttl=0`]] : [],
  };
  const asked = args.slice(1).map(lower);
  const all = asked.length === 0 || asked.some((a) => a === 'all' || a === 'everything' || a === 'default');
  const text = Object.entries(sections)
    .filter(([name]) => all || asked.includes(name))
    .map(([name, fields]) => `# ${name[0]!.toUpperCase()}${name.slice(1)}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`)
    .join('\r\n');
  return bulkReply(text);
}

function command(_ctx: ServerContext, _session: Session, args: readonly Buffer[]): Reply {
  const all = [...KV_COMMANDS.values(), ...ADMIN_COMMANDS.values()];
  const describe = (c: { name: string; arity: number; keys?: readonly [number, number, number] }): Reply => {
    const write = 'write' in c && c.write === true;
    const [first, last, step] = c.keys ?? [0, 0, 0];
    return arrayReply([bulkReply(c.name), intReply(c.arity), arrayReply([simpleReply(write ? 'write' : 'readonly')]), intReply(first), intReply(last), intReply(step)]);
  };
  if (args.length === 1) return arrayReply(all.map(describe));
  const sub = lower(args[1]!);
  if (sub === 'count') return intReply(all.length);
  if (sub === 'docs') return arrayReply([]);
  if (sub === 'info') {
    return arrayReply(args.slice(2).map((n) => {
      const found = all.find((c) => c.name === lower(n));
      return found ? describe(found) : NULL_BULK;
    }));
  }
  if (sub === 'list') return arrayReply(all.map((c) => bulkReply(c.name)));
  return unknownSubcommand('command', args[1]!);
}

const table: AdminCommand[] = [
  { name: 'ping', arity: -1, noauth: true, exec: (_c, _s, a) => (a.length === 1 ? simpleReply('PONG') : a.length === 2 ? bulkReply(a[1]!) : errorReply("ERR wrong number of arguments for 'ping' command")) },
  { name: 'echo', arity: 2, exec: (_c, _s, a) => bulkReply(a[1]!) },
  {
    name: 'quit',
    arity: -1,
    noauth: true,
    exec: (_c, s) => {
      s.closeAfterReplies = true;
      return OK;
    },
  },
  { name: 'auth', arity: -2, noauth: true, exec: auth },
  { name: 'raftauth', arity: 2, noauth: true, exec: raftAuth },
  { name: 'hello', arity: -1, noauth: true, exec: hello },
  {
    name: 'select',
    arity: 2,
    exec: (_c, _s, a) => {
      const n = parseInteger(a[1]!);
      if (n === undefined) return errorReply('ERR value is not an integer or out of range');
      return n === 0 ? OK : errorReply('ERR DB index is out of range');
    },
  },
  { name: 'client', arity: -2, exec: client },
  { name: 'config', arity: -2, exec: config },
  { name: 'info', arity: -1, exec: info },
  { name: 'command', arity: -1, exec: command },
  {
    name: 'shutdown',
    arity: -1,
    exec: (ctx, s, a) => {
      const opts = a.slice(1).map(lower);
      if (opts.some((o) => !['nosave', 'save', 'now', 'force', 'abort'].includes(o))) return errorReply('ERR syntax error');
      if (opts.includes('abort')) return errorReply('ERR No shutdown in progress.');
      s.closeAfterReplies = true;
      ctx.shutdown(`SHUTDOWN from client ${s.addr}`);
      return NO_REPLY;
    },
  },
  ...RAFT_COMMANDS,
  ...SNAPSHOT_COMMANDS,
  ...TRANSACTION_COMMANDS,
];

/** Commands the node answers itself, by lower-case name. */
export const ADMIN_COMMANDS: ReadonlyMap<string, AdminCommand> = new Map(table.map((c) => [c.name, c]));
