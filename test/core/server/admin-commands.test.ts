import os from 'node:os';
import t from 'tap';
import { KV_COMMANDS } from '../../../src/core/kv/index.js';
import { ADMIN_COMMANDS, REDIS_COMPAT_VERSION } from '../../../src/core/server/admin-commands.js';
import { NO_REPLY } from '../../../src/core/server/no-reply.js';
import { b, err, FAKE_PORT, makeServer, OK_, plain, type Plain } from './server-fixture.js';

// Expected texts are redis-server 7.0.15's unless a test says otherwise.

const arity = (name: string) => err(`ERR wrong number of arguments for '${name}' command`);
const WRONGPASS = err('WRONGPASS invalid username-password pair or user is disabled.');
const NO_PASSWORD = err('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
const HELLO_NOAUTH = err(
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
);
const helloMap = (id: number): Plain => ['server', 'redis', 'version', REDIS_COMPAT_VERSION, 'proto', 2, 'id', id, 'mode', 'standalone', 'role', 'master', 'modules', []];

t.test('the admin table', async (t) => {
  t.strictSame(
    [...ADMIN_COMMANDS.values()].map((c) => [c.name, c.arity, c.noauth ?? false, c.peer ?? false]),
    [
      ['ping', -1, true, false],
      ['echo', 2, false, false],
      ['quit', -1, true, false],
      ['auth', -2, true, false],
      ['raftauth', 2, true, false],
      ['hello', -1, true, false],
      ['select', 2, false, false],
      ['client', -2, false, false],
      ['config', -2, false, false],
      ['info', -1, false, false],
      ['command', -1, false, false],
      ['shutdown', -1, false, false],
      ['raftleader', 1, false, false],
      ['raftstate', 1, false, false],
      ['raftstats', 1, false, false],
      ['raftpeers', 1, false, false],
      ['raftaddpeer', 2, false, true],
      ['raftremovepeer', 2, false, true],
      ['rafttransfer', -1, false, false],
      ['raftmsg', 2, false, true],
      ['raftsnapshot', 1, false, false],
      ['raftshrinklog', -1, false, false],
      ['raftdigest', 1, false, false],
      ['raftinstall', -3, false, true],
      ['multi', 1, false, false],
      ['exec', 1, false, false],
      ['discard', 1, false, false],
      ['watch', -2, false, false],
      ['unwatch', 1, false, false],
    ],
  );
  t.equal(REDIS_COMPAT_VERSION, '7.0.15');
});

t.test('PING, ECHO', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'PING'), { simple: 'PONG' });
  t.strictSame(f.run(s, 'ping', 'hello'), 'hello', 'a bulk with the message');
  t.strictSame(f.run(s, 'ping', '\x00\r\n\xff'), '\x00\r\n\xff');
  t.strictSame(f.run(s, 'ping', ''), '');
  t.strictSame(f.run(s, 'PING', 'a', 'b'), arity('ping'));
  t.strictSame(f.run(s, 'echo', 'x'), 'x');
  t.strictSame(f.run(s, 'ECHO', '\xff\x00'), '\xff\x00');
  t.strictSame(f.run(s, 'echo'), arity('echo'));
  t.strictSame(f.run(s, 'echo', 'a', 'b'), arity('echo'));
});

t.test('QUIT replies OK and closes after the replies', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.equal(s.closeAfterReplies, false);
  t.strictSame(f.run(s, 'QUIT'), OK_);
  t.equal(s.closeAfterReplies, true);
  const s2 = f.session();
  t.strictSame(f.run(s2, 'quit', 'extra'), OK_, 'Redis ignores arguments');
  t.equal(s2.closeAfterReplies, true);
});

t.test('SELECT: only database 0', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'select', '0'), OK_);
  t.strictSame(f.run(s, 'SELECT', '1'), err('ERR DB index is out of range'));
  t.strictSame(f.run(s, 'select', '-1'), err('ERR DB index is out of range'));
  t.strictSame(f.run(s, 'select', 'abc'), err('ERR value is not an integer or out of range'));
  t.strictSame(f.run(s, 'select', '00'), err('ERR value is not an integer or out of range'));
  t.strictSame(f.run(s, 'select', ''), err('ERR value is not an integer or out of range'));
  t.strictSame(f.run(s, 'select'), arity('select'));
});

