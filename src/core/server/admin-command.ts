import type { Reply } from '../resp/types.js';
import type { ServerContext } from './context.js';
import type { Session } from './session.js';

/** A command answered by the node itself, never replicated. Arity as in Redis. */
export interface AdminCommand {
  name: string;
  arity: number;
  /** Allowed before AUTH when a password is required. */
  noauth?: boolean;
  /** For cluster members only: needs `RAFTAUTH` when the node has a cluster secret. */
  peer?: boolean;
  exec: (ctx: ServerContext, session: Session, args: readonly Buffer[]) => Reply | Promise<Reply>;
}
