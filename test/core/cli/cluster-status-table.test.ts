/** renderClusterStatus (cluster-status-table.ts): one row per member, the leader marked, and the verdict. */
import t from 'tap';
import { renderClusterStatus } from '../../../src/core/cli/cluster-status-table.js';
import type { ClusterStatus, MemberStatus } from '../../../src/core/cluster/index.js';

const up = (address: string, over: Partial<MemberStatus> = {}): MemberStatus => ({
  address,
  suffrage: 'voter',
  health: 'ok',
  role: 'Follower',
  term: 7,
  leader: 'a:1',
  commitIndex: 120,
  appliedIndex: 118,
  lastLogIndex: 121,
  lastSnapshotIndex: 100,
  logEntries: 21,
  logBytes: 2048,
  lag: 2,
  ...over,
});

const rowOf = (text: string, address: string): string[] =>
  text
    .split('\n')
    .find((l) => l.includes(` ${address} `))!
    .split('│')
    .slice(1, -1)
    .map((c) => c.trim());

t.test('a healthy cluster: every field, the leader starred', async (t) => {
  const s: ClusterStatus = { host: 'b:2', leader: 'a:1', healthy: true, members: [up('a:1', { role: 'Leader', lag: 0 }), up('b:2')] };
  const text = renderClusterStatus(s);
  t.match(text.split('\n')[1], /node .* suffrage .* role .* term .* commit .* applied .* last log .* snapshot .* log .* lag .* health/);
  t.strictSame(rowOf(text, 'a:1'), ['a:1 *', 'voter', 'Leader', '7', '120', '118', '121', '100', '2.00 KiB', '0', 'ok']);
  t.strictSame(rowOf(text, 'b:2'), ['b:2', 'voter', 'Follower', '7', '120', '118', '121', '100', '2.00 KiB', '2', 'ok']);
  t.match(text, /\nleader: a:1 \(\* above\); healthy$/);
});

t.test('members that need attention, and no leader known', async (t) => {
  const s: ClusterStatus = {
    host: 'b:2',
    leader: undefined,
    healthy: false,
    members: [
      { address: 'a:1', suffrage: 'learner', health: 'unreachable', error: 'connect ECONNREFUSED' },
      { address: 'c:3', suffrage: 'voter', health: 'unreachable' },
      up('b:2', { health: 'behind', lag: undefined }),
      up('d:4', { health: 'no leader', leader: '' }),
    ],
  };
  const text = renderClusterStatus(s);
  t.strictSame(rowOf(text, 'a:1'), ['a:1', 'learner', '—', '—', '—', '—', '—', '—', '—', '—', 'unreachable: connect ECONNREFUSED']);
  t.equal(rowOf(text, 'c:3').at(-1), 'unreachable');
  t.strictSame(rowOf(text, 'b:2').slice(-2), ['—', 'behind']);
  t.equal(rowOf(text, 'd:4').at(-1), 'no leader');
  t.match(text, /\nleader: none known \(\* above\); 4 of 4 members need attention$/);
  const one = renderClusterStatus({ host: 'a:1', leader: 'a:1', healthy: false, members: [up('a:1', { health: 'other leader' })] });
  t.match(one, /1 of 1 member needs attention$/);
});
