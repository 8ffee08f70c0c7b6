import t from 'tap';
import { mergeInfo } from '../../../src/core/server/merge-info.js';

const STATS = { dataFiles: 3, dataBytes: 3000, liveBytes: 1000, deadBytes: 2000, reclaimableBytes: 1500 };

t.test('without automatic merges: the store files and zeros', async (t) => {
  t.same(Object.fromEntries(mergeInfo(STATS, undefined)), {
    bitraft_data_files: 3,
    bitraft_data_bytes: 3000,
    bitraft_dead_bytes: 2000,
    bitraft_reclaimable_bytes: 1500,
    bitraft_auto_merge: 'no',
    bitraft_merge_in_progress: 0,
    bitraft_auto_merges: 0,
    bitraft_auto_merge_failures: 0,
    bitraft_last_merge_status: 'none',
    bitraft_last_merge_reclaimed_bytes: 0,
    bitraft_last_merge_duration_ms: 0,
  });
});

t.test('the merger status: running, counters, the last merge ok or failed', async (t) => {
  const running = Object.fromEntries(mergeInfo(STATS, { enabled: true, inProgress: true, merges: 2, failures: 1, last: { ok: true, reclaimedBytes: 1234, durationMs: 56 } }));
  t.match(running, {
    bitraft_auto_merge: 'yes',
    bitraft_merge_in_progress: 1,
    bitraft_auto_merges: 2,
    bitraft_auto_merge_failures: 1,
    bitraft_last_merge_status: 'ok',
    bitraft_last_merge_reclaimed_bytes: 1234,
    bitraft_last_merge_duration_ms: 56,
  });
  const failed = Object.fromEntries(mergeInfo(STATS, { enabled: false, inProgress: false, merges: 0, failures: 1, last: { ok: false, reclaimedBytes: 0, durationMs: 7 } }));
  t.match(failed, { bitraft_auto_merge: 'no', bitraft_merge_in_progress: 0, bitraft_last_merge_status: 'err', bitraft_last_merge_duration_ms: 7 });
  const fresh = Object.fromEntries(mergeInfo(STATS, { enabled: true, inProgress: false, merges: 0, failures: 0 }));
  t.match(fresh, { bitraft_auto_merge: 'yes', bitraft_last_merge_status: 'none' });
});
