/**
 * Linearizability under faults: a three-node cluster of real processes (heartbeat 50 ms,
 * election timeout 500 ms), six clients doing SET and GET with unique values on a few
 * keys — three pinned to one node each, three picking a node at random for every
 * operation — while a seeded nemesis, every 2–3.5 s, either SIGKILLs a node (the leader
 * two times in three) and restarts it on its directory and port, or SIGSTOPs one (the
 * leader preferred) for two to four election timeouts and then SIGCONTs it. One node
 * at most is faulty at a time.
 *
 * Every operation is recorded with its invocation and completion time on this process's
 * clock. A write that failed in a way that may have taken effect (a timeout, a dropped
 * connection, a commit that could not be confirmed) is indeterminate: `complete` is
 * Infinity. A write refused before it could enter the log (`-ERR leader not known`,
 * `-ERR not the leader any more`, or never sent) or dropped from it (`-ERR dropped:
 * superseded`: overwritten by another leader) is a definite failure and left out —
 * so if its value is ever read, the history is not linearizable. Failed reads are left
 * out. At the end everything is healed, a final write must succeed, every key is read
 * once more, and each key's history must be linearizable (test/helpers/linearizability.ts).
 *
 * BITRAFT_FAULT_SECONDS sets how long the workload runs (default 20), BITRAFT_FAULT_SEED
 * the nemesis's and clients' seed (default: random, printed; the faults' timing still
 * varies), BITRAFT_FAULT_SERVE_ARGS extra `serve` flags. A failing history is written to
 * a JSON file whose path is printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import t, { type Test as Tap } from 'tap';
import { seededRng, type Rng } from '../../src/core/support/rng.js';
import { startCluster, sleep, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { checkHistory, isLinearizable, type Operation } from '../helpers/linearizability.js';

const SECONDS = Number(process.env.BITRAFT_FAULT_SECONDS ?? 20);
const SEED = process.env.BITRAFT_FAULT_SEED !== undefined ? Number(process.env.BITRAFT_FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
const CLIENTS = 6;
/** Pinned clients (one node each); the rest rotate. */
const PINNED = 3;
/** Keys: a handful, more on longer runs to keep each key's history checkable. */
const KEYS = Math.max(4, Math.round(SECONDS / 5));
/** --request-timeout of the nodes; clients give up a little later. */
const REQUEST_TIMEOUT_MS = 2000;
const CLIENT_TIMEOUT_MS = REQUEST_TIMEOUT_MS + 2000;
/**
 * More `serve` flags for every node, to check that the test catches what it should:
 * BITRAFT_FAULT_SERVE_ARGS='--consistency low' must fail it (stale reads).
 */
