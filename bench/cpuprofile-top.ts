/**
 * Summarizes V8 `.cpuprofile` files (from `node --cpu-prof`): the functions with the
 * most self time, and the source files with the most self time.
 *
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile... [--top N]
 *
 * Self time of a sample goes to the function on top of the stack; total time goes once
 * to every distinct function on the stack (so recursion is not counted twice).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Time attributed to one function or file, in µs. */
export interface Row {
  key: string;
  self: number;
  total: number;
}

/** Self and total µs per function (`name file:line`) and self µs per file of one or more profiles. */
export function summarize(profiles: CpuProfile[]): { total: number; functions: Row[]; files: Row[] } {
  const fns = new Map<string, Row>();
  const files = new Map<string, Row>();
  let total = 0;
  for (const p of profiles) {
    const byId = new Map<number, ProfileNode>();
    const parent = new Map<number, number>();
    for (const n of p.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n.id);
    }
    const fnKey = (n: ProfileNode): string => {
      const f = n.callFrame;
      const name = f.functionName || '(anonymous)';
      if (!f.url) return name;
      return `${name} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
    };
    const fileKey = (n: ProfileNode): string => (n.callFrame.url ? shortUrl(n.callFrame.url) : `(${n.callFrame.functionName || 'native'})`);
    const row = (m: Map<string, Row>, key: string): Row => {
      let r = m.get(key);
      if (!r) m.set(key, (r = { key, self: 0, total: 0 }));
      return r;
    };
    for (let i = 0; i < p.samples.length; i++) {
      // timeDeltas[i] is the time since the previous sample; the next delta is this sample's length.
      const dt = p.timeDeltas[i + 1] ?? 0;
      total += dt;
      const leaf = byId.get(p.samples[i]!)!;
      row(fns, fnKey(leaf)).self += dt;
      row(files, fileKey(leaf)).self += dt;
      const seen = new Set<string>();
      for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
        const k = fnKey(byId.get(id)!);
        if (seen.has(k)) continue;
        seen.add(k);
        row(fns, k).total += dt;
      }
    }
  }
  const sorted = (m: Map<string, Row>): Row[] => [...m.values()].sort((a, b) => b.self - a.self);
  return { total, functions: sorted(fns), files: sorted(files) };
}

/** `file:///work/main/dist/src/core/x.js` → `dist/src/core/x.js`; `node:net` stays. */
function shortUrl(url: string): string {
  const cwd = pathToFileURL(process.cwd()).href + '/';
  if (url.startsWith(cwd)) return url.slice(cwd.length);
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 1);
  return url;
}

function main(argv: string[]): void {
  let top = 30;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0) {
    process.stderr.write('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile... [--top N]\n');
    process.exitCode = 2;
    return;
  }
  const profiles = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as CpuProfile);
  const { total, functions, files: byFile } = summarize(profiles);
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const out: string[] = [`${files.map((f) => path.basename(f)).join(', ')}: ${(total / 1e6).toFixed(2)} s sampled`, '', `top ${top} functions by self time (self, then total incl. callees):`];
  for (const r of functions.slice(0, top)) out.push(`${ms(r.self)} ${pct(r.self)}  ${pct(r.total)}  ${r.key}`);
  out.push('', `top ${Math.min(top, 15)} files by self time:`);
  for (const r of byFile.slice(0, Math.min(top, 15))) out.push(`${ms(r.self)} ${pct(r.self)}  ${r.key}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main(process.argv.slice(2));
