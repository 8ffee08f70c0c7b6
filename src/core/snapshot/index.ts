/**
 * Public entry point of the snapshot module: the `state.bin` format of SPEC §3 (a gzip
 * stream of `[u64 LE key length][key][u64 LE value length][value]` records), a streaming
 * reader and writer, and the export of a snapshot as RESP `SET` commands or JSON lines.
 */
export { StateRecordDecoder, DEFAULT_MAX_FIELD_BYTES, type StateRecord, type StateDecoderOptions } from './decoder.js';
export { readStateBatches, readStateRecords, openStateInput, encodeStateRecord, writeStateFile, type ReadStateOptions } from './state-file.js';
export { exportSnapshot, jsonLine, type ExportOptions, type ExportReport, type SnapshotFormat } from './export.js';
export { snapshotDirectory, type SnapshotDirectoryOptions } from './offline.js';
