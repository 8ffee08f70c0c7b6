/**
 * The randomized safety campaign: one seed builds a cluster and drives it through a
 * random schedule of ticks, proposals, reads, network faults, partitions, crashes and
 * restarts, membership changes, leadership transfers and compactions, checking Raft's
 * invariants after every step; then it heals everything and checks that the cluster
 * elects a leader, commits a final proposal and that every member applies it.
 */
import { seededRng, type Rng } from '../../support/rng.js';
import { decodeConfChange } from '../conf-change.js';
import type { ConfChange, NodeId } from '../types.js';
import { CRASH_POINTS, SimCluster, type NodeFactory, type SimRaftOptions } from './cluster.js';
import { InvariantChecker, type HistoryEvent } from './invariants.js';

/** Settings of a run; a seed and the same options replay the same run exactly. */
export interface CampaignOptions {
  /** Actions in the random schedule. Default `DEFAULT_STEPS`. */
  readonly steps?: number;
  /** Cluster size; default drawn from the seed (3 or 5). */
  readonly nodes?: 3 | 5;
  /** Ticks allowed after healing to commit the final proposal, and again for every member to apply it. Default 400. */
  readonly livenessTicks?: number;
  /** Builds the cores (tests pass deliberately broken ones). Not replayable from the command line. */
  readonly createNode?: NodeFactory;
  /** Receives one line per action, for replaying a seed by hand. */
  readonly trace?: (line: string) => void;
}

/** Actions in a schedule unless `steps` says otherwise. */
export const DEFAULT_STEPS = 400;
/** How many recent actions a failure report lists. */
const REPORT_ACTIONS = 25;

/** What one seed did, and whether every check passed. */
export interface SeedResult {
  readonly seed: number;
  readonly ok: boolean;
  /** On failure: the seed, the broken check, the last actions and the replay command. */
  readonly failure?: string;
  /** The initial cluster size. */
  readonly nodes: number;
  /** Actions run (the schedule, then the liveness phase's ticks). */
  readonly steps: number;
  /** Proposals reported committed to their proposer. */
  readonly committed: number;
  /** ReadIndex reads confirmed. */
  readonly reads: number;
  /** Crashes, scheduled and immediate (removed nodes shut down included). */
  readonly crashes: number;
  /** Snapshots installed by followers that were behind a compaction. */
  readonly installs: number;
  /** Compactions taken. */
  readonly compactions: number;
  /** Membership changes applied (by the first node to apply each). */
  readonly confChanges: number;
  /** The highest term reached. */
  readonly terms: number;
}

/** Totals of a campaign over consecutive seeds. */
export interface CampaignResult {
  readonly seeds: number;
  readonly passed: number;
  readonly failed: number;
  /** Proposals committed over all seeds. */
  readonly committed: number;
  /** Actions run over all seeds. */
  readonly steps: number;
  /** The first failures (at most `maxFailures`), in seed order. */
  readonly failures: SeedResult[];
}

/** The command that replays `seed` with these options. */
export function replayCommand(seed: number, options: CampaignOptions = {}): string {
  let cmd = `npm run test:sim -- --seed ${seed}`;
  if (options.steps !== undefined && options.steps !== DEFAULT_STEPS) cmd += ` --steps ${options.steps}`;
  if (options.nodes !== undefined) cmd += ` --nodes ${options.nodes}`;
  return cmd;
}

class RunFailure extends Error {}

/** Runs one seed; never throws (a failure of any kind is in the result). */
export function runSeed(seed: number, options: CampaignOptions = {}): SeedResult {
  return new Run(seed, options).run();
}

/**
 * Runs seeds `first … first + count - 1` in order. `onResult` sees each result as it
 * comes (for progress); at most `maxFailures` failures are kept (default 10).
 */
