/**
 * A tiny deterministic Raft cluster for the scenario tests: real `RaftNode`s over
 * `MemoryStorage`, and a message queue that moves only when a test says so.
 *
 * - Founders start from `MemoryStorage.bootstrap` (so terms start at 2 and the first
 *   leader's no-op follows the bootstrap entries); `add` brings in an empty node.
 * - Every node's Ready is handled at once, in the documented order (see `handle`):
 *   install/persist, send (into the queue), apply, collect outcomes, advance. A test may
 *   take a Ready itself and hand it to `handle`, or only to `persist` before a `crash`.
 * - `deliver(filter?)` steps queued messages into their recipients (messages crossing a
 *   partition, or addressed to a crashed node, are lost); `drop(filter)` loses them;
 *   `stabilize()` delivers until nothing moves. `sent` keeps every message, for counting.
 * - `tick`/`run`/`runUntil` move time; `crash`/`restart` model a process dying with only
 *   what it persisted (its state machine is durable); `compact` takes a local snapshot.
 * - Checks that hold in every scenario throw at once: at most one leader per term,
 *   all nodes apply the same entry at an index, one outcome per proposal and read.
 */
import { RaftNode, type RaftConfig } from '../../../../src/core/raft/node.js';
import { MemoryStorage } from '../../../../src/core/raft/storage.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, ProposalOutcome, Ready, ReadOutcome } from '../../../../src/core/raft/types.js';
import { seededRng } from '../../../../src/core/support/rng.js';

/** Raft settings a test may override (identity, storage, randomness and `applied` are the harness's). */
export type Settings = Omit<RaftConfig, 'id' | 'storage' | 'rng' | 'applied'>;

/** Which messages an operation concerns. */
export type Filter = (m: Message) => boolean;

/** One member: what survives a crash (storage, state machine) and the running core while it is up. */
export interface Peer {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  settings: Settings;
  /** Undefined while crashed. */
  raft: RaftNode | undefined;
  /** The state machine: the data of the command entries applied, in order (durable, like Bitcask). */
  applied: string[];
  /** The last index applied (of any entry type). */
  appliedIndex: number;
  /** The membership as of `appliedIndex` (for local snapshots). */
  conf: ConfState;
  /** Outcomes of this node's proposals and reads, by id (lost with a crash, like a client connection). */
  proposals: Map<number, ProposalOutcome>;
  reads: Map<number, ReadOutcome>;
}

const text = (e: Entry): string => new TextDecoder().decode(e.data);

/** Every message of `type` (optionally `from` → `to`). */
export const is =
  (type: Message['type'], from?: NodeId, to?: NodeId): Filter =>
  (m) =>
    m.type === type && (from === undefined || m.from === from) && (to === undefined || m.to === to);
/** Messages sent by `id`. */
export const from =
  (...ids: NodeId[]): Filter =>
  (m) =>
    ids.includes(m.from);
/** Messages addressed to `id`. */
export const to =
  (...ids: NodeId[]): Filter =>
  (m) =>
    ids.includes(m.to);
/** Messages between `a` and `b`, either way. */
export const between =
  (a: NodeId, b: NodeId): Filter =>
  (m) =>
    (m.from === a && m.to === b) || (m.from === b && m.to === a);
/** Appends carrying an entry at `index`. */
export const carries =
  (index: number): Filter =>
  (m) =>
    m.type === 'append' && m.entries.some((e) => e.index === index);

export class Cluster {
  readonly peers = new Map<NodeId, Peer>();
  /** Messages sent and not yet delivered or dropped. */
  queue: Message[] = [];
  /** Every message ever sent, in order (for counting). */
  readonly sent: Message[] = [];
  /** What every node applied at an index, as `type:data` (state machine safety). */
  private readonly appliedLog = new Map<number, string>();
  /** The leader of each term seen (election safety). */
  private readonly leaders = new Map<number, NodeId>();
  /** Partition groups: a message between different groups is lost. Empty: fully connected. */
  private groups: NodeId[][] = [];
  /** How many bootstrap entries the log starts with (one per founding voter). */
  readonly base: number;
  private readonly seed: number;
  private readonly defaults: Settings;

  /**
   * A new cluster of `voters`, each founded with `MemoryStorage.bootstrap(voters)`: its log
   * starts with one committed `add-voter` entry per voter, in term 1, so the first election
   * is for term 2 and the first leader's no-op lands at index `voters.length + 1`.
   * `settings` apply to every node; the seed drives each node's election timeouts.
   */
  constructor(voters: NodeId[], opts: { settings?: Settings; seed?: number } = {}) {
    this.seed = opts.seed ?? 1;
    this.defaults = opts.settings ?? {};
    this.base = voters.length;
    for (const id of voters) this.add(id, MemoryStorage.bootstrap(voters));
  }

