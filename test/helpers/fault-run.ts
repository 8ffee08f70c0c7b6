/**
 * One Jepsen-style fault run: a cluster of `nodes` real `bitraft serve` processes on
 * loopback (heartbeat 50 ms, election timeout 500 ms, request timeout 2 s, a snapshot
 * every 300 applied entries with 50 entries of log kept behind it, so snapshots, log
 * compaction and InstallSnapshot happen during the run), their node-to-node traffic
 * through a fault-injecting network (test/helpers/fault-network.ts), clients
 * (test/helpers/workload.ts) — four pinned to each node, four roaming — offering about 400
 * operations per second of GET/SET/DEL/MSET on a small key set, and the nemesis
 * (test/helpers/nemesis.ts) injecting a fault every 2–3 s after a fault-free warm-up.
 *
 * After `seconds`, everything is healed, then:
 * - validity: at least 100 acknowledged operations per second during the warm-up, or the
 *   run is invalid (it fails);
 * - a write succeeds within 5 s of the end of healing (retried through the members);
 * - every key is read through every member, and every key's history is linearizable
 *   (test/helpers/history-check.ts: this covers lost acknowledged writes and resurrected
 *   deletes), with the end state also checked on its own;
 * - once every member applied the leader's commit index with no writes in flight, every
 *   member's RAFTDIGEST is the same;
 * - an isolated node never changed membership (the nemesis checks it).
 * Besides, the run must not be vacuous: enough acknowledged operations, writes and reads
 * of written values on every key, operations through every initial node, and faults.
 *
 * When a check fails, the history (JSON), the events, every node's log and the data
 * directories are kept in a directory whose path the run prints (`artifacts`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Test as Tap } from 'tap';
import { seededRng } from '../../src/core/support/rng.js';
import { ReplyError, sleep, TestCluster } from './cluster.js';
import { convergedDigests, type NodeDigest } from './cluster-view.js';
import { FaultNetwork } from './fault-network.js';
import { checkKeys, finalValueProblems, keyOperations, linearizableIfFailedWritesCounted } from './history-check.js';
import { Nemesis, type NemesisEvent } from './nemesis.js';
import { runClient, type ClientOp } from './workload.js';

/** What a run does. */
export interface RunConfig {
  nodes: number;
  seconds: number;
  seed: number;
  /** More `serve` flags for every node (BITRAFT_FAULT_SERVE_ARGS). */
  extraArgs: string[];
}

/** What a run did and found. */
export interface RunReport {
  config: RunConfig;
  events: NemesisEvent[];
  /** Faults by kind (events other than `heal` and `joined`). */
  faultsByKind: Map<string, number>;
  /** Client operations by command and outcome, e.g. `set ok`. */
  ops: Map<string, number>;
  /** Error messages of failed and indeterminate operations (digits as N), by count. */
  errors: Map<string, number>;
  total: number;
  checked: number;
  keys: number;
  /** Acknowledged operations per second before the first fault. */
  warmupRate: number;
  /** Operations per second the clients aim at together. */
  targetRate: number;
  /** Operations sent per second over the whole run (below the target while clients wait out timeouts). */
  offeredRate: number;
  elections: number;
  snapshots: number;
  installs: number;
  merges: number;
  maxGapMs: number;
  /** Node-to-node connections through the proxies: accepted, forwarded, blackholed. */
  links: { accepted: number; forwarded: number; blackholed: number };
  /** How long the linearizability check took, ms. */
  checkMs: number;
  /** Time from the end of healing to the first acknowledged final write, ms (Infinity: none). */
  finalWriteMs: number;
  violations: string[];
  /** Every failed check (violations included). */
  failures: string[];
  artifacts: string | undefined;
}

