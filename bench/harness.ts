/**
 * Shared vocabulary of the benchmark suites: what a measured metric looks like, how a
 * suite is run, how a metric is judged against its reference and target, and a few
 * timing and memory helpers.
 */

/** Units a metric can be reported in. `MB` is 10^6 bytes. */
/** `×` is a speed-up factor. */
export type Unit = 'ops/s' | 's' | 'ms' | 'µs' | 'B/key' | 'MB' | 'MB/s' | '×';

/** A comparison used by targets. */
export type TargetOp = '<' | '<=' | '>=' | '>';

/**
 * What a metric has to reach. By default the target applies to the measured value (in
 * the metric's unit); with `on: 'ratio'` it applies to the ratio against the reference.
 */
export interface Target {
  op: TargetOp;
  value: number;
  on?: 'value' | 'ratio';
}

/** A measurement made in the same run that a metric is compared with. */
export interface Reference {
  value: number;
  /** One line saying what was measured, printed in the footnotes. */
  what: string;
}

/** One measured result of a suite. */
export interface Metric {
  /** Stable machine name, e.g. `put.nosync`; used in JSON output. */
  id: string;
  /** Label printed in the table. */
  name: string;
  /**
   * Optional sub-heading: consecutive metrics of a suite with the same group are printed
   * under one sub-heading row, and their shared reference is described once, labelled
   * with the group's text up to its first colon (e.g. `durable` for `durable: a vs b`).
   */
  group?: string;
  unit: Unit;
  value: number;
  /** Whether a larger value is better (rates) or a smaller one (times, bytes). */
  better: 'higher' | 'lower';
  reference?: Reference;
  target?: Target;
  /** A line of context printed under the table (e.g. a hardware floor that bounds the metric). */
  note?: string;
  /** Extra numbers kept in the JSON output (counts, sub-timings, raw memory figures). */
  details?: Record<string, number | string | boolean>;
}

/** A metric with its ratio and verdict worked out. */
export interface JudgedMetric extends Metric {
  /** Oriented so that higher is always better: bitraft ÷ reference for rates, reference ÷ bitraft otherwise. */
  ratio?: number;
  verdict?: 'meets' | 'misses';
}

/** Settings shared by every suite of one run. */
export interface BenchConfig {
  /** `--quick` / `BENCH_QUICK=1`: a fast check at 100,000 keys. */
  quick: boolean;
  /** Number of keys the suites work on. */
  keys: number;
  /** A scratch directory owned by this run; the entry point removes it at the end. */
  tmpRoot: string;
  /** Prints a progress line to stderr. */
  log: (message: string) => void;
  /** Key counts of the scale suite's steps, ascending (`--scale`). */
  scaleSteps: number[];
}

/** A group of related metrics (storage, server, Raft, ...). */
export interface Suite {
  /** Short name, used by `--suite` and in JSON output. */
  name: string;
  /** Heading printed above the suite's rows. */
  title(config: BenchConfig): string;
  /** Runs every measurement and returns the metrics in display order. */
  run(config: BenchConfig): Promise<Metric[]>;
}

/** Computes the ratio (higher is better) and the verdict of a metric. */
export function judge(metric: Metric): JudgedMetric {
  const ref = metric.reference?.value;
  let ratio: number | undefined;
  if (ref !== undefined && ref > 0 && metric.value > 0) {
    ratio = metric.better === 'higher' ? metric.value / ref : ref / metric.value;
  }
  let verdict: JudgedMetric['verdict'];
  const target = metric.target;
  if (target) {
    const subject = target.on === 'ratio' ? ratio : metric.value;
    if (subject !== undefined && Number.isFinite(subject)) verdict = compare(subject, target.op, target.value) ? 'meets' : 'misses';
  }
  return { ...metric, ratio, verdict };
}

function compare(a: number, op: TargetOp, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>=':
      return a >= b;
    case '>':
      return a > b;
  }
}

/** Monotonic time in seconds. */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Runs a full garbage collection when the process was started with `--expose-gc`
 * (a no-op otherwise), so that one phase's garbage is not collected during the next.
 */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/** Whether `fullGc` actually collects (the process has `--expose-gc`). */
export function gcAvailable(): boolean {
  return typeof (globalThis as { gc?: unknown }).gc === 'function';
}

/** Resolves on the next turn of the event loop, letting pending callbacks run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