export function runCampaign(
  first: number,
  count: number,
  options: CampaignOptions = {},
  onResult?: (r: SeedResult) => void,
  maxFailures = 10,
): CampaignResult {
  let passed = 0;
  let committed = 0;
  let steps = 0;
  const failures: SeedResult[] = [];
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed(seed, options);
    committed += r.committed;
    steps += r.steps;
    if (r.ok) passed++;
    else if (failures.length < maxFailures) failures.push(r);
    onResult?.(r);
  }
  return { seeds: count, passed, failed: count - passed, committed, steps, failures };
}

/** One seeded run: the schedule, the checks and the liveness phase. */
class Run {
  private readonly rng: Rng;
  private readonly cluster: SimCluster;
  private readonly checker = new InvariantChecker();
  private readonly steps: number;
  private readonly livenessTicks: number;
  private readonly size: number;
  private readonly recent: string[] = [];
  private readonly decommissioned = new Set<NodeId>();
  private readonly seenConf = new Set<number>();
  private step = 0;
  private nextId: number;
  private proposals = 0;

  constructor(
    private readonly seed: number,
    private readonly options: CampaignOptions,
  ) {
    this.rng = seededRng(seed);
    this.size = options.nodes ?? (this.rng.int(2) === 0 ? 3 : 5);
    this.nextId = this.size + 1;
    this.steps = options.steps ?? DEFAULT_STEPS;
    this.livenessTicks = options.livenessTicks ?? 400;
    const raft: SimRaftOptions = {
      electionTicks: this.pick([5, 10]),
      preVote: this.rng.int(4) !== 0,
      checkQuorum: this.rng.int(4) !== 0,
      maxMsgBytes: this.pick([16, 64, 1 << 20]),
      maxInflightMsgs: this.pick([1, 4, 256]),
      maxApplyBytes: this.pick([16, 1 << 20]),
    };
    const voters = Array.from({ length: this.size }, (_, i) => `n${i + 1}`);
    this.cluster = new SimCluster({ rng: this.rng, voters, raft, createNode: options.createNode });
    this.note(`cluster ${voters.join(',')} ${JSON.stringify(raft)}`);
  }

