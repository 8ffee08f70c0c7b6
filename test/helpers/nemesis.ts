/**
 * The nemesis of a fault run: seeded, it injects one fault at a time into a cluster of
 * real nodes (test/helpers/cluster.ts) wired through a fault-injecting network
 * (test/helpers/fault-network.ts), a new one every 2–3 s (later only when healing the
 * previous one took longer; the largest gap is reported). The first six are one of each
 * of these kinds in a seeded order (so even a short run has them all), then they are
 * drawn at random:
 *
 * - `kill`: SIGKILL of a member (the leader two times in three), restarted on its
 *   directory and port after 0.3–1.2 s;
 * - `pause`: SIGSTOP of a member (the leader two times in three) for 2–4 election
 *   timeouts, then SIGCONT;
 * - `partition`: for 2–4 election timeouts, a majority/minority split of the members, the
 *   leader isolated from the others, or a bridge (two sides that only a middle node
 *   reaches), then healed;
 * - `remove`: RAFTREMOVEPEER of a follower, sent to a random member (followers forward
 *   it); the removed node keeps running, as the product leaves it, until it is added
 *   again;
 * - `add` (when a node was removed): a node joins with `--join` — two times in three the
 *   removed one, stopped and wiped (fresh directory, same id), else any address that is
 *   not a member (the spare one never used, or one removed earlier); it catches up (from
 *   a snapshot, usually) while the next faults go on.
 *
 * During a majority/minority or isolated-leader partition (when no membership change is
 * under way), half the time — always, until it happened once in the run — a node of the
 * minority (a strict minority of the voters) is asked to RAFTADDPEER or RAFTREMOVEPEER:
 * that must fail or time out, and the membership the majority reports — during the
 * partition, and again after healing — must be the one from before; anything else is
 * recorded as a violation. One time in five, a real membership change goes through the
 * majority instead (removing a node of the minority, or adding one).
 *
 * `heal` ends it all: links healed, paused nodes resumed, dead members restarted, a
 * pending join waited for, and the membership brought back to `size` voters.
 */
import { performance } from 'node:perf_hooks';
import type { Rng } from '../../src/core/support/rng.js';
import { ReplyError, sleep, type ClusterNode, type Resp, type TestCluster } from './cluster.js';
import { awaitLeader, findLeader, membershipOf, splitMembership, syncMembers } from './cluster-view.js';
import type { FaultNetwork } from './fault-network.js';

/** One injected event. */
export interface NemesisEvent {
  /** Milliseconds since the run started. */
  at: number;
  /** What kind, e.g. `kill` or `partition (bridge)`; the report counts events by kind. */
  kind: string;
  detail: string;
}

/** Settings of a `Nemesis`. */
export interface NemesisOptions {
  cluster: TestCluster;
  net: FaultNetwork;
  rng: Rng;
  /** Voters the cluster has when healthy. */
  size: number;
  /** `performance.now()` when the run started (event times are relative to it). */
  started: number;
}

/** How long a node may take to become a voter after it was started with --join. */
const JOIN_TIMEOUT_MS = 60_000;

/** Injects faults (see the file comment) and records what it did. */
export class Nemesis {
  /** Every event, in order. */
  readonly events: NemesisEvent[] = [];
  /** Broken guarantees seen by the nemesis itself (an isolated node changed membership). */
  readonly violations: string[] = [];
  /** Failures that are not violations but fail the run (a node that never recovered). */
  readonly problems: string[] = [];
  /** When the first fault was injected (`performance.now()`), or undefined. */
  firstFaultAt: number | undefined;
  /** The longest time between the starts of two faults, ms. */
  maxGapMs = 0;
  private readonly o: NemesisOptions;
  private readonly c: TestCluster;
  /** Joins and post-heal membership checks still running in the background. */
  private readonly pending = new Set<Promise<void>>();
  /** A node started with --join that is not a voter yet. */
  private joiningNode: ClusterNode | undefined;
  /** The kinds of fault still to inject first (see `inject`). */
  private deck: string[] | undefined;
  /** Membership requests sent to isolated nodes so far. */
  private isolatedRequests = 0;

