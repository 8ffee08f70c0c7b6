import { Counter, type Metric, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.js';
import type { CommandTallies, CommandTally } from './command-tallies.js';

/** One sample of an exported metric, as prom-client's registry formats it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** The samples of a Prometheus histogram per command: cumulative `_bucket`s up to `+Inf`, `_sum`, `_count`. */
export function histogramSamples(name: string, tallies: readonly CommandTally[]): Sample[] {
  const out: Sample[] = [];
  for (const t of tallies) {
    let below = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      below += t.counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { command: t.name, le }, value: below });
    });
    out.push({ metricName: `${name}_bucket`, labels: { command: t.name, le: '+Inf' }, value: t.count });
    out.push({ metricName: `${name}_sum`, labels: { command: t.name }, value: t.sum });
    out.push({ metricName: `${name}_count`, labels: { command: t.name }, value: t.count });
  }
  return out;
}

/**
 * Registers the metrics of `tallies` in `registry`, read from their plain numbers at each
 * scrape (the command path never calls into prom-client):
 * `bitraft_commands_total{command,result}` and `bitraft_command_duration_seconds{command}`.
 * Only the names that ran at least one command appear.
 */
export function registerCommandMetrics(registry: Registry, tallies: CommandTallies): void {
  new Counter({
    name: 'bitraft_commands_total',
    help: 'Commands processed, by lower-case command name ("unknown" for names the node does not know) and by result: "error" for an error reply, else "ok".',
    labelNames: ['command', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of tallies.used()) {
        this.inc({ command: t.name, result: 'ok' }, t.ok);
        this.inc({ command: t.name, result: 'error' }, t.errors);
      }
    },
  });
  const name = 'bitraft_command_duration_seconds';
  const help = 'Seconds from the start of a command to its reply being ready, by command name.';
  // prom-client has no histogram fed from outside counts: this collector hands the registry
  // the samples it would have built itself (the registry reads only name, help, type, get()).
  const collector = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: histogramSamples(name, tallies.used()) }),
    reset: () => {},
  };
  registry.registerMetric(collector as unknown as Metric);
}
