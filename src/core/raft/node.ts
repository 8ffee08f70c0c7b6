import type { Rng } from '../support/rng.js';
import { applyConfChange, confChangeProblem, decodeConfChange, encodeConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress, type ProgressState } from './progress.js';
import { committedIndex, majority, tally } from './quorum.js';
import type { LogStorage } from './storage.js';
import type {
  AppendMessage,
  AppendResponse,
  ConfChange,
  ConfState,
  DropReason,
  Entry,
  EntryType,
  HardState,
  HeartbeatMessage,
  Message,
  NodeId,
  ProposalOutcome,
  ReadOutcome,
  Ready,
  Role,
  SnapshotMessage,
  SoftState,
  VoteMessage,
  VoteResponse,
} from './types.js';

/** Settings of one Raft node. Ticks are the caller's unit of time. */
export interface RaftConfig {
  id: NodeId;
  storage: LogStorage;
  /** Randomizes election timeouts; seed it for deterministic tests. */
  rng: Rng;
  /** Base election timeout; each node waits a random time in [electionTicks, 2·electionTicks). Default 10. */
  electionTicks?: number;
  /** Heartbeat period of a leader. Default 1; must be below `electionTicks`. */
  heartbeatTicks?: number;
  /** The last index the state machine applied before a restart (default: the snapshot's index). */
  applied?: number;
  /** Largest data size of one append message (at least one entry is always sent). Default 1 MiB. */
  maxMsgBytes?: number;
  /** Appends in flight to one follower. Default 256. */
  maxInflightMsgs?: number;
  /** Bytes of appends in flight to one follower. Default 16 MiB. */
  maxInflightBytes?: number;
  /** Largest data size of committed entries handed out in one Ready. Default 64 MiB. */
  maxApplyBytes?: number;
  /** Run a pre-vote round before raising the term (default true). */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout (default true). */
  checkQuorum?: boolean;
}

/** A snapshot of a node's state, for RAFTSTATS-like reporting and tests. */
export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  role: Role;
  leader: NodeId | undefined;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  conf: ConfState;
  /** The leader's view of each member's log (empty on other nodes). */
  progress: Record<NodeId, { match: number; next: number; state: ProgressState }>;
  /** The node leadership is being transferred to. */
  transferee: NodeId | undefined;
}

interface PendingRead {
  id: number;
  index: number;
  round: number;
}

const MiB = 1 << 20;
/** Election timeouts a follower may stay in snapshot state without a report before the leader retries. */
const SNAPSHOT_TIMEOUT_ELECTIONS = 5;
const EMPTY = new Uint8Array(0);

