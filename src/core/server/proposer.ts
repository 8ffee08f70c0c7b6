import type { KvMachine } from '../kv/index.js';
import type { Reply } from '../resp/types.js';
import type { Durability } from './config.js';
import { replyForError } from './reply-errors.js';

/**
 * The write path's seam: a write command goes in, its reply comes out once the write
 * is as durable as the configured level requires. Callers have already checked the
 * command (`KvMachine.check`), so a refused write never gets here. The single-node
 * proposer applies at once; a Raft proposer appends to the replicated log instead and
 * replies when the entry is committed and applied.
 */
export interface Proposer {
  propose(args: readonly Buffer[]): Reply | Promise<Reply>;
  /** Resolves once everything applied so far is durable (reads wait on it, see Connection). */
  durable(): Promise<void> | undefined;
}

/**
 * The single-node proposer: applies the command to the state machine immediately (so
 * later commands see it) and, with `high` durability, replies after the group fsync
 * that covers it.
 */
export class LocalProposer implements Proposer {
  private readonly machine: KvMachine;
  private readonly durability: Durability;

  constructor(machine: KvMachine, durability: Durability) {
    this.machine = machine;
    this.durability = durability;
  }

  propose(args: readonly Buffer[]): Reply | Promise<Reply> {
    const reply = this.machine.apply(args);
    const pending = this.durable();
    return pending ? pending.then(() => reply, replyForError) : reply;
  }

  durable(): Promise<void> | undefined {
    if (this.durability !== 'high' || !this.machine.store.hasUnsyncedWrites) return undefined;
    return this.machine.store.sync();
  }
}