/** Clients per node that always use that node, and clients that pick a node per operation. */
const PINNED_PER_NODE = 4;
const ROAMING = 4;
/** Operations per second offered by all clients together. */
const OFFERED_RATE = 400;
/** The fault-free start, ms. */
const WARMUP_MS = 4000;
/** The validity floor: acknowledged operations per second during the warm-up. */
const MIN_WARMUP_RATE = 100;
/** After healing, a write must be acknowledged within this. */
const FINAL_WRITE_MS = 5000;
const REQUEST_TIMEOUT_MS = 2000;
const CLIENT_TIMEOUT_MS = REQUEST_TIMEOUT_MS + 500;
/** Flags of every node, before `extraArgs`. */
const SERVE_ARGS = ['--snapshot-entries', '300', '--log-tail', '50'];

/** Runs one fault run in `t` (which gets one assertion per check) and reports it. */
export async function faultRun(t: Tap, config: RunConfig): Promise<RunReport> {
  const failures: string[] = [];
  const check = (ok: boolean, what: string, extra?: string): void => {
    t.ok(ok, what);
    if (!ok) failures.push(extra ? `${what}: ${extra}` : what);
  };
  let net: FaultNetwork | undefined;
  const c = new TestCluster(t, {
    timing: 'fast',
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    args: [...SERVE_ARGS, ...config.extraArgs],
    spawnArgs: (n) => net!.routeArgs(n.addr),
  });
  const slots = await c.reserve(config.nodes + 1);
  net = await FaultNetwork.start(t, slots);
  const rng = seededRng(config.seed);
  const history: ClientOp[] = [];
  const keyCount = Math.max(8, Math.round(config.seconds / 5));
  const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
  const nemesisRng = seededRng(rng.int(2 ** 31));
  const clientSeeds = Array.from({ length: config.nodes * PINNED_PER_NODE + ROAMING }, () => rng.int(2 ** 31));
  let nemesis: Nemesis | undefined;
  const finals = new Map<string, (string | null)[]>();
  let digests: NodeDigest[] = [];
  let finalWriteMs = Infinity;
  let wallStart = Date.now();
  let completed = false;
  try {
    await c.start(config.nodes);
    const initial = c.members();
    wallStart = Date.now();
    const started = performance.now();
    nemesis = new Nemesis({ cluster: c, net, rng: nemesisRng, size: config.nodes, started });
    const deadline = started + config.seconds * 1000;
    let clientsStop = false;
    const clients = clientSeeds.map((seed, id) =>
      runClient({
        cluster: c,
        id,
        rng: seededRng(seed),
        pinned: id < initial.length * PINNED_PER_NODE ? initial[id % initial.length] : undefined,
        keys,
        rate: OFFERED_RATE / clientSeeds.length,
        timeoutMs: CLIENT_TIMEOUT_MS,
        history,
        stop: () => clientsStop,
      }),
    );
    try {
      await nemesis.run(started + WARMUP_MS, () => performance.now() > deadline);
      await nemesis.heal();
      finalWriteMs = await finalWrite(c);
    } finally {
      clientsStop = true;
      await Promise.all(clients);
    }
    check(finalWriteMs <= FINAL_WRITE_MS, `a write is acknowledged within ${FINAL_WRITE_MS} ms of healing`, `${finalWriteMs} ms`);
    for (const key of keys) finals.set(key, await finalReads(c, key, history));
    for (const n of nemesis.strays()) await c.kill(n, 'SIGKILL');
    digests = await digestsOf(c);
    completed = true;
  } catch (err) {
    failures.push(`the run stopped: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    t.fail(`the run stopped: ${err instanceof Error ? err.message : String(err)}`);
  }
  const report = summarize(config, c, nemesis, history, finals, digests, wallStart, failures, finalWriteMs);
  report.links = net.counts();
  if (nemesis && completed) verify(t, report, check, history, c, nemesis, keys);
  if (failures.length > 0) report.artifacts = saveArtifacts(config, c, history, nemesis?.events ?? []);
  report.failures = failures;
  return report;
}

/** Writes `final` (retrying through the members); the ms from now to the first acknowledgement. */
async function finalWrite(c: TestCluster): Promise<number> {
  const healed = performance.now();
  for (let attempt = 0; performance.now() - healed < 30_000; attempt++) {
    const members = c.members();
    const node = members[attempt % members.length]!;
    const reply = await c.tryCall(node, ['SET', 'final', `after-heal-${attempt}`], 1500);
    if (reply === 'OK') return Math.round(performance.now() - healed);
    await sleep(50);
  }
  return Infinity;
}

/** Reads `key` through every member once (recorded as acknowledged reads); the values read. */
async function finalReads(c: TestCluster, key: string, history: ClientOp[]): Promise<(string | null)[]> {
  const values: (string | null)[] = [];
  for (const node of c.members()) {
    const invoke = performance.now();
    const got = await c.call(node, ['GET', key], 10_000);
    const complete = performance.now();
    if (got !== null && typeof got !== 'string') throw new Error(`final GET ${key} through ${node.name}: ${got instanceof ReplyError ? got.message : String(got)}`);
    history.push({ client: -1, node: node.name, cmd: 'get', keys: [key], value: got, invoke, complete, outcome: 'ok' });
    values.push(got);
  }
  return values;
}

/** Every member's digest once converged; retried when a late entry made their indexes differ. */
async function digestsOf(c: TestCluster): Promise<NodeDigest[]> {
  let digests: NodeDigest[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    digests = await convergedDigests(c, c.members(), 30_000);
    if (new Set(digests.map((d) => d.index)).size === 1) return digests;
  }
  return digests;
}

/** The checks on a run that reached its end (see the file comment). */
function verify(t: Tap, r: RunReport, check: (ok: boolean, what: string, extra?: string) => void, history: ClientOp[], c: TestCluster, nemesis: Nemesis, keys: string[]): void {
  const seconds = r.config.seconds;
  check(r.warmupRate >= MIN_WARMUP_RATE, `valid run: at least ${MIN_WARMUP_RATE} acknowledged operations/s before the first fault`, `${r.warmupRate.toFixed(0)}/s`);
  const ok = history.filter((o) => o.outcome === 'ok' && o.client >= 0);
  const minOps = Math.max(100, 5 * seconds);
  check(ok.length >= minOps, `at least ${minOps} acknowledged operations (${ok.length})`);
  for (const key of keys) {
    const writes = ok.some((o) => o.cmd !== 'get' && o.cmd !== 'del' && o.keys.includes(key));
    const reads = ok.some((o) => o.cmd === 'get' && o.keys[0] === key && o.value !== null);
    if (!writes || !reads) check(false, `${key}: acknowledged writes and reads of written values`);
  }
  for (const n of c.nodes.slice(0, r.config.nodes)) {
    if (!ok.some((o) => o.node === n.name)) check(false, `operations acknowledged through ${n.name}`);
  }
  const faults = [...r.faultsByKind.values()].reduce((a, b) => a + b, 0);
  check(faults >= Math.max(1, Math.floor(seconds / 5)), `faults were injected (${faults})`);
  check(nemesis.problems.length === 0, 'every node recovered from every fault', nemesis.problems.join('; '));
  for (const v of r.violations) t.fail(`violation: ${v}`);
  if (r.violations.length === 0) t.pass(`0 violations: ${r.checked} operations on ${r.keys} keys linearizable, digests equal, membership safe`);
  else for (const v of r.violations) r.failures.push(v);
}

/** Counts, log figures and violations of a run. */
function summarize(
  config: RunConfig,
  c: TestCluster,
  nemesis: Nemesis | undefined,
  history: ClientOp[],
  finals: Map<string, (string | null)[]>,
  digests: NodeDigest[],
  wallStart: number,
  failures: string[],
  finalWriteMs: number,
): RunReport {
  const events = nemesis?.events ?? [];
  const faultsByKind = new Map<string, number>();
  for (const e of events) if (e.kind !== 'heal' && e.kind !== 'joined') faultsByKind.set(e.kind, (faultsByKind.get(e.kind) ?? 0) + 1);
  const ops = new Map<string, number>();
  const clientOps = history.filter((o) => o.client >= 0);
  for (const o of clientOps) ops.set(`${o.cmd} ${o.outcome}`, (ops.get(`${o.cmd} ${o.outcome}`) ?? 0) + 1);
  const errors = new Map<string, number>();
  for (const o of clientOps) {
    if (o.error === undefined) continue;
    const e = o.error.replace(/\d+/g, 'N');
    errors.set(e, (errors.get(e) ?? 0) + 1);
  }
  const first = nemesis?.firstFaultAt;
  const started = clientOps.reduce((m, o) => Math.min(m, o.invoke), Infinity);
  const last = clientOps.reduce((m, o) => Math.max(m, o.complete), -Infinity);
  const warm = first !== undefined && clientOps.length > 0 ? clientOps.filter((o) => o.outcome === 'ok' && o.complete <= first).length / ((first - started) / 1000) : 0;
  const violations = [...(nemesis?.violations ?? [])];
  let checked = 0;
  const checkStarted = performance.now();
  if (finals.size > 0) {
    const verdict = checkKeys(keyOperations(history));
    checked = verdict.checked;
    for (const key of verdict.failedKeys) {
      violations.push(
        `${key}: history not linearizable (${linearizableIfFailedWritesCounted(history, key) ? 'it would be if the writes answered with a definite error had taken effect' : 'not even counting every failed write as possibly applied'})`,
      );
    }
    violations.push(...finalValueProblems(history, finals));
  }
  if (digests.length > 0) {
    const distinct = new Set(digests.map((d) => `${d.index} ${d.keys} ${d.digest}`));
    if (distinct.size > 1) violations.push(`RAFTDIGEST differs between members: ${digests.map((d) => `${d.node} index ${d.index} keys ${d.keys} ${d.digest.slice(0, 16)}…`).join('; ')}`);
  }
  const logs = c.nodes.flatMap((n) => n.generations.map((g) => g.stderr())).join('\n');
  const since = (re: RegExp): number => logs.split('\n').filter((l) => re.test(l) && Date.parse(l.slice(0, 24)) >= wallStart).length;
  return {
    config,
    events,
    faultsByKind,
    ops,
    errors,
    total: clientOps.length,
    checked,
    keys: finals.size,
    warmupRate: warm,
    targetRate: OFFERED_RATE,
    offeredRate: clientOps.length > 0 ? clientOps.length / Math.max(1, (last - started) / 1000) : 0,
    elections: since(/raft: became the leader at term/),
    snapshots: since(/raft: snapshot \S+ written/),
    installs: since(/raft: installed the snapshot/),
    // Automatic merges that completed (each logs one `merge: done` line).
    merges: since(/\bmerge: done\b/),
    maxGapMs: Math.round(nemesis?.maxGapMs ?? 0),
    links: { accepted: 0, forwarded: 0, blackholed: 0 },
    checkMs: Math.round(performance.now() - checkStarted),
    finalWriteMs,
    violations,
    failures,
    artifacts: undefined,
  };
}

/** Keeps the evidence of a failed run; returns the directory. */
function saveArtifacts(config: RunConfig, c: TestCluster, history: ClientOp[], events: NemesisEvent[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bitraft-faults-${config.nodes}n-${config.seed}-`));
  fs.writeFileSync(path.join(dir, 'history.json'), JSON.stringify({ config, operations: history }, (_k, v) => (v === Infinity ? 'Infinity' : v), 1));
  fs.writeFileSync(path.join(dir, 'events.txt'), events.map((e) => `${(e.at / 1000).toFixed(1)}s ${e.kind}: ${e.detail}`).join('\n') + '\n');
  for (const n of c.nodes) fs.writeFileSync(path.join(dir, `${n.name}.log`), c.log(n));
  fs.cpSync(c.base, path.join(dir, 'data'), { recursive: true });
  return dir;
}

