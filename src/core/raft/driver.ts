import { BitraftError } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';
import type { RaftNode } from './node.js';
import type { LogStorage } from './storage.js';
import type { ConfChange, ConfState, DropReason, Entry, HardState, Message, NodeId, Ready, SnapshotMeta, SoftState } from './types.js';
import { messageOf } from '../support/error-message.js';

/** The core as the driver uses it (a `RaftNode`; tests may script one). */
export type RaftCore = Pick<
  RaftNode,
  | 'tick'
  | 'step'
  | 'propose'
  | 'proposeConfChange'
  | 'readIndex'
  | 'immediateReadIndex'
  | 'campaign'
  | 'transferLeadership'
  | 'reportSnapshot'
  | 'hasReady'
  | 'ready'
  | 'advance'
>;

/** The log storage the driver writes a Ready into; `sync` makes every write so far durable. */
export interface DurableLog {
  append(entries: readonly Entry[]): void;
  setHardState(hs: HardState): void;
  setConf(conf: ConfState): void;
  applySnapshot(meta: SnapshotMeta): void;
  sync(): void | Promise<void>;
}

/** The replicated state machine. `apply` must be deterministic and must not throw. */
export interface StateMachine<R> {
  /**
   * Applies a committed command entry and returns its result (the reply to its proposer).
   * `awaited` says whether a proposer on this node waits for that result: elsewhere it
   * is dropped, so work that only makes the result may be skipped — never work that
   * changes the state.
   */
  apply(entry: Entry, awaited: boolean): R;
  /**
   * Replaces the whole state with the snapshot's (the bytes were streamed by the
   * application). Called after the log recorded the snapshot, so a crash during it leaves
   * a log that starts after the snapshot and a store that has not caught up with it: the
   * application restores the store from the snapshot again when it restarts.
   */
  restore(meta: SnapshotMeta): void | Promise<void>;
}

/** Carries messages to other nodes; may lose them. */
export interface Transport {
  send(messages: readonly Message[]): void;
}

/** Calls `tick` periodically between `start` and `stop` (a timer in production, by hand in tests). */
export interface Ticker {
  start(tick: () => void): void;
  stop(): void;
}

/** A proposal or read refused by the core: `NOT_LEADER` (with the leader it knows of) or `DROPPED`. */
export class DroppedError extends BitraftError {
  readonly reason: DropReason;
  readonly leader: NodeId | undefined;

  constructor(reason: DropReason, leader: NodeId | undefined) {
    super(reason === 'not-leader' ? 'NOT_LEADER' : 'DROPPED', reason === 'not-leader' ? `not the leader${leader ? `; the leader is ${leader}` : ''}` : `dropped: ${reason}`);
    this.reason = reason;
    this.leader = leader;
  }
}

/** Messages only a leader sends, which depend on nothing it has yet to persist. */
const SENT_BEFORE_SYNC: ReadonlySet<Message['type']> = new Set(['append', 'heartbeat']);

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** The tick count when the request was made. */
  tick: number;
}

/** How long requests may wait: `ticks` of the ticker, which is `ms` milliseconds (for the message). */
export interface RequestTimeout {
  ticks: number;
  ms: number;
}

/**
 * Runs a Raft core: the only asynchronous Raft code. Ticks, received messages and
 * requests go into the core; each Ready is handled in the documented order — install a
 * snapshot, write entries, hard state and membership and wait for `sync`, send, apply
 * committed entries — then acknowledged (a leader's appends and heartbeats are sent
 * before the sync, see `handle`). A Ready is taken after the I/O of the current
 * event-loop turn, so whatever arrived together is written and synced together. Proposals resolve with the state machine's
 * result once applied here; reads resolve once this node applied up to their index.
 * Every request settles: refused ones reject with `DroppedError`, ones whose outcome
 * cannot be known with `UNKNOWN_OUTCOME`, and all that are pending when the driver stops
 * (or a write fails, which stops it) with `CLOSED`.
 */
