import t from 'tap';
import { KV_COMMANDS } from '../../../src/core/kv/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { ADMIN_COMMANDS } from '../../../src/core/server/admin-commands.js';
import { dispatch } from '../../../src/core/server/dispatch.js';
import type { Proposer } from '../../../src/core/server/proposer.js';
import type { KvMachine } from '../../../src/core/kv/index.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { argv, deferred, err, FAKE_PORT, makeServer, OK_, plain, type Deferred } from './server-fixture.js';

const NOAUTH = err('NOAUTH Authentication required.');

/** Valid arguments for every command, so that only authentication can refuse them. */
const SAMPLE_ARGS: Record<string, string[]> = {
  get: ['k'],
  mget: ['k'],
  exists: ['k'],
  dbsize: [],
  keys: ['*'],
  set: ['k', 'v'],
  mset: ['k', 'v'],
  del: ['k'],
  pdel: ['*'],
  flushdb: [],
  unlink: ['k'],
  incr: ['k'],
  decr: ['k'],
  incrby: ['k', '2'],
  decrby: ['k', '2'],
  append: ['k', 'v'],
  strlen: ['k'],
  getset: ['k', 'v'],
  getdel: ['k'],
  setnx: ['k', 'v'],
  type: ['k'],
  expire: ['k', '10'],
  pexpire: ['k', '10'],
  expireat: ['k', '10'],
  pexpireat: ['k', '10'],
  ttl: ['k'],
  pttl: ['k'],
  expiretime: ['k'],
  pexpiretime: ['k'],
  persist: ['k'],
  setex: ['k', '10', 'v'],
  psetex: ['k', '10', 'v'],
  getex: ['k'],
  raftexpire: ['k'],
  scan: ['0'],
  randomkey: [],
  raftwatch: ['k'],
  ping: [],
  echo: ['x'],
  quit: [],
  auth: ['secret'],
  raftauth: ['secret'],
  hello: [],
  select: ['0'],
  client: ['id'],
  config: ['get', '*'],
  info: [],
  command: ['count'],
  shutdown: [],
  raftleader: [],
  raftstate: [],
  raftstats: [],
  raftpeers: [],
  raftaddpeer: ['127.0.0.1:1'],
  raftremovepeer: ['127.0.0.1:1'],
  rafttransfer: [],
  raftmsg: ['x'],
  raftsnapshot: [],
  raftshrinklog: [],
  raftdigest: [],
  raftinstall: ['END', 'x'],
  multi: [],
  exec: [],
  discard: [],
  watch: ['k'],
  unwatch: [],
};

t.test('every command has sample arguments', async (t) => {
  t.strictSame(Object.keys(SAMPLE_ARGS).sort(), [...KV_COMMANDS.keys(), ...ADMIN_COMMANDS.keys()].sort());
});

t.test('with requirepass, NOAUTH for every command but AUTH, RAFTAUTH, PING, QUIT and HELLO', async (t) => {
  const f = await makeServer(t, { config: { requirepass: 'secret' } });
  f.kv.run('set', 'k', 'v');
  const noauth = new Set(['auth', 'raftauth', 'ping', 'quit', 'hello']);
  t.strictSame([...ADMIN_COMMANDS.values()].filter((c) => c.noauth).map((c) => c.name).sort(), [...noauth].sort());
  for (const [name, args] of Object.entries(SAMPLE_ARGS)) {
    if (noauth.has(name)) continue;
    for (const spelled of [name, name.toUpperCase()]) {
      const s = f.session();
      t.strictSame(f.run(s, spelled, ...args), NOAUTH, `${spelled} ${args.join(' ')}`);
      t.equal(s.authenticated, false);
    }
  }
  t.equal(f.shutdowns.length, 0, 'SHUTDOWN did not run');
  t.strictSame(f.kv.contents(), { k: 'v' }, 'no write ran');
  const s = f.session();
  t.strictSame(f.run(s, 'nosuchcommand', 'x'), NOAUTH, 'unknown commands too');
  t.strictSame(f.run(s, 'get'), NOAUTH, 'before the arity check');
  t.strictSame(f.run(s, 'PING'), { simple: 'PONG' });
  t.strictSame(f.run(s, 'hello'), err('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time'));
  t.strictSame(f.run(s, 'AUTH', 'secret'), OK_);
  t.equal(s.authenticated, true);
  t.strictSame(f.run(s, 'get', 'k'), 'v');
  const q = f.session();
  t.strictSame(f.run(q, 'quit'), OK_);
  t.equal(q.closeAfterReplies, true);
});