  constructor(o: NemesisOptions) {
    this.o = o;
    this.c = o.cluster;
  }

  /** Injects faults from `firstAt` (`performance.now()` time) until `stop()`; the last one is healed before it returns. */
  async run(firstAt: number, stop: () => boolean): Promise<void> {
    await sleep(firstAt - performance.now());
    let next = performance.now();
    let last: number | undefined;
    while (!stop()) {
      await sleep(next - performance.now());
      if (stop()) break;
      const start = performance.now();
      this.firstFaultAt ??= start;
      if (last !== undefined) this.maxGapMs = Math.max(this.maxGapMs, start - last);
      last = start;
      await this.inject();
      next = Math.max(start + 2000 + this.o.rng.int(1001), performance.now() + 250);
      // Learn the membership in the healthy window, for the next choice.
      await syncMembers(this.c, Math.max(200, next - performance.now() - 100));
    }
  }

  /** Heals everything (see the file comment); afterwards the cluster has `size` voters, all running. */
  async heal(): Promise<void> {
    const c = this.c;
    this.o.net.heal();
    for (const n of c.nodes) if (n.paused) c.resume(n);
    for (const n of c.nodes) if ((n.member || n === this.joiningNode) && !c.running(n)) await this.restart(n);
    await Promise.all(this.pending);
    for (let attempt = 0; ; attempt++) {
      const lines = await syncMembers(c, 20_000);
      if (!lines) throw new Error(`no leader after healing\n${c.logs()}`);
      const { voters, learners } = splitMembership(lines);
      if (voters.length >= this.o.size && learners.length === 0) break;
      if (attempt >= 2 * this.o.size) throw new Error(`the membership did not come back to ${this.o.size} voters: ${lines.join(', ')}`);
      if (learners.length === 0) await this.add(undefined);
      await Promise.all(this.pending);
      await sleep(200);
    }
    this.record('heal', `members: ${c.members().map((n) => n.name).join(', ')}`);
  }

  /** The running processes of nodes that are not members (removed ones): they are no part of the final comparison. */
  strays(): ClusterNode[] {
    return this.c.nodes.filter((n) => !n.member && this.c.running(n));
  }

  // ---- choosing ----------------------------------------------------------------------

  private async inject(): Promise<void> {
    const c = this.c;
    const rng = this.o.rng;
    const busy = this.pending.size > 0;
    const voters = c.members().length;
    const weights: [string, number][] = [
      ['kill', 3],
      ['pause', 2],
      ['halves', 2],
      ['leader', 2],
      ['bridge', 1.5],
      ['remove', !busy && voters >= this.o.size ? 1.2 : 0],
      // A removed node comes back soon: about one fault in two while one is missing.
      ['add', !busy && voters < this.o.size ? 10 : 0],
    ];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    let r = rng.float() * total;
    let kind = weights.find(([, w]) => (r -= w) < 0)?.[0] ?? 'kill';
    // The first faults of a run are one of each kind, in a seeded order, so that even a short run has them all.
    this.deck ??= shuffle(['kill', 'pause', 'halves', 'leader', 'bridge', 'remove'], rng);
    const allowed = (k: string): boolean => weights.find(([w]) => w === k)![1] > 0;
    const next = this.deck.findIndex(allowed);
    if (kind !== 'add' && next >= 0) kind = this.deck.splice(next, 1)[0]!;
    switch (kind) {
      case 'kill':
        return this.kill();
      case 'pause':
        return this.pause();
      case 'remove':
        return this.removeFollower();
      case 'add':
        return this.add(undefined);
      default:
        return this.partition(kind as 'halves' | 'leader' | 'bridge');
    }
  }

