import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/cli.js';

/**
 * Enforces the import rules of DESIGN.md: a layer imports only layers below it, commands
 * import only each module's index.ts, pure raft files use no node:* module, and there
 * are no import cycles.
 */
const core = path.join(repoRoot, 'src/core');

/** Which core modules each module may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  support: [],
  resp: ['support'],
  bitcask: ['support'],
  raft: ['support'],
  // resp/replies holds only constructors of the resp/types values.
  kv: ['bitcask', 'raft/types', 'resp/types', 'resp/replies', 'support'],
  // The cluster layer implements the server's seams (proposer, session, error replies)
  // and reads its config; the server composes the cluster and runs its commands.
  cluster: ['bitcask', 'kv', 'raft', 'resp', 'snapshot', 'support', 'server/config', 'server/log', 'server/proposer', 'server/reply-errors', 'server/session'],
  server: ['cluster', 'kv', 'metrics', 'raft', 'resp', 'snapshot', 'support'],
  cli: ['cluster', 'support'],
  snapshot: ['bitcask', 'support'],
  // Prometheus metrics: the server feeds them what they read.
  metrics: ['support'],
};
/** Raft files that do I/O (disk log, snapshot files, the driver); every other raft file, the simulator included, must be pure. */
const IMPURE_RAFT = ['raft/log-store.ts', 'raft/snapshot.ts', 'raft/driver.ts', 'raft/transport.ts'];
const isPureRaft = (rel: string): boolean => rel.startsWith('raft/') && !IMPURE_RAFT.includes(rel);

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of every static and dynamic import or re-export in a file. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs;
}

function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return path.resolve(path.dirname(from), spec).replace(/\.js$/, '.ts');
}

function moduleOf(file: string): string {
  return path.relative(core, file).split(path.sep)[0]!;
}

t.test('the import parser sees every form', async (t) => {
  t.same(importsOf(`import a from './a.js';\nexport { b } from "../b.js";\nimport type { C } from './c.js';\nconst d = await import('./d.js');\nimport './e.js';`), [
    './a.js',
    '../b.js',
    './c.js',
    './d.js',
    './e.js',
  ]);
});

t.test('core modules import only the layers below them', async (t) => {
  const files = walk(core);
  t.ok(files.length > 0);
  for (const file of files) {
    const rel = path.relative(core, file);
    const mod = moduleOf(file);
    t.ok(mod in ALLOWED, `${rel} is in a known module`);
    for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
      if (isPureRaft(rel)) t.notOk(spec.startsWith('node:'), `${rel} is pure: no ${spec}`);
      const target = resolveLocal(file, spec);
      if (!target) continue;
      t.ok(target.startsWith(core + path.sep), `${rel} imports only within src/core (${spec})`);
      const targetMod = moduleOf(target);
      if (targetMod === mod) continue;
      const targetRel = path.relative(core, target).replace(/\.ts$/, '');
      const ok = ALLOWED[mod]!.some((a) => targetRel === a || targetRel.startsWith(`${a}/`)) || (rel === 'server/host.ts' && targetMod === 'bitcask');
      t.ok(ok, `${rel} may not import ${targetRel}`);
    }
  }
});

t.test('commands import only the public entry point of a core module', async (t) => {
  for (const file of walk(path.join(repoRoot, 'src/commands'))) {
    for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
      const target = resolveLocal(file, spec);
      if (!target) continue;
      t.match(path.relative(core, target), /^[a-z-]+\/index\.ts$/, `${path.basename(file)} imports ${spec}`);
    }
  }
});

t.test('there are no import cycles in src', async (t) => {
  const files = walk(path.join(repoRoot, 'src'));
  const graph = new Map(files.map((f) => [f, importsOf(fs.readFileSync(f, 'utf8')).map((s) => resolveLocal(f, s)).filter((x): x is string => !!x)]));
  const state = new Map<string, 'active' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'active') {
      cycles.push([...stack.slice(stack.indexOf(f)), f].map((x) => path.relative(repoRoot, x)).join(' -> '));
      return;
    }
    state.set(f, 'active');
    for (const g of graph.get(f) ?? []) visit(g, [...stack, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  t.same(cycles, []);
});
