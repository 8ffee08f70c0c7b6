import { decodeEntry, type KvMachine } from '../kv/index.js';
import type { StateMachine } from '../raft/driver.js';
import type { Entry, SnapshotMeta } from '../raft/types.js';
import { errorReply } from '../resp/replies.js';
import type { Reply } from '../resp/types.js';

/** The reply every replica computes for an entry whose data is not a command. */
export const MALFORMED_ENTRY: Reply = errorReply('ERR malformed log entry');

/**
 * The key/value store as Raft's state machine: each committed command entry holds one
 * command, stamped with the leader's time (see `encodeStampedCommand`), and is applied at
 * that time by `KvMachine.apply`, which never throws,
 * so every replica computes the same reply and the same state from the same log. A
 * malformed entry yields `MALFORMED_ENTRY` everywhere.
 */
export class KvStateMachine implements StateMachine<Reply> {
  private readonly machine: KvMachine;
  private readonly install: (meta: SnapshotMeta) => Promise<void>;

  /** `install` replaces the store with the snapshot `meta` that was streamed to this node. */
  constructor(machine: KvMachine, install: (meta: SnapshotMeta) => Promise<void>) {
    this.machine = machine;
    this.install = install;
  }

  /** Applies `entry`; see `KvMachine.apply` for what an entry nobody here `awaited` may skip. */
  apply(entry: Entry, awaited = true): Reply {
    const decoded = decodeEntry(entry.data);
    return decoded ? this.machine.apply(decoded.args, undefined, decoded.at, awaited) : MALFORMED_ENTRY;
  }

  /** Replaces the whole store with the snapshot `meta` (see the constructor's `install`). */
  restore(meta: SnapshotMeta): Promise<void> {
    return this.install(meta);
  }
}