  run(): SeedResult {
    let failure: string | undefined;
    try {
      this.check();
      for (this.step = 1; this.step <= this.steps; this.step++) {
        this.randomAction();
        this.check();
      }
      this.liveness();
    } catch (err) {
      // RunFailure carries the message; anything else is a bug of the simulator itself.
      const what = err instanceof RunFailure ? err.message : `the simulator threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      failure = this.report(what);
    }
    const s = this.cluster.stats;
    const terms = Math.max(...[...this.cluster.nodes.values()].map((n) => n.storage.initialState().hardState.term));
    return {
      seed: this.seed,
      ok: failure === undefined,
      ...(failure === undefined ? {} : { failure }),
      nodes: this.size,
      steps: this.step,
      committed: s.acked,
      reads: s.reads,
      crashes: s.crashes,
      installs: s.installs,
      compactions: s.compactions,
      confChanges: this.seenConf.size,
      terms,
    };
  }

  private report(what: string): string {
    const lines = [
      `seed ${this.seed} failed at step ${this.step}: ${what}`,
      `last ${this.recent.length} actions:`,
      ...this.recent.map((a) => `  ${a}`),
      `replay: ${replayCommand(this.seed, this.options)}`,
    ];
    return lines.join('\n');
  }

  private note(action: string): void {
    const line = `[${this.step}] ${action}`;
    this.recent.push(line);
    if (this.recent.length > REPORT_ACTIONS) this.recent.shift();
    this.options.trace?.(line);
  }

  /** Runs the invariants over what the last action did; throws a RunFailure on a violation. */
  private check(): void {
    const events = this.cluster.takeEvents();
    this.watchConfChanges(events);
    if (this.cluster.failure) throw new RunFailure(this.cluster.failure);
    const v = this.checker.check(this.cluster.view(), events);
    if (v) throw new RunFailure(`${v.invariant}: ${v.message}`);
  }

  /** Counts applied membership changes; a removed node is shut down for good, as an operator would. */
  private watchConfChanges(events: readonly HistoryEvent[]): void {
    for (const ev of events) {
      if (ev.kind !== 'apply' || ev.entry.type !== 'config') continue;
      this.seenConf.add(ev.entry.index);
      const cc = decodeConfChange(ev.entry.data);
      if (cc?.op === 'remove' && !this.decommissioned.has(cc.node)) {
        this.decommissioned.add(cc.node);
        this.cluster.crash(cc.node);
        this.note(`${cc.node} removed: shut down`);
      }
    }
  }

  private randomAction(): void {
    const r = this.rng.int(100);
    if (r < 45) return this.tick();
    if (r < 63) return this.propose();
    if (r < 69) return this.read();
    if (r < 72) return this.setFaults();
    if (r < 74) return this.partition();
    if (r < 75) return this.isolate();
    if (r < 78) return this.heal();
    if (r < 80) return this.crash();
    if (r < 84) return this.restart();
    if (r < 88) return this.changeMembership();
    if (r < 90) return this.transfer();
    if (r < 95) return this.compact();
    if (r < 98) return this.skew();
    return this.forceElection();
  }

  private tick(): void {
    const n = 1 + this.rng.int(3);
    this.note(`tick ×${n}`);
    for (let i = 0; i < n; i++) this.cluster.tick();
  }

  private propose(): void {
    const to = this.rng.int(10) < 7 ? (this.cluster.leader()?.id ?? this.anyRunning()) : this.anyRunning();
    if (!to) return this.tick();
    const data = `s${this.seed}-p${++this.proposals}`;
    this.note(`propose ${data} on ${to}`);
    this.cluster.propose(to, new TextEncoder().encode(data));
  }

  private read(): void {
    const to = this.rng.int(10) < 8 ? (this.cluster.leader()?.id ?? this.anyRunning()) : this.anyRunning();
    if (!to) return this.tick();
    this.note(`read on ${to}`);
    // Half the reads are lease-based `local` reads; the checker holds them to the same standard.
    this.cluster.readIndex(to, this.rng.int(2) === 0 ? 'local' : 'quorum');
  }

  private setFaults(): void {
    const faults = { dropRate: this.pick([0, 0, 0.05, 0.2]), duplicateRate: this.pick([0, 0.05, 0.2]), maxDelay: this.pick([0, 1, 2, 3]) };
    this.note(`faults ${JSON.stringify(faults)}`);
    this.cluster.network.setFaults(faults);
  }

  private partition(): void {
    const ids = this.ids();
    const a = ids.filter(() => this.rng.int(2) === 0);
    const b = ids.filter((id) => !a.includes(id));
    this.note(`partition [${a.join(',')}] | [${b.join(',')}]`);
    this.cluster.network.partition(a, b);
  }

  private isolate(): void {
    const id = this.pick(this.ids());
    this.note(`isolate ${id}`);
    this.cluster.network.isolate(id);
  }

  private heal(): void {
    this.note('heal');
    this.cluster.network.heal();
  }

  private crash(): void {
    const id = this.anyRunning();
    if (!id) return this.tick();
    const point = this.rng.int(2) === 0 ? undefined : this.pick(CRASH_POINTS);
    this.note(`crash ${id}${point ? ` at ${point}` : ''}`);
    this.cluster.crash(id, point);
  }

  private restart(): void {
    const down = this.ids().filter((id) => !this.cluster.node(id).up && !this.decommissioned.has(id));
    if (down.length === 0) return this.tick();
    const id = this.pick(down);
    this.note(`restart ${id}`);
    this.cluster.restart(id);
  }

  private changeMembership(): void {
    const leader = this.cluster.leader();
    if (!leader) return this.tick();
    const { voters, learners } = leader.raft!.status().conf;
    const choices: ConfChange[] = [];
    if (this.cluster.nodes.size < 9) choices.push({ op: 'add-learner', node: `n${this.nextId}` });
    for (const l of learners) choices.push({ op: 'promote', node: l }, { op: 'remove', node: l });
    if (voters.length > 3) for (const v of voters) choices.push({ op: 'remove', node: v });
    if (choices.length === 0) return this.tick();
    const cc = this.pick(choices);
    if (cc.op === 'add-learner') {
      this.nextId++;
      this.cluster.add(cc.node);
    }
    this.note(`conf change ${cc.op} ${cc.node} on ${leader.id}`);
    this.cluster.proposeConfChange(leader.id, cc);
  }

  private transfer(): void {
    const leader = this.cluster.leader();
    if (!leader) return this.tick();
    const others = leader.raft!.status().conf.voters.filter((v) => v !== leader.id);
    if (others.length === 0) return this.tick();
    const to = this.pick(others);
    this.note(`transfer leadership ${leader.id} → ${to}`);
    this.cluster.transferLeadership(leader.id, to);
  }

  private compact(): void {
    const id = this.pick(this.ids());
    const done = this.cluster.compact(id);
    this.note(`compact ${id}${done ? ` at ${this.cluster.node(id).state.applied}` : ' (nothing to do)'}`);
  }

  private skew(): void {
    const id = this.anyRunning();
    if (!id) return this.tick();
    this.note(`extra tick on ${id}`);
    this.cluster.tickNode(id);
  }

  private forceElection(): void {
    const id = this.anyRunning();
    if (!id) return this.tick();
    this.note(`campaign ${id}`);
    this.cluster.campaign(id);
  }

  /**
   * Heals the network, removes every fault, restarts every crashed member, then requires
   * a leader and a committed final proposal within `livenessTicks`, and every member (as
   * of that entry) to apply it within as many more.
   */
  private liveness(): void {
    this.note('liveness: heal, no faults, restart everyone');
    this.cluster.network.heal();
    this.cluster.network.setFaults({ dropRate: 0, duplicateRate: 0, maxDelay: 1 });
    for (const id of this.ids()) if (!this.decommissioned.has(id)) this.cluster.restart(id);
    this.check();
    const data = new TextEncoder().encode(`s${this.seed}-final`);
    let ticket: string | undefined;
    let proposer = '';
    let index = 0;
    for (let t = 0; index === 0; t++) {
      if (t >= this.livenessTicks) {
        const leader = this.cluster.leader();
        throw new RunFailure(
          `liveness: ${leader ? `leader ${leader.id} (term ${leader.raft!.term}) did not commit` : 'no leader elected and'} a final proposal within ${this.livenessTicks} ticks after healing`,
        );
      }
      const outcome = ticket ? this.cluster.outcome(ticket) : undefined;
      if (outcome?.kind === 'committed') {
        index = outcome.index;
        break;
      }
      // Propose again when the last attempt failed, or its node went down (removed) with it.
      if (!ticket || outcome || !this.cluster.node(proposer).up) {
        const leader = this.cluster.leader();
        ticket = leader ? this.cluster.propose(leader.id, data) : undefined;
        if (ticket) {
          proposer = leader!.id;
          this.note(`final proposal on ${proposer}`);
        }
      }
      this.step++;
      this.cluster.tick();
      this.check();
    }
    this.note(`final proposal committed at index ${index}`);
    // The members as of the final entry: the membership of the most advanced state machine.
    const ahead = [...this.cluster.nodes.values()].reduce((a, b) => (b.state.applied > a.state.applied ? b : a));
    const members = [...ahead.state.conf.voters, ...ahead.state.conf.learners];
    for (let t = 0; ; t++) {
      const behind = members.filter((id) => this.cluster.node(id).state.applied < index);
      if (behind.length === 0) return;
      if (t >= this.livenessTicks) {
        throw new RunFailure(`liveness: ${behind.join(', ')} did not apply the final proposal (index ${index}) within ${this.livenessTicks} ticks`);
      }
      this.step++;
      this.cluster.tick();
      this.check();
    }
  }

  private ids(): NodeId[] {
    return [...this.cluster.nodes.keys()];
  }

  private anyRunning(): NodeId | undefined {
    const up = this.ids().filter((id) => this.cluster.node(id).up);
    return up.length === 0 ? undefined : this.pick(up);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.rng.int(items.length)]!;
  }
}
