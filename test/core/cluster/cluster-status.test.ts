/**
 * cluster-status.ts: who leads and each member's lag and health (assessHealth, pure),
 * and fetchClusterStatus against fake nodes: members from RAFTPEERS, each one's
 * RAFTSTATS, unreachable members, and refusals or malformed answers of the node asked.
 */
import t from 'tap';
import { assessHealth, fetchClusterStatus, memberFromStats, type MemberStatus } from '../../../src/core/cluster/cluster-status.js';
import { startFakeNode, type Respond } from '../../helpers/fake-node.js';
import { freePort } from '../../helpers/processes.js';

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const flat = (pairs: Record<string, string | number>): string =>
  `*${Object.keys(pairs).length * 2}\r\n${Object.entries(pairs)
    .map(([k, v]) => bulk(k) + bulk(String(v)))
    .join('')}`;

function stats(over: Record<string, string | number>): Record<string, string | number> {
  return { id: 'x', state: 'Follower', term: 3, leader: 'A', commit_index: 10, applied_index: 10, last_log_index: 10, last_snapshot_index: 0, log_entries: 10, log_bytes: 500, ...over };
}

function member(address: string, over: Record<string, string | number>): MemberStatus {
  return memberFromStats(address, 'voter', new Map(Object.entries(stats(over)).map(([k, v]) => [k, String(v)])));
}

t.test('memberFromStats reads RAFTSTATS fields', async (t) => {
  t.strictSame(member('A', { state: 'Leader' }), {
    address: 'A',
    suffrage: 'voter',
    health: 'ok',
    role: 'Leader',
    term: 3,
    leader: 'A',
    commitIndex: 10,
    appliedIndex: 10,
    lastLogIndex: 10,
    lastSnapshotIndex: 0,
    logEntries: 10,
    logBytes: 500,
  });
  const bare = memberFromStats('B', 'learner', new Map());
  t.equal(bare.role, '');
  t.equal(bare.leader, '');
  t.ok(Number.isNaN(bare.term!), 'a missing number is NaN');
});

t.test('assessHealth: the leader, lag and each health', async (t) => {
  const members = [
    member('A', { state: 'Leader', term: 4, commit_index: 5000, applied_index: 5000 }),
    member('B', { applied_index: 4990 }),
    member('C', { applied_index: 10 }),
    member('D', { leader: '' }),
    member('E', { leader: 'Z', term: 3 }),
    member('Z', { state: 'Leader', term: 3, leader: 'Z' }),
    { address: 'F', suffrage: 'learner', health: 'unreachable', error: 'connect ECONNREFUSED' } as MemberStatus,
  ];
  const s = assessHealth('B', members, 'A', 1000);
  t.equal(s.leader, 'A', 'the leader of the highest term');
  t.equal(s.healthy, false);
  t.strictSame(
    s.members.map((m) => [m.address, m.health, m.lag]),
    [
      ['A', 'ok', 0],
      ['B', 'ok', 10],
      ['C', 'behind', 4990],
      ['D', 'no leader', 4990],
      ['E', 'other leader', 4990],
      ['Z', 'other leader', 4990],
      ['F', 'unreachable', undefined],
    ],
  );
  const noLeader = assessHealth('B', [member('B', { leader: 'A' })], 'A', 1000);
  t.equal(noLeader.leader, 'A', 'no member says it leads: the leader the node asked knows');
  t.equal(noLeader.members[0]!.lag, undefined, 'no lag without the leader’s commit index');
  t.equal(noLeader.healthy, true);
  t.equal(assessHealth('B', [member('B', { leader: '' })], '', 1000).leader, undefined);
});

t.test('fetchClusterStatus asks the node for its members, then each member', async (t) => {
  const down = `127.0.0.1:${await freePort()}`;
  const respondAs =
    (addr: () => string, over: Record<string, string | number>): Respond =>
    (args) =>
      args[0] === 'RAFTSTATS' ? flat(stats({ id: addr(), ...over })) : undefined;
  const a = await startFakeNode(t, (args, n, raw) => (args[0] === 'RAFTPEERS' ? peers() : respondAs(() => a.addr, { state: 'Leader', leader: a.addr })(args, n, raw)));
  const b = await startFakeNode(t, respondAs(() => b.addr, { leader: a.addr, applied_index: 9 }));
  const row = (addr: string, suffrage: string): string => `*5\r\n${bulk(addr)}${bulk(suffrage)}${bulk('follower')}:-1\r\n${bulk('')}`;
  const peers = (): string => `*3\r\n${row(a.addr, 'voter')}${row(b.addr, 'voter')}${row(down, 'learner')}`;
  const s = await fetchClusterStatus({ target: a.addr, timeoutMs: 1000, maxLag: 1000 });
  t.equal(s.host, a.addr);
  t.equal(s.leader, a.addr);
  t.equal(s.healthy, false);
  t.strictSame(
    s.members.map((m) => [m.address, m.suffrage, m.health, m.lag]),
    [
      [a.addr, 'voter', 'ok', 0],
      [b.addr, 'voter', 'ok', 1],
      [down, 'learner', 'unreachable', undefined],
    ],
  );
  t.match(s.members[2]!.error, /ECONNREFUSED/);
});

t.test('fetchClusterStatus rejects when the node asked refuses or answers nonsense', async (t) => {
  const cases: [Respond, string, RegExp][] = [
    [(args) => (args[0] === 'RAFTPEERS' ? '-NOAUTH Authentication required.\r\n' : flat(stats({}))), 'INVALID_ARGUMENT', /refused RAFTPEERS: NOAUTH/],
    [(args) => (args[0] === 'RAFTPEERS' ? '*0\r\n' : '-ERR nope\r\n'), 'INVALID_ARGUMENT', /refused RAFTSTATS: ERR nope/],
    [(args) => (args[0] === 'RAFTPEERS' ? ':1\r\n' : flat(stats({}))), 'UNAVAILABLE', /RAFTPEERS with something else than its members/],
    [(args) => (args[0] === 'RAFTPEERS' ? `*1\r\n*2\r\n${bulk('x')}${bulk('boss')}` : flat(stats({}))), 'UNAVAILABLE', /RAFTPEERS with something else/],
    [(args) => (args[0] === 'RAFTPEERS' ? `*1\r\n:3\r\n` : flat(stats({}))), 'UNAVAILABLE', /RAFTPEERS with something else/],
    [(args) => (args[0] === 'RAFTPEERS' ? '*0\r\n' : `*1\r\n${bulk('id')}`), 'UNAVAILABLE', /RAFTSTATS with something else than field\/value pairs/],
    [(args) => (args[0] === 'RAFTPEERS' ? '*0\r\n' : ':7\r\n'), 'UNAVAILABLE', /RAFTSTATS with something else/],
    [(args) => (args[0] === 'RAFTPEERS' ? '*0\r\n' : `*2\r\n:1\r\n:2\r\n`), 'UNAVAILABLE', /RAFTSTATS with something else/],
  ];
  for (const [respond, code, message] of cases) {
    const node = await startFakeNode(t, respond);
    await t.rejects(fetchClusterStatus({ target: node.addr, timeoutMs: 1000, maxLag: 10 }), { code, message });
  }
  const empty = await startFakeNode(t, (args) => (args[0] === 'RAFTPEERS' ? '*0\r\n' : flat(stats({}))));
  t.strictSame(await fetchClusterStatus({ target: empty.addr, timeoutMs: 1000, maxLag: 10 }), { host: empty.addr, leader: 'A', healthy: true, members: [] });
});
