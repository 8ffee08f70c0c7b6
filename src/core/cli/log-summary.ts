import type { LogSummary } from '../cluster/index.js';
import { humanBytes, humanCount, renderTable } from './format.js';

/** The summary of `bitraft inspect-log` as a two-column table. */
export function renderLogSummary(s: LogSummary): string {
  const hs = s.hardState;
  const conf = s.membership;
  const rows: string[][] = [
    ['log', `${humanBytes(s.logBytes)}, ${humanCount(s.entries)} entries`],
    ['indexes', s.entries > 0 ? `${s.firstIndex} … ${s.lastIndex}` : 'none'],
    ['terms', s.entries > 0 ? `${s.firstTerm} … ${s.lastTerm}` : 'none'],
    ...(['command', 'noop', 'config'] as const).map((t) => [`${t} entries`, `${humanCount(s.byType[t].count)} (${humanBytes(s.byType[t].bytes)})`]),
    ['term, vote', hs ? `${hs.term}, ${hs.vote || 'none'}` : 'no state file'],
    ['commit index (as saved)', hs ? String(hs.commit) : '—'],
    ['applied index (as saved)', String(s.applied)],
    ['voters', conf && conf.voters.length > 0 ? conf.voters.join(', ') : 'none'],
    ['learners', conf && conf.learners.length > 0 ? conf.learners.join(', ') : 'none'],
    ['log starts after', s.snapshot && s.snapshot.index > 0 ? `snapshot at index ${s.snapshot.index}, term ${s.snapshot.term}` : 'the beginning'],
    ['snapshots', s.snapshots.length > 0 ? s.snapshots.join(', ') : 'none'],
  ];
  if (s.torn) rows.push(['torn last record', `at offset ${s.torn.offset}: ${s.torn.reason}`]);
  return renderTable(['raft directory', s.dir], rows);
}
