/**
 * Durability: clients write to a `bitraft serve --durability high` with many commands in
 * flight (SET, overwrites, MSET, DEL, empty and large values); the server is SIGKILLed
 * mid-stream; after a restart on the same directory every acknowledged write is there
 * (and every acknowledged DEL stays deleted). Commands in flight at the kill may or may
 * not have been applied, but only as a prefix of each connection's commands, in order.
 * Three kill/restart rounds on one directory, the last one with small data files so the
 * writes span many rotations.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { startServer, type ServerHandle, type Teardownable } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const CLIENTS = 4;
/** Commands in flight per connection. */
const WINDOW = 32;

/** One operation on one key, as a client issued it. */
interface Op {
  kind: 'set' | 'del';
  value?: Buffer;
  acked: boolean;
}

/** Issued operations per key (hex of the key), in the order their connection sent them. */
type History = Map<string, Op[]>;

function valueFor(key: string, version: number): Buffer {
  // Empty values, small ones and some of 20 KiB, all distinct per key and version.
  const size = version % 7 === 3 ? 0 : version % 11 === 5 ? 20_000 : 1 + (version % 50);
  if (size === 0) return Buffer.alloc(0);
  return Buffer.alloc(size, `${key}@${version}|`);
}

function record(history: History, key: string, op: Op): Op {
  const ops = history.get(key) ?? [];
  ops.push(op);
  history.set(key, ops);
  return op;
}

/**
 * Runs one writer connection until `stop()` says so (or its connection dies): keeps
 * WINDOW commands in flight, each acknowledgment marking its ops acked.
 */
async function writer(port: number, id: string, history: History, acks: { n: number }, stopped: () => boolean, clients: Redis[]): Promise<void> {
  const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  clients.push(redis);
  await new Promise<void>((resolve, reject) => {
    redis.once('ready', () => resolve());
    redis.once('error', reject);
  });
  const live: string[] = [];
  let n = 0;
  let dead = false;
  const one = async (): Promise<void> => {
    const i = n++;
    const choice = i % 10;
    try {
      if (choice < 5 || live.length === 0) {
        const key = `${id}:k${i}`;
        const op = record(history, key, { kind: 'set', value: valueFor(key, i), acked: false });
        await redis.set(key, op.value!);
        op.acked = true;
        live.push(key);
      } else if (choice < 7) {
        // Overwrite a key acknowledged before.
        const key = live[(i * 7919) % live.length]!;
        const op = record(history, key, { kind: 'set', value: valueFor(key, i), acked: false });
        await redis.set(key, op.value!);
        op.acked = true;
      } else if (choice < 9) {
        const keys = [`${id}:m${i}a`, `${id}:m${i}b`, `${id}:m${i}c`];
        const ops = keys.map((k, j) => record(history, k, { kind: 'set', value: valueFor(k, i + j), acked: false }));
        await redis.mset(...keys.flatMap((k, j) => [k, ops[j]!.value!]));
        for (const op of ops) op.acked = true;
        live.push(...keys);
      } else {
        const at = (i * 104729) % live.length;
        const key = live[at]!;
        live.splice(at, 1);
        const op = record(history, key, { kind: 'del', acked: false });
        const removed = await redis.del(key);
        if (removed !== 1) throw new Error(`DEL ${key} answered ${removed}, expected 1`);
        op.acked = true;
      }
      acks.n++;
    } catch (err) {
      if (!stopped()) throw err;
      dead = true;
    }
  };
  const lanes = Array.from({ length: WINDOW }, async () => {
    while (!dead && !stopped()) await one();
  });
  await Promise.all(lanes);
}

/** The states a key may be in: after every prefix of its ops that holds all acked ones. */
function allowedStates(ops: Op[]): (Buffer | null)[] {
  let lastAcked = -1;
  ops.forEach((op, i) => {
    if (op.acked) lastAcked = i;
  });
  const states: (Buffer | null)[] = [];
  let state: Buffer | null = null;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    state = op.kind === 'set' ? op.value! : null;
    if (i >= lastAcked) states.push(state);
  }
  if (lastAcked === -1) states.unshift(null);
  return states;
}

function describe(v: Buffer | null): string {
  return v === null ? 'absent' : `${v.length} bytes ${JSON.stringify(v.subarray(0, 24).toString('latin1'))}`;
}

