import t from 'tap';
import { renderLogSummary } from '../../../src/core/cli/log-summary.js';
import type { LogSummary } from '../../../src/core/cluster/index.js';

const base: LogSummary = {
  dir: '/d/raft',
  logBytes: 2048,
  entries: 3,
  firstIndex: 5,
  lastIndex: 7,
  firstTerm: 2,
  lastTerm: 3,
  byType: { command: { count: 2, bytes: 1536 }, noop: { count: 1, bytes: 0 }, config: { count: 0, bytes: 0 } },
  hardState: { term: 3, vote: 'a:1', commit: 7 },
  membership: { voters: ['a:1', 'b:2'], learners: ['c:3'] },
  snapshot: { index: 4, term: 2, conf: { voters: ['a:1'], learners: [] } },
  applied: 6,
  torn: { offset: 2000, reason: 'checksum mismatch' },
  snapshots: ['2-4-100'],
};

/** The table's rows as [name, value] pairs. */
function rows(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const cells = line.split('│').map((c) => c.trim());
    if (cells.length === 4) out[cells[1]!] = cells[2]!;
  }
  return out;
}

t.test('a full summary', async (t) => {
  t.same(rows(renderLogSummary(base)), {
    'raft directory': '/d/raft',
    log: '2.00 KiB, 3 entries',
    indexes: '5 … 7',
    terms: '2 … 3',
    'command entries': '2 (1.50 KiB)',
    'noop entries': '1 (0 B)',
    'config entries': '0 (0 B)',
    'term, vote': '3, a:1',
    'commit index (as saved)': '7',
    'applied index (as saved)': '6',
    voters: 'a:1, b:2',
    learners: 'c:3',
    'log starts after': 'snapshot at index 4, term 2',
    snapshots: '2-4-100',
    'torn last record': 'at offset 2000: checksum mismatch',
  });
});

t.test('an empty log, no state file', async (t) => {
  const r = rows(renderLogSummary({ ...base, entries: 0, hardState: undefined, membership: undefined, snapshot: undefined, torn: undefined, snapshots: [] }));
  t.match(r, { indexes: 'none', terms: 'none', 'term, vote': 'no state file', 'commit index (as saved)': '—', voters: 'none', learners: 'none', 'log starts after': 'the beginning', snapshots: 'none' });
  t.notOk('torn last record' in r);
});

t.test('no vote, no members yet', async (t) => {
  const r = rows(renderLogSummary({ ...base, hardState: { term: 0, vote: '', commit: 0 }, membership: { voters: [], learners: [] }, snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } } }));
  t.match(r, { 'term, vote': '0, none', voters: 'none', learners: 'none', 'log starts after': 'the beginning' });
});