/**
 * The pure Raft state machine of one node (Raft paper §5–§8), in the style of
 * etcd-io/raft: no I/O, timers, clocks or randomness of its own. Time arrives through
 * `tick()`, messages through `step()`, requests through `propose`, `proposeConfChange`,
 * `readIndex` and `transferLeadership`; everything the node wants done comes out of
 * `ready()` as one batch (see `Ready` for the order to handle it in), acknowledged with
 * `advance()`. Includes pre-vote, check-quorum, pipelined and batched replication with
 * fast conflict back-off, single-step membership changes with learners, ReadIndex and
 * leadership transfer. Every proposal and read gets exactly one outcome.
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly storage: LogStorage;
  private readonly rng: Rng;
  private readonly log: RaftLog;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxMsgBytes: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxApplyBytes: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;

  private currentTerm: number;
  private vote: NodeId;
  private currentRole: Role = 'follower';
  private leaderId: NodeId | undefined;
  private conf: ConfState;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  /** A leadership transfer to this node waits for its committed entries to be applied until this tick (0: none). */
  private transferCampaignUntil = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private transferee: NodeId | undefined;
  /** A membership change at an index above `applied` is in the log: no other may start. */
  private pendingConfIndex = 0;
  /** Whether the leader committed an entry of its own term yet (reads wait for it). */
  private committedInTerm = false;
  private needsBroadcast = false;

  private messages: Message[] = [];
  private nextRequestId = 1;
  private proposalOutcomes: ProposalOutcome[] = [];
  private readOutcomes: ReadOutcome[] = [];
  /** This node's own proposals still in the log, by index. */
  private readonly ownProposals = new Map<number, { id: number; term: number }>();
  /** ReadIndex requests waiting for the leader's first commit in its term. */
  private readsBeforeCommit: { id: number; mode: 'quorum' | 'local' }[] = [];
  /** ReadIndex requests waiting for their heartbeat round to be sent. */
  private readsUnsent: PendingRead[] = [];
  /** ReadIndex requests waiting for a quorum to acknowledge their round. */
  private readsInFlight: PendingRead[] = [];
  /** Heartbeat rounds sent by this leader; heartbeats carry it as their context. */
  private readRound = 0;
  /** The latest round each follower acknowledged. */
  private readonly ackedRound = new Map<NodeId, number>();
  /** The tick each unconfirmed round was sent at (for the leader lease). */
  private readonly roundSentAt = new Map<number, number>();
  /** Ticks since this node started. */
  private ticks = 0;
  /** This node applied its own removal from the cluster. */
  private removed = false;

  private prevHard: HardState;
  private prevSoft: SoftState;
  private confChanged = false;
  private readyOut = false;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.storage = config.storage;
    this.rng = config.rng;
    this.electionTicks = config.electionTicks ?? 10;
    this.heartbeatTicks = config.heartbeatTicks ?? 1;
    if (!(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks)) {
      throw new RangeError('raft: heartbeatTicks must be at least 1 and below electionTicks');
    }
    this.maxMsgBytes = config.maxMsgBytes ?? MiB;
    this.maxInflightMsgs = config.maxInflightMsgs ?? 256;
    this.maxInflightBytes = config.maxInflightBytes ?? 16 * MiB;
    this.maxApplyBytes = config.maxApplyBytes ?? 64 * MiB;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    const { hardState, conf } = this.storage.initialState();
    this.currentTerm = hardState.term;
    this.vote = hardState.vote;
    this.conf = conf;
    this.log = new RaftLog(this.storage, config.applied ?? this.storage.snapshot().index);
    this.prevHard = { term: this.currentTerm, vote: this.vote, commit: this.log.committed };
    this.prevSoft = { role: 'follower', leader: undefined };
    this.resetRandomizedTimeout();
  }

  /** The node's role now. */
  get role(): Role {
    return this.currentRole;
  }

  /** The leader this node knows of in its term, if any. */
  get leader(): NodeId | undefined {
    return this.leaderId;
  }

  /** The node's current term. */
  get term(): number {
    return this.currentTerm;
  }

  // ---- inputs ----

  /** Advances time by one tick: elections on followers and candidates; heartbeats and check-quorum on leaders. */
  tick(): void {
    this.ticks++;
    this.electionElapsed++;
    if (this.transferCampaignUntil > 0 && this.ticks > this.transferCampaignUntil) this.transferCampaignUntil = 0;
    if (this.currentRole !== 'leader') {
      if (this.promotable() && this.electionElapsed >= this.randomizedTimeout) {
        this.electionElapsed = 0;
        this.campaign();
      }
      return;
    }
    this.heartbeatElapsed++;
    for (const pr of this.progress.values()) {
      // A snapshot whose fate was never reported (lost, or the stream died) is offered again.
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= SNAPSHOT_TIMEOUT_ELECTIONS * this.electionTicks) pr.becomeProbe();
    }
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.currentTerm, undefined);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.transferee = undefined;
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** Handles a message from another node. Messages addressed elsewhere are ignored. */
  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.currentTerm) {
      if (m.type === 'vote') {
        // Within a leader's lease a vote request is ignored: a node cut off for a while cannot
        // disrupt a healthy cluster (unless a leadership transfer asks for it).
        const inLease = this.checkQuorum && this.leaderId !== undefined && this.electionElapsed < this.electionTicks;
        if (inLease && !m.transfer) return;
      }
      const keepsTerm = (m.type === 'vote' && m.pre) || (m.type === 'vote-resp' && m.pre && m.granted);
      if (!keepsTerm) {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : undefined);
      }
    } else if (m.term < this.currentTerm) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tell a stale leader about the newer term so it steps down.
        this.send({ type: 'append-resp', from: this.id, to: m.from, term: this.currentTerm, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'vote' && m.pre) {
        this.send({ type: 'vote-resp', from: this.id, to: m.from, term: this.currentTerm, pre: true, granted: false });
      }
      return;
    }
    if (m.type === 'vote') {
      this.handleVote(m);
      return;
    }
    switch (this.currentRole) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Proposes `data` as a command entry. Returns the proposal's id; its outcome comes in a later Ready. */
  propose(data: Uint8Array): number {
    const id = this.nextRequestId++;
    const refused = this.proposalRefusal();
    if (refused) this.dropProposal(id, refused);
    else this.appendOwn(id, 'command', data);
    return id;
  }

  /** Proposes a membership change. At most one is in progress at a time. Returns the proposal's id. */
  proposeConfChange(cc: ConfChange): number {
    const id = this.nextRequestId++;
    let refused = this.proposalRefusal();
    if (!refused && this.pendingConfIndex > this.log.applied) refused = 'conf-pending';
    if (!refused && confChangeProblem(this.conf, cc) !== undefined) refused = 'invalid-conf';
    if (refused) {
      this.dropProposal(id, refused);
      return id;
    }
    this.pendingConfIndex = this.appendOwn(id, 'config', encodeConfChange(cc));
    return id;
  }

  /**
   * Asks for a linearizable read point. `quorum` (the default) confirms leadership with
   * one heartbeat round, shared by every read asked before the next Ready. `local`
   * answers at once while the leader holds a lease — a majority acknowledged a heartbeat
   * sent less than an election timeout ago, so (with check-quorum) no other leader can
   * exist yet; this assumes the nodes' ticks run at the same rate. Without a lease a
   * `local` read waits for a heartbeat round like a `quorum` one. Returns the read's id;
   * its outcome comes in a later Ready.
   */
  readIndex(mode: 'quorum' | 'local' = 'quorum'): number {
    const id = this.nextRequestId++;
    if (this.currentRole !== 'leader') {
      this.readOutcomes.push({ id, kind: 'dropped', reason: this.removed ? 'removed' : 'not-leader', leader: this.leaderId });
    } else if (this.transferee !== undefined) {
      this.readOutcomes.push({ id, kind: 'dropped', reason: 'transferring', leader: this.id });
    } else if (!this.committedInTerm) {
      this.readsBeforeCommit.push({ id, mode });
    } else {
      this.startRead(id, mode);
    }
    return id;
  }

  /**
   * The read index a `readIndex(mode)` would be given at once, without a round trip,
   * or undefined when it would have to wait: this node leads, is not handing over,
   * has committed an entry of its term, and is the only voter (or, for `local`, holds
   * its lease). Lets a caller serve such reads synchronously once applied up to it.
   */
  immediateReadIndex(mode: 'quorum' | 'local' = 'quorum'): number | undefined {
    if (this.currentRole !== 'leader' || this.transferee !== undefined || !this.committedInTerm) return undefined;
    return this.conf.voters.length === 1 || (mode === 'local' && this.hasLease()) ? this.log.committed : undefined;
  }

  /** Starts an election now (if this node is a voter). Used to bootstrap and by tests. */
  campaign(transfer = false): void {
    if (!this.promotable() || this.currentRole === 'leader') return;
    if (this.preVote && !transfer) this.becomePreCandidate();
    else this.becomeCandidate(transfer);
  }

  /**
   * Hands leadership to voter `to`: proposals are refused meanwhile, `to` is brought up
   * to date and told to start an election at once. Abandoned after an election timeout.
   */
  transferLeadership(to: NodeId): void {
    if (this.currentRole !== 'leader' || to === this.id || !this.conf.voters.includes(to)) return;
    if (this.transferee === to) return;
    this.transferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  /** The application finished (or failed) streaming a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.currentRole !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    pr.probeSent = true;
  }

  // ---- output ----

  /** Whether `ready()` has anything to hand out. */
  hasReady(): boolean {
    if (this.readyOut) return false;
    return (
      this.messages.length > 0 ||
      this.log.hasUnstable() ||
      this.log.hasCommitted() ||
      this.proposalOutcomes.length > 0 ||
      this.readOutcomes.length > 0 ||
      this.confChanged ||
      this.needsBroadcast ||
      this.readsUnsent.length > 0 ||
      !sameHard(this.hardState(), this.prevHard) ||
      !sameSoft(this.softState(), this.prevSoft)
    );
  }

  /**
   * Takes everything to do now (see `Ready` for the order). Each Ready must be
   * acknowledged with `advance` before the next is taken.
   */
  ready(): Ready {
    if (this.readyOut) throw new Error('raft: advance() the previous Ready before taking another');
    if (this.currentRole === 'leader') {
      if (this.needsBroadcast) this.broadcastAppend();
      if (this.readsUnsent.length > 0) {
        this.broadcastHeartbeat();
        for (const r of this.readsUnsent) this.readsInFlight.push({ ...r, round: this.readRound });
        this.readsUnsent = [];
      }
    }
    this.needsBroadcast = false;
    const snapshot = this.log.takeSnapshot();
    const entries = this.log.takeUnstable();
    const committed = this.log.takeCommitted(this.maxApplyBytes);
    for (const e of committed) this.onCommittedEntry(e);
    const hard = this.hardState();
    const soft = this.softState();
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? undefined : soft,
      hardState: sameHard(hard, this.prevHard) ? undefined : hard,
      snapshot,
      entries,
      conf: this.confChanged ? this.conf : undefined,
      messages: this.messages,
      committed,
      proposals: this.proposalOutcomes,
      reads: this.readOutcomes,
    };
    this.prevHard = hard;
    this.prevSoft = soft;
    this.confChanged = false;
    this.messages = [];
    this.proposalOutcomes = [];
    this.readOutcomes = [];
    this.readyOut = true;
    return rd;
  }

  /** Acknowledges that `rd` was handled: its entries are durable and its committed entries applied. */
  advance(rd: Ready): void {
    this.readyOut = false;
    if (rd.snapshot) this.log.stableSnapshotTo(rd.snapshot.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last) this.log.stableTo(last.index, last.term);
    const applied = rd.committed[rd.committed.length - 1];
    if (applied) this.log.appliedTo(applied.index);
    if (rd.snapshot) this.log.appliedTo(rd.snapshot.index);
    if (this.transferCampaignUntil > 0 && this.promotable()) {
      this.transferCampaignUntil = 0;
      if (this.currentRole !== 'leader') this.campaign(true);
    }
    if (this.currentRole === 'leader') {
      // The leader counts itself towards a quorum only for entries on its own disk.
      const self = this.progress.get(this.id);
      if (self && self.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) this.needsBroadcast = true;
    }
  }

  /** The node's state, for reporting. */
  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {};
    for (const [id, pr] of this.progress) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    return {
      id: this.id,
      term: this.currentTerm,
      vote: this.vote,
      role: this.currentRole,
      leader: this.leaderId,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.conf,
      progress,
      transferee: this.transferee,
    };
  }

  // ---- roles ----

  private becomeFollower(term: number, leader: NodeId | undefined): void {
    this.reset(term);
    this.currentRole = 'follower';
    this.leaderId = leader;
  }

  private becomePreCandidate(): void {
    // A pre-vote changes neither term nor vote: a node that cannot win disturbs nobody.
    this.currentRole = 'pre-candidate';
    this.leaderId = undefined;
    this.votes = new Map();
    this.resetRandomizedTimeout();
    this.stepDownCleanup();
    this.requestVotes(true, false);
  }

  private becomeCandidate(transfer: boolean): void {
    this.reset(this.currentTerm + 1);
    this.currentRole = 'candidate';
    this.vote = this.id;
    this.requestVotes(false, transfer);
  }

  private becomeLeader(): void {
    this.reset(this.currentTerm);
    this.currentRole = 'leader';
    this.leaderId = this.id;
    this.committedInTerm = false;
    const next = this.log.lastIndex() + 1;
    for (const id of this.members()) this.progress.set(id, this.newProgress(next));
    const self = this.progress.get(this.id)!;
    self.maybeUpdate(this.log.persistedLastIndex());
    self.becomeReplicate();
    // Conf changes of earlier terms may still be unapplied: none may start before they are.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntries([{ type: 'noop', data: EMPTY }]);
  }

  /** Leaves the current role: a new term clears the vote; leader-only state is dropped. */
  private reset(term: number): void {
    if (term !== this.currentTerm) {
      this.currentTerm = term;
      this.vote = '';
    }
    this.leaderId = undefined;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.transferCampaignUntil = 0;
    this.resetRandomizedTimeout();
    this.votes = new Map();
    this.stepDownCleanup();
  }

  /** Drops what only a leader holds: progress, transfer, pending reads (answered `not-leader`). */
  private stepDownCleanup(): void {
    this.progress = new Map();
    this.transferee = undefined;
    this.needsBroadcast = false;
    this.ackedRound.clear();
    this.roundSentAt.clear();
    const reads = [...this.readsBeforeCommit.map((r) => r.id), ...this.readsUnsent.map((r) => r.id), ...this.readsInFlight.map((r) => r.id)];
    for (const id of reads) this.readOutcomes.push({ id, kind: 'dropped', reason: 'not-leader', leader: undefined });
    this.readsBeforeCommit = [];
    this.readsUnsent = [];
    this.readsInFlight = [];
  }

  private resetRandomizedTimeout(): void {
    this.randomizedTimeout = this.electionTicks + this.rng.int(this.electionTicks);
  }

  private requestVotes(pre: boolean, transfer: boolean): void {
    const term = pre ? this.currentTerm + 1 : this.currentTerm;
    this.votes.set(this.id, true);
    if (this.countVotes()) return;
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      const m: VoteMessage = { type: 'vote', from: this.id, to, term, pre, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer };
      this.send(m);
    }
  }

  /** Acts on the votes so far; returns whether the election ended. */
  private countVotes(): boolean {
    const result = tally(this.conf.voters, this.votes);
    if (result === 'pending') return false;
    if (result === 'lost') this.becomeFollower(this.currentTerm, undefined);
    else if (this.currentRole === 'pre-candidate') this.becomeCandidate(false);
    else this.becomeLeader();
    return true;
  }

  // ---- message handling ----

  /**
   * Grants a vote to a candidate whose log is at least as up to date, once per term. A node
   * that knows no membership yet (it waits to join, its log and snapshot empty) grants
   * none: its empty log would approve any candidate, and a directory wiped and started
   * again under a former member's id would then let a removed node that never learned of
   * the change win an election with that member's old seat, and overwrite committed
   * entries.
   */
  private handleVote(m: VoteMessage): void {
    const knowsCluster = this.conf.voters.length > 0 || this.conf.learners.length > 0;
    const canVote = knowsCluster && (this.vote === m.from || (this.vote === '' && this.leaderId === undefined) || (m.pre && m.term > this.currentTerm));
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    const resp: VoteResponse = { type: 'vote-resp', from: this.id, to: m.from, term: granted ? m.term : this.currentTerm, pre: m.pre, granted };
    this.send(resp);
    if (granted && !m.pre) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case 'append-resp':
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeat-resp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.context > (this.ackedRound.get(m.from) ?? 0)) {
          this.ackedRound.set(m.from, m.context);
          this.releaseReads();
        }
        // A follower that is behind gets an append, even an empty one: if an earlier append
        // was lost, its rejection starts the probe that repairs the gap.
        if (pr.state === 'replicate' && pr.paused) pr.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term.
        this.becomeFollower(this.currentTerm, m.from);
        this.stepFollower(m);
        return;
      case 'vote-resp':
        if (m.pre !== (this.currentRole === 'pre-candidate')) return;
        this.votes.set(m.from, m.granted);
        this.countVotes();
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // With committed entries still to apply it may not campaign yet (it might not
        // know the latest membership): it does once they are applied, if still in time.
        if (this.promotable()) this.campaign(true);
        else if (this.conf.voters.includes(this.id)) this.transferCampaignUntil = this.ticks + this.electionTicks;
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leaderId = from;
  }

  private handleAppend(m: AppendMessage): void {
    const reply = (fields: Pick<AppendResponse, 'index' | 'reject' | 'hintIndex' | 'hintTerm'>): void =>
      this.send({ type: 'append-resp', from: this.id, to: m.from, term: this.currentTerm, ...fields });
    if (m.prevIndex < this.log.committed) {
      reply({ index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const last = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.settleOwnProposals();
      reply({ index: last, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    reply({ index: m.prevIndex, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    this.log.commitTo(m.commit);
    this.send({ type: 'heartbeat-resp', from: this.id, to: m.from, term: this.currentTerm, context: m.context });
  }

  private handleSnapshot(m: SnapshotMessage): void {
    const snap = m.snapshot;
    if (snap.index > this.log.committed) {
      if (this.log.matchTerm(snap.index, snap.term)) {
        // The log already holds the snapshot's last entry: no need to replace anything.
        this.log.commitTo(snap.index);
      } else {
        this.log.restore(snap);
        this.conf = snap.conf;
        this.confChanged = true;
        this.settleOwnProposals();
      }
    }
    // Only the commit index is known to match the leader's log (a stale suffix may follow it).
    this.send({ type: 'append-resp', from: this.id, to: m.from, term: this.currentTerm, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  private handleAppendResponse(m: AppendResponse, pr: Progress): void {
    if (m.reject) {
      const probe = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    // A legitimate leader holds every committed entry, so no follower can report more than
    // this log holds; such a claim (a follower of a leader elected unsafely) is not counted.
    if (m.index > this.log.lastIndex()) return;
    const wasPaused = pr.paused;
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    if (this.maybeCommit()) {
      this.broadcastAppend();
    } else if (wasPaused || pr.next <= this.log.lastIndex()) {
      while (this.sendAppend(m.from, false));
    }
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  // ---- replication ----

  /** Sends `to` the entries it lacks (or a snapshot). Returns whether a message with entries went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)!;
    if (pr.paused) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.entriesFrom(pr.next, this.maxMsgBytes);
    if (prevTerm === undefined || entries === undefined) {
      this.sendSnapshot(to, pr);
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m: AppendMessage = { type: 'append', from: this.id, to, term: this.currentTerm, prevIndex, prevTerm, entries, commit: this.log.committed };
    this.send(m);
    let bytes = 0;
    for (const e of entries) bytes += e.data.length;
    pr.sent(entries.length > 0 ? entries[entries.length - 1]!.index : prevIndex, bytes);
    return entries.length > 0;
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snapshot = this.storage.snapshot();
    pr.becomeSnapshot(snapshot.index);
    this.send({ type: 'snapshot', from: this.id, to, term: this.currentTerm, snapshot });
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeout-now', from: this.id, to, term: this.currentTerm });
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  /** Sends a heartbeat round to every follower; acknowledgements of it confirm reads and extend the lease. */
  private broadcastHeartbeat(): void {
    this.readRound++;
    // Rounds sent an election timeout ago can no longer give a lease: forget them.
    for (const [round, at] of this.roundSentAt) {
      if (at + this.electionTicks > this.ticks) break;
      this.roundSentAt.delete(round);
    }
    this.roundSentAt.set(this.readRound, this.ticks);
    for (const [to, pr] of this.progress) {
      if (to === this.id) continue;
      // Never tell a follower to commit past what it is known to hold: its log may differ there.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'heartbeat', from: this.id, to, term: this.currentTerm, commit, context: this.readRound });
    }
  }

  /** Commits what a quorum of voters holds, if of the current term (§5.4.2). Returns whether the commit index moved. */
  private maybeCommit(): boolean {
    const index = committedIndex(this.conf.voters, (id) => this.progress.get(id)!.match);
    if (index <= this.log.committed || this.log.term(index) !== this.currentTerm) return false;
    this.log.commitTo(index);
    if (!this.committedInTerm) {
      this.committedInTerm = true;
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const r of waiting) this.startRead(r.id, r.mode);
    }
    return true;
  }

  /** Whether a quorum of voters was heard from since the last check; clears the marks. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive) active++;
      if (pr) pr.recentActive = false;
    }
    return active >= majority(this.conf.voters.length);
  }

  // ---- proposals, reads and membership ----

  private proposalRefusal(): DropReason | undefined {
    if (this.removed) return 'removed';
    if (this.currentRole !== 'leader') return 'not-leader';
    if (this.transferee !== undefined) return 'transferring';
    return undefined;
  }

  private dropProposal(id: number, reason: DropReason): void {
    this.proposalOutcomes.push({ id, kind: 'dropped', reason, leader: this.leaderId });
  }

  /** Appends one entry of this leader's and remembers whose it is; returns its index. */
  private appendOwn(id: number, type: EntryType, data: Uint8Array): number {
    const index = this.appendEntries([{ type, data }]);
    this.ownProposals.set(index, { id, term: this.currentTerm });
    return index;
  }

  /** Appends entries of the current term to the leader's log; replication goes out with the next Ready. Returns the last index. */
  private appendEntries(items: { type: EntryType; data: Uint8Array }[]): number {
    let index = this.log.lastIndex();
    const entries: Entry[] = items.map((it) => ({ index: ++index, term: this.currentTerm, type: it.type, data: it.data }));
    this.log.append(entries);
    this.needsBroadcast = true;
    return index;
  }

  /** Reports own proposals whose entries were overwritten (dropped) or swallowed by a snapshot (unknown). */
  private settleOwnProposals(): void {
    for (const [index, p] of this.ownProposals) {
      const term = this.log.term(index);
      if (term === p.term) continue;
      this.ownProposals.delete(index);
      if (term === undefined && index <= this.log.committed) this.proposalOutcomes.push({ id: p.id, kind: 'unknown', index });
      else this.dropProposal(p.id, 'superseded');
    }
  }

  private onCommittedEntry(e: Entry): void {
    const own = this.ownProposals.get(e.index);
    // An own entry that was overwritten was settled when it was (settleOwnProposals).
    if (own && own.term === e.term) {
      this.ownProposals.delete(e.index);
      this.proposalOutcomes.push({ id: own.id, kind: 'committed', index: e.index, term: e.term });
    }
    if (e.type !== 'config') return;
    const cc = decodeConfChange(e.data);
    if (!cc) return;
    const next = applyConfChange(this.conf, cc);
    if (next === this.conf) return;
    this.conf = next;
    this.confChanged = true;
    if (cc.node === this.id) {
      if (cc.op === 'remove') this.leave();
      else this.removed = false;
    }
    if (this.currentRole !== 'leader') return;
    const members = this.members();
    for (const id of [...this.progress.keys()]) if (!members.includes(id)) this.progress.delete(id);
    for (const id of members) if (!this.progress.has(id)) this.progress.set(id, this.newProgress(this.log.lastIndex() + 1));
    if (this.transferee !== undefined && !next.voters.includes(this.transferee)) this.transferee = undefined;
    if (this.maybeCommit()) this.needsBroadcast = true;
    this.releaseReads();
  }

  /**
   * Applies this node's own removal: nobody will send it anything again, so its own
   * proposals beyond the commit index get `unknown` (the new leader may still commit
   * them), and a leader steps down so the others elect a new one.
   */
  private leave(): void {
    this.removed = true;
    for (const [index, p] of this.ownProposals) {
      if (index <= this.log.committed) continue;
      this.ownProposals.delete(index);
      this.proposalOutcomes.push({ id: p.id, kind: 'unknown', index });
    }
    if (this.currentRole === 'leader') this.becomeFollower(this.currentTerm, undefined);
  }

  private startRead(id: number, mode: 'quorum' | 'local'): void {
    if (this.conf.voters.length === 1 || (mode === 'local' && this.hasLease())) {
      this.readOutcomes.push({ id, kind: 'ready', index: this.log.committed });
      return;
    }
    this.readsUnsent.push({ id, index: this.log.committed, round: 0 });
  }

  /** The latest heartbeat round a majority of voters acknowledged (0: none). */
  private confirmedRound(): number {
    return committedIndex(this.conf.voters, (id) => (id === this.id ? this.readRound : (this.ackedRound.get(id) ?? 0)));
  }

  /**
   * Whether no other leader can exist yet: a majority acknowledged a round sent less than
   * an election timeout ago (minus one tick for the nodes' tick phases). Each of them
   * ignores vote requests for an election timeout after that heartbeat (check-quorum's lease).
   */
  private hasLease(): boolean {
    if (!this.checkQuorum) return false;
    const sentAt = this.roundSentAt.get(this.confirmedRound());
    return sentAt !== undefined && this.ticks + 1 < sentAt + this.electionTicks;
  }

  /** Releases the reads whose heartbeat round a quorum acknowledged, and forgets send times no lease needs. */
  private releaseReads(): void {
    const confirmed = this.confirmedRound();
    for (const round of this.roundSentAt.keys()) {
      if (round >= confirmed) break;
      this.roundSentAt.delete(round);
    }
    const still: PendingRead[] = [];
    for (const r of this.readsInFlight) {
      if (r.round <= confirmed) this.readOutcomes.push({ id: r.id, kind: 'ready', index: r.index });
      else still.push(r);
    }
    this.readsInFlight = still;
  }

  // ---- helpers ----

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && !this.log.hasCommitted();
  }

  private members(): NodeId[] {
    return [...this.conf.voters, ...this.conf.learners];
  }

  private newProgress(next: number): Progress {
    return new Progress(next, this.maxInflightMsgs, this.maxInflightBytes);
  }

  private send(m: Message): void {
    this.messages.push(m);
  }

  private hardState(): HardState {
    return { term: this.currentTerm, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.currentRole, leader: this.leaderId };
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader;
}
