import type { AutoMergeStatus, MergeStats } from '../cluster/auto-merge.js';

/**
 * The `INFO persistence` fields of the store's files and of the node's merges: data
 * files and their bytes, dead and reclaimable bytes, whether merges start by themselves,
 * whether one runs, how many finished and failed, and what the last one did
 * (`bitraft_last_merge_status` is `none` before the first, then `ok` or `err`).
 */
export function mergeInfo(stats: MergeStats, merges: AutoMergeStatus | undefined): [string, string | number][] {
  const last = merges?.last;
  return [
    ['bitraft_data_files', stats.dataFiles],
    ['bitraft_data_bytes', stats.dataBytes],
    ['bitraft_dead_bytes', stats.deadBytes],
    ['bitraft_reclaimable_bytes', stats.reclaimableBytes],
    ['bitraft_auto_merge', merges?.enabled ? 'yes' : 'no'],
    ['bitraft_merge_in_progress', merges?.inProgress ? 1 : 0],
    ['bitraft_auto_merges', merges?.merges ?? 0],
    ['bitraft_auto_merge_failures', merges?.failures ?? 0],
    ['bitraft_last_merge_status', last === undefined ? 'none' : last.ok ? 'ok' : 'err'],
    ['bitraft_last_merge_reclaimed_bytes', last?.reclaimedBytes ?? 0],
    ['bitraft_last_merge_duration_ms', last?.durationMs ?? 0],
  ];
}
