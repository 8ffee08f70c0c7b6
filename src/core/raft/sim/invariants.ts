/**
 * Raft's safety properties, checked by the simulator after every step of a run, over
 * what the nodes persisted and applied and over the history of client-visible outcomes.
 * The checker keeps what it saw (leaders per term, committed entries, logs already
 * checked), so each check costs only what changed since the previous one.
 */
import type { LogStorage } from '../storage.js';
import type { Entry, EntryType, NodeId, Role } from '../types.js';
import { messageOf } from '../../support/error-message.js';

/** The properties checked; `checker` reports a view the checker could not read (an exception). */
export type InvariantName =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'applied-prefix'
  | 'linearizable-read'
  | 'checker';

/** A broken property, with a message naming the nodes, indexes and terms involved. */
export interface Violation {
  readonly invariant: InvariantName;
  readonly message: string;
}

/** One command applied by a model state machine. */
export interface AppliedCommand {
  readonly index: number;
  readonly data: Uint8Array;
}

/** What the checker sees of one node after a step. */
export interface NodeView {
  readonly id: NodeId;
  /** The running node's role and term; undefined while it is crashed. */
  readonly live: { readonly role: Role; readonly term: number } | undefined;
  /** What the node persisted: log, hard state, snapshot. */
  readonly storage: LogStorage;
  /** The node's model state machine: the `command` entries applied so far, in order. */
  readonly applied: readonly AppliedCommand[];
}

/**
 * What happened during a step, in order. `read-start`/`read-ready` share a `key`
 * unique over the whole run (a restarted node reuses read ids).
 */
export type HistoryEvent =
  /** `node`'s state machine applied `entry` (any type). */
  | { readonly kind: 'apply'; readonly node: NodeId; readonly entry: Entry }
  /** `node`'s state machine was replaced by the snapshot at `index`. */
  | { readonly kind: 'install'; readonly node: NodeId; readonly index: number }
  /** A proposal to `node` was reported committed at (`index`, `term`) with this content. */
  | { readonly kind: 'acked'; readonly node: NodeId; readonly index: number; readonly term: number; readonly type: EntryType; readonly data: Uint8Array }
  /** A ReadIndex read started. */
  | { readonly kind: 'read-start'; readonly node: NodeId; readonly key: string }
  /** A ReadIndex read was confirmed at `index`. */
  | { readonly kind: 'read-ready'; readonly node: NodeId; readonly key: string; readonly index: number };

/** A committed entry as first seen, and who showed it. */
interface Committed {
  readonly term: number;
  /** The highest term seen anywhere when the commit was observed: the committing leader's term is at most this. */
  readonly bound: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
  readonly by: string;
}

/** An entry of some persisted log, identified by (index, term), with the term before it. */
interface Logged {
  readonly type: EntryType;
  readonly data: Uint8Array;
  readonly prevTerm: number;
  readonly node: NodeId;
}

const ALL = Number.MAX_SAFE_INTEGER;

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A short printable form of entry data, for messages. */
export function showData(data: Uint8Array): string {
  const text = new TextDecoder().decode(data.subarray(0, 24));
  return JSON.stringify(data.length > 24 ? `${text}…` : text);
}

/**
 * Checks, after every step of a simulation:
 * - election safety: at most one leader per term (over every leader ever seen), a
 *   persisted term never goes back and a persisted vote never changes within a term;
 * - log matching: two persisted logs holding an entry with the same index and term hold
 *   the same entry there and the same entries before it (checked as: every (index,
 *   term) ever persisted anywhere names one entry content and one previous term);
 * - leader completeness: a leader holds every entry committed in its term or earlier
 *   (unless compacted into its snapshot). Which leader committed an entry is not
 *   observed, only that its term is at most the highest term seen anywhere by then; so
 *   each leader is held to the entries committed while no term above its own was seen;
 * - state machine safety: an index, once committed (applied anywhere, or acknowledged
 *   to a client), always carries the same entry, and each node applies indexes one
 *   after another (no gap, no repeat) except when it installs a snapshot;
 * - applied prefix: every node's applied command sequence is a prefix of one common
 *   sequence;
 * - linearizable reads: a ReadIndex read confirmed at index i saw every entry known
 *   committed (acknowledged or applied anywhere) before the read started.
 *
 * `check` never throws: an exception while reading a view becomes a `checker`
 * violation. After a violation the checker's state is unspecified; stop the run.
 */
