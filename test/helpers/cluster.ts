/**
 * Clusters of real `bitraft serve` processes for the integration and fault tests: N
 * nodes on loopback, each with its own data directory and port. The first node
 * bootstraps a new cluster, the others `--join` it; `startCluster` returns once the
 * leader's RAFTPEERS lists every node as a voter. Nodes can then be killed and restarted
 * (same directory and port, so the same node id), paused and resumed (SIGSTOP/SIGCONT),
 * added (`--join`) and removed (RAFTREMOVEPEER through the leader), and a removed node
 * wiped (its directory emptied) and added again under the same id. Addresses can be
 * reserved before anything starts (`reserve`), so that flags naming every node — such as
 * the peer routes of a fault-injecting network (`spawnArgs`) — are known up front.
 *
 * Every process started here is killed by pid when the test ends (paused ones are sent
 * SIGCONT first), then the data directories are removed. Uses the compiled CLI
 * (bin/run.js over dist/; `npx tsc -p tsconfig.build.json` builds it).
 *
 * Queries go over a fresh raw connection with a short timeout (`call`), so a paused or
 * dead node never hangs the test; `client` gives an ioredis client with short timeouts
 * for workloads.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort, HOST, killPid, spawnChild, tail, waitForOutput, type Child, type Exit } from './processes.js';
import { serveArgs, sleep, type Teardownable } from './server.js';

export { HOST, sleep };

/** How long a node may take to say it listens (the machine may be busy). */
const START_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------
// A minimal RESP client: one command per fresh connection, bounded by a timeout.

/** An error reply (`-ERR …`), returned rather than thrown by `call`. */
export class ReplyError {
  constructor(readonly message: string) {}
  toString(): string {
    return `-${this.message}`;
  }
}

/** A decoded reply: simple and bulk strings are strings, a null bulk/array is null. */
export type Resp = string | number | null | ReplyError | Resp[];

/** Parses one reply at `pos`; undefined when `buf` holds only part of it. */
function parseReply(buf: Buffer, pos: number): { value: Resp; end: number } | undefined {
  const eol = buf.indexOf('\r\n', pos, 'latin1');
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, eol);
  switch (type) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new ReplyError(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: Resp[] = [];
      let at = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected reply type ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1', pos, pos + 80))}`);
  }
}

function encode(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a, 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Sends one command to 127.0.0.1:port over a fresh connection and resolves with its
 * reply (error replies included, as `ReplyError`). Rejects when the connection fails,
 * closes first, or no reply arrives within `timeoutMs`.
 */
export function respCall(port: number, args: readonly string[], timeoutMs = 2000): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`${args[0]} on port ${port}: no reply within ${timeoutMs} ms`))), timeoutMs);
    socket.on('connect', () => socket.write(encode(args)));
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      try {
        const r = parseReply(data, 0);
        if (r) finish(() => resolve(r.value));
      } catch (err) {
        finish(() => reject(err));
      }
    });
    socket.on('error', (err) => finish(() => reject(new Error(`${args[0]} on port ${port}: ${err.message}`))));
    socket.on('close', () => finish(() => reject(new Error(`${args[0]} on port ${port}: connection closed before a reply`))));
  });
}