export class RaftDriver<R> {
  private readonly core: RaftCore;
  private readonly log: DurableLog;
  private readonly fsm: StateMachine<R>;
  private readonly transport: Transport;
  private readonly ticker: Ticker;
  private readonly logger: Logger;
  private readonly waiters = new Map<number, Waiter>();
  private readonly readWaiters = new Map<number, Waiter>();
  private readyReads: { index: number; waiter: Waiter }[] = [];
  /** The Ready loop, awaited by `stop`. */
  private running: Promise<void> | undefined;
  /** Whether the loop runs; cleared by the loop itself, in the same turn as its last check. */
  private busy = false;
  private again = false;
  private stopped = false;
  private appliedIndex = 0;
  private readonly onSoftState: (ss: SoftState) => void;
  private readonly timeout: RequestTimeout | undefined;
  private ticks = 0;
  /** Whether a Ready is being handled (between `ready` and `advance`). */
  private handling = false;
  private restTasks: (() => void)[] = [];
  private readonly afterReady: () => void;

  /**
   * `onSoftState` is told of every change of role or known leader, once the Ready that
   * carries it is written (the new leader's first entries included). `applied` is the
   * index the state machine held before a restart (as given to the core). With
   * `timeout`, a request still waiting after that many ticks is rejected with `TIMEOUT`
   * (a write's outcome is then unknown: it may still be applied). `afterReady` runs
   * after each Ready is handled and settled, at rest (see `atRest`).
   */
  constructor(opts: {
    core: RaftCore;
    log: DurableLog;
    fsm: StateMachine<R>;
    transport: Transport;
    ticker: Ticker;
    logger?: Logger;
    onSoftState?: (ss: SoftState) => void;
    applied?: number;
    timeout?: RequestTimeout;
    afterReady?: () => void;
  }) {
    this.core = opts.core;
    this.log = opts.log;
    this.fsm = opts.fsm;
    this.transport = opts.transport;
    this.ticker = opts.ticker;
    this.logger = opts.logger ?? silentLogger;
    this.onSoftState = opts.onSoftState ?? (() => {});
    this.appliedIndex = opts.applied ?? 0;
    this.timeout = opts.timeout;
    this.afterReady = opts.afterReady ?? (() => {});
  }

  /** The last index applied to the state machine by this driver. */
  get applied(): number {
    return this.appliedIndex;
  }

  /** Whether the driver stopped (by `stop`, or after a failed write). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Starts ticking and handles whatever the core has to do already. */
  start(): void {
    this.ticker.start(() => {
      this.ticks++;
      this.expire();
      this.input(() => this.core.tick());
    });
    this.kick();
  }

  /** Hands a message from another node to the core. Ignored once stopped. */
  receive(m: Message): void {
    this.input(() => this.core.step(m));
  }

  /** Proposes a command; resolves with the state machine's result once it is applied here. */
  propose(data: Uint8Array): Promise<R> {
    return this.request(this.waiters, () => this.core.propose(data)) as Promise<R>;
  }

  /** Proposes a membership change; resolves once it is committed and applied here. */
  proposeConfChange(cc: ConfChange): Promise<void> {
    return this.request(this.waiters, () => this.core.proposeConfChange(cc)) as Promise<void>;
  }

  /** Resolves once a read may run on this node's state (see `RaftNode.readIndex`). */
  readIndex(mode: 'quorum' | 'local' = 'quorum'): Promise<void> {
    return this.request(this.readWaiters, () => this.core.readIndex(mode)) as Promise<void>;
  }

  /**
   * Whether a read may run on this node's state right now, synchronously: the core
   * can confirm it without a round trip (see `RaftNode.immediateReadIndex`) and this
   * node has applied up to that index. Otherwise use `readIndex`.
   */
  canReadNow(mode: 'quorum' | 'local' = 'quorum'): boolean {
    if (this.stopped) return false;
    const index = this.core.immediateReadIndex(mode);
    return index !== undefined && index <= this.appliedIndex;
  }

  /** Starts an election now. */
  campaign(): void {
    this.input(() => this.core.campaign());
  }

  /** Asks the core to hand leadership to `to`. */
  transferLeadership(to: NodeId): void {
    this.input(() => this.core.transferLeadership(to));
  }