  /** A running, unpaused member: the leader two times in three, when there is one. */
  private async victim(): Promise<{ node: ClusterNode; role: string } | undefined> {
    const c = this.c;
    const candidates = c.members().filter((n) => c.running(n) && !n.paused);
    // Drawn whatever the cluster looks like, so a replay makes the same draws.
    const preferLeader = this.o.rng.int(3) < 2;
    const other = this.o.rng.int(Math.max(1, candidates.length));
    if (candidates.length === 0) return undefined;
    const leader = await findLeader(c, candidates);
    const node = leader && preferLeader ? leader : candidates[other]!;
    return { node, role: node === leader ? 'leader' : 'follower' };
  }

  // ---- faults ------------------------------------------------------------------------

  private async kill(): Promise<void> {
    const v = await this.victim();
    if (!v) return;
    const down = 300 + this.o.rng.int(901);
    await this.c.kill(v.node, 'SIGKILL');
    this.record('kill', `SIGKILL ${v.node.name} (${v.role}), restart after ${down} ms`);
    await sleep(down);
    await this.restart(v.node);
  }

  private async pause(): Promise<void> {
    const v = await this.victim();
    if (!v) return;
    const ms = Math.round(this.c.electionMs * (2 + 2 * this.o.rng.float()));
    this.c.pause(v.node);
    this.record('pause', `SIGSTOP ${v.node.name} (${v.role}) for ${ms} ms`);
    await sleep(ms);
    this.c.resume(v.node);
  }

  private async partition(shape: 'halves' | 'leader' | 'bridge'): Promise<void> {
    const c = this.c;
    const rng = this.o.rng;
    const members = shuffle(c.members(), rng);
    const others = c.nodes.filter((n) => !n.member);
    const leader = shape === 'leader' ? await findLeader(c) : undefined;
    if (shape === 'bridge' && members.length < 3) shape = 'halves';
    if (shape === 'leader' && !leader) shape = 'halves';
    const ms = Math.round(c.electionMs * (2 + 2 * rng.float()));
    const start = performance.now();
    let minority: ClusterNode[] = [];
    let majority: ClusterNode[] = [];
    // What to do inside: a request to the minority, a real change through the majority, or nothing.
    // The first eligible partition of a run always asks the minority.
    const roll = this.isolatedRequests === 0 ? 0 : rng.float();
    const busy = this.pending.size > 0;
    const before = shape !== 'bridge' && !busy && roll < 0.7 ? await this.stableMembership() : undefined;
    let majorityLed = false;
    if (shape === 'bridge') {
      const half = Math.floor((members.length - 1) / 2);
      const left = members.slice(1, 1 + half);
      const right = [...members.slice(1 + half), ...others];
      this.o.net.bridge(names(left), members[0]!.addr, names(right));
      this.record('partition (bridge)', `${this.describe(left)} <-> ${members[0]!.name} <-> ${this.describe(right)} for ${ms} ms`);
    } else {
      if (shape === 'leader') {
        minority = [leader!];
        majority = [...members.filter((n) => n !== leader), ...others];
      } else {
        const size = 1 + rng.int(Math.max(1, Math.floor((members.length - 1) / 2)));
        minority = members.slice(0, size);
        majority = [...members.slice(size), ...others];
      }
      this.o.net.partition([names(minority), names(majority)]);
      this.record(shape === 'leader' ? 'partition (isolated leader)' : 'partition (majority/minority)', `${this.describe(minority)} | ${this.describe(majority)} for ${ms} ms`);
    }
    // Only a strict minority of the voters is isolated: the majority can elect a leader and overwrite what the minority logged.
    const voters = before ? splitMembership(before).voters : [];
    const isolated = minority.filter((n) => voters.includes(n.addr)).length * 2 < voters.length;
    if (before && isolated && roll < 0.5) majorityLed = await this.isolatedRequest(minority, majority, before);
    else if (before && roll < 0.7) await this.changeThroughMajority(minority, majority);
    await sleep(start + ms - performance.now());
    this.o.net.heal();
    if (before && majorityLed) this.background(this.checkAfterHeal(before));
  }