t.test('AUTH without a configured password', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'AUTH', 'x'), NO_PASSWORD);
  t.strictSame(f.run(s, 'auth', 'a', 'b', 'c'), err('ERR syntax error'));
  t.strictSame(f.run(s, 'auth'), arity('auth'));
  t.equal(s.authenticated, true);
});

t.test('AUTH <user> <pass> without a configured password: the default user takes any password', async (t) => {
  // redis-server 7.0.15 with no requirepass: `AUTH default x` → +OK (the default user is
  // nopass), `AUTH other x` → -WRONGPASS. Clients configured with a username send this form.
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'auth', 'default', 'anything'), OK_);
  t.strictSame(f.run(s, 'auth', 'other', 'anything'), WRONGPASS);
});

t.test('AUTH with requirepass', async (t) => {
  const f = await makeServer(t, { config: { requirepass: 'secret' } });
  const s = f.session();
  t.equal(s.authenticated, false);
  t.strictSame(f.run(s, 'AUTH', 'wrong'), WRONGPASS);
  t.equal(s.authenticated, false);
  t.strictSame(f.run(s, 'auth', 'other', 'secret'), WRONGPASS, 'only the default user');
  t.strictSame(f.run(s, 'auth', 'default', 'wrong'), WRONGPASS);
  t.strictSame(f.run(s, 'auth', 'SECRET'), WRONGPASS, 'case-sensitive');
  t.strictSame(f.run(s, 'auth', 'a', 'b', 'c'), err('ERR syntax error'));
  t.strictSame(f.run(s, 'auth'), arity('auth'));
  t.equal(s.authenticated, false);
  t.strictSame(f.run(s, 'auth', 'secret'), OK_);
  t.equal(s.authenticated, true);
  t.strictSame(f.run(s, 'auth', 'wrong'), WRONGPASS);
  t.equal(s.authenticated, true, 'a failed AUTH does not log an authenticated client out (as Redis)');
  const s2 = f.session();
  t.strictSame(f.run(s2, 'auth', 'default', 'secret'), OK_, 'AUTH default <pass>');
  t.equal(s2.authenticated, true);
});

t.test('AUTH compares the password bytes: a non-ASCII password works', async (t) => {
  // --requirepass is a JS string (UTF-8 on the command line); clients send its UTF-8 bytes.
  const f = await makeServer(t, { config: { requirepass: 'pässwörd☃' } });
  const s = f.session();
  t.strictSame(f.run(s, 'auth', Buffer.from('pässwörd☃', 'utf8')), OK_);
  t.equal(s.authenticated, true);
  const s2 = f.session();
  t.strictSame(f.run(s2, 'auth', Buffer.from('pässwörd☃', 'latin1')), WRONGPASS, 'other bytes are another password');
});

t.test('HELLO', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'HELLO'), helloMap(s.id));
  t.strictSame(f.run(s, 'hello', '2'), helloMap(s.id));
  for (const v of ['3', '1', '4', '0', '-1']) t.match(f.run(s, 'hello', v), { error: /^NOPROTO / }, `HELLO ${v}: RESP2 only`);
  t.strictSame(f.run(s, 'hello', 'abc'), err('ERR Protocol version is not an integer or out of range'));
  t.strictSame(f.run(s, 'hello', '2.0'), err('ERR Protocol version is not an integer or out of range'));
  t.strictSame(f.run(s, 'hello', ''), err('ERR Protocol version is not an integer or out of range'));
  t.strictSame(f.run(s, 'hello', '2', 'FOO'), err("ERR Syntax error in HELLO option 'FOO'"));
  t.strictSame(f.run(s, 'hello', '2', 'setname'), err("ERR Syntax error in HELLO option 'setname'"), 'SETNAME without a name');
  t.strictSame(f.run(s, 'hello', '2', 'AUTH', 'default'), err("ERR Syntax error in HELLO option 'AUTH'"), 'AUTH without a password');
  t.strictSame(f.run(s, 'hello', '2', 'SETNAME', 'conn1'), helloMap(s.id));
  t.equal(s.name, 'conn1');
  t.strictSame(f.run(s, 'client', 'getname'), 'conn1');
  t.strictSame(f.run(s, 'hello', '2', 'setname', 'a', 'setname', 'b'), helloMap(s.id), 'repeated options');
  t.equal(s.name, 'b');
});