  /** Tells the core how streaming a snapshot to `to` ended (see `RaftNode.reportSnapshot`). */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.input(() => this.core.reportSnapshot(to, ok));
  }

  /**
   * Runs `fn` synchronously at rest: no Ready half handled, so the state machine has
   * applied exactly `applied` and the core's membership is the one at that index, and
   * the log is not being written or synced. Runs at once if the driver is at rest now,
   * else right after the Ready being handled is acknowledged (or when the driver stops).
   */
  atRest(fn: () => void): void {
    if (this.handling) this.restTasks.push(fn);
    else fn();
  }

  /** Stops ticking, lets the Ready being handled finish, and rejects every pending request with `CLOSED`. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.ticker.stop();
    }
    await this.running;
    this.rejectAll(new BitraftError('CLOSED', 'the node is stopping'));
  }

  private input(fn: () => void): void {
    if (this.stopped) return;
    fn();
    this.kick();
  }

  private request(map: Map<number, Waiter>, start: () => number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new BitraftError('CLOSED', 'the node is stopping'));
    return new Promise((resolve, reject) => {
      map.set(start(), { resolve, reject, tick: this.ticks });
      this.kick();
    });
  }

  /**
   * Runs the Ready loop, or makes the running one look again. Callers check `stopped`
   * first. The loop starts after the I/O events of this event-loop turn (`setImmediate`),
   * so every request and message that arrived together goes into one Ready and one
   * fsync (group commit) instead of one each.
   */
  private kick(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop());
  }

  private async loop(): Promise<void> {
    // `busy` is cleared in the same turn as the last check for work: no await between
    // them, or a kick arriving in between would be lost.
    try {
      do {
        this.again = false;
        while (!this.stopped && this.core.hasReady()) {
          const rd = this.core.ready();
          let settle: () => void;
          this.handling = true;
          try {
            settle = await this.handle(rd);
          } catch (err) {
            this.handling = false;
            this.runRestTasks();
            // The log may not hold what the core believes: continuing could break Raft's guarantees.
            this.logger.warn(`raft: stopping after a failed write: ${messageOf(err)}`);
            this.stopped = true;
            this.ticker.stop();
            this.rejectAll(new BitraftError('CLOSED', 'the node stopped after a failed write', { cause: err }));
            return;
          }
          this.core.advance(rd);
          this.handling = false;
          // Requests settle after the acknowledgement, so whoever awaits one sees the core up to date.
          settle();
          this.runRestTasks();
          this.afterReady();
        }
      } while (this.again && !this.stopped);
    } finally {
      this.busy = false;
    }
  }

  /** Writes, sends and applies `rd`; returns what settles its requests, to run once it is acknowledged. */
  private async handle(rd: Ready): Promise<() => void> {
    if (rd.snapshot) {
      this.log.applySnapshot(rd.snapshot);
      await this.fsm.restore(rd.snapshot);
      this.appliedIndex = rd.snapshot.index;
    }
    // A leader's appends may leave before its own fsync (Raft thesis §10.2.1): the
    // followers' fsyncs then overlap it, and the leader counts itself towards a quorum
    // only for entries on its own disk. Everything else waits for the sync.
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (SENT_BEFORE_SYNC.has(m.type) ? early : late).push(m);
    if (early.length > 0) this.transport.send(early);
    if (rd.entries.length > 0) this.log.append(rd.entries);
    if (rd.hardState) this.log.setHardState(rd.hardState);
    if (rd.conf) this.log.setConf(rd.conf);
    const synced = rd.snapshot || rd.entries.length > 0 || rd.hardState || rd.conf ? this.log.sync() : undefined;
    // Committed entries already on this node's disk (older than this Ready's entries)
    // need not wait for this Ready's sync: they are applied, and their proposers
    // answered, while it runs — so a write's reply never waits for the fsync of later
    // writes, and applying overlaps the disk.
    const results = new Map<number, R>();
    const awaited = this.awaitedIndexes(rd);
    const firstNew = rd.entries.length > 0 ? rd.entries[0]!.index : Number.POSITIVE_INFINITY;
    let next = 0;
    while (next < rd.committed.length && rd.committed[next]!.index < firstNew) this.applyEntry(rd.committed[next++]!, results, awaited);
    if (next > 0) this.settleCommands(rd, results);
    await synced;
    if (rd.softState) this.onSoftState(rd.softState);
    if (late.length > 0) this.transport.send(late);
    while (next < rd.committed.length) this.applyEntry(rd.committed[next++]!, results, awaited);
    return () => this.settle(rd, results);
  }

  private runRestTasks(): void {
    const tasks = this.restTasks;
    this.restTasks = [];
    for (const fn of tasks) fn();
  }

  /** The indexes of the entries committed in `rd` whose proposer on this node still waits for them. */
  private awaitedIndexes(rd: Ready): Set<number> {
    const awaited = new Set<number>();
    for (const p of rd.proposals) if (p.kind === 'committed' && this.waiters.has(p.id)) awaited.add(p.index);
    return awaited;
  }

  private applyEntry(e: Entry, results: Map<number, R>, awaited: ReadonlySet<number>): void {
    if (e.type === 'command') results.set(e.index, this.fsm.apply(e, awaited.has(e.index)));
    this.appliedIndex = e.index;
  }

  /**
   * Answers the proposers of the command entries applied so far. Membership changes and
   * refusals wait for `settle`, after the acknowledgement, so whoever awaits them sees
   * the core up to date.
   */
  private settleCommands(rd: Ready, results: ReadonlyMap<number, R>): void {
    for (const p of rd.proposals) {
      if (p.kind !== 'committed' || !results.has(p.index)) continue;
      take(this.waiters, p.id)?.resolve(results.get(p.index));
    }
  }

  private settle(rd: Ready, results: ReadonlyMap<number, R>): void {
    for (const p of rd.proposals) {
      const w = take(this.waiters, p.id);
      if (!w) continue;
      if (p.kind === 'committed') w.resolve(results.get(p.index));
      else if (p.kind === 'dropped') w.reject(new DroppedError(p.reason, p.leader));
      else w.reject(new BitraftError('UNKNOWN_OUTCOME', `the outcome of the write at index ${p.index} cannot be known on this node`));
    }
    for (const r of rd.reads) {
      const w = take(this.readWaiters, r.id);
      if (!w) continue;
      if (r.kind === 'ready') this.readyReads.push({ index: r.index, waiter: w });
      else w.reject(new DroppedError(r.reason, r.leader));
    }
    this.readyReads = this.readyReads.filter((r) => {
      if (r.index > this.appliedIndex) return true;
      r.waiter.resolve(undefined);
      return false;
    });
  }

  /** Rejects the requests older than the timeout (maps keep insertion order: oldest first). */
  private expire(): void {
    if (!this.timeout) return;
    const due = this.ticks - this.timeout.ticks;
    const expired = (w: Waiter, what: string): void => {
      w.reject(new BitraftError('TIMEOUT', `${what} timed out after ${this.timeout!.ms} ms`));
    };
    for (const [id, w] of this.waiters) {
      if (w.tick > due) break;
      this.waiters.delete(id);
      expired(w, 'the write (its outcome is unknown: it may still be applied)');
    }
    for (const [id, w] of this.readWaiters) {
      if (w.tick > due) break;
      this.readWaiters.delete(id);
      expired(w, 'the read');
    }
    this.readyReads = this.readyReads.filter((r) => {
      if (r.waiter.tick > due) return true;
      expired(r.waiter, 'the read');
      return false;
    });
  }

  private rejectAll(err: BitraftError): void {
    const all = [...this.waiters.values(), ...this.readWaiters.values(), ...this.readyReads.map((r) => r.waiter)];
    this.waiters.clear();
    this.readWaiters.clear();
    this.readyReads = [];
    for (const w of all) w.reject(err);
  }
}

function take(map: Map<number, Waiter>, id: number): Waiter | undefined {
  const w = map.get(id);
  map.delete(id);
  return w;
}
