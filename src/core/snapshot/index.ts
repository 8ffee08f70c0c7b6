/**
 * Public entry point of the snapshot module: the `state.bin` format of SPEC §3 (a gzip
 * stream of `[u64 LE key length][key][u64 LE value length][value]` records), a streaming
 * reader and writer, the export of a snapshot as RESP `SET` commands or JSON lines, and the
 * on-disk store of Raft snapshots (`<dir>/<term>-<index>-<ms>/{meta.json,state.bin}`) with
 * the follower's resumable receipt of a leader's snapshot.
 */
export { StateRecordDecoder, DEFAULT_MAX_FIELD_BYTES, type StateRecord, type StateDecoderOptions } from './decoder.js';
export { readStateBatches, readStateRecords, openStateInput, encodeStateRecord, writeStateFile, type ReadStateOptions } from './state-file.js';
export { exportSnapshot, jsonLine, type ExportOptions, type ExportReport, type SnapshotFormat } from './export.js';
export { snapshotDirectory, type SnapshotDirectoryOptions } from './offline.js';
export {
  META_FILE,
  STATE_FILE,
  snapshotId,
  parseSnapshotId,
  encodeSnapshotMeta,
  decodeSnapshotMeta,
  writeSnapshotMetaFile,
  type SnapshotConf,
  type SnapshotFileMeta,
} from './meta.js';
export { encodePeers, decodePeers } from './peers-codec.js';
export { SnapshotStore, TEMP_PREFIX, INCOMING_PREFIX, type StoredSnapshot, type SnapshotStoreOptions, type SnapshotInfo } from './snapshot-store.js';
export { IncomingSnapshots, type IncomingOptions } from './incoming.js';
export { EXPIRY_KEY, isExpiryKey, encodeExpiryRecords, decodeExpiryRecord, withExpiries, type KeyExpiry, type ExpiringStateRecord } from './expiry-records.js';