t.test('HELLO with requirepass', async (t) => {
  const f = await makeServer(t, { config: { requirepass: 'secret' } });
  const s = f.session();
  t.strictSame(f.run(s, 'hello'), HELLO_NOAUTH);
  t.strictSame(f.run(s, 'hello', '2'), HELLO_NOAUTH);
  t.strictSame(f.run(s, 'hello', '2', 'AUTH', 'default', 'wrong'), WRONGPASS);
  t.strictSame(f.run(s, 'hello', '2', 'AUTH', 'someone', 'secret'), WRONGPASS);
  t.equal(s.authenticated, false);
  t.strictSame(f.run(s, 'hello', '2', 'auth', 'default', 'secret', 'SETNAME', 'me'), helloMap(s.id));
  t.equal(s.authenticated, true);
  t.equal(s.name, 'me');
  const s2 = f.session();
  t.strictSame(f.run(s2, 'hello', '2', 'AUTH', 'default', 'secret', 'BAD'), err("ERR Syntax error in HELLO option 'BAD'"));
  t.equal(s2.authenticated, true, 'as redis 7.0.15: the AUTH before the bad option took effect');
  const s3 = f.session();
  t.strictSame(f.run(s3, 'hello', '2', 'SETNAME', 'early'), HELLO_NOAUTH);
  t.equal(s3.authenticated, false);
});

t.test('HELLO with an unsupported version: Redis\'s NOPROTO text', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'hello', '4'), err('NOPROTO unsupported protocol version'));
  t.strictSame(f.run(s, 'hello', '3'), err('NOPROTO unsupported protocol version'), 'RESP3 is not supported here');
});

t.test('HELLO AUTH without a configured password: the default user takes any password', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'hello', '2', 'AUTH', 'default', 'anything'), helloMap(s.id));
});

t.test('HELLO SETNAME validates the name like CLIENT SETNAME', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'hello', '2', 'SETNAME', 'a b'), err('ERR Client names cannot contain spaces, newlines or special characters.'));
  t.equal(s.name, undefined);
});

