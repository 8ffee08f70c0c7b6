import chalk from 'chalk';
import type { ClusterStatus, MemberStatus } from '../cluster/index.js';
import { humanBytes, renderTable } from './format.js';

const dash = '—';

function healthCell(m: MemberStatus): string {
  if (m.health === 'ok') return chalk.green('ok');
  const text = m.health === 'unreachable' && m.error ? `unreachable: ${m.error}` : m.health;
  return m.health === 'behind' ? chalk.yellow(text) : chalk.red(text);
}

/**
 * `bitraft status` as a table: one row per member — address, voter or learner, role,
 * term, commit/applied/last log index, snapshot index, log size, lag behind the leader's
 * commit index and health — and a line naming the leader and the verdict. Colour as
 * `renderTable` (none when not a terminal).
 */
export function renderClusterStatus(s: ClusterStatus): string {
  const rows = s.members.map((m) => {
    const known = m.health !== 'unreachable';
    const n = (v: number | undefined): string => (known && v !== undefined ? String(v) : dash);
    return [
      m.address === s.leader ? `${m.address} *` : m.address,
      m.suffrage,
      known ? m.role! : dash,
      n(m.term),
      n(m.commitIndex),
      n(m.appliedIndex),
      n(m.lastLogIndex),
      n(m.lastSnapshotIndex),
      known ? humanBytes(m.logBytes!) : dash,
      n(m.lag),
      healthCell(m),
    ];
  });
  const table = renderTable(['node', 'suffrage', 'role', 'term', 'commit', 'applied', 'last log', 'snapshot', 'log', 'lag', 'health'], rows);
  const unhealthy = s.members.filter((m) => m.health !== 'ok').length;
  const verdict = s.healthy ? chalk.green('healthy') : chalk.red(`${unhealthy} of ${s.members.length} member${s.members.length === 1 ? '' : 's'} need${unhealthy === 1 ? 's' : ''} attention`);
  return `${table}\nleader: ${s.leader ?? chalk.red('none known')} (* above); ${verdict}`;
}