/** A flat name/value array (RAFTSTATS) as an object. */
export function pairs(reply: Resp): Record<string, string> {
  if (!Array.isArray(reply)) throw new Error(`expected an array, got ${String(reply)}`);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** One row of RAFTPEERS. */
export interface Peer {
  addr: string;
  suffrage: 'voter' | 'learner';
  role: 'leader' | 'follower';
  match: number;
  state: string;
}

function peersOf(reply: Resp): Peer[] {
  if (!Array.isArray(reply)) throw new Error(`RAFTPEERS: expected an array, got ${String(reply)}`);
  return reply.map((row) => {
    if (!Array.isArray(row)) throw new Error(`RAFTPEERS: bad row ${String(row)}`);
    return { addr: String(row[0]), suffrage: String(row[1]) as Peer['suffrage'], role: String(row[2]) as Peer['role'], match: Number(row[3]), state: String(row[4]) };
  });
}

// ---------------------------------------------------------------------------------------
// Nodes and clusters

/** One node of a test cluster; its id is `addr` and stays the same across restarts. */
export interface ClusterNode {
  /** n0, n1, … in the order nodes were created. */
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:port`: the node's Raft id. */
  readonly addr: string;
  readonly dir: string;
  /** Extra `serve` flags of this node (kept across restarts unless replaced). */
  args: string[];
  /** The current process (undefined before the first start). */
  proc: Child | undefined;
  /** Every process this node ran, oldest first (for logs). */
  readonly generations: Child[];
  /** Stopped with SIGSTOP and not resumed yet. */
  paused: boolean;
  /**
   * A member of the cluster: started by `start`, or added and seen as a voter by
   * `add`/`waitForVoters`; cleared by `remove`.
   */
  member: boolean;
  /** Removed from the cluster with `remove`. */
  removed: boolean;
  /** The `--join` target it was started with, passed again on restarts (ignored by a node that has cluster state). */
  join: string | undefined;
  /** How many times `wipe` emptied its directory. */
  wipes: number;
}

/** Options of `startCluster`. */
export interface ClusterOptions {
  /** Number of nodes (3 by default). */
  size?: number;
  /**
   * `fast` (default): --heartbeat-interval 50 --election-timeout 500, so elections take
   * well under a second; `default`: the server's own defaults (100 and 1000 ms).
   */
  timing?: 'fast' | 'default';
  /** --request-timeout in ms (default: 3000 for fast timing, the server's default otherwise). */
  requestTimeoutMs?: number;
  /** Extra `serve` flags for every node. */
  args?: string[];
  /** Extra flags for node i (after `args`). */
  nodeArgs?: (i: number) => string[];
  /** Flags computed for a node at every start, restarts included (after its own). */
  spawnArgs?: (node: ClusterNode) => string[];
}

/** What `waitForLeader` accepts. */
export interface LeaderWait {
  /** Nodes that must agree (default: `live()`, the members running unpaused). */
  among?: ClusterNode[];
  /** A node that must not be the answer (e.g. the one just killed or paused). */
  not?: ClusterNode;
}

/** A running test cluster. */
export class TestCluster {
  readonly nodes: ClusterNode[] = [];
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly requestTimeoutMs: number;
  /** The directory holding every node's data directory (removed in teardown). */
  readonly base: string;
  private readonly common: string[];
  private readonly spawnArgs: (node: ClusterNode) => string[];
  private readonly clients = new Set<Redis>();
  private tornDown = false;

  constructor(t: Teardownable, opts: ClusterOptions = {}) {
    const fast = (opts.timing ?? 'fast') === 'fast';
    this.heartbeatMs = fast ? 50 : 100;
    this.electionMs = fast ? 500 : 1000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? (fast ? 3000 : 10_000);
    this.common = [
      ...(fast ? ['--heartbeat-interval', String(this.heartbeatMs), '--election-timeout', String(this.electionMs)] : []),
      ...(opts.requestTimeoutMs !== undefined || fast ? ['--request-timeout', String(this.requestTimeoutMs)] : []),
      ...(opts.args ?? []),
    ];
    this.spawnArgs = opts.spawnArgs ?? (() => []);
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), 'bitraft-cluster-'));
    t.teardown(() => this.teardown());
  }

  /** Members whose process is running and not paused. */
  live(): ClusterNode[] {
    return this.nodes.filter((n) => this.running(n) && !n.paused && n.member);
  }

  /** Whether the node's process is running (paused or not). */
  running(node: ClusterNode): boolean {
    return node.proc !== undefined && !node.proc.hasExited();
  }

  /** The node with this address. */
  byAddr(addr: string): ClusterNode | undefined {
    return this.nodes.find((n) => n.addr === addr);
  }

  /** Sends one command to `node` (fresh connection, `timeoutMs`); see `respCall`. */
  call(node: ClusterNode, args: readonly string[], timeoutMs = 2000): Promise<Resp> {
    return respCall(node.port, args, timeoutMs);
  }

  /** Like `call`, undefined instead of a rejection. */
  async tryCall(node: ClusterNode, args: readonly string[], timeoutMs = 1000): Promise<Resp | undefined> {
    try {
      return await respCall(node.port, args, timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** RAFTSTATS of `node` as an object. */
  async stats(node: ClusterNode): Promise<Record<string, string>> {
    return pairs(await this.call(node, ['RAFTSTATS']));
  }

  /** RAFTPEERS of `node`. */
  async peers(node: ClusterNode): Promise<Peer[]> {
    return peersOf(await this.call(node, ['RAFTPEERS']));
  }

  /** Creates a node (not started): a fresh port and directory. */
  private async newNode(args: string[]): Promise<ClusterNode> {
    const port = await freePort();
    const name = `n${this.nodes.length}`;
    const dir = path.join(this.base, name);
    const node: ClusterNode = { name, port, addr: `${HOST}:${port}`, dir, args, proc: undefined, generations: [], paused: false, member: false, removed: false, join: undefined, wipes: 0 };
    this.nodes.push(node);
    return node;
  }

  /**
   * Reserves `count` nodes — ports and directories — without starting them; `start` and
   * `add` use them, in order, before creating others. A reserved port is not held open:
   * if another process takes it meanwhile, starting that node fails.
   */
  async reserve(count: number): Promise<ClusterNode[]> {
    const out: ClusterNode[] = [];
    for (let i = 0; i < count; i++) out.push(await this.newNode([]));
    return out;
  }

  /** The first reserved node never started, if any. */
  private unstarted(): ClusterNode | undefined {
    return this.nodes.find((n) => n.generations.length === 0 && !n.member);
  }

  /** Starts `node`'s process and waits until it listens. */
  private async spawn(node: ClusterNode, join?: string): Promise<void> {
    if (this.running(node)) throw new Error(`${node.name} is already running`);
    if (join !== undefined) node.join = join;
    const args = serveArgs(node.dir, node.port, [...this.common, ...node.args, ...this.spawnArgs(node), ...(node.join !== undefined ? ['--join', node.join] : [])]);
    const proc = spawnChild(process.execPath, args, { what: `${node.name} (${node.addr})` });
    node.proc = proc;
    node.paused = false;
    node.generations.push(proc);
    await waitForOutput(proc, 'stderr', new RegExp(`listening on ${HOST.replace(/\./g, '\\.')}:${node.port} `), START_TIMEOUT_MS);
  }

  /**
   * Starts a new node (the first reserved one, if any, with `args`), choosing another port
   * if someone took an unreserved node's port meanwhile.
   */
  private async spawnNew(args: string[], join?: string): Promise<ClusterNode> {
    const reserved = this.unstarted();
    if (reserved) {
      reserved.args = args;
      await this.spawn(reserved, join);
      return reserved;
    }
    for (let attempt = 0; ; attempt++) {
      const node = await this.newNode(args);
      try {
        await this.spawn(node, join);
        return node;
      } catch (err) {
        if (attempt < 3 && /EADDRINUSE/.test(node.proc?.stderr() ?? '')) {
          this.nodes.splice(this.nodes.indexOf(node), 1);
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * Starts `size` nodes: the first bootstraps, the rest join it; resolves once the
   * leader lists them all as voters and every node agrees on the leader.
   */
  async start(size: number, nodeArgs: (i: number) => string[] = () => []): Promise<void> {
    const first = await this.spawnNew(nodeArgs(0));
    first.member = true;
    await waitForOutput(first.proc!, 'stderr', /raft: became the leader at term \d+/, START_TIMEOUT_MS);
    const rest = await Promise.all(Array.from({ length: size - 1 }, (_, i) => this.spawnNew(nodeArgs(i + 1), first.addr)));
    await Promise.all(rest.map((n) => waitForOutput(n.proc!, 'stderr', /joined the cluster through/, START_TIMEOUT_MS)));
    await this.waitForVoters([first, ...rest], START_TIMEOUT_MS);
    await this.waitForLeader(START_TIMEOUT_MS);
  }

  /**
   * Polls until every node in `among` (default: the live ones) answers RAFTLEADER with
   * the same address, that node is among them and answers RAFTSTATE with Leader. Rejects
   * after `timeoutMs` with what each node said and the logs.
   */
  async waitForLeader(timeoutMs = 10_000, opts: LeaderWait = {}): Promise<ClusterNode> {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    for (;;) {
      const among = opts.among ?? this.live();
      const answers = await Promise.all(among.map((n) => this.tryCall(n, ['RAFTLEADER'], 500)));
      seen = among.map((n, i) => `${n.name}: ${String(answers[i])}`).join(', ');
      const first = answers[0];
      if (among.length > 0 && typeof first === 'string' && answers.every((a) => a === first)) {
        const leader = among.find((n) => n.addr === first);
        if (leader && leader !== opts.not && (await this.tryCall(leader, ['RAFTSTATE'], 500)) === 'Leader') return leader;
      }
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms (last answers: ${seen})\n${this.logs()}`);
      await sleep(50);
    }
  }

  /** The leader the live nodes agree on (waits up to 10 s for one). */
  leader(): Promise<ClusterNode> {
    return this.waitForLeader();
  }

  /**
   * Polls the leader's RAFTPEERS until its voters are exactly `nodes` and there are no
   * learners; then `nodes` are the members.
   */
  async waitForVoters(nodes: ClusterNode[], timeoutMs = 20_000): Promise<void> {
    const want = nodes.map((n) => n.addr).sort().join(',');
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    for (;;) {
      const leaders = await Promise.all(this.live().map(async (n) => ((await this.tryCall(n, ['RAFTSTATE'], 500)) === 'Leader' ? n : undefined)));
      for (const leader of leaders) {
        if (!leader) continue;
        const reply = await this.tryCall(leader, ['RAFTPEERS'], 1000);
        if (reply === undefined || reply instanceof ReplyError) continue;
        const peers = peersOf(reply);
        seen = peers.map((p) => `${p.addr} ${p.suffrage}`).join(', ');
        const voters = peers.filter((p) => p.suffrage === 'voter').map((p) => p.addr).sort().join(',');
        if (voters === want && peers.every((p) => p.suffrage === 'voter')) {
          for (const n of this.nodes) n.member = nodes.includes(n);
          return;
        }
      }
      if (Date.now() > deadline) throw new Error(`the voters did not become ${want} within ${timeoutMs} ms (last seen: ${seen})\n${this.logs()}`);
      await sleep(100);
    }
  }

  /**
   * Sends `signal` (SIGKILL by default) to the node and waits for its exit. A node still
   * running `timeoutMs` later is SIGKILLed, and the call rejects.
   */
  async kill(node: ClusterNode, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<Exit | undefined> {
    const proc = node.proc;
    if (!proc || proc.hasExited()) return proc ? proc.exited : undefined;
    killPid(proc.pid, signal);
    // A stopped process only acts on signals other than SIGKILL once it runs again.
    if (node.paused && signal !== 'SIGKILL') killPid(proc.pid, 'SIGCONT');
    node.paused = false;
    const exit = await within(proc.exited, timeoutMs);
    if (exit) return exit;
    killPid(proc.pid, 'SIGKILL');
    await proc.exited;
    throw new Error(`${node.name} did not exit within ${timeoutMs} ms of ${signal}\n${tail(proc.stderr())}`);
  }

  /**
   * Starts a stopped node again on the same directory and port (and `--join` target, if it
   * had one: a node killed before it joined joins again); `args` replaces its extra flags.
   */
  async restart(node: ClusterNode, args?: string[]): Promise<void> {
    if (args) node.args = args;
    await this.spawn(node);
  }

  /** SIGSTOP. */
  pause(node: ClusterNode): void {
    if (!this.running(node)) throw new Error(`${node.name} is not running`);
    killPid(node.proc!.pid, 'SIGSTOP');
    node.paused = true;
  }

  /** SIGCONT. */
  resume(node: ClusterNode): void {
    if (node.proc && !node.proc.hasExited()) killPid(node.proc.pid, 'SIGCONT');
    node.paused = false;
  }

  /**
   * Starts a new node with `--join <join>` (default: the leader) and waits until it is a
   * voter (unless `wait` is false). `args` are its extra flags. With `node`, starts that
   * one instead: a reserved node, or one that `wipe` emptied (it keeps its id).
   */
  async add(opts: { join?: ClusterNode | string; args?: string[]; wait?: boolean; node?: ClusterNode } = {}): Promise<ClusterNode> {
    const join = typeof opts.join === 'string' ? opts.join : (opts.join ?? (await this.leader())).addr;
    let node: ClusterNode;
    if (opts.node) {
      node = opts.node;
      if (opts.args) node.args = opts.args;
      await this.spawn(node, join);
    } else {
      node = await this.spawnNew(opts.args ?? [], join);
    }
    if (opts.wait !== false) {
      await waitForOutput(node.proc!, 'stderr', /joined the cluster through/, START_TIMEOUT_MS);
      await this.waitForVoters([...this.members(), node]);
    }
    return node;
  }

  /**
   * Empties the directory of a node that is not running (the old one is kept aside, as
   * `<dir>.wiped-<n>`, for post-mortems), so it can be added again as a fresh node under
   * the same id with `add({ node })`. It is no longer a member.
   */
  wipe(node: ClusterNode): void {
    if (this.running(node)) throw new Error(`${node.name} is still running`);
    node.wipes++;
    if (fs.existsSync(node.dir)) fs.renameSync(node.dir, `${node.dir}.wiped-${node.wipes}`);
    node.member = false;
    node.removed = false;
    node.join = undefined;
  }

  /** The members, running or not. */
  members(): ClusterNode[] {
    return this.nodes.filter((n) => n.member);
  }

  /**
   * Removes `node` from the cluster with RAFTREMOVEPEER sent to `via` (default: the
   * leader); resolves with the reply. The node keeps running until killed.
   */
  async remove(node: ClusterNode, via?: ClusterNode): Promise<Resp> {
    const target = via ?? (await this.leader());
    const reply = await this.call(target, ['RAFTREMOVEPEER', node.addr], this.requestTimeoutMs + 5000);
    if (reply === 'OK') {
      node.removed = true;
      node.member = false;
    }
    return reply;
  }

  /**
   * An ioredis client of `node` with short timeouts, resolved once connected: no offline
   * queue, no retries, no resending after a reconnect, `commandTimeout` ms per command
   * (default 3000), reconnecting every 100 ms when `reconnect` is set. Rejects when it
   * cannot connect within `connectTimeout` (default 1000 ms). Disconnected in teardown.
   */
  async client(node: ClusterNode, opts: { commandTimeout?: number; connectTimeout?: number; reconnect?: boolean; options?: RedisOptions } = {}): Promise<Redis> {
    const connectTimeout = opts.connectTimeout ?? 1000;
    const redis = new Redis({
      host: HOST,
      port: node.port,
      connectTimeout,
      commandTimeout: opts.commandTimeout ?? 3000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: opts.reconnect ? () => 100 : () => null,
      lazyConnect: true,
      ...opts.options,
    });
    redis.on('error', () => {});
    this.clients.add(redis);
    redis.once('end', () => this.clients.delete(redis));
    let timer: NodeJS.Timeout | undefined;
    const connecting = redis.connect();
    connecting.catch(() => {});
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${node.name}: not connected within ${connectTimeout} ms`)), connectTimeout + 500);
        }),
      ]);
    } catch (err) {
      this.drop(redis);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return redis;
  }

  /** Disconnects a client made by `client`. */
  drop(redis: Redis): void {
    redis.disconnect();
    this.clients.delete(redis);
  }

  /** The node's stderr over all its runs. */
  log(node: ClusterNode): string {
    return node.generations.map((g, i) => `[${node.name} run ${i + 1}, pid ${g.pid}]\n${g.stderr()}`).join('\n');
  }

  /** The end of every node's log, for failure messages. */
  logs(max = 1500): string {
    return this.nodes.map((n) => `--- ${n.name} ${n.addr}${n.removed ? ' (removed)' : ''}${n.paused ? ' (paused)' : ''} ---\n${tail(this.log(n), max)}`).join('\n');
  }

  /** Kills every process (SIGCONT to paused ones first), closes clients, removes the directories. */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const c of this.clients) c.disconnect();
    this.clients.clear();
    const procs = this.nodes.flatMap((n) => n.generations).filter((p) => !p.hasExited() && p.pid > 0);
    for (const p of procs) killPid(p.pid, 'SIGCONT');
    for (const p of procs) killPid(p.pid, 'SIGKILL');
    await within(Promise.all(procs.map((p) => p.exited)), 10_000);
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

/** `promise`'s value, or undefined once `ms` passed (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a cluster of `opts.size` (3) nodes; torn down when `t` ends. */
export async function startCluster(t: Teardownable, opts: ClusterOptions = {}): Promise<TestCluster> {
  const cluster = new TestCluster(t, opts);
  await cluster.start(opts.size ?? 3, opts.nodeArgs);
  return cluster;
}