const EXTRA_ARGS = (process.env.BITRAFT_FAULT_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** Errors after which the write certainly did not take effect. */
const DEFINITE = /^(ERR leader not known|ERR not the leader any more|ERR dropped: |TRY |MOVED )|Stream isn't writeable|enableOfflineQueue/;

/** An operation as recorded, with its outcome. */
interface Recorded extends Operation {
  client: number;
  node: string;
  outcome: 'ok' | 'indeterminate' | 'failed';
  error?: string;
}

interface Counters {
  faults: string[];
}

/** Whether `op` belongs in the history handed to the checker. */
function checked(op: Recorded): boolean {
  return op.outcome === 'ok' || (op.kind === 'write' && op.outcome === 'indeterminate');
}

/**
 * One client: until `stop()`, picks a node (its own, or a random one), a key and SET
 * (with a fresh unique value) or GET, and records the operation.
 */
async function client(c: TestCluster, id: number, rng: Rng, history: Recorded[], stop: () => boolean): Promise<void> {
  const conns = new Map<ClusterNode, Redis>();
  const pinned = id < PINNED ? c.nodes[id % c.nodes.length] : undefined;
  let seq = 0;
  while (!stop()) {
    const node = pinned ?? c.nodes[rng.int(c.nodes.length)]!;
    let redis = conns.get(node);
    if (!redis) {
      try {
        redis = await c.client(node, { commandTimeout: CLIENT_TIMEOUT_MS, connectTimeout: 500 });
        conns.set(node, redis);
      } catch {
        // Down or paused: nothing was sent.
        await sleep(50);
        continue;
      }
    }
    const key = `lin:${rng.int(KEYS)}`;
    const write = rng.int(2) === 0;
    const value = write ? `c${id}-${seq++}` : null;
    const invoke = performance.now();
    try {
      const got = write ? await redis.set(key, value!) : await redis.get(key);
      const complete = performance.now();
      if (write && got !== 'OK') throw new Error(`SET answered ${String(got)}`);
      history.push({ key, kind: write ? 'write' : 'read', value: write ? value : (got as string | null), invoke, complete, client: id, node: node.name, outcome: 'ok' });
    } catch (err) {
      const complete = performance.now();
      const message = err instanceof Error ? err.message : String(err);
      const outcome = write && !DEFINITE.test(message) ? 'indeterminate' : 'failed';
      history.push({ key, kind: write ? 'write' : 'read', value, invoke, complete: outcome === 'indeterminate' ? Infinity : complete, client: id, node: node.name, outcome, error: message });
      // A fresh connection next time: never queue behind a command that is stuck.
      c.drop(redis);
      conns.delete(node);
      await sleep(20 + rng.int(50));
    }
  }
  for (const r of conns.values()) c.drop(r);
}

/** The leader as one live node sees it, or undefined. */
async function currentLeader(c: TestCluster): Promise<ClusterNode | undefined> {
  for (const n of c.live()) {
    const addr = await c.tryCall(n, ['RAFTLEADER'], 300);
    if (typeof addr === 'string') return c.byAddr(addr);
  }
  return undefined;
}

/** Injects one fault at a time until `stop()`, then heals everything. */
async function nemesis(c: TestCluster, rng: Rng, counters: Counters, stop: () => boolean, t: Tap): Promise<void> {
  const started = performance.now();
  const at = (): string => `${((performance.now() - started) / 1000).toFixed(1)}s`;
  while (!stop()) {
    // Healthy for 1–2 s between faults: one starts every 2–3.5 s.
    await sleep(1000 + rng.int(1000));
    if (stop()) break;
    const leader = await currentLeader(c);
    const pickLeader = leader !== undefined && rng.int(3) < 2;
    const victim = pickLeader ? leader : c.nodes[rng.int(c.nodes.length)]!;
    const role = victim === leader ? 'leader' : 'follower';
    if (rng.int(2) === 0) {
      await c.kill(victim, 'SIGKILL');
      const down = 300 + rng.int(1200);
      counters.faults.push(`${at()} SIGKILL ${victim.name} (${role}), restart after ${down} ms`);
      await sleep(down);
      await c.restart(victim);
    } else {
      const pause = c.electionMs * (2 + rng.float() * 2);
      c.pause(victim);
      counters.faults.push(`${at()} SIGSTOP ${victim.name} (${role}) for ${Math.round(pause)} ms`);
      await sleep(pause);
      c.resume(victim);
    }
  }
  for (const n of c.nodes) {
    if (n.paused) c.resume(n);
    if (!c.running(n)) await c.restart(n);
  }
  t.comment(`nemesis: ${counters.faults.length} faults\n${counters.faults.join('\n')}`);
}

t.test(`linearizable under SIGKILL/SIGSTOP of nodes (${SECONDS} s, seed ${SEED})`, async (t) => {
  t.setTimeout((SECONDS + 150) * 1000);
  t.comment(`seed ${SEED} (BITRAFT_FAULT_SEED=${SEED} BITRAFT_FAULT_SECONDS=${SECONDS} to replay the same choices)`);
  const c = await startCluster(t, { size: 3, timing: 'fast', requestTimeoutMs: REQUEST_TIMEOUT_MS, args: EXTRA_ARGS });
  if (EXTRA_ARGS.length > 0) t.comment(`extra serve flags: ${EXTRA_ARGS.join(' ')}`);
  const rng = seededRng(SEED);
  const history: Recorded[] = [];
  const counters: Counters = { faults: [] };
  const deadline = performance.now() + SECONDS * 1000;
  let clientsStop = false;
  const nemesisRun = nemesis(c, seededRng(rng.int(2 ** 31)), counters, () => performance.now() > deadline, t);
  const clients = Array.from({ length: CLIENTS }, (_, id) => client(c, id, seededRng(rng.int(2 ** 31)), history, () => clientsStop));
  await nemesisRun;
  // A little more load on the healed cluster, then stop.
  await sleep(1000);
  clientsStop = true;
  await Promise.all(clients);

  // Healed: a leader, a final write, a final read of every key.
  const leader = await c.waitForLeader(20_000);
  const final = await c.call(leader, ['SET', 'lin:final', 'done'], 10_000);
  t.equal(final, 'OK', `a write commits once the cluster is healed (leader ${leader.name})`);
  for (let k = 0; k < KEYS; k++) {
    const key = `lin:${k}`;
    const invoke = performance.now();
    const got = await c.call(c.nodes[k % c.nodes.length]!, ['GET', key], 10_000);
    const complete = performance.now();
    if (got === null || typeof got === 'string') history.push({ key, kind: 'read', value: got, invoke, complete, client: -1, node: c.nodes[k % c.nodes.length]!.name, outcome: 'ok' });
    else t.fail(`final GET ${key}: ${String(got)}`);
  }

  const ops = history.filter(checked);
  const ok = history.filter((o) => o.outcome === 'ok');
  const count = (f: (o: Recorded) => boolean): number => history.filter(f).length;
  const errors = new Map<string, number>();
  for (const o of history) if (o.error) errors.set(o.error.replace(/\d+/g, 'N'), (errors.get(o.error.replace(/\d+/g, 'N')) ?? 0) + 1);
  t.comment(
    [
      `seed ${SEED}: ${counters.faults.length} faults injected in ${SECONDS} s`,
      `${history.length} operations: ${count((o) => o.kind === 'write' && o.outcome === 'ok')} writes and ${count((o) => o.kind === 'read' && o.outcome === 'ok')} reads acknowledged, ` +
        `${count((o) => o.outcome === 'indeterminate')} indeterminate writes, ${count((o) => o.kind === 'write' && o.outcome === 'failed')} failed writes, ${count((o) => o.kind === 'read' && o.outcome === 'failed')} failed reads`,
      `${ops.length} operations checked on ${KEYS} keys`,
      ...[...errors].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([e, n]) => `  ${n} × ${e}`),
    ].join('\n'),
  );

  // Not vacuous: real traffic on every key, through every node, and faults.
  const minOps = Math.max(100, 5 * SECONDS);
  t.ok(ok.length >= minOps, `at least ${minOps} acknowledged operations (${ok.length})`);
  for (let k = 0; k < KEYS; k++) {
    const key = `lin:${k}`;
    t.ok(ok.some((o) => o.key === key && o.kind === 'write') && ok.some((o) => o.key === key && o.kind === 'read' && o.value !== null), `${key}: acknowledged writes and reads of written values`);
  }
  for (const n of c.nodes) t.ok(ok.some((o) => o.node === n.name), `operations acknowledged through ${n.name}`);
  t.ok(counters.faults.length >= Math.max(1, Math.floor(SECONDS / 5)), `faults were injected (${counters.faults.length})`);

  const started = performance.now();
  const verdict = checkHistory(ops);
  t.comment(`checked in ${Math.round(performance.now() - started)} ms`);
  if (verdict.ok) {
    t.pass(`every key's history is linearizable (${ops.length} operations)`);
    return;
  }
  // Diagnose: would it pass if the definite failures had possibly taken effect?
  const keyOps = history.filter((o) => o.key === verdict.key);
  const loose = keyOps.filter((o) => o.kind === 'write' || o.outcome === 'ok').map((o) => (o.outcome === 'failed' ? { ...o, complete: Infinity } : o));
  const file = path.join(os.tmpdir(), `bitraft-linearizability-${SEED}-${verdict.key.replace(/\W/g, '_')}.json`);
  fs.writeFileSync(file, JSON.stringify({ seed: SEED, seconds: SECONDS, faults: counters.faults, operations: keyOps }, (_k, v) => (v === Infinity ? 'Infinity' : v), 1));
  t.fail(
    `${verdict.explanation}; history written to ${file}; ` +
      (isLinearizable(loose) ? 'it would be linearizable if writes answered with a definite error had taken effect' : 'not linearizable even counting every failed write as possibly applied'),
  );
  t.comment(c.logs(4000));
});