  /** The membership the leader reports, if it has no learners (no change in progress), else undefined. */
  private async stableMembership(): Promise<string[] | undefined> {
    const leader = await findLeader(this.c);
    const lines = leader ? await membershipOf(this.c, leader) : undefined;
    return lines && splitMembership(lines).learners.length === 0 ? lines : undefined;
  }

  /**
   * Asks a member of a strict minority to change membership: it must fail or time out (a
   * client-side timeout of 1.5 s: the node may wait for its own request timeout), and the
   * majority's membership must stay `before`. Resolves true when the majority had a leader
   * afterwards: then whatever the minority logged is overwritten once healed, so the
   * membership must still be `before` after healing too. (Otherwise a change logged by
   * an isolated leader may legitimately commit after healing: its outcome was unknown.)
   */
  private async isolatedRequest(minority: ClusterNode[], majority: ClusterNode[], before: string[]): Promise<boolean> {
    const c = this.c;
    const rng = this.o.rng;
    await sleep(200 + rng.int(300));
    const asked = minority.filter((n) => c.running(n) && !n.paused);
    if (asked.length === 0) return false;
    const node = asked[rng.int(asked.length)]!;
    const spare = c.nodes.filter((n) => !n.member);
    const majorityVoters = majority.filter((n) => n.member);
    const add = spare.length > 0 && (rng.int(2) === 0 || majorityVoters.length === 0);
    const target = add ? spare[rng.int(spare.length)]! : majorityVoters[rng.int(majorityVoters.length)]!;
    if (!target) return false;
    const request = [add ? 'RAFTADDPEER' : 'RAFTREMOVEPEER', target.addr];
    const started = performance.now();
    this.isolatedRequests++;
    const reply = await c.tryCall(node, request, 1500);
    const took = Math.round(performance.now() - started);
    const answer = reply === undefined ? `no reply (client timeout after ${took} ms)` : `${show(reply)} after ${took} ms`;
    this.record('isolated membership request', `${request.join(' ')} (${target.name}) sent to ${node.name} in the minority: ${answer}`);
    if (reply === 'OK') this.violations.push(`the isolated node ${node.name} accepted ${request.join(' ')}`);
    const majorityLeader = await awaitLeader(c, 3000, majority.filter((n) => n.member && c.running(n) && !n.paused));
    const seen = majorityLeader ? await membershipOf(c, majorityLeader) : undefined;
    if (seen && !same(seen, before)) {
      this.violations.push(`after ${request.join(' ')} was sent to the isolated ${node.name}, the majority's membership changed from [${before.join(', ')}] to [${seen.join(', ')}]`);
    }
    return majorityLeader !== undefined;
  }

  /** After a minority was asked to change membership and the partition healed, the membership must still be `before`. */
  private async checkAfterHeal(before: string[]): Promise<void> {
    await sleep(1000);
    const leader = await awaitLeader(this.c, 5000);
    const seen = leader ? await membershipOf(this.c, leader) : undefined;
    if (seen && !same(seen, before)) this.violations.push(`after healing, the membership is [${seen.join(', ')}], not [${before.join(', ')}] as before the request to the isolated node`);
  }

  /** A real membership change while partitioned: remove a minority member, or add a node, through the majority. */
  private async changeThroughMajority(minority: ClusterNode[], majority: ClusterNode[]): Promise<void> {
    const c = this.c;
    const via = majority.filter((n) => n.member && c.running(n) && !n.paused);
    if (via.length === 0) return;
    if (c.members().length >= this.o.size) {
      const victims = minority.filter((n) => n.member);
      if (victims.length === 0) return;
      await this.remove(victims[this.o.rng.int(victims.length)]!, via[this.o.rng.int(via.length)]!, 'remove (during a partition)');
    } else {
      await this.add(via, 'add (during a partition)');
    }
  }

  private async removeFollower(): Promise<void> {
    const c = this.c;
    const live = c.members().filter((n) => c.running(n) && !n.paused);
    const leader = await findLeader(c, live);
    const followers = live.filter((n) => n !== leader);
    if (followers.length === 0 || live.length < 2) return this.kill();
    const victim = followers[this.o.rng.int(followers.length)]!;
    const via = live.filter((n) => n !== victim);
    await this.remove(victim, via[this.o.rng.int(via.length)]!, 'remove');
  }