t.test('without requirepass sessions start authenticated', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.equal(s.authenticated, true);
  t.strictSame(f.run(s, 'set', 'k', 'v'), OK_);
  t.strictSame(f.run(s, 'GET', 'k'), 'v');
});

t.test('counters and the last command', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.equal(s.lastCommand, 'NULL');
  f.run(s, 'PING');
  f.run(s, 'SeT', 'k', 'v');
  f.run(s, 'nosuch');
  t.equal(f.stats.commandsProcessed, 3);
  t.equal(s.commands, 3);
  t.equal(s.lastCommand, 'nosuch', 'lower-cased');
  const other = f.session();
  f.run(other, 'get', 'k');
  t.equal(f.stats.commandsProcessed, 4, 'stats are per node');
  t.equal(s.commands, 3, 'commands are per session');
  t.equal(other.commands, 1);
});

t.test('routing', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'foo', 'a', 'b'), err("ERR unknown command 'foo', with args beginning with: 'a' 'b' "));
  t.strictSame(f.run(s, 'ECHO'), err("ERR wrong number of arguments for 'echo' command"), 'admin arity');
  t.strictSame(f.run(s, 'SELECT', '0', '1'), err("ERR wrong number of arguments for 'select' command"));
  t.strictSame(f.run(s, 'GET'), err("ERR wrong number of arguments for 'get' command"), 'key/value arity');
  t.strictSame(f.run(s, 'set', 'k', 'v', 'x'), err('ERR syntax error'));
  t.strictSame(f.run(s, 'ping'), { simple: 'PONG' });
  t.strictSame(f.run(s, 'mset', 'a', '1', 'b', '2'), OK_);
  t.strictSame(f.run(s, 'keys', '*'), ['a', 'b']);
});

/** A proposer that records what it is asked and answers as told (reads: from the store, or `state.read`). */
function recordingProposer(machine?: () => KvMachine) {
  const proposed: string[][] = [];
  const reads: string[][] = [];
  const state: { propose?: (args: readonly Buffer[]) => Reply | Promise<Reply>; read?: (args: readonly Buffer[]) => Reply | Promise<Reply> } = {};
  const proposer: Proposer = {
    propose: (args) => {
      proposed.push(args.map((a) => a.toString('latin1')));
      return state.propose ? state.propose(args) : OK_AS_REPLY;
    },
    read: (args, cmd) => {
      reads.push(args.map((a) => a.toString('latin1')));
      return state.read ? state.read(args) : machine!().read(args, cmd);
    },
  };
  return { proposer, proposed, reads, state };
}
const OK_AS_REPLY: Reply = { type: 'simple', value: 'OK' };

t.test('writes go to the proposer only once checked', async (t) => {
  let machine!: KvMachine;
  const rec = recordingProposer(() => machine);
  const f = await makeServer(t, { proposer: (m) => ((machine = m), rec.proposer), bitcask: { maxKeySize: 4 } });
  const s = f.session();
  t.strictSame(f.run(s, 'SET', 'k', 'v'), OK_);
  t.strictSame(f.run(s, 'del', 'a', 'b'), OK_);
  t.strictSame(f.run(s, 'set', 'k', 'v', 'x'), err('ERR syntax error'));
  t.strictSame(f.run(s, 'mset', 'k', 'v', 'j'), err("ERR wrong number of arguments for 'mset' command"));
  t.strictSame(f.run(s, 'set', 'toolong', 'v'), err('ERR key of 7 bytes exceeds the limit of 4 bytes'));
  t.strictSame(f.run(s, 'flushdb', 'x'), err('ERR syntax error'));
  t.strictSame(f.run(s, 'get', 'k'), null, 'reads go to the read path');
  t.strictSame(rec.proposed, [
    ['SET', 'k', 'v'],
    ['del', 'a', 'b'],
  ], 'only the accepted writes, as sent');
  t.strictSame(f.kv.contents(), {}, 'the store is the proposer\'s business');
  rec.state.propose = () => Promise.resolve({ type: 'integer', value: 3 });
  const r = f.dispatch(s, 'pdel', '*');
  t.ok(r instanceof Promise, 'a promise from the proposer is returned as is');
  t.strictSame(plain(await r), 3);
});

