/**
 * Publishes saved results (`npm run bench -- --suite summary --suite scale --save`):
 * draws the charts into docs/bench/*.svg and rewrites the generated parts of
 * BENCHMARKS.md — each between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`
 * (machine, summary, targets, scale) — from bench/results/summary.json and scale.json.
 * The text around them is left as it is.
 *
 *   node dist/bench/publish.js        (npm run bench:publish)
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../test/helpers/processes.js';
import type { JudgedMetric } from './harness.js';
import { readSuiteResults, type SuiteResult } from './results.js';
import { barChart, lineChart, type Series } from './svg-chart.js';
import { formatCount, formatRatio, formatTarget, formatValue } from './table.js';

const CHART_DIR = path.join(REPO_ROOT, 'docs/bench');
const BENCHMARKS = path.join(REPO_ROOT, 'BENCHMARKS.md');

const TESTS = ['SET', 'GET'] as const;
const PIPELINES = [1, 16] as const;

/** The configurations of the summary table, and where their numbers are in the saved metrics. */
const CONFIGS = [
  { label: 'bitraft, 1 node, durability high', comparison: 'durable', side: 'subject' },
  { label: 'redis-server, no persistence', comparison: 'memory', side: 'reference' },
  { label: 'redis-server, appendfsync always', comparison: 'durable', side: 'reference' },
  { label: 'bitraft, 3 nodes (leader), 64 clients', comparison: 'cluster', side: 'subject' },
  { label: 'etcd, 3 nodes (leader), 64 clients', comparison: 'cluster', side: 'reference' },
] as const;

type Cell = { ops: number; p50: number; p99: number } | undefined;

function byId(result: SuiteResult | undefined): Map<string, JudgedMetric> {
  return new Map((result?.metrics ?? []).map((m) => [m.id, m]));
}

/** One configuration's ops/s, p50 and p99 in one test and pipeline, or undefined. */
function cell(metrics: Map<string, JudgedMetric>, config: (typeof CONFIGS)[number], test: string, p: number): Cell {
  const m = metrics.get(`summary.${config.comparison}.${test.toLowerCase()}.p${p}.ops`);
  if (!m) return undefined;
  const d = m.details ?? {};
  if (config.side === 'subject') return { ops: m.value, p50: Number(d['subjectP50Ms']), p99: Number(d['subjectP99Ms']) };
  if (d['referenceOps'] === undefined) return undefined;
  return { ops: Number(d['referenceOps']), p50: Number(d['referenceP50Ms']), p99: Number(d['referenceP99Ms']) };
}

const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));

