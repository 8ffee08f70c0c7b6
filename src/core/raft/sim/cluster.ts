/**
 * A whole Raft cluster in one process, for the deterministic simulator: every node is a
 * real `RaftNode` over a `MemoryStorage` (what survives a crash) and a model state
 * machine, connected by a `SimNetwork`. Nothing here reads a clock or `Math.random`.
 */
import type { Rng } from '../../support/rng.js';
import { applyConfChange, decodeConfChange, encodeConfChange } from '../conf-change.js';
import { RaftNode, type RaftConfig } from '../node.js';
import { EMPTY_CONF, MemoryStorage } from '../storage.js';
import type { ConfChange, ConfState, EntryType, Message, NodeId, ProposalOutcome, Ready, ReadOutcome } from '../types.js';
import type { AppliedCommand, HistoryEvent, NodeView } from './invariants.js';
import { SimNetwork, type Faults } from './network.js';

/** The Raft settings every node of a simulated cluster gets (besides id, storage, rng and applied). */
export type SimRaftOptions = Omit<RaftConfig, 'id' | 'storage' | 'rng' | 'applied'>;

/** Builds a node; tests swap in deliberately broken cores to prove the checks catch them. */
export type NodeFactory = (config: RaftConfig) => RaftNode;

/** Settings of a `SimCluster`. */
export interface SimClusterOptions {
  /** The only source of randomness (network faults, election timeouts, settle order). */
  readonly rng: Rng;
  /** The initial voters, each bootstrapped with this membership in its storage. */
  readonly voters: readonly NodeId[];
  /** Initial network faults (default: none). */
  readonly faults?: Partial<Faults>;
  /** Raft settings of every node (default: the core's defaults). */
  readonly raft?: SimRaftOptions;
  /** Default: `new RaftNode(config)`. */
  readonly createNode?: NodeFactory;
  /** A `settle()` that is still busy after this many rounds is reported as a failure. Default 10,000. */
  readonly maxSettleRounds?: number;
}

/**
 * Where a crash scheduled with `crash(id, point)` strikes during the node's next Ready:
 * before anything of it is persisted, after persisting (nothing sent), after sending
 * (nothing applied), halfway through applying, or after applying (outcomes not reported,
 * `advance` not called).
 */
export type CrashPoint = 'before-persist' | 'after-persist' | 'after-send' | 'mid-apply' | 'after-apply';

/** Every crash point, for drawing one at random. */
export const CRASH_POINTS: readonly CrashPoint[] = ['before-persist', 'after-persist', 'after-send', 'mid-apply', 'after-apply'];

/**
 * A node's model state machine: the `command` entries applied, in order, the last index
 * applied (of any entry type) and the membership as of that index (the applied `config`
 * entries' changes, over the snapshot's or bootstrap membership). Modeled as persisted
 * atomically with each apply, like a durable store: a crash keeps it.
 */
export interface ModelState {
  applied: number;
  commands: AppliedCommand[];
  conf: ConfState;
}

/** The outcome of a proposal or read made through the cluster, by ticket. */
export type Outcome = ProposalOutcome | ReadOutcome;

/** Counters of what happened in a run, for reports. */
export interface ClusterStats {
  acked: number;
  dropped: number;
  reads: number;
  installs: number;
  compactions: number;
  crashes: number;
  restarts: number;
}

interface Pending {
  readonly ticket: string;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** One member of a `SimCluster`: what persists across crashes, plus the running core while it is up. */
export class SimNode {
  readonly id: NodeId;
  /** The persisted log, hard state, membership and snapshot meta. */
  readonly storage: MemoryStorage;
  /** The model state machine (persisted). */
  state: ModelState;
  /** The running core; undefined while crashed. */
  raft: RaftNode | undefined;
  /** Counts starts, so tickets and read keys of a restarted node never collide with older ones. */
  incarnation = 0;
  /** A crash scheduled for the next Ready. */
  crashAt: CrashPoint | undefined;
  /** Proposals of the running core awaiting their outcome, by the core's id. */
  readonly proposals = new Map<number, Pending>();
  /** Reads of the running core awaiting their outcome: the core's id → ticket. */
  readonly reads = new Map<number, string>();

  constructor(id: NodeId, conf: ConfState) {
    this.id = id;
    // Founding members start from the bootstrap entries, so later members can learn the membership from the log.
    this.storage = conf.voters.length > 0 ? MemoryStorage.bootstrap(conf.voters) : new MemoryStorage();
    this.state = { applied: 0, commands: [], conf };
  }

