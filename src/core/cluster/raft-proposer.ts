import { encodeStampedCommand, type KvCommand, type KvMachine } from '../kv/index.js';
import type { Reply } from '../resp/types.js';
import type { Consistency } from '../server/config.js';
import type { Proposer } from '../server/proposer.js';
import { replyForError } from '../server/reply-errors.js';
import type { Session } from '../server/session.js';
import { DroppedError } from '../raft/driver.js';
import type { Cluster } from './cluster.js';
import type { DiskSpaceGuard } from './disk-space.js';
import type { LeaderRouter } from './leader-router.js';

/** Settings of a `RaftProposer`. */
export interface RaftProposerOptions {
  cluster: Pick<Cluster, 'isLeader' | 'driver'>;
  machine: KvMachine;
  router: Pick<LeaderRouter, 'route'>;
  consistency: Consistency;
  /** Refuses writes while the disk is nearly full (`--min-free-space`); absent: never. */
  disk?: Pick<DiskSpaceGuard, 'refuse'>;
}

/**
 * The write and read paths of a cluster node. On the leader a write is proposed to the
 * Raft log and answered with its reply once committed (fsynced on a majority) and
 * applied here; a read waits for the barrier its consistency level needs. Elsewhere
 * both go to the router (forwarded to the leader, or redirected). A proposal the core
 * refuses because leadership moved is routed again, which is safe: it never entered
 * the log. Every request ends within the driver's request timeout.
 */
export class RaftProposer implements Proposer {
  private readonly opts: RaftProposerOptions;
  private readonly mode: 'quorum' | 'local';
  /** The read barrier shared by the reads of this event-loop turn. */
  private barrier: Promise<void> | undefined;

  constructor(opts: RaftProposerOptions) {
    this.opts = opts;
    this.mode = opts.consistency === 'medium' ? 'local' : 'quorum';
  }

  propose(args: readonly Buffer[], session: Session): Reply | Promise<Reply> {
    const { cluster, router, disk } = this.opts;
    const local = (): Promise<Reply> => {
      // A transaction holding a KEYS or SCAN first has the ordered index built in steps.
      const ready = this.opts.machine.prepareForWrite(args);
      if (ready) return ready.then(local);
      // The leader's disk takes the entry first: refuse it there while it is nearly full.
      const full = disk?.refuse(args.reduce((n, a) => n + a.length, 0));
      if (full) return Promise.resolve(replyForError(full));
      return cluster.driver.propose(encodeStampedCommand(this.opts.machine.stamp(), args)).catch((err: unknown) => this.failed(err, args, session, local));
    };
    const reply = cluster.isLeader ? local() : router.route(args, session.forwarded, local);
    if (reply instanceof Promise) {
      session.pendingWrite = reply;
      const done = (): void => {
        if (session.pendingWrite === reply) session.pendingWrite = undefined;
      };
      reply.then(done, done);
    }
    return reply;
  }

  read(args: readonly Buffer[], cmd: KvCommand, session: Session): Reply | Promise<Reply> {
    const write = session.pendingWrite;
    if (!write) return this.readNow(args, cmd, session);
    const after = (): Reply | Promise<Reply> => this.readNow(args, cmd, session);
    return write.then(after, after);
  }

  private readNow(args: readonly Buffer[], cmd: KvCommand, session: Session): Reply | Promise<Reply> {
    const { cluster, router, machine } = this.opts;
    // A walk in key order (KEYS, SCAN) on a node without the ordered index first has it
    // built in steps, serving everything else meanwhile, then reads as usual.
    if (this.opts.consistency === 'low') {
      const ready = machine.prepareFor(args, cmd);
      return ready ? ready.then(() => this.readNow(args, cmd, session)) : machine.read(args, cmd);
    }
    const local = (): Promise<Reply> => {
      const ready = machine.prepareFor(args, cmd);
      if (ready) return ready.then(local);
      return this.readBarrier().then(
        () => machine.read(args, cmd),
        (err: unknown) => this.failed(err, args, session, local),
      );
    };
    if (!cluster.isLeader) return router.route(args, session.forwarded, local);
    // The only voter, or a leader within its lease for `medium`: no round trip needed.
    if (cluster.driver.canReadNow(this.mode) && !machine.prepareFor(args, cmd)) return machine.read(args, cmd);
    return local();
  }

  private readBarrier(): Promise<void> {
    if (!this.barrier) {
      this.barrier = this.opts.cluster.driver.readIndex(this.mode);
      setImmediate(() => {
        this.barrier = undefined;
      });
    }
    return this.barrier;
  }

  /** A request refused because leadership moved goes to the new leader; anything else is an error reply. */
  private failed(err: unknown, args: readonly Buffer[], session: Session, local: () => Promise<Reply>): Reply | Promise<Reply> {
    if (err instanceof DroppedError && (err.reason === 'not-leader' || err.reason === 'transferring')) {
      return this.opts.router.route(args, session.forwarded, local);
    }
    return replyForError(err);
  }
}
