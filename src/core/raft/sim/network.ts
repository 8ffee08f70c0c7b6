/**
 * A simulated network for the deterministic cluster simulator: no sockets, no timers,
 * no clock and no `Math.random`. Time is a step counter moved by `advance()`; every
 * random choice (loss, duplication, delay) comes from the one injected `Rng`, so a seed
 * replays the same run exactly.
 */
import type { Rng } from '../../support/rng.js';
import type { Message, NodeId } from '../types.js';

/** The faults the network injects into every message sent while they are set. */
export interface Faults {
  /** Probability in [0, 1] that a message is lost when sent. */
  readonly dropRate: number;
  /** Probability in [0, 1] that a message that is not lost is delivered twice. */
  readonly duplicateRate: number;
  /** Each copy is delivered `0 … maxDelay` steps after it was sent (uniformly); above 0 this reorders messages. */
  readonly maxDelay: number;
}

/** A network that delivers every message, in order, in the step it was sent. */
export const NO_FAULTS: Faults = { dropRate: 0, duplicateRate: 0, maxDelay: 0 };

/** Why a message never arrived: lost by the drop rate, or sent over a link that was cut when it was due. */
export type LossReason = 'dropped' | 'partitioned';

/** A message that will never be delivered. */
export interface LostMessage {
  readonly msg: Message;
  readonly reason: LossReason;
}

/** Counters of what the network did, for reports. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  partitioned: number;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly msg: Message;
}

/**
 * In-process message passing between simulated Raft nodes.
 *
 * Contract: `send` queues a message (or loses it) with a delivery step drawn from the
 * current `Faults`; `takeDue` returns every queued message due at or before `now`,
 * ordered by delivery step then by send order, except those whose link is cut at that
 * moment, which go to `takeLost` instead. Links are cut by `partition` and `isolate` and
 * restored by `heal`. The network never looks at message contents.
 */
export class SimNetwork {
  private readonly rng: Rng;
  private current: Faults;
  private time = 0;
  private seq = 0;
  private queue: InFlight[] = [];
  private lost: LostMessage[] = [];
  /** Partition group of each listed node; unlisted nodes share the group -1. */
  private groups = new Map<NodeId, number>();
  private isolated = new Set<NodeId>();
  /** What the network did so far. */
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, partitioned: 0 };

  constructor(rng: Rng, faults: Partial<Faults> = {}) {
    this.rng = rng;
    this.current = NO_FAULTS;
    this.setFaults(faults);
  }

  /** The current step. */
  get now(): number {
    return this.time;
  }

  /** The faults applied to messages sent from now on. */
  get faults(): Faults {
    return this.current;
  }

  /** How many messages (copies included) are queued and not yet due or taken. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Changes some of the faults; the others keep their value. Rates must be in [0, 1] and the delay a non-negative integer. */
  setFaults(faults: Partial<Faults>): void {
    const next = { ...this.current, ...faults };
    if (!(next.dropRate >= 0 && next.dropRate <= 1) || !(next.duplicateRate >= 0 && next.duplicateRate <= 1)) {
      throw new RangeError(`fault rates must be in [0, 1]: drop ${next.dropRate}, duplicate ${next.duplicateRate}`);
    }
    if (!Number.isInteger(next.maxDelay) || next.maxDelay < 0) throw new RangeError(`maxDelay must be a non-negative integer: ${next.maxDelay}`);
    this.current = next;
  }

  /** Queues `msg` for delivery (once, twice or never, per the faults). */
  send(msg: Message): void {
    this.stats.sent++;
    const { dropRate, duplicateRate } = this.current;
    if (dropRate > 0 && this.rng.float() < dropRate) {
      this.stats.dropped++;
      this.lost.push({ msg, reason: 'dropped' });
      return;
    }
    this.enqueue(msg);
    if (duplicateRate > 0 && this.rng.float() < duplicateRate) {
      this.stats.duplicated++;
      this.enqueue(msg);
    }
  }

  /** Moves time forward by `steps` (default 1). */
  advance(steps = 1): void {
    this.time += steps;
  }

  /**
   * Removes and returns the messages due by now whose link is up, in delivery order.
   * Due messages over a cut link are lost (see `takeLost`).
   */
  takeDue(): Message[] {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const m of this.queue) (m.at <= this.time ? due : later).push(m);
    if (due.length === 0) return [];
    this.queue = later;
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const out: Message[] = [];
    for (const { msg } of due) {
      if (this.connected(msg.from, msg.to)) {
        this.stats.delivered++;
        out.push(msg);
      } else {
        this.stats.partitioned++;
        this.lost.push({ msg, reason: 'partitioned' });
      }
    }
    return out;
  }

  /** Removes and returns the messages lost since the last call, in the order they were lost. */
  takeLost(): LostMessage[] {
    const out = this.lost;
    this.lost = [];
    return out;
  }

  /**
   * Splits the network: nodes in different groups cannot reach each other; nodes named in
   * no group form one more group together. Replaces any earlier partition (isolations stay).
   */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((group, i) => {
      for (const id of group) this.groups.set(id, i);
    });
  }

  /** Cuts every link of `id` until `heal()`. */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** Restores every link: no partition, nobody isolated. Queued messages are kept. */
  heal(): void {
    this.groups = new Map();
    this.isolated.clear();
  }

  /** Whether a message from `a` to `b` would be delivered now. */
  connected(a: NodeId, b: NodeId): boolean {
    if (this.isolated.has(a) || this.isolated.has(b)) return false;
    return (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1);
  }

  /** Whether any link is cut. */
  get split(): boolean {
    return this.groups.size > 0 || this.isolated.size > 0;
  }

  private enqueue(msg: Message): void {
    const { maxDelay } = this.current;
    const delay = maxDelay > 0 ? this.rng.int(maxDelay + 1) : 0;
    this.queue.push({ at: this.time + delay, seq: this.seq++, msg });
  }
}
