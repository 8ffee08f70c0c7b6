import type { KvCommand } from '../kv/index.js';
import type { Reply } from '../resp/types.js';
import type { Session } from './session.js';

/**
 * The seam between the server and replication: key/value commands go in, replies come
 * out when the command's guarantees hold. Callers have already checked the command
 * (`KvMachine.check`), so a refused write never gets here. `session` tells whether the
 * command was forwarded by another node (see `Session.forwarded`).
 */
export interface Proposer {
  /** A write: answered once it is committed and applied (or with an error). */
  propose(args: readonly Buffer[], session: Session): Reply | Promise<Reply>;
  /** A read: answered at the node's consistency level. */
  read(args: readonly Buffer[], cmd: KvCommand, session: Session): Reply | Promise<Reply>;
}