/** Checks every key of `history` against the server; returns the problems found. */
async function verify(port: number, history: History, final: Map<string, Buffer | null>): Promise<string[]> {
  const redis = new Redis(port, '127.0.0.1');
  redis.on('error', () => {});
  try {
    const problems: string[] = [];
    const keys = [...history.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const values = await redis.mgetBuffer(...batch);
      batch.forEach((key, j) => {
        const got = values[j] ?? null;
        const known = final.get(key);
        const allowed = known !== undefined ? [known] : allowedStates(history.get(key)!);
        if (!allowed.some((a) => (a === null ? got === null : got !== null && got.equals(a)))) {
          const ops = history.get(key)!;
          problems.push(`${key}: ${describe(got)}; allowed: ${allowed.map(describe).join(' | ')}; ops: ${ops.map((o) => `${o.kind}${o.acked ? '(acked)' : ''}`).join(',')}`);
        } else {
          final.set(key, got);
        }
      });
    }
    // Nothing that no client wrote.
    const all = await redis.keys('*');
    const strangers = all.filter((k) => !history.has(k));
    if (strangers.length > 0) problems.push(`unexpected keys: ${strangers.slice(0, 5).join(', ')} (${strangers.length})`);
    return problems;
  } finally {
    redis.disconnect();
  }
}

/** Writes to `server` until `killAfter` acknowledgments, then SIGKILLs it mid-stream. */
async function round(t: Teardownable, server: ServerHandle, n: number, killAfter: number, history: History): Promise<{ acked: number; issued: number }> {
  const acks = { n: 0 };
  let stop = false;
  const clients: Redis[] = [];
  let resolveKilled!: () => void;
  const killed = new Promise<void>((resolve) => (resolveKilled = resolve));
  const watcher = setInterval(() => {
    if (acks.n >= killAfter && !stop) {
      stop = true;
      clearInterval(watcher);
      void server.kill().then(() => resolveKilled());
    }
  }, 1);
  t.teardown(() => clearInterval(watcher));
  const writers = Array.from({ length: CLIENTS }, (_, c) => writer(server.port, `r${n}c${c}`, history, acks, () => stop, clients));
  const early = Promise.all(writers).then(() => {
    if (!stop) throw new Error('writers stopped before the kill');
  });
  early.catch(() => {});
  await Promise.race([killed, early]);
  await Promise.allSettled(writers);
  for (const c of clients) c.disconnect();
  const exit = await server.exited;
  if (exit.signal !== 'SIGKILL') throw new Error(`server exited on its own: ${JSON.stringify(exit)}\n${server.stderr()}`);
  let issued = 0;
  for (const ops of history.values()) issued += ops.length;
  return { acked: acks.n, issued };
}

t.test('every acknowledged write survives SIGKILL mid-stream (durability high)', async (t) => {
  const dir = tmpDir(t, 'bitraft-durability-');
  const history: History = new Map();
  /** Keys whose state a previous restart settled. */
  const final = new Map<string, Buffer | null>();
  const rounds: { extra: string[]; killAfter: number }[] = [
    { extra: [], killAfter: 3000 },
    { extra: [], killAfter: 1500 },
    { extra: ['--max-file-size', String(64 * 1024)], killAfter: 3000 },
  ];
  const argsOf = (n: number): string[] => ['--durability', 'high', ...(rounds[n]?.extra ?? [])];
  let server = await startServer(t, { dir, args: argsOf(0) });
  for (const [n, r] of rounds.entries()) {
    const { acked, issued } = await round(t, server, n, r.killAfter, history);
    t.ok(acked >= r.killAfter, `round ${n}: ${acked} commands acknowledged before SIGKILL (${issued} ops issued in all)`);
    // The server that checks this round is the one the next round writes to.
    server = await startServer(t, { dir, args: argsOf(n + 1) });
    t.match(server.stderr(), /opened .*: \d+ keys/, `round ${n}: restarted on the same directory, taking over the stale lock`);
    const problems = await verify(server.port, history, final);
    t.same(problems.slice(0, 20), [], `round ${n}: every acknowledged write present, every acknowledged DEL absent (${problems.length} problems)`, {
      stderr: server.stderr(),
    });
  }
  const exit = await server.stop('SIGTERM');
  t.same(exit, { code: 0, signal: null }, 'the last restarted server stops cleanly', { stderr: server.stderr() });
});
