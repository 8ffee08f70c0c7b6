/**
 * The randomized safety campaign (Raft paper §5.4 safety, §6 membership, §8 client
 * interaction): 1,200 seeds, each a 3- or 5-node cluster driven through a random
 * schedule of ticks, proposals, ReadIndex reads, message loss, duplication and delay,
 * partitions, crashes at every point of the Ready loop, restarts, membership changes,
 * leadership transfers and compactions (so followers catch up by snapshot), with every
 * invariant checked after every step; then healed, each must elect a leader, commit a
 * final proposal and have every member apply it. Also: runs are deterministic per seed,
 * the campaign exercises what it claims to, a broken core is caught, and a failure
 * report names the seed and the command that replays it.
 *
 * Replay one seed with `npm run test:sim -- --seed S` (add `--trace` to see every
 * action). RAFT_SIM_SEEDS and RAFT_SIM_FROM change the seeds this test runs.
 */
import t from 'tap';
import { RaftNode } from '../../../src/core/raft/node.js';
import { DEFAULT_STEPS, replayCommand, runCampaign, runSeed, type SeedResult } from '../../../src/core/raft/sim/campaign.js';
import type { Ready } from '../../../src/core/raft/types.js';

const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 1200);
const FROM = Number(process.env.RAFT_SIM_FROM ?? 1);

