/**
 * Charts as standalone SVG text, for the results committed next to BENCHMARKS.md: grouped
 * bars (one group per category, one bar per series) and lines (y against a numeric x),
 * each with a title, axes with ticks and units, and a legend. Pure: no I/O, no clock;
 * the same spec always gives the same text.
 */

/** One named set of values, drawn in one colour. `undefined` is a missing value (no bar, no point). */
export interface Series {
  name: string;
  values: (number | undefined)[];
}

/** What both kinds of chart share. */
interface ChartBase {
  title: string;
  /** Label of the y axis, with its unit, e.g. `ops/s` or `latency, ms`. */
  yLabel: string;
  series: Series[];
  /** A logarithmic y axis (for values spanning orders of magnitude); non-positive values are not drawn. */
  logY?: boolean;
  width?: number;
  height?: number;
}

/** Grouped bars: `series[s].values[c]` is the bar of series `s` in category `c`. */
export interface BarChartSpec extends ChartBase {
  categories: string[];
}

/** Lines: `series[s].values[i]` is the y of series `s` at `x[i]`. */
export interface LineChartSpec extends ChartBase {
  x: number[];
  /** Label of the x axis, with its unit. */
  xLabel: string;
  logX?: boolean;
}

/** Colours of the series, in order (repeated past the end). */
export const PALETTE = ['#1f6feb', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const MARGIN = { right: 24, bottom: 64, left: 76 };
/** Height of one row of the legend, which sits between the title and the plot. */
const LEGEND_ROW = 16;
const LEGEND_TOP = 32;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `1234567` → `1.23M`, `412345` → `412k`, `950` → `950`, `12.5` → `12.5`, `0.04213` → `0.0421` (three significant digits). */
export function shortNumber(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${trim((n / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${trim((n / 1e3).toPrecision(3))}k`;
  if (a >= 100 || a === 0) return n.toFixed(0);
  return trim(n.toPrecision(3));
}

function trim(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Ticks of a linear axis from 0 (or below, for negatives) that covers `max`: about 5 round steps. */
export function linearTicks(min: number, max: number): number[] {
  const lo = Math.min(0, min);
  const hi = max > lo ? max : lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t < hi + step; t += step) {
    ticks.push(Number(t.toPrecision(12)));
    if (t >= hi) break;
  }
  return ticks;
}

/** Ticks of a logarithmic axis: the 1-2-5 values of every decade from below `min` to above `max` (both > 0). */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) ticks.push(Number((m * 10 ** e).toPrecision(12)));
  }
  let first = 0;
  while (ticks[first + 1]! <= min) first++;
  const last = ticks.findIndex((t) => t >= max);
  // A single value: keep a tick on each side of it, so the axis has a length.
  return last > first ? ticks.slice(first, last + 1) : ticks.slice(Math.max(0, first - 1), first + 2);
}

/** A mapping of values onto pixels between `from` and `to`. */
interface Scale {
  ticks: number[];
  at: (v: number) => number;
}

function makeScale(values: number[], log: boolean, from: number, to: number): Scale {
  if (log) {
    const positive = values.filter((v) => v > 0);
    const ticks = positive.length === 0 ? [1, 10] : logTicks(Math.min(...positive), Math.max(...positive));
    const [l0, l1] = [Math.log10(ticks[0]!), Math.log10(ticks.at(-1)!)];
    return { ticks, at: (v) => from + ((Math.log10(v) - l0) / (l1 - l0)) * (to - from) };
  }
  const ticks = linearTicks(values.length === 0 ? 0 : Math.min(...values), values.length === 0 ? 1 : Math.max(...values));
  const [t0, t1] = [ticks[0]!, ticks.at(-1)!];
  return { ticks, at: (v) => from + ((v - t0) / (t1 - t0)) * (to - from) };
}

/** The values a scale must cover: every defined one (only the positive ones on a log axis). */
function drawable(series: Series[], log: boolean | undefined): number[] {
  return series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && Number.isFinite(v) && (!log || v > 0));
}

const round = (n: number): string => String(Math.round(n * 10) / 10);

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${round(x)}" y="${round(y)}" ${FONT} ${attrs}>${escapeXml(content)}</text>`;
}

/** Where each legend entry goes: rows that wrap before the right margin. */
function legendLayout(series: Series[], w: number): { x: number; row: number }[] {
  let x = MARGIN.left;
  let row = 0;
  return series.map((s) => {
    const width = 24 + s.name.length * 6.2;
    if (x > MARGIN.left && x + width > w - MARGIN.right) {
      x = MARGIN.left;
      row++;
    }
    const at = { x, row };
    x += width;
    return at;
  });
}

/** The top of the plot area: below the title and every row of the legend. */
function plotTop(series: Series[], w: number): number {
  const rows = Math.max(1, ...legendLayout(series, w).map((l) => l.row + 1));
  return LEGEND_TOP + rows * LEGEND_ROW;
}

/** The frame: background, title, y axis with grid lines and its label, and the legend. */
function frame(spec: ChartBase, w: number, h: number, top: number, y: Scale): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    text(w / 2, 22, spec.title, 'font-size="15" font-weight="bold" text-anchor="middle"'),
  ];
  for (const t of y.ticks) {
    const py = y.at(t);
    out.push(`<line x1="${MARGIN.left}" y1="${round(py)}" x2="${w - MARGIN.right}" y2="${round(py)}" stroke="#e5e5e5"/>`);
    out.push(text(MARGIN.left - 6, py + 4, shortNumber(t), 'font-size="11" text-anchor="end" fill="#333"'));
  }
  const midY = (top + h - MARGIN.bottom) / 2;
  out.push(text(16, midY, spec.yLabel, `font-size="12" text-anchor="middle" transform="rotate(-90 16 ${round(midY)})"`));
  out.push(`<line x1="${MARGIN.left}" y1="${top}" x2="${MARGIN.left}" y2="${h - MARGIN.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${MARGIN.left}" y1="${h - MARGIN.bottom}" x2="${w - MARGIN.right}" y2="${h - MARGIN.bottom}" stroke="#333"/>`);
  const legend = legendLayout(spec.series, w);
  spec.series.forEach((s, i) => {
    const { x, row } = legend[i]!;
    const ly = LEGEND_TOP + row * LEGEND_ROW;
    out.push(`<rect x="${round(x)}" y="${ly}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(text(x + 14, ly + 9, s.name, 'font-size="11"'));
  });
  return out;
}

/** Renders grouped bars, each labelled with its value. */
export function barChart(spec: BarChartSpec): string {
  const w = spec.width ?? 760;
  const h = spec.height ?? 380;
  const top = plotTop(spec.series, w);
  const y = makeScale(drawable(spec.series, spec.logY), spec.logY === true, h - MARGIN.bottom, top);
  const out = frame(spec, w, h, top, y);
  const groupW = (w - MARGIN.left - MARGIN.right) / Math.max(1, spec.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const base = y.at(y.ticks[0]!);
  spec.categories.forEach((c, ci) => {
    const gx = MARGIN.left + ci * groupW + groupW * 0.1;
    out.push(text(gx + groupW * 0.4, h - MARGIN.bottom + 18, c, 'font-size="12" text-anchor="middle"'));
    spec.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !Number.isFinite(v) || (spec.logY && v <= 0)) return;
      const top = y.at(v);
      const x = gx + si * barW;
      out.push(`<rect x="${round(x)}" y="${round(Math.min(top, base))}" width="${round(barW - 2)}" height="${round(Math.abs(base - top))}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${s.name}, ${c}: ${shortNumber(v)}`)}</title></rect>`);
      out.push(text(x + (barW - 2) / 2, Math.min(top, base) - 3, shortNumber(v), 'font-size="9" text-anchor="middle" fill="#333"'));
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Renders one line per series through its points, with a marker on each point. */
export function lineChart(spec: LineChartSpec): string {
  const w = spec.width ?? 760;
  const h = spec.height ?? 380;
  const top = plotTop(spec.series, w);
  const y = makeScale(drawable(spec.series, spec.logY), spec.logY === true, h - MARGIN.bottom, top);
  const x = makeScale(spec.x.filter((v) => !spec.logX || v > 0), spec.logX === true, MARGIN.left, w - MARGIN.right);
  const out = frame(spec, w, h, top, y);
  for (const t of x.ticks) {
    const px = x.at(t);
    out.push(`<line x1="${round(px)}" y1="${h - MARGIN.bottom}" x2="${round(px)}" y2="${h - MARGIN.bottom + 4}" stroke="#333"/>`);
    out.push(text(px, h - MARGIN.bottom + 18, shortNumber(t), 'font-size="11" text-anchor="middle" fill="#333"'));
  }
  out.push(text((MARGIN.left + w - MARGIN.right) / 2, h - 18, spec.xLabel, 'font-size="12" text-anchor="middle"'));
  spec.series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length]!;
    const points = spec.x
      .map((xv, i) => ({ xv, yv: s.values[i] }))
      .filter((p): p is { xv: number; yv: number } => p.yv !== undefined && Number.isFinite(p.yv) && (!spec.logY || p.yv > 0) && (!spec.logX || p.xv > 0));
    if (points.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${round(x.at(p.xv))},${round(y.at(p.yv))}`).join(' ')}"/>`);
    for (const p of points) {
      out.push(`<circle cx="${round(x.at(p.xv))}" cy="${round(y.at(p.yv))}" r="3.5" fill="${colour}"><title>${escapeXml(`${s.name} at ${shortNumber(p.xv)}: ${shortNumber(p.yv)}`)}</title></circle>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
