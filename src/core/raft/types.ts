/**
 * The vocabulary of the pure Raft core: entries, persistent state, configurations,
 * messages and the Ready batch. Plain data only — every value here can be cloned,
 * compared and encoded by the caller.
 */

/** A node's identity: stable for its whole life (the server layer uses its address). */
export type NodeId = string;

/**
 * What an entry carries:
 * - `command`: an opaque proposal of the application (one key/value write);
 * - `noop`: appended by every new leader so entries of earlier terms can commit;
 * - `config`: a membership change (`data` is an encoded `ConfChange`, see `conf-change.ts`).
 */
export type EntryType = 'command' | 'noop' | 'config';

/** One log entry. Indexes start at 1; index 0 / term 0 is the empty log. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  /** The latest term this node has seen. */
  readonly term: number;
  /** Whom this node voted for in `term` (empty: nobody). */
  readonly vote: NodeId;
  /** The highest index known to be committed (persisting it is an optimisation, never required for safety). */
  readonly commit: number;
}

/** The members of a cluster: voters elect and form quorums, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** A membership change, proposed through the log and applied when committed. */
export interface ConfChange {
  /**
   * - `add-learner`: add `node` as a learner (it receives the log, has no vote);
   * - `promote`: make learner `node` a voter;
   * - `add-voter`: add `node` directly as a voter (bootstrapping; `add-learner` + `promote` is safer);
   * - `remove`: remove `node`, voter or learner. A removed leader steps down.
   */
  readonly op: 'add-learner' | 'promote' | 'add-voter' | 'remove';
  readonly node: NodeId;
  /** Opaque to the core: the application's data about the node (its address). */
  readonly context?: string;
}

/** Describes a snapshot: the state after applying every entry up to `index` (of `term`), and the membership then. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

/** The roles of a node. `pre-candidate` runs the pre-vote round before a real election. */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term (for pre-votes: the term it would campaign in). */
  readonly term: number;
}

/** RequestVote (or a pre-vote) for the sender's candidacy; `lastIndex`/`lastTerm` describe its log. */
export interface VoteMessage extends MessageBase {
  readonly type: 'vote';
  readonly pre: boolean;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Sent by a leadership transfer: the receiver must not ignore it because it believes a leader is alive. */
  readonly transfer: boolean;
}

/** The answer to a `vote`. For a granted pre-vote `term` echoes the request's term. */
export interface VoteResponse extends MessageBase {
  readonly type: 'vote-resp';
  readonly pre: boolean;
  readonly granted: boolean;
}

/** AppendEntries: `entries` follow (`prevIndex`, `prevTerm`); `commit` is the leader's commit index. */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * The answer to an `append` or `snapshot`. Accepted: `index` is the last index now
 * matching the leader's log. Rejected: `index` is the rejected `prevIndex`, and
 * (`hintIndex`, `hintTerm`) the follower's last entry at or below it whose term is not
 * above the leader's `prevTerm`, so the leader can skip a whole conflicting term at once.
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'append-resp';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Heartbeat: asserts leadership and carries the commit index (capped to what the follower matches). `context` confirms ReadIndex rounds. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly context: number;
}

/** The answer to a heartbeat, echoing its `context`. */
export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeat-resp';
  readonly context: number;
}

/**
 * InstallSnapshot: the follower is behind the leader's compacted log. The core only
 * carries the meta; the application streams the state itself, and steps this message
 * into the receiving core once the state is ready to install.
 */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: SnapshotMeta;
}

/** Leadership transfer: the receiver starts an election at once. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeout-now';
}

/** Every message between Raft nodes. */
export type Message =
  | VoteMessage
  | VoteResponse
  | AppendMessage
  | AppendResponse
  | HeartbeatMessage
  | HeartbeatResponse
  | SnapshotMessage
  | TimeoutNowMessage;

/**
 * The outcome of a proposal, reported exactly once per proposal id: `committed` at
 * (index, term); `dropped` (it never will be); or `unknown` — whether it committed
 * cannot be told here: this node's log was replaced by a snapshot covering the entry, or
 * the node was removed from the cluster while the entry was in flight.
 */
export type ProposalOutcome =
  | { readonly id: number; readonly kind: 'committed'; readonly index: number; readonly term: number }
  | { readonly id: number; readonly kind: 'dropped'; readonly reason: DropReason; readonly leader: NodeId | undefined }
  | { readonly id: number; readonly kind: 'unknown'; readonly index: number };

/**
 * Why a proposal or read was dropped:
 * - `not-leader`: this node is not the leader (`leader` names the one it knows of);
 * - `transferring`: leadership is being handed over;
 * - `superseded`: the entry was overwritten by another leader's log, so it will never commit;
 * - `conf-pending`: a membership change is already in progress;
 * - `invalid-conf`: the membership change makes no sense (unknown node, last voter, …);
 * - `removed`: this node left the cluster.
 */
export type DropReason = 'not-leader' | 'transferring' | 'superseded' | 'conf-pending' | 'invalid-conf' | 'removed';

/** A confirmed ReadIndex: once entries up to `index` are applied, reads tagged `id` may run. */
export type ReadOutcome =
  | { readonly id: number; readonly kind: 'ready'; readonly index: number }
  | { readonly id: number; readonly kind: 'dropped'; readonly reason: DropReason; readonly leader: NodeId | undefined };

/** Volatile state worth showing (RAFTSTATE, RAFTLEADER, logs). */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | undefined;
}

/**
 * Everything the core wants done, taken with `RaftNode.ready()`. The caller handles it
 * in this order, then calls `advance(ready)`:
 *
 * 1. install `snapshot` (if any): replace the state machine and the log with it;
 * 2. append `entries` to the stable log — entries from `entries[0].index` on replace
 *    whatever the log held there — and store `hardState` (if any) and `conf` (if any);
 *    make all of it durable;
 * 3. send `messages` (any order, any may be lost);
 * 4. apply `committed` entries to the state machine, in order;
 * 5. resolve `proposals` and `reads` (a read may run once `index` is applied).
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
  readonly conf: ConfState | undefined;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly proposals: readonly ProposalOutcome[];
  readonly reads: readonly ReadOutcome[];
}
