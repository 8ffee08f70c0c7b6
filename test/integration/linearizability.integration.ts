/**
 * Jepsen-style fault runs: clusters of real `bitraft serve` processes on loopback under
 * concurrent clients while a seeded nemesis kills (SIGKILL) and restarts nodes, pauses
 * them (SIGSTOP/SIGCONT) for longer than an election timeout, partitions the network
 * between them (majority/minority, isolated leader, bridge — through a proxy on every
 * node-to-node link), and removes and adds nodes, sometimes during a partition, and asks
 * isolated nodes to change membership. Each run then heals, checks that a write goes
 * through within 5 s, that every key's history is linearizable (lost acknowledged writes
 * and resurrected deletes included), that the replicas' digests are equal and that no
 * isolated node changed membership, and prints its seed, events, operations, elections,
 * snapshots and violations (test/helpers/fault-run.ts has the details).
 *
 * Environment:
 * - BITRAFT_FAULT_SECONDS: seconds of workload per run (default 45);
 * - BITRAFT_FAULT_NODES: cluster sizes, comma-separated (default `3,5`);
 * - BITRAFT_FAULT_RUNS: runs per cluster size (default 1); `npm run test:faults` sets 10
 *   runs of 600 s and prints a summary table at the end;
 * - BITRAFT_FAULT_SEED: the seed of the first run of each size (default: random); run i
 *   uses seed + i. It fixes every choice of the nemesis and the clients (the timing of
 *   the faults still varies), so each run prints the environment that replays it;
 * - BITRAFT_FAULT_SERVE_ARGS: more `serve` flags for every node, to check that the runs
 *   catch what they should: `--consistency low` must fail them (stale reads).
 */
import t from 'tap';
import { campaignTable, describeRun, eventLines } from '../helpers/fault-report.js';
import { faultRun, type RunReport } from '../helpers/fault-run.js';

const SECONDS = Number(process.env.BITRAFT_FAULT_SECONDS ?? 45);
const RUNS = Number(process.env.BITRAFT_FAULT_RUNS ?? 1);
const SIZES = (process.env.BITRAFT_FAULT_NODES ?? '3,5').split(',').map(Number);
const SEED = process.env.BITRAFT_FAULT_SEED !== undefined ? Number(process.env.BITRAFT_FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
const EXTRA_ARGS = (process.env.BITRAFT_FAULT_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);

const reports: RunReport[] = [];

for (const nodes of SIZES) {
  for (let i = 0; i < RUNS; i++) {
    const seed = (SEED + i) % 2 ** 31;
    await t.test(`${nodes} nodes under faults for ${SECONDS} s (seed ${seed}${RUNS > 1 ? `, run ${i + 1} of ${RUNS}` : ''})`, async (t) => {
      t.setTimeout((SECONDS + 240) * 1000);
      if (EXTRA_ARGS.length > 0) t.comment(`extra serve flags: ${EXTRA_ARGS.join(' ')}`);
      const report = await faultRun(t, { nodes, seconds: SECONDS, seed, extraArgs: EXTRA_ARGS });
      reports.push(report);
      t.comment(describeRun(report));
      if (report.failures.length > 0 || process.env.BITRAFT_FAULT_EVENTS === '1') t.comment(`events:\n${eventLines(report)}`);
    });
  }
}

if (reports.length > 1) t.comment(`fault runs:\n${campaignTable(reports)}`);