  /** Whether the node is running. */
  get up(): boolean {
    return this.raft !== undefined;
  }
}

/**
 * A simulated cluster. Contract:
 * - every Ready is handled exactly in the order documented on `Ready`: install the
 *   snapshot (storage and model state), persist entries, hard state and membership, hand
 *   the messages to the network, apply committed entries to the model, record outcomes,
 *   then `advance`;
 * - `crash` throws away the core and whatever was not persisted; `restart` builds a new
 *   core on the same storage with `applied` taken from the model state;
 * - snapshot contents are the model states recorded by `compact`, keyed by index; a
 *   `snapshot` message is delivered like any other and its sender is told with
 *   `reportSnapshot` whether it arrived;
 * - everything observable for the safety checks goes to `takeEvents()`; an exception
 *   thrown by a core (or a broken contract of the core's API) becomes `failure`, never
 *   an exception out of the cluster.
 */
export class SimCluster {
  /** The network between the nodes (faults, partitions and time are set through it). */
  readonly network: SimNetwork;
  /** Every node ever added, running or not, in the order added. */
  readonly nodes = new Map<NodeId, SimNode>();
  /** What went wrong outside the safety invariants (a core threw, an outcome broke its contract); the first one wins. */
  failure: string | undefined;
  /** What happened so far. */
  readonly stats: ClusterStats = { acked: 0, dropped: 0, reads: 0, installs: 0, compactions: 0, crashes: 0, restarts: 0 };
  private readonly rng: Rng;
  private readonly raftOptions: SimRaftOptions;
  private readonly createNode: NodeFactory;
  private readonly maxSettleRounds: number;
  private events: HistoryEvent[] = [];
  private readonly outcomes = new Map<string, Outcome>();
  /** Model states by snapshot index: what a snapshot at that index contains. */
  private readonly snapshots = new Map<number, AppliedCommand[]>([[0, []]]);
  /** The core instance that sent each snapshot message, to report its fate to. */
  private readonly snapshotSenders = new WeakMap<Message, RaftNode>();

  constructor(options: SimClusterOptions) {
    this.rng = options.rng;
    this.network = new SimNetwork(options.rng, options.faults);
    this.raftOptions = options.raft ?? {};
    this.createNode = options.createNode ?? ((config) => new RaftNode(config));
    this.maxSettleRounds = options.maxSettleRounds ?? 10_000;
    const conf: ConfState = { voters: [...options.voters], learners: [] };
    for (const id of options.voters) this.addNode(id, conf);
  }

  /** Adds a node with an empty membership (it learns it from the leader) and starts it. */
  add(id: NodeId): SimNode {
    if (this.nodes.has(id)) throw new RangeError(`node ${id} already exists`);
    return this.addNode(id, EMPTY_CONF);
  }

  /** The node `id`; throws a RangeError for an unknown id. */
  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new RangeError(`no node ${id}`);
    return n;
  }