  /** Adds a node; by default an empty one that knows no members and waits to be added to the cluster. */
  add(id: NodeId, storage = new MemoryStorage(), settings: Settings = this.defaults): Peer {
    const conf = storage.initialState().conf;
    const peer: Peer = { id, storage, settings, raft: undefined, applied: [], appliedIndex: 0, conf, proposals: new Map(), reads: new Map() };
    this.peers.set(id, peer);
    this.start(peer);
    return peer;
  }

  peer(id: NodeId): Peer {
    const p = this.peers.get(id);
    if (!p) throw new Error(`no node ${id}`);
    return p;
  }

  /** The running core of `id` (throws while it is crashed). */
  raft(id: NodeId): RaftNode {
    const r = this.peer(id).raft;
    if (!r) throw new Error(`${id} is down`);
    return r;
  }

  /** Live nodes' ids. */
  live(): NodeId[] {
    return [...this.peers.values()].filter((p) => p.raft).map((p) => p.id);
  }

  /** The live leader of the highest term, if any. */
  leader(): NodeId | undefined {
    let best: RaftNode | undefined;
    for (const id of this.live()) {
      const r = this.raft(id);
      if (r.role === 'leader' && (!best || r.term > best.term)) best = r;
    }
    return best?.id;
  }

  /**
   * `id`'s persisted log after the bootstrap entries (and after its snapshot), one
   * `term:data` per entry (`term:noop`, `term:config` for the others).
   */
  logOf(id: NodeId): string[] {
    const s = this.peer(id).storage;
    const lo = Math.max(s.firstIndex(), this.base + 1);
    if (s.lastIndex() < lo) return [];
    return s.entries(lo, s.lastIndex() + 1, Infinity).map((e) => `${e.term}:${e.type === 'command' ? text(e) : e.type}`);
  }

  // ---- Ready ----

  /** Handles `id`'s Ready if it has one. */
  handleReady(id: NodeId): Ready | undefined {
    const r = this.peer(id).raft;
    if (!r || !r.hasReady()) return undefined;
    const rd = r.ready();
    this.handle(id, rd);
    return rd;
  }

  /** Handles the Ready of every live node until none has one. */
  handleReadies(): void {
    for (let busy = true; busy; ) {
      busy = false;
      for (const id of this.live()) if (this.handleReady(id)) busy = true;
    }
  }

  /** Handles a Ready taken from `id` in the order `Ready` documents, then advances. */
  handle(id: NodeId, rd: Ready): void {
    const p = this.peer(id);
    const r = this.raft(id);
    this.persist(id, rd);
    // 3. send.
    this.queue.push(...rd.messages);
    this.sent.push(...rd.messages);
    // 4. apply.
    for (const e of rd.committed) {
      const key = `${e.type}:${text(e)}`;
      const seen = this.appliedLog.get(e.index);
      if (seen === undefined) this.appliedLog.set(e.index, key);
      else if (seen !== key) throw new Error(`${id} applied ${key} at ${e.index}, others ${seen}`);
      if (e.type === 'command') p.applied.push(text(e));
      p.appliedIndex = e.index;
    }
    if (rd.conf) p.conf = rd.conf;
    // 5. outcomes.
    for (const o of rd.proposals) {
      if (p.proposals.has(o.id)) throw new Error(`${id}: second outcome for proposal ${o.id}`);
      p.proposals.set(o.id, o);
    }
    for (const o of rd.reads) {
      if (p.reads.has(o.id)) throw new Error(`${id}: second outcome for read ${o.id}`);
      p.reads.set(o.id, o);
    }
    r.advance(rd);
    if (r.role === 'leader') {
      const other = this.leaders.get(r.term);
      if (other !== undefined && other !== id) throw new Error(`two leaders in term ${r.term}: ${other} and ${id}`);
      this.leaders.set(r.term, id);
    }
  }

