/**
 * Saved results of the benchmark (`--save`): one JSON file per suite,
 * `bench/results/<suite>.json`, holding the machine it ran on, the load average when it
 * started and ended, and every metric with its ratio and verdict. The chart renderer
 * (charts.ts) and BENCHMARKS.md are made from these files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../test/helpers/processes.js';
import type { JudgedMetric } from './harness.js';
import { fsyncRate } from './server.js';

/** Where `--save` writes, and charts.ts reads. */
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench/results');

/** The machine a suite ran on. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
  /** write 128 B + fdatasync per second on the scratch filesystem, measured right after the suite (1 s). */
  fsyncPerSecond: number;
  fsyncMedianMs: number;
}

/** The contents of `bench/results/<suite>.json`. */
export interface SuiteResult {
  suite: string;
  title: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  quick: boolean;
  machine: Machine;
  /** os.loadavg() (1, 5 and 15 minutes) when the suite started and when it ended. */
  loadavg: { start: number[]; end: number[] };
  error?: string;
  metrics: JudgedMetric[];
}

/** Describes a suite that just ended, measuring the fdatasync rate of `scratch`. */
export function suiteResult(s: { name: string; title: string; error?: string; metrics: JudgedMetric[]; startedAt: Date; loadStart: number[]; quick: boolean; scratch: string }): SuiteResult {
  const end = new Date();
  const loadEnd = os.loadavg();
  const fsync = fsyncRate(s.scratch);
  return {
    suite: s.name,
    title: s.title,
    startedAt: s.startedAt.toISOString(),
    finishedAt: end.toISOString(),
    seconds: (end.getTime() - s.startedAt.getTime()) / 1000,
    quick: s.quick,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      node: process.version,
      platform: `${process.platform} ${os.release()} ${process.arch}`,
      fsyncPerSecond: fsync.perSecond,
      fsyncMedianMs: fsync.medianMs,
    },
    loadavg: { start: s.loadStart, end: loadEnd },
    ...(s.error === undefined ? {} : { error: s.error }),
    metrics: s.metrics,
  };
}

/** Writes `result` to `<dir>/<suite>.json`; returns the file's path. */
export function writeSuiteResult(result: SuiteResult, dir = RESULTS_DIR): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.suite}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Reads every `<dir>/*.json` result, by suite name. */
export function readSuiteResults(dir = RESULTS_DIR): Map<string, SuiteResult> {
  const out = new Map<string, SuiteResult>();
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue;
    const r = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as SuiteResult;
    out.set(r.suite, r);
  }
  return out;
}
