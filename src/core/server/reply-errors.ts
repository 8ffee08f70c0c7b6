import { BitraftError, type ErrorCode } from '../support/errors.js';
import { binaryString, errorReply } from '../resp/index.js';
import type { ErrorReply } from '../resp/types.js';
import { messageOf } from '../support/error-message.js';

const PREFIX: Partial<Record<ErrorCode, string>> = {
  BUSY: 'BUSY',
  CLOSED: 'ERR server is shutting down:',
};

/**
 * The one place that turns errors into RESP error lines. Domain errors keep their
 * message under a prefix chosen by code; anything else is reported as an internal
 * error without its stack. Line breaks become spaces.
 */
export function replyForError(err: unknown): ErrorReply {
  const message = messageOf(err);
  const prefix = err instanceof BitraftError ? (PREFIX[err.code] ?? 'ERR') : 'ERR internal error:';
  return errorReply(binaryString(`${prefix} ${message}`).replace(/[\r\n]+/g, ' '));
}

/** `NOAUTH Authentication required.` */
export const NOAUTH: ErrorReply = errorReply('NOAUTH Authentication required.');

/** The reply to commands that need the data while the node is still loading it (as Redis answers while loading). */
export const LOADING: ErrorReply = errorReply('LOADING bitraft is loading the dataset in memory');

/** The reply to an internal or membership command from a connection that did not send RAFTAUTH, when a cluster secret is set. */
export const NOPERM_PEER: ErrorReply = errorReply('NOPERM this command is reserved for cluster members: authenticate with RAFTAUTH <cluster secret> first');

/**
 * Redis's protected-mode refusal, in bitraft's terms: sent to a client from a non-loopback
 * address while no password is set, before the connection is closed.
 */
export const DENIED: ErrorReply = errorReply(
  'DENIED bitraft is running in protected mode because protected mode is enabled and no password is set. ' +
    'In this mode connections are only accepted from the loopback interface. ' +
    'If you want to connect from external computers to bitraft you may adopt one of the following solutions: ' +
    '1) Set a password for clients with --requirepass (or BITRAFT_REQUIREPASS, or --requirepass-file) and restart the node. ' +
    "2) If you started the node manually just for testing, restart it with the '--protected-mode no' option, " +
    'and MAKE SURE it is not reachable from the internet if you do so. ' +
    'Nodes of a cluster may still connect to each other from anywhere with the cluster secret (--cluster-secret). ' +
    'NOTE: You only need to do one of the above things in order for the node to start accepting connections from the outside.',
);

/** Redis's reply to a wrong password. */
export const WRONGPASS: ErrorReply = errorReply('WRONGPASS invalid username-password pair or user is disabled.');
