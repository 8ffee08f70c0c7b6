import { decodeCommand, type KvMachine } from '../kv/index.js';
import type { StateMachine } from '../raft/driver.js';
import type { Entry, SnapshotMeta } from '../raft/types.js';
import { errorReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';
import { BitraftError } from '../support/errors.js';

/** The reply every replica computes for an entry whose data is not a command. */
export const MALFORMED_ENTRY: Reply = errorReply('ERR malformed log entry');

/**
 * The key/value store as Raft's state machine: each committed command entry holds one
 * command (see `encodeCommand`) and is applied by `KvMachine.apply`, which never throws,
 * so every replica computes the same reply and the same state from the same log. A
 * malformed entry yields `MALFORMED_ENTRY` everywhere.
 */
export class KvStateMachine implements StateMachine<Reply> {
  private readonly machine: KvMachine;

  constructor(machine: KvMachine) {
    this.machine = machine;
  }

  apply(entry: Entry): Reply {
    const args = decodeCommand(entry.data);
    return args ? this.machine.apply(args) : MALFORMED_ENTRY;
  }

  /**
   * Installing a snapshot streamed from the leader is not supported yet: the log is never
   * compacted, so a leader always has the entries a follower lacks and never sends one.
   */
  restore(meta: SnapshotMeta): never {
    throw new BitraftError('NOT_IMPLEMENTED', `cannot install the snapshot at index ${meta.index}: snapshots are not supported yet`);
  }
}