export class InvariantChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly votes = new Map<NodeId, { term: number; vote: NodeId }>();
  private readonly logged = new Map<string, Logged>();
  /** Per node: the entries (by reference) of its log already checked, from `base`. */
  private readonly seenLogs = new Map<NodeId, { base: number; entries: readonly Entry[] }>();
  private readonly committed = new Map<number, Committed>();
  private maxCommitted = 0;
  /** The highest term seen so far, live or persisted. */
  private maxTerm = 0;
  /** Per (term, leader): committed indexes up to here were found in its log. */
  private readonly completeUpTo = new Map<string, number>();
  private readonly appliedIndex = new Map<NodeId, number>();
  private readonly common: AppliedCommand[] = [];
  private readonly seenApplied = new Map<NodeId, { list: readonly AppliedCommand[]; checked: number }>();
  private readonly readsStarted = new Map<string, number>();

  /** Checks the nodes as they are now, after the `events` of the step that just ran. */
  check(nodes: readonly NodeView[], events: readonly HistoryEvent[] = []): Violation | undefined {
    try {
      for (const n of nodes) this.maxTerm = Math.max(this.maxTerm, n.live?.term ?? 0, n.storage.initialState().hardState.term);
      return (
        this.checkEvents(events) ??
        this.checkElections(nodes) ??
        this.checkLogs(nodes) ??
        this.checkCompleteness(nodes) ??
        this.checkAppliedPrefix(nodes)
      );
    } catch (err) {
      return { invariant: 'checker', message: `could not check the cluster: ${messageOf(err)}` };
    }
  }

  /** The highest index known committed so far. */
  get commitIndex(): number {
    return this.maxCommitted;
  }

  private checkEvents(events: readonly HistoryEvent[]): Violation | undefined {
    for (const ev of events) {
      let v: Violation | undefined;
      switch (ev.kind) {
        case 'apply': {
          const prev = this.appliedIndex.get(ev.node) ?? 0;
          if (ev.entry.index !== prev + 1) {
            return fail('state-machine-safety', `${ev.node} applied index ${ev.entry.index} right after index ${prev}`);
          }
          this.appliedIndex.set(ev.node, ev.entry.index);
          v = this.commit(ev.entry.index, { ...ev.entry, by: `applied by ${ev.node}` });
          break;
        }
        case 'install':
          this.appliedIndex.set(ev.node, ev.index);
          break;
        case 'acked':
          v = this.commit(ev.index, { term: ev.term, type: ev.type, data: ev.data, by: `acknowledged by ${ev.node}` });
          break;
        case 'read-start':
          this.readsStarted.set(ev.key, this.maxCommitted);
          break;
        case 'read-ready': {
          const floor = this.readsStarted.get(ev.key);
          this.readsStarted.delete(ev.key);
          if (floor !== undefined && ev.index < floor) {
            v = fail('linearizable-read', `read ${ev.key} on ${ev.node} was confirmed at index ${ev.index}, but index ${floor} was committed before it started`);
          }
          break;
        }
      }
      if (v) return v;
    }
    return undefined;
  }

  private commit(index: number, c: Omit<Committed, 'bound'>): Violation | undefined {
    const old = this.committed.get(index);
    if (!old) {
      this.committed.set(index, { ...c, bound: Math.max(c.term, this.maxTerm) });
      this.maxCommitted = Math.max(this.maxCommitted, index);
      return undefined;
    }
    if (old.term !== c.term || old.type !== c.type || !sameBytes(old.data, c.data)) {
      return fail('state-machine-safety', `index ${index} committed as ${describe(old)} (${old.by}) but later as ${describe(c)} (${c.by})`);
    }
    return undefined;
  }

  private checkElections(nodes: readonly NodeView[]): Violation | undefined {
    for (const n of nodes) {
      if (n.live?.role === 'leader') {
        const other = this.leaders.get(n.live.term);
        if (other === undefined) this.leaders.set(n.live.term, n.id);
        else if (other !== n.id) return fail('election-safety', `${other} and ${n.id} were both leaders of term ${n.live.term}`);
      }
      const hs = n.storage.initialState().hardState;
      const old = this.votes.get(n.id);
      if (old && hs.term < old.term) return fail('election-safety', `${n.id}'s persisted term went back from ${old.term} to ${hs.term}`);
      if (old && hs.term === old.term && old.vote !== '' && hs.vote !== old.vote) {
        return fail('election-safety', `${n.id} voted for ${old.vote} and then for ${JSON.stringify(hs.vote)} in term ${hs.term}`);
      }
      this.votes.set(n.id, { term: hs.term, vote: hs.vote });
    }
    return undefined;
  }

  private checkLogs(nodes: readonly NodeView[]): Violation | undefined {
    for (const n of nodes) {
      const first = n.storage.firstIndex();
      const last = n.storage.lastIndex();
      const entries = last >= first ? n.storage.entries(first, last + 1, ALL) : [];
      const seen = this.seenLogs.get(n.id);
      this.seenLogs.set(n.id, { base: first, entries });
      let i = 0;
      if (seen) while (i < entries.length && seen.entries[first + i - seen.base] === entries[i]) i++;
      for (; i < entries.length; i++) {
        const e = entries[i]!;
        const index = first + i;
        if (e.index !== index) return fail('log-matching', `${n.id}'s log holds index ${e.index} at position ${index}`);
        const prevTerm = i === 0 ? n.storage.term(index - 1) : entries[i - 1]!.term;
        const key = `${index}/${e.term}`;
        const old = this.logged.get(key);
        if (!old) {
          this.logged.set(key, { type: e.type, data: e.data, prevTerm, node: n.id });
          continue;
        }
        if (old.type !== e.type || !sameBytes(old.data, e.data)) {
          return fail('log-matching', `${old.node} and ${n.id} both hold index ${index} of term ${e.term}, as ${describe(old)} and ${describe(e)}`);
        }
        if (old.prevTerm !== prevTerm) {
          return fail(
            'log-matching',
            `${old.node} and ${n.id} both hold index ${index} of term ${e.term}, but index ${index - 1} has term ${old.prevTerm} on ${old.node} and ${prevTerm} on ${n.id}`,
          );
        }
      }
    }
    return undefined;
  }

  private checkCompleteness(nodes: readonly NodeView[]): Violation | undefined {
    for (const n of nodes) {
      if (n.live?.role !== 'leader') continue;
      const { term } = n.live;
      const key = `${term}/${n.id}`;
      const from = (this.completeUpTo.get(key) ?? 0) + 1;
      const snap = n.storage.firstIndex() - 1;
      const last = n.storage.lastIndex();
      // Indexes not known committed yet (an acknowledgement ahead of every apply) are
      // looked at again next time: the mark stops before the first of them.
      let upTo = this.maxCommitted;
      for (let index = from; index <= this.maxCommitted; index++) {
        const c = this.committed.get(index);
        if (!c) upTo = Math.min(upTo, index - 1);
        if (!c || c.bound > term || index <= snap) continue;
        if (index > last) return fail('leader-completeness', `${n.id}, leader of term ${term}, lacks committed index ${index} (its log ends at ${last})`);
        const has = n.storage.term(index);
        if (has !== c.term) {
          return fail('leader-completeness', `${n.id}, leader of term ${term}, holds term ${has} at index ${index}, committed with term ${c.term} (${c.by})`);
        }
      }
      this.completeUpTo.set(key, Math.max(from - 1, upTo));
    }
    return undefined;
  }

  private checkAppliedPrefix(nodes: readonly NodeView[]): Violation | undefined {
    for (const n of nodes) {
      const seen = this.seenApplied.get(n.id);
      const list = n.applied;
      let k = seen && seen.list === list && seen.checked <= list.length ? seen.checked : 0;
      for (; k < list.length; k++) {
        const mine = list[k]!;
        const theirs = this.common[k];
        if (!theirs) {
          this.common.push(mine);
        } else if (theirs.index !== mine.index || !sameBytes(theirs.data, mine.data)) {
          return fail(
            'applied-prefix',
            `${n.id}'s command #${k + 1} is index ${mine.index} ${showData(mine.data)}, another node's is index ${theirs.index} ${showData(theirs.data)}`,
          );
        }
      }
      this.seenApplied.set(n.id, { list, checked: list.length });
    }
    return undefined;
  }
}

function fail(invariant: InvariantName, message: string): Violation {
  return { invariant, message };
}

function describe(e: { readonly term?: number; readonly type: EntryType; readonly data: Uint8Array }): string {
  return `${e.term === undefined ? '' : `term ${e.term} `}${e.type} ${showData(e.data)}`;
}
