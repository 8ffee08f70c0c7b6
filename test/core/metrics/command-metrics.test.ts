import { Registry } from 'prom-client';
import t from 'tap';
import { LATENCY_BUCKETS } from '../../../src/core/metrics/buckets.js';
import { histogramSamples, registerCommandMetrics } from '../../../src/core/metrics/command-metrics.js';
import { CommandTallies, CommandTally } from '../../../src/core/metrics/command-tallies.js';
import { samples, valueOf } from './exposition.js';

t.test('histogram samples: cumulative buckets up to +Inf, then sum and count, per command', async (t) => {
  const tally = new CommandTally('get');
  tally.record(0.00003, false);
  tally.record(0.0002, false);
  tally.record(20, true);
  const s = histogramSamples('h', [tally]);
  t.equal(s.length, LATENCY_BUCKETS.length + 3);
  t.same(s[0], { metricName: 'h_bucket', labels: { command: 'get', le: 0.00005 }, value: 1 });
  t.same(s[2], { metricName: 'h_bucket', labels: { command: 'get', le: 0.00025 }, value: 2 });
  t.same(s[LATENCY_BUCKETS.length - 1], { metricName: 'h_bucket', labels: { command: 'get', le: 10 }, value: 2 });
  t.same(s[LATENCY_BUCKETS.length], { metricName: 'h_bucket', labels: { command: 'get', le: '+Inf' }, value: 3 });
  t.same(s[LATENCY_BUCKETS.length + 1], { metricName: 'h_sum', labels: { command: 'get' }, value: 0.00003 + 0.0002 + 20 });
  t.same(s[LATENCY_BUCKETS.length + 2], { metricName: 'h_count', labels: { command: 'get' }, value: 3 });
  t.same(histogramSamples('h', []), []);
});

t.test('the registry exports the commands counter and the latency histogram of the names used', async (t) => {
  const registry = new Registry();
  const tallies = new CommandTallies(['set', 'get', 'ping']);
  registerCommandMetrics(registry, tallies);
  let text = await registry.metrics();
  t.match(text, /# HELP bitraft_commands_total Commands processed/);
  t.match(text, /# TYPE bitraft_commands_total counter/);
  t.match(text, /# TYPE bitraft_command_duration_seconds histogram/);
  t.equal(samples(text, 'bitraft_commands_total').size, 0, 'nothing before a command ran');
  for (let i = 0; i < 3; i++) tallies.of('set').record(0.0001, false);
  tallies.of('set').record(0.0001, true);
  tallies.of('bogus').record(0.00001, true);
  text = await registry.metrics();
  t.same(
    [...samples(text, 'bitraft_commands_total')],
    [
      ['bitraft_commands_total{command="set",result="ok"}', 3],
      ['bitraft_commands_total{command="set",result="error"}', 1],
      ['bitraft_commands_total{command="unknown",result="ok"}', 0],
      ['bitraft_commands_total{command="unknown",result="error"}', 1],
    ],
  );
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_count{command="set"}'), 4);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_bucket{command="set",le="0.0001"}'), 4);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_bucket{command="set",le="0.00005"}'), 0);
  t.equal(valueOf(text, 'bitraft_command_duration_seconds_bucket{command="unknown",le="+Inf"}'), 1);
  t.notOk(text.includes('command="ping"'), 'names never used do not appear');
  tallies.of('set').record(0.0001, false);
  t.equal(valueOf(await registry.metrics(), 'bitraft_commands_total{command="set",result="ok"}'), 4, 'a later scrape sees the new totals');
});

t.test('resetting the registry leaves the counts (they are the node\'s) and JSON export works', async (t) => {
  const registry = new Registry();
  const tallies = new CommandTallies(['get']);
  registerCommandMetrics(registry, tallies);
  tallies.of('get').record(0.001, false);
  registry.resetMetrics();
  const json = await registry.getMetricsAsJSON();
  const histogram = json.find((m) => m.name === 'bitraft_command_duration_seconds')!;
  t.equal(histogram.help, 'Seconds from the start of a command to its reply being ready, by command name.');
  t.same(histogram.values.find((v) => (v as { metricName?: string }).metricName === 'bitraft_command_duration_seconds_count'), {
    metricName: 'bitraft_command_duration_seconds_count',
    labels: { command: 'get' },
    value: 1,
  });
});