  /** RAFTREMOVEPEER `victim` through `via`; the outcome is read back from the leader. */
  private async remove(victim: ClusterNode, via: ClusterNode, kind: string): Promise<void> {
    const c = this.c;
    const started = performance.now();
    const reply = await c.tryCall(via, ['RAFTREMOVEPEER', victim.addr], c.requestTimeoutMs + 2000);
    const took = Math.round(performance.now() - started);
    await syncMembers(c, 3000);
    if (!victim.member) victim.removed = true;
    this.record(kind, `RAFTREMOVEPEER ${victim.name} via ${via.name}: ${reply === undefined ? 'no reply' : show(reply)} after ${took} ms; ${victim.member ? 'still a member' : 'removed (its process keeps running)'}`);
  }

  /**
   * Starts a node with --join through one of `via` (default: any running member): the
   * removed node, wiped, or another unused address. Waits until it listens; its becoming
   * a voter is watched in the background.
   */
  private async add(via: ClusterNode[] | undefined, kind = 'add'): Promise<void> {
    const c = this.c;
    const rng = this.o.rng;
    const candidates = c.nodes.filter((n) => !n.member);
    const targets = via ?? c.members().filter((n) => c.running(n) && !n.paused);
    // Two times in three the removed node that still runs (its pinned clients get a working node back), if any.
    const strays = candidates.filter((n) => c.running(n));
    const pool = strays.length > 0 && rng.int(3) < 2 ? strays : candidates;
    const node = pool[rng.int(Math.max(1, pool.length))];
    const through = targets[rng.int(Math.max(1, targets.length))];
    if (!node || !through) return;
    const fresh = node.generations.length === 0;
    if (c.running(node)) await c.kill(node, 'SIGKILL');
    if (!fresh) c.wipe(node);
    this.record(kind, `${node.name} joins through ${through.name}${fresh ? ' (a new address)' : ' (its directory wiped: a fresh node under the same id)'}`);
    this.joiningNode = node;
    await c.add({ node, join: through.addr, wait: false });
    this.background(this.watchJoin(node));
  }

  /** Polls until `node` is a voter (or it is past the deadline: a problem). */
  private async watchJoin(node: ClusterNode): Promise<void> {
    const started = performance.now();
    for (;;) {
      const leader = await findLeader(this.c);
      const lines = leader ? await membershipOf(this.c, leader) : undefined;
      if (lines?.includes(`${node.addr} voter`)) {
        node.member = true;
        this.joiningNode = undefined;
        this.record('joined', `${node.name} is a voter ${Math.round(performance.now() - started)} ms after it started`);
        return;
      }
      if (performance.now() - started > JOIN_TIMEOUT_MS) {
        this.joiningNode = undefined;
        this.problems.push(`${node.name} did not become a voter within ${JOIN_TIMEOUT_MS} ms of starting with --join`);
        return;
      }
      await sleep(200);
    }
  }

  private async restart(node: ClusterNode): Promise<void> {
    try {
      await this.c.restart(node);
    } catch (err) {
      this.problems.push(`${node.name} did not restart: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      throw err;
    }
  }

  /** Runs `work` in the background; membership faults wait until it is done. */
  private background(work: Promise<void>): void {
    const p: Promise<void> = work
      .catch((err: unknown) => {
        this.problems.push(`background task failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private describe(nodes: readonly ClusterNode[]): string {
    return `{${nodes.map((n) => n.name).join(',')}}`;
  }

  private record(kind: string, detail: string): void {
    this.events.push({ at: Math.round(performance.now() - this.o.started), kind, detail });
  }
}

function names(nodes: readonly ClusterNode[]): string[] {
  return nodes.map((n) => n.addr);
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function show(r: Resp): string {
  return r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r);
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
