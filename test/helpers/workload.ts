/**
 * The clients of a fault run: each one, until told to stop, picks a node, a command and
 * keys from a small key set, sends the command with a client-side timeout and records it
 * — invocation and completion on this process's clock, reply, outcome. Some clients are
 * pinned to one node, the others pick any node whose process runs for every operation.
 * Each client paces itself to a target rate, so the offered load is known.
 *
 * Commands: GET (a read), SET (a write of a value no other write uses), DEL of one key (a
 * write of "absent", i.e. null) and MSET of two keys (one write to each, with one fresh
 * value). Outcomes: `ok`; `failed` — a read that got no value, or a write refused before
 * it could enter the Raft log (`-ERR leader not known`, `-ERR not the leader any more`,
 * `-TRY`/`-MOVED`, `-LOADING`, never sent) or dropped from it (`-ERR dropped: …`, e.g.
 * superseded by another leader's log) — it certainly did not take effect; `indeterminate`
 * — a write that failed in any other way (a timeout, a broken connection, a commit that
 * could not be confirmed): it may or may not have taken effect, now or later.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Rng } from '../../src/core/support/rng.js';
import { sleep, type ClusterNode, type TestCluster } from './cluster.js';

/** The commands clients send. */
export type Command = 'get' | 'set' | 'del' | 'mset';

/** One client operation as recorded. */
export interface ClientOp {
  client: number;
  node: string;
  cmd: Command;
  keys: string[];
  /** What SET/MSET wrote; null for DEL; for GET what it returned (null: absent). */
  value: string | null;
  invoke: number;
  /** When the reply (or the error) came. */
  complete: number;
  outcome: 'ok' | 'indeterminate' | 'failed';
  error?: string;
}

/** Errors after which a write certainly did not take effect (see the file comment). */
export const DEFINITE_FAILURE = /^(ERR leader not known|ERR not the leader any more|ERR dropped: |TRY |MOVED |LOADING )|Stream isn't writeable|enableOfflineQueue/;

/** Settings of `runClient`. */
export interface ClientOptions {
  cluster: TestCluster;
  id: number;
  rng: Rng;
  /** The node this client always uses; undefined: any running node, chosen per operation. */
  pinned: ClusterNode | undefined;
  /** The keys operations pick from. */
  keys: readonly string[];
  /** Target operations per second of this client. */
  rate: number;
  /** Client-side timeout of each operation, in ms. */
  timeoutMs: number;
  /** Where operations are appended. */
  history: ClientOp[];
  /** Checked before every operation. */
  stop: () => boolean;
}

/**
 * Runs one client until `stop()`: paced to `rate` (a late client does not burst), each
 * operation over an ioredis connection to its node that is dropped after any error, so a
 * command never queues behind a stuck one. A node it cannot connect to counts as an
 * operation never sent (not recorded).
 */
export async function runClient(o: ClientOptions): Promise<void> {
  const conns = new Map<ClusterNode, Redis>();
  const interval = 1000 / o.rate;
  let due = performance.now();
  let seq = 0;
  while (!o.stop()) {
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    due = Math.max(due + interval, performance.now());
    if (o.stop()) break;
    const node = o.pinned ?? pickRunning(o.cluster, o.rng);
    if (!node) {
      await sleep(50);
      continue;
    }
    let redis = conns.get(node);
    if (!redis) {
      try {
        redis = await o.cluster.client(node, { commandTimeout: o.timeoutMs, connectTimeout: 500 });
        conns.set(node, redis);
      } catch {
        continue;
      }
    }
    const op = nextOp(o, seq++);
    const invoke = performance.now();
    try {
      const reply = await send(redis, op);
      const complete = performance.now();
      if (op.cmd !== 'get' && op.cmd !== 'del' && reply !== 'OK') throw new Error(`${op.cmd.toUpperCase()} answered ${String(reply)}`);
      o.history.push({ ...op, value: op.cmd === 'get' ? reply : op.value, invoke, complete, client: o.id, node: node.name, outcome: 'ok' });
    } catch (err) {
      const complete = performance.now();
      const message = err instanceof Error ? err.message : String(err);
      const outcome = op.cmd !== 'get' && !DEFINITE_FAILURE.test(message) ? 'indeterminate' : 'failed';
      o.history.push({ ...op, invoke, complete, client: o.id, node: node.name, outcome, error: message });
      o.cluster.drop(redis);
      conns.delete(node);
    }
  }
  for (const r of conns.values()) o.cluster.drop(r);
}

/** A node whose process runs (paused or not), at random. */
function pickRunning(c: TestCluster, rng: Rng): ClusterNode | undefined {
  const running = c.nodes.filter((n) => c.running(n));
  return running.length > 0 ? running[rng.int(running.length)] : undefined;
}

/** What a client is about to send. */
type Request = Pick<ClientOp, 'cmd' | 'keys' | 'value'>;

/** The next operation: 50 % GET, 30 % SET, 10 % DEL, 10 % MSET of two distinct keys. */
function nextOp(o: ClientOptions, seq: number): Request {
  const r = o.rng.int(10);
  const key = o.keys[o.rng.int(o.keys.length)]!;
  const value = `c${o.id}-${seq}`;
  if (r < 5) return { cmd: 'get', keys: [key], value: null };
  if (r < 8) return { cmd: 'set', keys: [key], value };
  if (r < 9 || o.keys.length < 2) return { cmd: 'del', keys: [key], value: null };
  let other = key;
  while (other === key) other = o.keys[o.rng.int(o.keys.length)]!;
  return { cmd: 'mset', keys: [key, other], value };
}

async function send(redis: Redis, op: Request): Promise<string | null> {
  switch (op.cmd) {
    case 'get':
      return redis.get(op.keys[0]!);
    case 'set':
      return redis.set(op.keys[0]!, op.value!);
    case 'del':
      return String(await redis.del(op.keys[0]!));
    case 'mset':
      return redis.mset(...op.keys.flatMap((k) => [k, op.value!]));
  }
}