function summaryTable(metrics: Map<string, JudgedMetric>): string {
  const out: string[] = [];
  for (const p of PIPELINES) {
    out.push(`**-P ${p}**${p === 1 ? ' (one request in flight per client)' : ' (16 requests in flight per client)'}`, '');
    out.push('| configuration | SET ops/s | SET p50 ms | SET p99 ms | GET ops/s | GET p50 ms | GET p99 ms |', '|---|--:|--:|--:|--:|--:|--:|');
    for (const c of CONFIGS) {
      const cells = TESTS.map((t) => cell(metrics, c, t, p));
      const text = cells.flatMap((x) => (x ? [formatCount(x.ops), ms(x.p50), ms(x.p99)] : ['—', '—', '—']));
      out.push(`| ${c.label} | ${text.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * A row's label in the targets table, from its id: `summary.<comparison>.<test>.p<P>.<ops|p50|p99|absolute>`
 * (under its group's short name) or `scale.<measure>.n<keys>` (with the scale table's label).
 */
function targetLabel(m: JudgedMetric): string {
  const parts = m.id.split('.');
  const group = m.group ? `${m.group.split(':')[0]} — ` : '';
  if (parts[0] === 'summary' && parts.length === 5) {
    const what = parts[4] === 'ops' ? 'throughput' : parts[4] === 'absolute' ? 'throughput, absolute' : `${parts[4]} latency`;
    return `${group}${parts[2]!.toUpperCase()} -P ${parts[3]!.slice(1)} ${what}`;
  }
  const row = parts[0] === 'scale' ? SCALE_ROWS.find((r) => r.measure === parts[1] && r.side === undefined) : undefined;
  return row ? `${group}${row.label}` : `${group}${m.name.trim()}`;
}

function targetsTable(results: SuiteResult[]): string {
  const out = ['| suite | metric | bitraft | reference | ratio | target | verdict |', '|---|---|--:|--:|--:|--:|---|'];
  for (const r of results) {
    for (const m of r.metrics) {
      if (!m.target) continue;
      const name = targetLabel(m);
      const verdict = m.verdict === 'meets' ? 'met' : m.verdict === 'misses' ? '**missed**' : '—';
      out.push(`| ${r.suite} | ${name} | ${formatValue(m.value, m.unit)} | ${m.reference ? formatValue(m.reference.value, m.unit) : '—'} | ${formatRatio(m.ratio)} | ${formatTarget(m.target, m.unit)} | ${verdict} |`);
    }
  }
  return out.join('\n');
}

/** The step key counts of the scale results, ascending. */
function scaleSteps(metrics: Map<string, JudgedMetric>): number[] {
  return [...metrics.values()].filter((m) => m.id.startsWith('scale.load.')).map((m) => Number(m.details?.['keys']));
}

function scaleValue(metrics: Map<string, JudgedMetric>, measure: string, n: number, side: 'value' | 'reference' = 'value'): number | undefined {
  const m = metrics.get(`scale.${measure}.n${n}`);
  return side === 'value' ? m?.value : m?.reference?.value;
}

const SCALE_ROWS: { measure: string; label: string; side?: 'reference'; show: (v: number) => string }[] = [
  { measure: 'load', label: 'load, keys/s (bitraft)', show: formatCount },
  { measure: 'load', label: 'load, keys/s (redis-server)', side: 'reference', show: formatCount },
  { measure: 'ram-restarted', label: 'RAM per key beyond the key, restarted (bitraft), B', show: (v) => v.toFixed(1) },
  { measure: 'ram-restarted', label: 'RAM per key beyond the key, restarted (redis-server), B', side: 'reference', show: (v) => v.toFixed(1) },
  { measure: 'ram-loaded', label: 'RAM per key, after the load (bitraft), B', show: (v) => v.toFixed(1) },
  { measure: 'ram-loaded', label: 'RAM per key, after the load (redis-server), B', side: 'reference', show: (v) => v.toFixed(1) },
  { measure: 'ram-ordered', label: 'RAM per key, after KEYS built the ordered index (bitraft), B', show: (v) => v.toFixed(1) },
  { measure: 'restart-sigterm', label: 'restart after SIGTERM → first GET (bitraft), s', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'restart-sigkill', label: 'restart after SIGKILL → first GET (bitraft), s', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'restart-sigterm', label: 'restart from the RDB → first GET (redis-server), s', side: 'reference', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'keys-first', label: 'KEYS * LIMIT 1000, first page (builds the index), ms', show: ms },
  { measure: 'keys-first-ping', label: 'the slowest PING on another connection meanwhile, ms', show: ms },
  { measure: 'keys-start', label: 'KEYS * LIMIT 1000 from the start, ms', show: ms },
  { measure: 'keys-middle', label: 'KEYS * PIVOT 8 LIMIT 1000 (middle), ms', show: ms },
  { measure: 'snapshot-time', label: 'RAFTSNAPSHOT (bitraft), s', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'snapshot-time', label: 'SAVE (redis-server), s', side: 'reference', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'snapshot-size', label: 'state.bin (bitraft), MB', show: (v) => v.toFixed(0) },
  { measure: 'snapshot-size', label: 'dump.rdb (redis-server), MB', side: 'reference', show: (v) => v.toFixed(0) },
  { measure: 'parse', label: 'parse-snapshot state.bin > /dev/null, s', show: (v) => (v / 1000).toFixed(2) },
  { measure: 'merge', label: 'merge after overwriting 10 % of the keys, s', show: (v) => (v / 1000).toFixed(2) },
];

function scaleTable(metrics: Map<string, JudgedMetric>): string {
  const steps = scaleSteps(metrics);
  const out = [`| keys | ${steps.map(formatCount).join(' | ')} |`, `|---|${steps.map(() => '--:').join('|')}|`];
  for (const row of SCALE_ROWS) {
    const values = steps.map((n) => scaleValue(metrics, row.measure, n, row.side === 'reference' ? 'reference' : 'value'));
    out.push(`| ${row.label} | ${values.map((v) => (v === undefined ? '—' : row.show(v))).join(' | ')} |`);
  }
  return out.join('\n');
}

function machineText(results: SuiteResult[]): string {
  const first = results[0];
  if (!first) return '_no saved results_';
  const m = first.machine;
  const out = [
    `- ${m.cpus} CPUs (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB of RAM, ${m.platform}, Node.js ${m.node}`,
    ...results.map(
      (r) =>
        `- \`${r.suite}\` suite: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${(r.seconds / 60).toFixed(1)} min; ` +
        `fdatasync rate of the scratch disk right after it ${formatCount(r.machine.fsyncPerSecond)}/s (median ${r.machine.fsyncMedianMs.toFixed(2)} ms per 128 B write + fdatasync); ` +
        `load average (1/5/15 min) ${r.loadavg.start.map((x) => x.toFixed(2)).join('/')} at the start, ${r.loadavg.end.map((x) => x.toFixed(2)).join('/')} at the end${r.quick ? ' (a --quick run)' : ''}`,
    ),
  ];
  return out.join('\n');
}

/** Every chart, as file name → SVG text. */
export function charts(summary: Map<string, JudgedMetric>, scale: Map<string, JudgedMetric>): Map<string, string> {
  const out = new Map<string, string>();
  if (summary.size > 0) {
    const order = TESTS.flatMap((t) => PIPELINES.map((p) => ({ t, p })));
    out.set(
      'throughput.svg',
      barChart({
        title: 'Throughput per configuration (redis-benchmark -d 100 -r 100000; 1 node: -c 50, 3 nodes: -c 64)',
        yLabel: 'operations per second',
        categories: order.map((o) => `${o.t} -P ${o.p}`),
        series: CONFIGS.map((c) => ({ name: c.label, values: order.map((o) => cell(summary, c, o.t, o.p)?.ops) })),
        width: 980,
        height: 420,
      }),
    );
    for (const p of PIPELINES) {
      const cats = TESTS.flatMap((t) => (['p50', 'p99'] as const).map((q) => ({ t, q })));
      out.set(
        `latency-p${p}.svg`,
        barChart({
          title: `Latency percentiles at -P ${p} (log scale)`,
          yLabel: 'latency, ms',
          logY: true,
          categories: cats.map((c) => `${c.t} ${c.q}`),
          series: CONFIGS.map((c) => ({ name: c.label, values: cats.map((x) => cell(summary, c, x.t, p)?.[x.q]) })),
          width: 980,
          height: 420,
        }),
      );
    }
  }
  const steps = scaleSteps(scale);
  if (steps.length > 0) {
    const line = (file: string, title: string, yLabel: string, series: { name: string; measure: string; side?: 'reference'; scaleBy?: number }[], logY = false): void => {
      const s: Series[] = series.map((x) => ({ name: x.name, values: steps.map((n) => { const v = scaleValue(scale, x.measure, n, x.side === 'reference' ? 'reference' : 'value'); return v === undefined ? undefined : v / (x.scaleBy ?? 1); }) })); // prettier-ignore
      out.set(file, lineChart({ title, yLabel, xLabel: 'keys in the store (16-byte keys, 100-byte values)', x: steps, series: s, logY }));
    };
    line('scale-ram.svg', 'RAM per key beyond the 16-byte key', 'bytes per key', [
      { name: 'bitraft restarted', measure: 'ram-restarted' },
      { name: 'bitraft after the load', measure: 'ram-loaded' },
      { name: 'bitraft after KEYS (ordered index)', measure: 'ram-ordered' },
      { name: 'redis-server restarted', measure: 'ram-restarted', side: 'reference' },
      { name: 'redis-server after the load', measure: 'ram-loaded', side: 'reference' },
    ]);
    line('scale-restart.svg', 'Restart: spawn → first correct GET', 'seconds', [
      { name: 'bitraft after SIGTERM', measure: 'restart-sigterm', scaleBy: 1000 },
      { name: 'bitraft after SIGKILL', measure: 'restart-sigkill', scaleBy: 1000 },
      { name: 'redis-server from its RDB', measure: 'restart-sigterm', side: 'reference', scaleBy: 1000 },
    ]);
    line('scale-snapshot.svg', 'Snapshot, parse-snapshot and merge time', 'seconds', [
      { name: 'RAFTSNAPSHOT', measure: 'snapshot-time', scaleBy: 1000 },
      { name: 'redis-server SAVE', measure: 'snapshot-time', side: 'reference', scaleBy: 1000 },
      { name: 'parse-snapshot > /dev/null', measure: 'parse', scaleBy: 1000 },
      { name: 'merge (10 % overwritten)', measure: 'merge', scaleBy: 1000 },
    ]);
    line('scale-size.svg', 'Snapshot size', 'MB (10^6 bytes)', [
      { name: 'bitraft state.bin', measure: 'snapshot-size' },
      { name: 'redis-server dump.rdb', measure: 'snapshot-size', side: 'reference' },
    ]);
    line(
      'scale-keys.svg',
      'KEYS page of 1,000 keys (log scale)',
      'ms',
      [
        { name: 'first page (builds the ordered index)', measure: 'keys-first' },
        { name: 'slowest PING meanwhile', measure: 'keys-first-ping' },
        { name: 'from the start', measure: 'keys-start' },
        { name: 'from the middle (PIVOT)', measure: 'keys-middle' },
      ],
      true,
    );
    line('scale-load.svg', 'Load rate (redis-cli --pipe, one SET per key)', 'keys per second', [
      { name: 'bitraft (durability high)', measure: 'load' },
      { name: "redis-server (--save '')", measure: 'load', side: 'reference' },
    ]);
  }
  return out;
}

/** Replaces the text between `<!-- generated:name -->` and `<!-- /generated:name -->`. */
export function replaceGenerated(doc: string, name: string, body: string): string {
  const open = `<!-- generated:${name} -->`;
  const close = `<!-- /generated:${name} -->`;
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a < 0 || b < a) return doc;
  return `${doc.slice(0, a + open.length)}\n${body.trim()}\n${doc.slice(b)}`;
}

function main(): void {
  const results = readSuiteResults();
  const summary = results.get('summary');
  const scale = results.get('scale');
  const summaryMetrics = byId(summary);
  const scaleMetrics = byId(scale);
  fs.mkdirSync(CHART_DIR, { recursive: true });
  for (const [file, svg] of charts(summaryMetrics, scaleMetrics)) {
    fs.writeFileSync(path.join(CHART_DIR, file), svg);
    process.stderr.write(`wrote docs/bench/${file}\n`);
  }
  if (!fs.existsSync(BENCHMARKS)) return;
  const used = [summary, scale].filter((r): r is SuiteResult => r !== undefined);
  let doc = fs.readFileSync(BENCHMARKS, 'utf8');
  doc = replaceGenerated(doc, 'machine', machineText(used));
  doc = replaceGenerated(doc, 'summary', summaryTable(summaryMetrics));
  doc = replaceGenerated(doc, 'targets', targetsTable(used));
  doc = replaceGenerated(doc, 'scale', scaleTable(scaleMetrics));
  fs.writeFileSync(BENCHMARKS, doc);
  process.stderr.write('rewrote the generated parts of BENCHMARKS.md\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
