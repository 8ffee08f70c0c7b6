/** Public entry point of the cluster layer, for the CLI commands. */
export { requestMembershipChange, type MembershipRequest } from './join.js';