  /** Steps 1 and 2 of handling `rd`: install its snapshot, persist its entries, hard state and membership. */
  persist(id: NodeId, rd: Ready): void {
    const p = this.peer(id);
    // 1. install a snapshot: the state machine becomes the cluster's state at its index.
    if (rd.snapshot) {
      p.storage.applySnapshot(rd.snapshot);
      const upTo = rd.snapshot.index;
      const entries = [...this.appliedLog].filter(([i, k]) => i <= upTo && k.startsWith('command:')).sort(([i], [j]) => i - j);
      p.applied = entries.map(([, k]) => k.slice('command:'.length));
      p.appliedIndex = rd.snapshot.index;
      p.conf = rd.snapshot.conf;
    }
    // 2. persist entries, hard state and membership.
    p.storage.append(rd.entries);
    if (rd.hardState) p.storage.setHardState(rd.hardState);
    if (rd.conf) p.storage.setConf(rd.conf);
  }

  // ---- network ----

  /**
   * Delivers the queued messages matching `filter` (in order), then handles the Readies.
   * Returns them. (Like `drop`, it first handles pending Readies, so whatever a test made
   * a node do directly is on the wire.)
   */
  deliver(filter: Filter = () => true): Message[] {
    this.handleReadies();
    const batch = this.take(filter);
    for (const m of batch) {
      const r = this.peers.get(m.to)?.raft;
      if (r && this.connected(m.from, m.to)) r.step(m);
    }
    this.handleReadies();
    return batch;
  }

  /** Loses the queued messages matching `filter`. Returns them. */
  drop(filter: Filter = () => true): Message[] {
    this.handleReadies();
    return this.take(filter);
  }

  /** Handles Readies and delivers until no message is in flight. */
  stabilize(filter: Filter = () => true): void {
    this.handleReadies();
    for (let i = 0; this.queue.some(filter); i++) {
      if (i > 10_000) throw new Error('the cluster does not settle');
      this.deliver(filter);
    }
  }

  /** Splits the cluster: messages between different groups are lost (nodes not named form one more group). */
  partition(...groups: NodeId[][]): void {
    const named = groups.flat();
    this.groups = [...groups, [...this.peers.keys()].filter((id) => !named.includes(id))];
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    this.partition([id]);
  }

  /** Reconnects everyone. */
  heal(): void {
    this.groups = [];
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return this.groups.length === 0 || this.groups.some((g) => g.includes(a) === g.includes(b) && g.includes(a));
  }

  private take(filter: Filter): Message[] {
    const batch = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    return batch;
  }

  // ---- time ----

  /** Ticks the live nodes `ids` (default all) `n` times, handling Readies; messages stay queued. */
  tick(n = 1, ids: NodeId[] = this.live()): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.raft(id).tick();
      this.handleReadies();
    }
  }

  /** Lets `n` ticks pass with the network running: every live node ticks, then the cluster settles. */
  run(n: number): void {
    for (let i = 0; i < n; i++) {
      this.tick(1);
      this.stabilize();
    }
  }

  /** Runs (as `run`) until `done()` holds; throws after `max` ticks. Returns the ticks taken. */
  runUntil(done: () => boolean, max = 500): number {
    for (let n = 0; ; n++) {
      if (done()) return n;
      if (n >= max) throw new Error(`not reached within ${max} ticks`);
      this.run(1);
    }
  }

  // ---- requests ----

  /** `id` starts an election now; the cluster settles. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
  }

  /** Proposes a command on `id`; returns the proposal id. */
  propose(id: NodeId, data: string): number {
    return this.raft(id).propose(new TextEncoder().encode(data));
  }

  /** Proposes a membership change on `id`; returns the proposal id. */
  change(id: NodeId, cc: ConfChange): number {
    return this.raft(id).proposeConfChange(cc);
  }

  // ---- faults ----

  /** Kills `id`: the core and anything it did not persist are gone. */
  crash(id: NodeId): void {
    this.peer(id).raft = undefined;
    this.peer(id).proposals = new Map();
    this.peer(id).reads = new Map();
  }

  /** Starts `id` again from its storage, with `applied` = what its state machine holds. */
  restart(id: NodeId, settings?: Settings): void {
    const p = this.peer(id);
    if (settings) p.settings = settings;
    this.start(p);
  }

  /** Snapshots `id`'s state machine at its applied index and compacts its log up to there. */
  compact(id: NodeId): void {
    const p = this.peer(id);
    p.storage.compact(p.appliedIndex, p.conf);
  }

  /** Starts `p`'s core and lets it apply what its storage says is committed (a founder's bootstrap entries). */
  private start(p: Peer): void {
    const seed = this.seed * 1000 + [...this.peers.keys()].indexOf(p.id);
    p.raft = new RaftNode({ ...p.settings, id: p.id, storage: p.storage, rng: seededRng(seed), applied: p.appliedIndex });
    this.handleReady(p.id);
  }
}