t.test('reads go to the read path of the proposer once checked, and its promise is returned as is', async (t) => {
  let machine!: KvMachine;
  const rec = recordingProposer(() => machine);
  const f = await makeServer(t, { proposer: (m) => ((machine = m), rec.proposer) });
  const s = f.session();
  f.kv.run('set', 'k', 'old');
  t.strictSame(f.run(s, 'get', 'k'), 'old');
  t.strictSame(rec.reads, [['get', 'k']]);
  t.strictSame(f.run(s, 'get'), err("ERR wrong number of arguments for 'get' command"), 'refused reads never reach it');
  t.equal(rec.reads.length, 1);
  const pending = deferred<Reply>();
  rec.state.read = () => pending.promise;
  const r = f.dispatch(s, 'mget', 'k');
  t.ok(r instanceof Promise);
  pending.resolve({ type: 'bulk', value: Buffer.from('later') });
  t.strictSame(plain(await r), 'later');
  t.strictSame(f.run(s, 'ping'), { simple: 'PONG' }, 'admin commands do not go through it');
});

t.test('RAFTFWD runs the wrapped command here and marks the connection as a forwarding node', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'RAFTFWD'), err("ERR wrong number of arguments for 'raftfwd' command"));
  t.equal(s.forwarded, false);
  t.strictSame(f.run(s, 'RAFTFWD', 'set', 'k', 'v'), OK_);
  t.equal(s.forwarded, true);
  t.strictSame(f.run(s, 'raftfwd', 'GET', 'k'), 'v');
  const locked = await makeServer(t, { config: { requirepass: 'pw' } });
  t.strictSame(locked.run(locked.session(), 'RAFTFWD', 'get', 'k'), err('NOAUTH Authentication required.'), 'only for authenticated peers');
});

t.test('dispatch never throws: a failure is logged and answered', async (t) => {
  const rec = recordingProposer();
  const f = await makeServer(t, { proposer: () => rec.proposer });
  const s = f.session();
  rec.state.propose = () => {
    throw new Error('boom');
  };
  t.strictSame(f.run(s, 'set', 'k', 'v'), err('ERR internal error: boom'));
  t.match(f.logs.at(-1), /^\S+ error command set failed: Error: boom\n {4}at /, 'logged with its stack');
  rec.state.propose = () => {
    const e = new Error('no stack here');
    e.stack = undefined;
    throw e;
  };
  t.strictSame(f.run(s, 'DEL', 'k'), err('ERR internal error: no stack here'));
  t.match(f.logs.at(-1), / error command del failed: no stack here\n$/);
  rec.state.propose = () => {
    throw 'a string';
  };
  t.strictSame(f.run(s, 'mset', 'a', 'b'), err('ERR internal error: a string'));
  t.match(f.logs.at(-1), / error command mset failed: a string\n$/);
  rec.state.propose = () => {
    throw new BitraftError('BUSY', 'try later');
  };
  t.strictSame(f.run(s, 'pdel', '*'), err('BUSY try later'));
  rec.state.read = () => {
    throw new BitraftError('CLOSED', 'the store is closed');
  };
  t.strictSame(f.run(s, 'get', 'k'), err('ERR server is shutting down: the store is closed'));
  const broken = {
    ...f.ctx,
    shutdown: () => {
      throw new Error('cannot stop');
    },
  };
  t.strictSame(plain(dispatch(broken, s, [Buffer.from('shutdown')]) as Reply), err('ERR internal error: cannot stop'), 'admin command failures too');
  t.equal(f.logs.filter((l) => / error command /.test(l)).length, 6);
});

