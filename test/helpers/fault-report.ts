/**
 * Text for fault runs (test/helpers/fault-run.ts): what one run did and found, and a
 * table summarizing a campaign of runs. Plain text, for tap comments.
 */
import type { RunReport } from './fault-run.js';

/** The replay hint of a run: the environment that repeats its choices. */
export function replayHint(r: Pick<RunReport, 'config'>): string {
  return `BITRAFT_FAULT_NODES=${r.config.nodes} BITRAFT_FAULT_SEED=${r.config.seed} BITRAFT_FAULT_SECONDS=${r.config.seconds} BITRAFT_FAULT_RUNS=1`;
}

/** Everything a run reports: seed, events by kind, operations by outcome, log figures, violations. */
export function describeRun(r: RunReport): string {
  const count = (cmd: string, outcome: string): number => r.ops.get(`${cmd} ${outcome}`) ?? 0;
  const cmds = ['get', 'set', 'del', 'mset'];
  const byOutcome = (outcome: string): string => cmds.map((c) => `${c} ${count(c, outcome)}`).join(', ');
  const faults = [...r.faultsByKind].sort((a, b) => b[1] - a[1]);
  const lines = [
    `seed ${r.config.seed}, ${r.config.nodes} nodes, ${r.config.seconds} s (replay: ${replayHint(r)})`,
    `events: ${faults.reduce((s, [, n]) => s + n, 0)} — ${faults.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}; longest gap between faults ${(r.maxGapMs / 1000).toFixed(1)} s`,
    `operations: ${r.total} sent, ${r.offeredRate.toFixed(0)}/s over the run (the clients aim at ${r.targetRate}/s and wait out their timeouts); ${r.warmupRate.toFixed(0)} acknowledged/s before the first fault`,
    `  acknowledged: ${byOutcome('ok')}`,
    `  indeterminate: ${byOutcome('indeterminate')}`,
    `  failed: ${byOutcome('failed')}`,
    ...[...r.errors].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([e, n]) => `    ${n} × ${e}`),
    `operations checked: ${r.checked} on ${r.keys} keys (after dropping indeterminate writes nobody read), in ${r.checkMs} ms`,
    `node-to-node connections through the proxies: ${r.links.accepted} (${r.links.forwarded} forwarded, ${r.links.blackholed} blackholed)`,
    `elections ${r.elections}, snapshots written ${r.snapshots}, snapshots installed ${r.installs}, automatic merges ${r.merges}`,
    `final write acknowledged ${Number.isFinite(r.finalWriteMs) ? `${r.finalWriteMs} ms` : 'never'} after healing`,
    `violations: ${r.violations.length}${r.violations.map((v) => `\n  ${v}`).join('')}`,
  ];
  if (r.failures.length > r.violations.length) lines.push(`failed checks:${r.failures.filter((f) => !r.violations.includes(f)).map((f) => `\n  ${f}`).join('')}`);
  if (r.artifacts) lines.push(`history, events, node logs and data directories kept in ${r.artifacts}`);
  return lines.join('\n');
}

/** The events of a run, one per line, with their time in the run. */
export function eventLines(r: RunReport): string {
  return r.events.map((e) => `${(e.at / 1000).toFixed(1).padStart(6)}s ${e.kind}: ${e.detail}`).join('\n');
}

/** A table of a campaign: one row per run, and totals. */
export function campaignTable(reports: readonly RunReport[]): string {
  const head = ['nodes', 'seed', 'seconds', 'events', 'ops', 'checked', 'warm-up ops/s', 'elections', 'snapshots', 'installs', 'violations', 'result'];
  const rows = reports.map((r) => [
    String(r.config.nodes),
    String(r.config.seed),
    String(r.config.seconds),
    String([...r.faultsByKind.values()].reduce((a, b) => a + b, 0)),
    String(r.total),
    String(r.checked),
    r.warmupRate.toFixed(0),
    String(r.elections),
    String(r.snapshots),
    String(r.installs),
    String(r.violations.length),
    r.failures.length === 0 ? 'pass' : 'FAIL',
  ]);
  const sum = (i: number): string => String(rows.reduce((s, row) => s + Number(row[i]), 0));
  rows.push(['all', '', sum(2), sum(3), sum(4), sum(5), '', sum(7), sum(8), sum(9), sum(10), `${reports.filter((r) => r.failures.length === 0).length}/${reports.length} pass`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
