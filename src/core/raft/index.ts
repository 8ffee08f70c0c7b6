export * from './types.js';
export { RaftNode, type RaftConfig, type RaftStatus } from './node.js';
export { MemoryStorage, LogRangeError, EMPTY_CONF, EMPTY_HARD_STATE, type LogStorage } from './storage.js';
export { applyConfChange, confChangeProblem, decodeConfChange, encodeConfChange } from './conf-change.js';
export { DiskLogStore, scanLog, encodeRecords, readStateFile, LOG_FILE, STATE_FILE, TMP_SUFFIX, RECORD_OVERHEAD, type DiskLogStoreOptions, type LogRecord, type LogScan } from './log-store.js';
export { RaftDriver, DroppedError, type DurableLog, type RaftCore, type StateMachine, type Ticker, type Transport } from './driver.js';