t.test('CLIENT', async (t) => {
  const f = await makeServer(t);
  const s = f.session('10.0.0.1:5555');
  const BAD_NAME = err('ERR Client names cannot contain spaces, newlines or special characters.');
  t.strictSame(f.run(s, 'client'), arity('client'));
  t.strictSame(f.run(s, 'client', 'getname'), null);
  t.strictSame(f.run(s, 'CLIENT', 'SETNAME', 'worker-1'), OK_);
  t.strictSame(f.run(s, 'client', 'getname'), 'worker-1');
  for (const bad of ['a b', 'a\nb', 'a\tb', '\xff', 'é', '\x7f', '\x00']) {
    t.strictSame(f.run(s, 'client', 'setname', bad), BAD_NAME, JSON.stringify(bad));
  }
  t.strictSame(f.run(s, 'client', 'getname'), 'worker-1', 'a refused name changes nothing');
  t.strictSame(f.run(s, 'client', 'setname', '!~'), OK_, 'printable ASCII ends');
  t.strictSame(f.run(s, 'client', 'setname', ''), OK_, 'the empty name removes the name');
  t.strictSame(f.run(s, 'client', 'getname'), null);
  t.strictSame(f.run(s, 'client', 'setname'), arity('client|setname'));
  t.strictSame(f.run(s, 'client', 'SETNAME', 'x', 'y'), arity('client|setname'), 'lower-case subcommand in the text');
  t.strictSame(f.run(s, 'client', 'getname', 'x'), arity('client|getname'));

  t.strictSame(f.run(s, 'client', 'id'), s.id);
  t.strictSame(f.run(s, 'client', 'id', 'x'), arity('client|id'));

  t.strictSame(f.run(s, 'client', 'setinfo', 'LIB-NAME', 'redis-py'), OK_);
  t.strictSame(f.run(s, 'client', 'setinfo', 'lib-ver', '5.0.1'), OK_);
  t.strictSame(f.run(s, 'client', 'setinfo', 'lib-foo', 'x'), err("ERR Unrecognized option 'lib-foo'"));
  t.strictSame(f.run(s, 'client', 'setinfo', 'lib-name'), arity('client|setinfo'));
  t.strictSame(f.run(s, 'client', 'setinfo', 'lib-name', 'a', 'b'), arity('client|setinfo'));
  t.equal(s.libName, 'redis-py');
  t.equal(s.libVer, '5.0.1');

  f.run(s, 'client', 'setname', 'w2');
  const info = f.run(s, 'client', 'info') as string;
  t.match(info, new RegExp(`^id=${s.id} addr=10\\.0\\.0\\.1:5555 name=w2 age=\\d+ db=0 cmd=client lib-name=redis-py lib-ver=5\\.0\\.1\\n$`));
  t.strictSame(f.run(s, 'client', 'info', 'x'), arity('client|info'));

  const other = f.session('10.0.0.2:1');
  const list = f.run(s, 'client', 'list') as string;
  const lines = list.split('\n');
  t.equal(lines.length, 3, 'one line per session, each ending in a newline');
  t.equal(lines[2], '');
  t.match(lines[0], new RegExp(`^id=${s.id} addr=10\\.0\\.0\\.1:5555 name=w2 `));
  t.match(lines[1], new RegExp(`^id=${other.id} addr=10\\.0\\.0\\.2:1 name= age=0 db=0 cmd=NULL lib-name= lib-ver=$`));
  t.strictSame(f.run(s, 'client', 'list', 'TYPE', 'normal'), f.run(s, 'client', 'list'));

  t.strictSame(f.run(s, 'client', 'no-evict', 'on'), OK_);
  t.strictSame(f.run(s, 'client', 'NO-TOUCH', 'off'), OK_);
  t.strictSame(f.run(s, 'client', 'foo'), err("ERR unknown subcommand 'foo'. Try CLIENT HELP."));
  t.strictSame(f.run(s, 'client', 'FOO', 'x'), err("ERR unknown subcommand 'FOO'. Try CLIENT HELP."));
});

t.test('CLIENT INFO shows the age in seconds', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  (s as { createdAt: number }).createdAt = Date.now() - 125_500;
  t.match(f.run(s, 'client', 'info'), / age=125 /);
});

t.test('CLIENT NO-EVICT takes exactly ON or OFF', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'client', 'no-evict'), arity('client|no-evict'));
  t.strictSame(f.run(s, 'client', 'no-evict', 'maybe'), err('ERR syntax error'));
});

t.test('CONFIG', async (t) => {
  const f = await makeServer(t, { config: { host: '0.0.0.0', maxclients: 77, maxValueSize: 1234, durability: 'high' } });
  const s = f.session();
  const all = {
    bind: '0.0.0.0',
    port: String(FAKE_PORT),
    dir: f.config.dir,
    databases: '1',
    maxclients: '77',
    appendonly: 'yes',
    appendfsync: 'always',
    save: '',
    'proto-max-bulk-len': '1234',
    'protected-mode': 'yes',
  };
  t.strictSame(f.run(s, 'config', 'get', '*'), Object.entries(all).flat(), 'every setting, name then value');
  t.strictSame(f.run(s, 'CONFIG', 'GET', 'port'), ['port', String(FAKE_PORT)], 'the bound port');
  t.strictSame(f.run(s, 'config', 'get', 'PORT'), ['port', String(FAKE_PORT)], 'names are case-insensitive');
  t.strictSame(f.run(s, 'config', 'get', 'max*'), ['maxclients', '77']);
  t.strictSame(f.run(s, 'config', 'get', 'save', 'appendonly'), ['save', '', 'appendonly', 'yes'], 'several patterns, in their order');
  t.strictSame(f.run(s, 'config', 'get', 'p*', 'port', '*-len'), ['port', String(FAKE_PORT), 'proto-max-bulk-len', '1234', 'protected-mode', 'yes'], 'each setting once');
  t.strictSame(f.run(s, 'config', 'get', 'd?r'), ['dir', f.config.dir]);
  t.strictSame(f.run(s, 'config', 'get', '[bd]*'), ['bind', '0.0.0.0', 'dir', f.config.dir, 'databases', '1']);
  t.strictSame(f.run(s, 'config', 'get', 'nosuch'), []);
  const off = await makeServer(t, { config: { protectedMode: false } });
  t.strictSame(off.run(off.session(), 'config', 'get', 'protected-mode'), ['protected-mode', 'no']);
  t.strictSame(f.run(s, 'config', 'get'), arity('config|get'));
  t.strictSame(f.run(s, 'config'), arity('config'));
  t.strictSame(f.run(s, 'config', 'set', 'port', '1'), err('ERR CONFIG SET is not supported by bitraft; restart the node with the flag instead'));
  t.strictSame(f.run(s, 'config', 'RESETSTAT'), OK_);
  t.strictSame(f.run(s, 'config', 'foo'), err("ERR unknown subcommand 'foo'. Try CONFIG HELP."));
});

