/** Public entry point of the cluster layer, for the CLI commands. */
export { requestMembershipChange, type MembershipRequest } from './join.js';
export { clientTlsOptions, readSecretFile, type ClientTlsFiles } from './client-tls.js';
export { parsePeerRoutes, type NodeCredentials } from './credentials.js';
export { describeEntries, inspectLog, verifyLog, type DescribedEntry, type EntryFilter, type LogSummary, type LogVerification } from './log-inspection.js';
export { requestSnapshot, parseSnapshotReply, type RemoteSnapshot, type SnapshotRequest } from './remote-snapshot.js';
export { assessHealth, fetchClusterStatus, memberFromStats, type ClusterStatus, type MemberHealth, type MemberStatus, type StatusRequest } from './cluster-status.js';
export { parseDeadRatio } from './auto-merge.js';
export { readApplied, type AppliedState, type StorePosition } from './applied-index.js';
export { RAFT_DIR } from './cluster.js';