t.test(`${SEEDS} random seeds keep every safety invariant and stay live`, async (t) => {
  const results: SeedResult[] = [];
  const started = performance.now();
  const campaign = runCampaign(FROM, SEEDS, {}, (r) => results.push(r));
  const seconds = (performance.now() - started) / 1000;
  t.comment(
    `${campaign.seeds} seeds in ${seconds.toFixed(1)} s: ${campaign.committed} proposals committed, ${campaign.steps} steps, ` +
      `${campaign.failed} failed${campaign.failed > 0 ? ` (${results.filter((r) => !r.ok).map((r) => r.seed).join(', ')})` : ''}`,
  );
  for (const f of campaign.failures) t.fail(f.failure!);
  t.equal(campaign.failed, 0, 'no seed fails');
  t.equal(campaign.passed + campaign.failed, SEEDS);

  // The schedule must exercise what it claims to; a campaign that never crashes or
  // never snapshots proves nothing about those paths.
  const sum = (f: (r: SeedResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  const three = results.filter((r) => r.nodes === 3).length;
  t.ok(three > SEEDS / 4 && SEEDS - three > SEEDS / 4, `both cluster sizes run (${three} of 3 nodes, ${SEEDS - three} of 5)`);
  t.ok(sum((r) => r.committed) > SEEDS * 10, 'many proposals commit');
  t.ok(sum((r) => r.reads) > SEEDS, 'many reads are confirmed');
  t.ok(sum((r) => r.crashes) > SEEDS, 'nodes crash');
  t.ok(results.filter((r) => r.installs > 0).length > SEEDS / 10, 'followers catch up by snapshot in many seeds');
  t.ok(results.filter((r) => r.confChanges > 1).length > SEEDS / 4, 'membership changes apply in many seeds');
  t.ok(results.filter((r) => r.terms > 3).length > SEEDS / 2, 'leadership changes hands');
});

t.test('a seed replays exactly', async (t) => {
  for (const seed of [3, 4]) t.same(runSeed(seed, { steps: 150 }), runSeed(seed, { steps: 150 }));
  t.notSame(runSeed(3, { steps: 150 }), runSeed(4, { steps: 150 }));
  t.equal(runSeed(3, { steps: 150, nodes: 5 }).nodes, 5);
  t.equal(runSeed(3, { steps: 150, nodes: 3 }).nodes, 3);
  const lines: string[] = [];
  runSeed(3, { steps: 20, trace: (l) => lines.push(l) });
  t.match(lines[0], /^\[0\] cluster n1,n2,n3/);
  t.ok(lines.some((l) => l.startsWith('[20] ')), 'every step is traced');
});

/** A core whose state machine input is corrupted on n2: it applies other bytes than were committed. */
class CorruptApplies extends RaftNode {
  override ready(): Ready {
    const rd = super.ready();
    if (this.id !== 'n2' || rd.committed.length === 0) return rd;
    return { ...rd, committed: rd.committed.map((e) => (e.type === 'command' ? { ...e, data: new TextEncoder().encode('corrupted') } : e)) };
  }
}

t.test('a broken core is caught, and the report names the seed and how to replay it', async (t) => {
  const r = runSeed(7, { createNode: (c) => new CorruptApplies(c), steps: 300 });
  t.notOk(r.ok);
  t.equal(r.seed, 7);
  t.match(r.failure, /^seed 7 failed at step \d+: state-machine-safety: index \d+ committed as .* but later as .*"corrupted"/);
  t.match(r.failure, /last \d+ actions:\n {2}\[\d+\] /);
  t.match(r.failure, /\nreplay: npm run test:sim -- --seed 7 --steps 300$/);
  t.ok(r.steps < 300, 'the run stops at the first violation');
});

t.test('a core that throws is caught, and reported like a violation', async (t) => {
  class BrokenClock extends RaftNode {
    override tick(): void {
      if (this.id === 'n2') throw new Error('broken clock');
      super.tick();
    }
  }
  const r = runSeed(3, { createNode: (c) => new BrokenClock(c), steps: 50 });
  t.notOk(r.ok);
  t.match(r.failure, /^seed 3 failed at step \d+: n2 threw in tick: Error: broken clock\n {4}at /, 'the cluster failure, with the stack');
  t.match(r.failure, /last \d+ actions:\n {2}\[\d+\] /);
  t.match(r.failure, /\nreplay: npm run test:sim -- --seed 3 --steps 50$/);
  t.ok(r.steps < 50, 'the run stops at the first failure');
});

t.test('a leader that knows no other voter is asked for no transfer', async (t) => {
  // The founding membership always has 3 or 5 voters and removals stop at 3, so only a
  // core that misreports its membership leaves a leader with nobody to hand over to.
  class Alone extends RaftNode {
    override status(): ReturnType<RaftNode['status']> {
      const s = super.status();
      return this.role === 'leader' ? { ...s, conf: { voters: [this.id], learners: [] } } : s;
    }
  }
  const transfers = (lines: string[]): number => lines.filter((l) => / transfer leadership /.test(l)).length;
  const normal: string[] = [];
  t.ok(runSeed(4, { trace: (l) => normal.push(l) }).ok);
  t.ok(transfers(normal) > 0, 'this seed draws leadership transfers');
  const alone: string[] = [];
  const r = runSeed(4, { createNode: (c) => new Alone(c), trace: (l) => alone.push(l) });
  t.equal(r.failure, undefined);
  t.ok(r.ok);
  t.equal(transfers(alone), 0, 'none with nobody to transfer to');
});

t.test('the replay command carries the options that change the run', async (t) => {
  t.equal(replayCommand(12), 'npm run test:sim -- --seed 12');
  t.equal(replayCommand(12, { steps: DEFAULT_STEPS }), 'npm run test:sim -- --seed 12');
  t.equal(replayCommand(12, { steps: 50, nodes: 5 }), 'npm run test:sim -- --seed 12 --steps 50 --nodes 5');
});

t.test('liveness failures are reported', async (t) => {
  const none = runSeed(1, { steps: 0, livenessTicks: 0 });
  t.match(none.failure, /liveness: no leader elected and a final proposal within 0 ticks after healing/);
  const stuck = runSeed(1, { steps: 0, livenessTicks: 200, createNode: (c) => new NeverApplies(c) });
  t.match(stuck.failure, /liveness: n\d(, n\d)* did not apply the final proposal \(index \d+\) within 200 ticks/);
  // A leader that cannot commit: its followers never answer.
  const lonely = runSeed(1, { steps: 0, livenessTicks: 60, createNode: (c) => new Deaf(c) });
  t.match(lonely.failure, /liveness: leader n\d \(term \d+\) did not commit a final proposal within 60 ticks/);
});

/**
 * Followers that hand out no committed entries after the bootstrap ones: the leader
 * commits, nobody else applies. The bootstrap entries (term 1, committed before any
 * election) still go through, so the first leader's state machine has no gap.
 */
class NeverApplies extends RaftNode {
  override ready(): Ready {
    const rd = super.ready();
    return this.role === 'leader' ? rd : { ...rd, committed: rd.committed.filter((e) => e.term === 1) };
  }
}

/** Once elected, a leader hears nothing more from its followers (and has no check-quorum to notice). */
class Deaf extends RaftNode {
  constructor(c: ConstructorParameters<typeof RaftNode>[0]) {
    super({ ...c, checkQuorum: false });
  }
  override step(m: Parameters<RaftNode['step']>[0]): void {
    if (this.role === 'leader' && m.type === 'append-resp') return;
    super.step(m);
  }
}

t.test('an exception of the simulator itself is a failure too', async (t) => {
  class BadStatus extends RaftNode {
    override status(): ReturnType<RaftNode['status']> {
      throw new Error('no status');
    }
  }
  const r = runSeed(5, { steps: 300, createNode: (c) => new BadStatus(c) });
  t.match(r.failure, /^seed 5 failed at step \d+: the simulator threw: Error: no status\n {4}at /, 'with the stack');
  class StacklessStatus extends RaftNode {
    override status(): ReturnType<RaftNode['status']> {
      const err = new Error('no status either');
      err.stack = undefined;
      throw err;
    }
  }
  t.match(runSeed(5, { steps: 300, createNode: (c) => new StacklessStatus(c) }).failure, /the simulator threw: no status either\n/);
  class WeirdStatus extends RaftNode {
    override status(): ReturnType<RaftNode['status']> {
      throw 'status unavailable';
    }
  }
  t.match(runSeed(5, { steps: 300, createNode: (c) => new WeirdStatus(c) }).failure, /the simulator threw: status unavailable/);
});

t.test('a campaign keeps the first failures and reports every result', async (t) => {
  const seen: number[] = [];
  const r = runCampaign(1, 3, { steps: 200, createNode: (c) => new CorruptApplies(c) }, (x) => seen.push(x.seed), 2);
  t.same(seen, [1, 2, 3]);
  t.equal(r.seeds, 3);
  t.equal(r.failed, 3);
  t.equal(r.passed, 0);
  t.same(
    r.failures.map((f) => f.seed),
    [1, 2],
  );
});
