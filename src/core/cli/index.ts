/** Shared presentation helpers of the `bitraft` commands. */
export { humanBytes, humanCount, renderTable } from './format.js';
export { startProgress, type Progress } from './progress.js';
export { describeError } from './errors.js';
export { connectionFlags, credentialsFromFlags, type ConnectionFlagValues } from './connection-flags.js';
export { membershipArgs, membershipFlags, runMembershipChange, type MembershipResult } from './membership.js';
export { renderLogSummary } from './log-summary.js';
export { secretOf } from './secret.js';
export { renderClusterStatus } from './cluster-status-table.js';
