/** Public entry point of the Bitcask storage engine. */
export { Bitcask, type ScanRange, type StoreStats } from './store.js';
export { type BitcaskOptions, type SyncMode } from './options.js';
export { type MergeOptions, type MergeResult, type MergeStep } from './merge.js';
export { StoreView, type ExpiringKey, type ViewBatchOptions, type ViewRecord } from './store-view.js';
export { type ReplaceOptions, type ReplaceRecord, type ReplaceStep } from './replace.js';
export { REPLACE_MARKER_FILE } from './replace-marker.js';
export { mergeDirectory, type MergeDirectoryOptions, type MergeDirectoryReport, type DirSummary } from './offline-merge.js';
export { LOCK_FILE, readLockPid, processAlive } from './lock.js';
export { mergeThrottle, realSleep, yieldToEventLoop, type MergePace, type MergeThrottleOptions, type Sleep } from './merge-throttle.js';
