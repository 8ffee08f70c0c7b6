import { BitraftError } from '../support/errors.js';

/**
 * Malformed RESP input. `message` is exactly Redis's text after "Protocol error: "
 * (e.g. `invalid multibulk length`), so a server replies
 * `-ERR Protocol error: ${err.message}` and then closes the connection.
 *
 * `parsed` holds the items (Commands for the request parser, Replies for the reply
 * parser) that were completed by the same `push` call before the bad bytes, in order.
 * They are delivered only here, never again, so a server that wants Redis's behaviour
 * runs them before writing the error reply.
 *
 * Its code is always 'PROTOCOL'. Match on `err.code === 'PROTOCOL'` or
 * `instanceof ProtocolError`, never on the message.
 */
export class ProtocolError<T = unknown> extends BitraftError {
  /** Items completed before the error within the same push; empty in every other case. */
  readonly parsed: readonly T[];

  constructor(message: string, parsed: readonly T[] = []) {
    super('PROTOCOL', message);
    this.parsed = parsed;
  }
}
