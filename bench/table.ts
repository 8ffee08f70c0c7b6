/** Formatting of benchmark results: numbers with units, and the result table. */
import chalk from 'chalk';
import Table from 'cli-table3';
import type { JudgedMetric, Target, Unit } from './harness.js';

/** Formats a value in its unit, e.g. `412.3k ops/s`, `0.842 s`, `97.4 B/key`. */
export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ops/s':
      return `${formatCount(value)} ops/s`;
    case 's':
      return value < 0.1 ? `${(value * 1000).toFixed(1)} ms` : `${value.toFixed(3)} s`;
    case 'ms':
      return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
    case 'µs':
      return `${value.toFixed(value < 10 ? 2 : 1)} µs`;
    case 'B/key':
      return `${value.toFixed(1)} B/key`;
    case 'MB':
      return `${value.toFixed(value < 10 ? 2 : 0)} MB`;
    case 'MB/s':
      return `${value.toFixed(value < 10 ? 2 : 0)} MB/s`;
    case '×':
      return `${formatCount(value)}×`;
  }
}

/** `1234567` → `1.23M`, `412345` → `412.3k`, `950` → `950`. */
export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** A ratio as `0.43×` (two significant digits below 0.1, e.g. `0.0039×`). */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return '—';
  if (ratio >= 100) return `${ratio.toFixed(0)}×`;
  return `${ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}×`;
}

const OP_TEXT: Record<Target['op'], string> = { '<': '<', '<=': '≤', '>=': '≥', '>': '>' };

/** A target as `≥ 300k ops/s`, `< 1.5 s` or `ratio ≥ 0.50`. */
export function formatTarget(target: Target | undefined, unit: Unit): string {
  if (!target) return '—';
  const op = OP_TEXT[target.op];
  if (target.on === 'ratio') return `ratio ${op} ${target.value.toFixed(2)}`;
  switch (unit) {
    case 'ops/s':
      return `${op} ${trimZeros(formatCount(target.value))} ops/s`;
    case 'MB':
    case 'MB/s':
    case 's':
    case 'ms':
    case 'µs':
    case 'B/key':
      return `${op} ${target.value} ${unit}`;
    case '×':
      return `${op} ${target.value}×`;
  }
}

/** `300.0k` → `300k`, `1.50M` → `1.5M`. */
function trimZeros(text: string): string {
  return text.replace(/\.0+(?=[^0-9]|$)|(\.\d*?)0+(?=[^0-9]|$)/, '$1');
}

/** Rows of one suite under a heading. */
export interface TableSection {
  title: string;
  metrics: JudgedMetric[];
  /** Set when the suite stopped with an error; printed in place of missing rows. */
  error?: string;
}

/**
 * Renders every section in one table with the columns metric, bitraft, reference,
 * ratio, target and verdict. Colour follows chalk (off when stdout is not a terminal).
 */
export function renderTable(sections: TableSection[]): string {
  const table = new Table({
    head: ['metric', 'bitraft', 'reference', 'ratio', 'target', 'verdict'].map((h) => chalk.bold(h)),
    style: { head: [], border: [] },
    colAligns: ['left', 'right', 'right', 'right', 'right', 'left'],
  });
  for (const section of sections) {
    table.push([{ colSpan: 6, content: chalk.bold(section.title) }]);
    let group: string | undefined;
    for (const m of section.metrics) {
      if (m.group !== undefined && m.group !== group) table.push([{ colSpan: 6, content: chalk.italic(m.group) }]);
      group = m.group;
      table.push([
        m.name,
        formatValue(m.value, m.unit),
        m.reference ? formatValue(m.reference.value, m.unit) : '—',
        formatRatio(m.ratio),
        formatTarget(m.target, m.unit),
        m.verdict === 'meets' ? chalk.green('meets') : m.verdict === 'misses' ? chalk.red('misses') : '—',
      ]);
    }
    if (section.error !== undefined) table.push([{ colSpan: 6, content: chalk.red(`suite failed: ${section.error}`) }]);
  }
  return table.toString();
}

/** A group's short label: its text up to the first colon. */
function groupLabel(group: string): string {
  const colon = group.indexOf(':');
  return colon > 0 ? group.slice(0, colon) : group;
}

/**
 * One line per metric with a reference, `  name: what`; metrics of one group that share
 * the same reference text get a single line labelled with the group.
 */
function referenceLines(metrics: JudgedMetric[]): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const m of metrics) {
    if (!m.reference) continue;
    if (m.group === undefined) {
      lines.push(`  ${m.name}: ${m.reference.what}`);
      continue;
    }
    const key = `${m.group}\u0000${m.reference.what}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const shared = metrics.filter((o) => o.group === m.group && o.reference?.what === m.reference!.what).length;
    lines.push(`  ${shared > 1 ? `${groupLabel(m.group)} rows` : `${groupLabel(m.group)} / ${m.name.trim()}`}: ${m.reference.what}`);
  }
  return lines;
}

/** Footnotes printed under the table: how ratios are oriented and what each reference measured. */
export function renderFootnotes(sections: TableSection[], extra: string[] = []): string {
  const lines = [
    'ratio: higher is always better — bitraft ÷ reference for rates (ops/s, MB/s),',
    '       reference ÷ bitraft for times (s, ms, µs) and sizes (B/key); 1.00× = parity with the reference.',
    'verdict: meets/misses the target from the issue; — = no target. MB = 10^6 bytes.',
  ];
  const refs = sections.flatMap((s) => referenceLines(s.metrics));
  if (refs.length > 0) lines.push('references (measured in the same run):', ...refs);
  const notes = sections.flatMap((s) =>
    s.metrics.filter((m) => m.note).map((m) => `  ${m.group === undefined ? m.name : `${groupLabel(m.group)} / ${m.name.trim()}`}: ${m.note!}`),
  );
  if (notes.length > 0) lines.push('notes:', ...notes);
  lines.push(...extra);
  return lines.join('\n');
}
