/** Public entry point of the metrics layer: Prometheus metrics of a node and their HTTP endpoint. */
export { NodeMetrics, type NodeReadings, type SyncedFiles } from './node-metrics.js';
export { CommandTallies, CommandTally, UNKNOWN_COMMAND } from './command-tallies.js';
export { serveMetrics, METRICS_PATH, type MetricsEndpoint } from './metrics-server.js';
export { directoryBytes } from './directory-bytes.js';
export { LATENCY_BUCKETS, DURATION_BUCKETS } from './buckets.js';
export type { RaftReadings } from './raft-metrics.js';
export type { StoreReadings, DiskReadings } from './store-metrics.js';
export type { ConnectionReadings } from './connection-metrics.js';