t.test('while the node is loading, commands but AUTH, HELLO, PING, QUIT and ECHO get -LOADING', async (t) => {
  const f = await makeServer(t);
  let loading = true;
  const ctx = { ...f.ctx, loading: () => loading };
  const s = f.session();
  const run = async (...args: string[]): Promise<unknown> => plain(await dispatch(ctx, s, argv(...args)));
  t.strictSame(await run('GET', 'k'), err('LOADING bitraft is loading the dataset in memory'));
  t.strictSame(await run('RAFTSTATE'), err('LOADING bitraft is loading the dataset in memory'));
  t.strictSame(await run('PING'), { simple: 'PONG' });
  loading = false;
  t.strictSame(await run('GET', 'k'), null);
});

t.test('with a cluster secret, internal and membership commands need RAFTAUTH', async (t) => {
  const f = await makeServer(t, { config: { clusterSecret: 'cs' } });
  const NOPERM = err('NOPERM this command is reserved for cluster members: authenticate with RAFTAUTH <cluster secret> first');
  const client = f.session();
  for (const [name, args] of [
    ['RAFTMSG', ['x']],
    ['raftinstall', ['END', 'x']],
    ['RAFTADDPEER', ['127.0.0.1:1']],
    ['raftremovepeer', ['127.0.0.1:1']],
    ['RAFTFWD', ['set', 'k', 'v']],
  ] as const) {
    t.strictSame(f.run(client, name, ...args), NOPERM, `${name} from a client`);
  }
  t.strictSame(f.kv.contents(), {}, 'nothing forwarded ran');
  t.strictSame(f.run(client, 'set', 'k', 'v'), OK_, 'clients still use the data');
  t.strictSame(f.run(client, 'RAFTLEADER'), `127.0.0.1:${FAKE_PORT}`, 'and the read-only RAFT commands');
  t.strictSame(f.run(client, 'RAFTAUTH', 'wrong'), err('WRONGPASS invalid cluster secret'));
  t.equal(client.peer, false);
  t.strictSame(f.run(client, 'RAFTAUTH'), err("ERR wrong number of arguments for 'raftauth' command"));
  const peer = f.session();
  t.strictSame(f.run(peer, 'raftauth', 'cs'), OK_);
  t.equal(peer.peer, true);
  t.strictSame(f.run(peer, 'RAFTFWD', 'set', 'k', 'w'), OK_, 'a peer may forward');
  t.notSame(f.run(peer, 'RAFTADDPEER', 'nonsense'), NOPERM, 'and change membership (refused here for the bad address only)');
});

t.test('RAFTAUTH also passes the password gate; without a cluster secret it is an error', async (t) => {
  const f = await makeServer(t, { config: { requirepass: 'pw', clusterSecret: 'cs' } });
  const s = f.session();
  t.equal(s.authenticated, false);
  t.strictSame(f.run(s, 'RAFTAUTH', 'cs'), OK_);
  t.equal(s.authenticated, true);
  t.strictSame(f.run(s, 'set', 'k', 'v'), OK_);
  const none = await makeServer(t);
  t.strictSame(none.run(none.session(), 'RAFTAUTH', 'x'), err('ERR RAFTAUTH called, but this node has no cluster secret (--cluster-secret)'));
  t.strictSame(none.run(none.session(), 'RAFTMSG', 'x'), err('ERR invalid raft message batch at byte 0: unknown version 120'), 'without a secret, internal commands are open (as before)');
});

t.test('a protected-mode session answers RAFTAUTH only: anything else is -DENIED and closes it', async (t) => {
  const f = await makeServer(t, { config: { clusterSecret: 'cs' } });
  const s = f.session();
  s.protectedOnly = true;
  const denied = f.run(s, 'PING') as { error: string };
  t.match(denied.error, /^DENIED bitraft is running in protected mode because protected mode is enabled and no password is set\./);
  t.equal(s.closeAfterReplies, true, 'the connection closes');
  const peer = f.session();
  peer.protectedOnly = true;
  t.strictSame(f.run(peer, 'RAFTAUTH', 'wrong'), err('WRONGPASS invalid cluster secret'));
  t.equal(peer.protectedOnly, true);
  t.strictSame(f.run(peer, 'RAFTAUTH', 'cs'), OK_);
  t.equal(peer.protectedOnly, false);
  t.strictSame(f.run(peer, 'PING'), { simple: 'PONG' }, 'a peer that authenticated is served');
});