  /** The running nodes that believe they lead, highest term first. */
  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft?.role === 'leader').sort((a, b) => b.raft!.term - a.raft!.term);
  }

  /** The running leader of the highest term, if any. */
  leader(): SimNode | undefined {
    return this.leaders()[0];
  }

  /**
   * Crashes `id`: now (no `point`), or during its next Ready at `point`. A crashed node
   * keeps its storage and model state; its core, unpersisted Ready and pending
   * proposals and reads are gone. No-op on a node that is down.
   */
  crash(id: NodeId, point?: CrashPoint): void {
    const n = this.node(id);
    if (!n.raft) return;
    if (point) n.crashAt = point;
    else this.stop(n);
  }

  /** Starts a crashed node again from its storage; on a running node, only cancels a scheduled crash. */
  restart(id: NodeId): void {
    const n = this.node(id);
    n.crashAt = undefined;
    if (n.raft) return;
    this.stats.restarts++;
    this.start(n);
  }

  /** One unit of time: the network moves one step, every running node ticks, then the cluster settles. */
  tick(): void {
    this.network.advance();
    for (const n of this.nodes.values()) {
      const raft = n.raft;
      if (raft) this.guard(n, 'tick', () => raft.tick());
    }
    this.settle();
  }

  /** Ticks one node only (a fast clock), then settles. */
  tickNode(id: NodeId): void {
    const n = this.node(id);
    const raft = n.raft;
    if (raft) this.guard(n, 'tick', () => raft.tick());
    this.settle();
  }

  /**
   * Delivers due messages and handles Readies (nodes in random order) until nothing is
   * left to do at this step. A cluster still busy after `maxSettleRounds` rounds fails.
   */
  settle(): void {
    for (let round = 0; round < this.maxSettleRounds; round++) {
      let busy = false;
      for (const msg of this.network.takeDue()) {
        busy = true;
        this.deliver(msg);
      }
      for (const { msg } of this.network.takeLost()) this.reportLoss(msg);
      for (const n of this.shuffled()) {
        const raft = n.raft;
        if (raft && this.guard(n, 'hasReady', () => raft.hasReady())) {
          busy = true;
          this.handleReady(n, raft);
        }
      }
      if (!busy) return;
    }
    this.fail(`the cluster did not settle within ${this.maxSettleRounds} rounds at step ${this.network.now}`);
  }

  /** Proposes `data` on `id` and settles; returns a ticket for `outcome()`, or undefined when the node is down. */
  propose(id: NodeId, data: Uint8Array): string | undefined {
    return this.request(id, 'command', data, (raft) => raft.propose(data));
  }

  /** Proposes a membership change on `id` and settles; returns a ticket, or undefined when the node is down. */
  proposeConfChange(id: NodeId, cc: ConfChange): string | undefined {
    return this.request(id, 'config', encodeConfChange(cc), (raft) => raft.proposeConfChange(cc));
  }

  /** Starts a ReadIndex read on `id` and settles; returns a ticket, or undefined when the node is down. */
  readIndex(id: NodeId, mode: 'quorum' | 'local' = 'quorum'): string | undefined {
    const n = this.node(id);
    const raft = n.raft;
    if (!raft) return undefined;
    const rid = this.guard(n, 'readIndex', () => raft.readIndex(mode));
    if (rid === undefined) return undefined;
    const ticket = `${id}#${n.incarnation}:${rid}`;
    n.reads.set(rid, ticket);
    this.events.push({ kind: 'read-start', node: id, key: ticket });
    this.settle();
    return ticket;
  }

  /** Asks the leader `id` to hand leadership to `to`, then settles. */
  transferLeadership(id: NodeId, to: NodeId): void {
    const n = this.node(id);
    const raft = n.raft;
    if (raft) this.guard(n, 'transferLeadership', () => raft.transferLeadership(to));
    this.settle();
  }

  /** Starts an election on `id` now, then settles. */
  campaign(id: NodeId): void {
    const n = this.node(id);
    const raft = n.raft;
    if (raft) this.guard(n, 'campaign', () => raft.campaign());
    this.settle();
  }

  /** The outcome of a ticket, once reported. */
  outcome(ticket: string): Outcome | undefined {
    return this.outcomes.get(ticket);
  }

  /**
   * Takes a snapshot of `id` at its model's applied index: records the model state there
   * (for later InstallSnapshot) and compacts the storage. Returns false when there is
   * nothing to compact. Call between steps (no Ready outstanding).
   */
  compact(id: NodeId): boolean {
    const n = this.node(id);
    const { applied, commands, conf } = n.state;
    if (applied < n.storage.firstIndex() || applied > n.storage.lastIndex()) return false;
    if (!this.snapshots.has(applied)) this.snapshots.set(applied, commands.slice());
    n.storage.compact(applied, conf);
    this.stats.compactions++;
    return true;
  }

  /** What the invariant checker sees of every node now. */
  view(): NodeView[] {
    return [...this.nodes.values()].map((n) => ({
      id: n.id,
      live: n.raft ? { role: n.raft.role, term: n.raft.term } : undefined,
      storage: n.storage,
      applied: n.state.commands,
    }));
  }

  /** Removes and returns the history recorded since the last call. */
  takeEvents(): HistoryEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  private addNode(id: NodeId, conf: ConfState): SimNode {
    const n = new SimNode(id, conf);
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    n.incarnation++;
    n.crashAt = undefined;
    n.raft = this.guard(n, 'start', () =>
      this.createNode({ ...this.raftOptions, id: n.id, storage: n.storage, rng: this.rng, applied: n.state.applied }),
    );
  }

  private stop(n: SimNode): void {
    this.stats.crashes++;
    n.raft = undefined;
    n.crashAt = undefined;
    n.proposals.clear();
    n.reads.clear();
  }

  private request(id: NodeId, type: EntryType, data: Uint8Array, call: (raft: RaftNode) => number): string | undefined {
    const n = this.node(id);
    const raft = n.raft;
    if (!raft) return undefined;
    const pid = this.guard(n, 'propose', () => call(raft));
    if (pid === undefined) return undefined;
    const ticket = `${id}#${n.incarnation}:${pid}`;
    n.proposals.set(pid, { ticket, type, data });
    this.settle();
    return ticket;
  }

  private deliver(msg: Message): void {
    const n = this.nodes.get(msg.to);
    const raft = n?.raft;
    if (!n || !raft) {
      this.reportLoss(msg);
      return;
    }
    this.guard(n, `step(${msg.type} from ${msg.from})`, () => raft.step(msg));
    if (msg.type === 'snapshot') this.reportSnapshot(msg, true);
  }

  private reportLoss(msg: Message): void {
    if (msg.type === 'snapshot') this.reportSnapshot(msg, false);
  }

  /** Tells the core that sent `msg` whether it arrived, if that core is still running. */
  private reportSnapshot(msg: Message, ok: boolean): void {
    const sender = this.snapshotSenders.get(msg);
    const n = this.nodes.get(msg.from)!;
    if (sender && n.raft === sender) this.guard(n, 'reportSnapshot', () => sender.reportSnapshot(msg.to, ok));
  }

  /** Handles one Ready of `n` in the documented order, crashing at `n.crashAt` if set. */
  private handleReady(n: SimNode, raft: RaftNode): void {
    const rd = this.guard(n, 'ready', () => raft.ready());
    if (!rd) return;
    const crashAt = n.crashAt;
    if (crashAt === 'before-persist') return this.stop(n);
    // 1. Install the snapshot: storage and model state together.
    if (rd.snapshot) {
      const state = this.snapshots.get(rd.snapshot.index);
      if (!state) return this.fail(`${n.id} must install a snapshot at index ${rd.snapshot.index}, which no node took`);
      n.storage.applySnapshot(rd.snapshot);
      n.state = { applied: rd.snapshot.index, commands: state.slice(), conf: rd.snapshot.conf };
      this.stats.installs++;
      this.events.push({ kind: 'install', node: n.id, index: rd.snapshot.index });
    }
    // 2. Persist entries, hard state and membership.
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (rd.conf) n.storage.setConf(rd.conf);
    if (crashAt === 'after-persist') return this.stop(n);
    // 3. Send.
    for (const msg of rd.messages) {
      if (msg.type === 'snapshot') this.snapshotSenders.set(msg, raft);
      this.network.send(msg);
    }
    if (crashAt === 'after-send') return this.stop(n);
    // 4. Apply committed entries (each apply is durable on its own).
    const stopAt = crashAt === 'mid-apply' ? Math.floor(rd.committed.length / 2) : rd.committed.length;
    for (let i = 0; i < stopAt; i++) {
      const e = rd.committed[i]!;
      n.state.applied = e.index;
      if (e.type === 'command') n.state.commands.push({ index: e.index, data: e.data });
      else if (e.type === 'config') n.state.conf = applyEncodedChange(n.state.conf, e.data);
      this.events.push({ kind: 'apply', node: n.id, entry: e });
    }
    if (crashAt === 'mid-apply') return this.stop(n);
    if (crashAt === 'after-apply') return this.stop(n);
    // 5. Outcomes of proposals and reads.
    this.recordOutcomes(n, rd);
    this.guard(n, 'advance', () => raft.advance(rd));
  }

  private recordOutcomes(n: SimNode, rd: Ready): void {
    for (const o of rd.proposals) {
      const p = n.proposals.get(o.id);
      if (!p) return this.fail(`${n.id} reported an outcome for proposal ${o.id}, which is not pending (${o.kind})`);
      n.proposals.delete(o.id);
      this.outcomes.set(p.ticket, o);
      if (o.kind === 'committed') {
        this.stats.acked++;
        this.events.push({ kind: 'acked', node: n.id, index: o.index, term: o.term, type: p.type, data: p.data });
      } else if (o.kind === 'dropped') {
        this.stats.dropped++;
      }
    }
    for (const o of rd.reads) {
      const key = n.reads.get(o.id);
      if (!key) return this.fail(`${n.id} reported an outcome for read ${o.id}, which is not pending (${o.kind})`);
      n.reads.delete(o.id);
      this.outcomes.set(key, o);
      if (o.kind === 'ready') {
        this.stats.reads++;
        this.events.push({ kind: 'read-ready', node: n.id, key, index: o.index });
      }
    }
  }

  /** Runs a call into a core; an exception becomes the cluster's failure (and undefined). */
  private guard<T>(n: SimNode, what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.fail(`${n.id} threw in ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return undefined;
    }
  }

  private fail(message: string): void {
    this.failure ??= message;
  }

  /** The nodes in a random order (Fisher–Yates over the seeded rng). */
  private shuffled(): SimNode[] {
    const out = [...this.nodes.values()];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** `conf` after the change encoded in a config entry's `data` (unchanged if it does not decode or apply). */
function applyEncodedChange(conf: ConfState, data: Uint8Array): ConfState {
  const cc = decodeConfChange(data);
  return cc ? applyConfChange(conf, cc) : conf;
}