t.test('CONFIG GET appendonly/appendfsync follow the durability', async (t) => {
  for (const [durability, appendonly, appendfsync] of [
    ['high', 'yes', 'always'],
    ['medium', 'yes', 'everysec'],
    ['low', 'no', 'no'],
  ] as const) {
    const f = await makeServer(t, { config: { durability } });
    t.strictSame(f.run(f.session(), 'config', 'get', 'append*'), ['appendonly', appendonly, 'appendfsync', appendfsync], durability);
  }
});

/** INFO text → section name → field → value. */
function parseInfo(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    if (line.startsWith('# ')) {
      current = new Map();
      out.set(line.slice(2), current);
    } else {
      const i = line.indexOf(':');
      current!.set(line.slice(0, i), line.slice(i + 1));
    }
  }
  return out;
}

t.test('INFO', async (t) => {
  const f = await makeServer(t, { config: { maxclients: 50, durability: 'medium' }, version: '1.2.3' });
  const s = f.session();
  f.session();
  f.stats.connectionsReceived = 7;
  f.stats.rejectedConnections = 2;
  f.stats.startedAt = Date.now() - (3 * 86400 + 5) * 1000;
  const text = f.run(s, 'INFO') as string;
  t.ok(text.endsWith('\r\n'));
  t.notOk(text.includes('\n\n'), 'CRLF line endings only');
  t.match(text, /^# Server\r\n/);
  t.match(text, /\r\n\r\n# Clients\r\n/, 'a blank line between sections');
  const info = parseInfo(text);
  t.strictSame([...info.keys()], ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'Raft', 'Keyspace']);
  const server = info.get('Server')!;
  t.equal(server.get('redis_version'), '7.0.15');
  t.equal(server.get('bitraft_version'), '1.2.3');
  t.equal(server.get('redis_mode'), 'standalone');
  t.equal(server.get('os'), `${os.type()} ${os.release()} ${os.arch()}`);
  t.equal(server.get('arch_bits'), '64');
  t.equal(server.get('process_id'), String(process.pid));
  t.equal(server.get('tcp_port'), String(FAKE_PORT));
  t.equal(server.get('uptime_in_seconds'), String(3 * 86400 + 5));
  t.equal(server.get('uptime_in_days'), '3');
  t.equal(server.get('executable'), process.argv[1] ?? '');
  t.strictSame(Object.fromEntries(info.get('Clients')!), { connected_clients: '2', maxclients: '50' });
  t.match(info.get('Memory')!.get('used_memory'), /^\d+$/);
  t.match(info.get('Memory')!.get('used_memory_rss'), /^\d+$/);
  t.strictSame(Object.fromEntries(info.get('Persistence')!), {
    loading: '0',
    aof_enabled: '1',
    bitraft_durability: 'medium',
    bitraft_data_files: '1',
    bitraft_data_bytes: '0',
    bitraft_dead_bytes: '0',
    bitraft_reclaimable_bytes: '0',
    bitraft_auto_merge: 'no',
    bitraft_merge_in_progress: '0',
    bitraft_auto_merges: '0',
    bitraft_auto_merge_failures: '0',
    bitraft_last_merge_status: 'none',
    bitraft_last_merge_reclaimed_bytes: '0',
    bitraft_last_merge_duration_ms: '0',
  });
  t.strictSame(Object.fromEntries(info.get('Stats')!), { total_connections_received: '7', total_commands_processed: '1', rejected_connections: '2' });
  t.strictSame(Object.fromEntries(info.get('Replication')!), { role: 'master', connected_slaves: '0' });
  t.strictSame(
    Object.fromEntries(info.get('Raft')!),
    {
      raft_id: `127.0.0.1:${FAKE_PORT}`,
      raft_state: 'leader',
      raft_leader: `127.0.0.1:${FAKE_PORT}`,
      raft_term: '2',
      raft_commit_index: '2',
      raft_applied_index: '2',
      raft_last_log_index: '2',
      raft_first_log_index: '1',
      raft_last_snapshot_index: '0',
      raft_voters: '1',
      raft_learners: '0',
    },
    'a one-node cluster led by this node',
  );
  t.strictSame(Object.fromEntries(info.get('Keyspace')!), {}, 'no db line while empty, as Redis');
  t.match(text, /# Keyspace\r\n$/);
  const argv = process.argv;
  process.argv = [argv[0]!];
  try {
    t.match(f.run(s, 'info', 'server'), /\r\nexecutable:\r\n/, 'no script path: empty');
  } finally {
    process.argv = argv;
  }
});

t.test('INFO sections', async (t) => {
  const f = await makeServer(t, { config: { durability: 'low' } });
  const s = f.session();
  f.kv.run('mset', 'a', '1', 'b', '2', '', '3');
  t.strictSame(f.run(s, 'info', 'keyspace'), '# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n');
  t.strictSame(f.run(s, 'info', 'KEYSPACE'), '# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n', 'case-insensitive');
  const store = f.kv.store.stats();
  t.strictSame(
    f.run(s, 'info', 'persistence'),
    '# Persistence\r\nloading:0\r\naof_enabled:0\r\nbitraft_durability:low\r\n' +
      `bitraft_data_files:${store.dataFiles}\r\nbitraft_data_bytes:${store.dataBytes}\r\nbitraft_dead_bytes:${store.deadBytes}\r\nbitraft_reclaimable_bytes:${store.reclaimableBytes}\r\n` +
      'bitraft_auto_merge:no\r\nbitraft_merge_in_progress:0\r\nbitraft_auto_merges:0\r\nbitraft_auto_merge_failures:0\r\n' +
      'bitraft_last_merge_status:none\r\nbitraft_last_merge_reclaimed_bytes:0\r\nbitraft_last_merge_duration_ms:0\r\n',
  );
  t.ok(store.dataBytes > 0, 'the store has data');
  t.strictSame(f.run(s, 'info', 'replication', 'clients'), '# Clients\r\nconnected_clients:1\r\nmaxclients:10000\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n', 'several, in INFO order');
  t.strictSame(f.run(s, 'info', 'nosuch'), '', 'an unknown section is empty, as Redis');
  const everything = [...parseInfo(f.run(s, 'info') as string).keys()];
  for (const all of ['all', 'EVERYTHING', 'default']) t.strictSame([...parseInfo(f.run(s, 'info', all) as string).keys()], everything, all);
  t.strictSame([...parseInfo(f.run(s, 'info', 'stats', 'all') as string).keys()], everything, 'all wins over a section');
});

t.test('COMMAND', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  const names = [...KV_COMMANDS.keys(), ...ADMIN_COMMANDS.keys()];
  t.equal(names.length, 66);
  t.strictSame(f.run(s, 'command', 'count'), 66);
  t.strictSame(f.run(s, 'COMMAND', 'LIST'), names);
  t.strictSame(f.run(s, 'command', 'docs'), []);
  t.strictSame(f.run(s, 'command', 'docs', 'get'), []);
  const all = f.run(s, 'command') as Plain[];
  t.equal(all.length, 66);
  const ro = [{ simple: 'readonly' }];
  const w = [{ simple: 'write' }];
  const byName = new Map(all.map((c) => [(c as Plain[])[0] as string, c]));
  t.strictSame(byName.get('get'), ['get', 2, ro, 1, 1, 1]);
  t.strictSame(byName.get('mget'), ['mget', -2, ro, 1, -1, 1]);
  t.strictSame(byName.get('exists'), ['exists', -2, ro, 1, -1, 1]);
  t.strictSame(byName.get('del'), ['del', -2, w, 1, -1, 1]);
  t.strictSame(byName.get('unlink'), ['unlink', -2, w, 1, -1, 1]);
  t.strictSame(byName.get('incrby'), ['incrby', 3, w, 1, 1, 1]);
  t.strictSame(byName.get('strlen'), ['strlen', 2, ro, 1, 1, 1]);
  t.strictSame(byName.get('keys'), ['keys', -2, ro, 0, 0, 0]);
  t.strictSame(byName.get('dbsize'), ['dbsize', 1, ro, 0, 0, 0]);
  t.strictSame(byName.get('ping'), ['ping', -1, ro, 0, 0, 0]);
  t.strictSame(byName.get('client'), ['client', -2, ro, 0, 0, 0]);
  t.strictSame(f.run(s, 'command', 'info', 'get', 'DEL'), [byName.get('get'), byName.get('del')]);
  t.strictSame(f.run(s, 'command', 'info'), []);
  t.strictSame((f.run(s, 'command', 'info', 'nosuch', 'get') as Plain[])[1], byName.get('get'), 'an unknown name takes its place (a null, see below)');
  t.strictSame(f.run(s, 'command', 'foo'), err("ERR unknown subcommand 'foo'. Try COMMAND HELP."));
});

t.test('COMMAND key positions are Redis\'s', async (t) => {
  // redis-server 7.0.15 COMMAND INFO: set 1 1 1, mset 1 -1 2, flushdb 0 0 0.
  const f = await makeServer(t);
  const s = f.session();
  const [set, mset, flushdb] = f.run(s, 'command', 'info', 'set', 'mset', 'flushdb') as Plain[][];
  t.strictSame(set!.slice(3), [1, 1, 1], 'SET has one key');
  t.strictSame(mset!.slice(3), [1, -1, 2], 'MSET keys are every other argument');
  t.strictSame(flushdb!.slice(3), [0, 0, 0], 'FLUSHDB has no key');
});

t.test('COMMAND INFO of an unknown name is a null bulk, as Redis 7 in RESP2', async (t) => {
  const f = await makeServer(t);
  t.strictSame(f.run(f.session(), 'command', 'info', 'nosuch'), [null]);
});

t.test('SHUTDOWN', async (t) => {
  const f = await makeServer(t);
  const bad = f.session();
  t.strictSame(f.run(bad, 'shutdown', 'foo'), err('ERR syntax error'));
  t.strictSame(f.run(bad, 'shutdown', 'nosave', 'later'), err('ERR syntax error'));
  t.strictSame(f.run(bad, 'SHUTDOWN', 'ABORT'), err('ERR No shutdown in progress.'));
  t.strictSame(f.run(bad, 'shutdown', 'now', 'abort'), err('ERR No shutdown in progress.'));
  t.strictSame(f.shutdowns, [], 'nothing stopped');
  t.equal(bad.closeAfterReplies, false);
  const s = f.session('1.2.3.4:99');
  t.strictSame(f.run(s, 'shutdown'), plain(NO_REPLY), 'no reply, as Redis: the connection just closes');
  t.equal(s.closeAfterReplies, true);
  t.strictSame(f.shutdowns, ['SHUTDOWN from client 1.2.3.4:99']);
  for (const opts of [['NOSAVE'], ['save'], ['now', 'force'], ['NoSave', 'NOW', 'FORCE']]) {
    const other = f.session('h:1');
    t.strictSame(f.run(other, 'shutdown', ...opts), plain(NO_REPLY), opts.join(' '));
  }
  t.equal(f.shutdowns.length, 5);
});

t.test('admin commands read binary arguments one char per byte', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'client', b('\xffbad')), err("ERR unknown subcommand '\xffbad'. Try CLIENT HELP."));
});

t.test('HELLO SETNAME with an empty name clears the name', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  f.run(s, 'client', 'setname', 'first');
  f.run(s, 'hello', '2', 'setname', '');
  t.equal(s.name, undefined);
});
