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

/** Redis's reply to a wrong password. */
export const WRONGPASS: ErrorReply = errorReply('WRONGPASS invalid username-password pair or user is disabled.');
