/**
 * etcd as a reference for the summary suite: a 3-member etcd cluster of child processes
 * on loopback ports picked at run time (defaults otherwise: every write fsynced by a
 * majority, as bitraft's durability high), and a small load generator that drives it
 * through etcd's HTTP/JSON gateway to its gRPC API (`POST /v3/kv/put` and
 * `POST /v3/kv/range`, keys and values in base64) over keep-alive connections with a
 * fixed number of requests in flight.
 *
 * etcd is optional: `etcdAvailable()` says whether `etcd` runs here
 * (`apt-get install etcd-server` on Debian).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { now } from './harness.js';
import { HOST, freePort, killPid, stopChild } from './procs.js';
import { spawnChild, tail, type Child } from '../test/helpers/processes.js';

/** The version of the `etcd` on PATH, or undefined when there is none. */
export function etcdVersion(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

/** What one load run measured (latencies in ms, as redis-benchmark reports them). */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU seconds of the load generator (this process) per second of the run. */
  clientCpu: number;
}

/** One member of the etcd cluster. */
interface EtcdMember {
  name: string;
  clientPort: number;
  proc: Child;
}

/** POSTs `body` as JSON to `url` with `agent`; resolves with the parsed reply. Rejects on a status other than 200. */
function postJson(agent: http.Agent, port: number, urlPath: string, body: unknown): Promise<unknown> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port, path: urlPath, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`POST ${urlPath} on port ${port}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A running 3-member etcd cluster. */
export class EtcdCluster {
  private constructor(
    readonly version: string,
    private readonly members: EtcdMember[],
  ) {}

  /** Starts `size` members under `root` and waits until one leads and all are healthy. */
  static async start(root: string, version: string, size = 3): Promise<EtcdCluster> {
    const ports = [];
    for (let i = 0; i < size; i++) ports.push({ name: `etcd${i + 1}`, client: await freePort(), peer: await freePort() });
    const initial = ports.map((p) => `${p.name}=http://${HOST}:${p.peer}`).join(',');
    const members: EtcdMember[] = [];
    const cluster = new EtcdCluster(version, members);
    try {
      for (const p of ports) {
        const dir = path.join(root, p.name);
        fs.mkdirSync(dir, { recursive: true });
        const args = [
          '--name', p.name, '--data-dir', dir,
          '--listen-client-urls', `http://${HOST}:${p.client}`, '--advertise-client-urls', `http://${HOST}:${p.client}`,
          '--listen-peer-urls', `http://${HOST}:${p.peer}`, '--initial-advertise-peer-urls', `http://${HOST}:${p.peer}`,
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'bitraft-bench', '--log-level', 'warn',
        ]; // prettier-ignore
        members.push({ name: p.name, clientPort: p.client, proc: spawnChild('etcd', args, { cwd: dir, what: `etcd (${p.name})` }) });
      }
      await cluster.leaderPort();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** The client port of the current leader; waits up to 60 s for one. */
  async leaderPort(): Promise<number> {
    const agent = new http.Agent({ keepAlive: false });
    const deadline = now() + 60;
    let last = 'no answer yet';
    try {
      for (;;) {
        for (const m of this.members) {
          if (m.proc.hasExited()) throw new Error(`${m.proc.what} exited\n${tail(m.proc.stderr())}`);
          try {
            const s = (await postJson(agent, m.clientPort, '/v3/maintenance/status', {})) as { leader?: string; header?: { member_id?: string } };
            if (s.leader !== undefined && s.leader !== '0' && s.leader === s.header?.member_id) return m.clientPort;
            last = `status of ${m.name}: ${JSON.stringify(s)}`;
          } catch (err) {
            last = err instanceof Error ? err.message : String(err);
          }
        }
        if (now() > deadline) throw new Error(`no etcd leader within 60 s; last: ${last}`);
        await sleep(200);
      }
    } finally {
      agent.destroy();
    }
  }

  /** SIGTERMs every member (a clean exit required); SIGKILLs those that do not exit. */
  async stop(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(
      this.members.map(async (m) => {
        try {
          await stopChild(m.proc, 'SIGTERM', 30_000);
        } catch (err) {
          errors.push(err);
          if (!m.proc.hasExited()) killPid(m.proc.pid, 'SIGKILL');
        }
      }),
    );
    if (errors.length > 0) throw errors[0];
  }
}

/** `n` as a 12-digit decimal key, as redis-benchmark's `key:__rand_int__`. */
function benchKey(n: number): string {
  return `key:${String(n).padStart(12, '0')}`;
}

/**
 * Sends `requests` puts (`op: 'put'`, a `valueBytes`-byte value) or linearizable ranges
 * (`op: 'get'`, one key) of random keys among `keyspace`, `inFlight` at a time over as
 * many keep-alive connections, to `port`; every reply must be HTTP 200.
 */
export async function etcdLoad(port: number, opts: { op: 'put' | 'get'; requests: number; inFlight: number; keyspace: number; valueBytes: number }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.inFlight });
  const value = Buffer.alloc(opts.valueBytes, 'x').toString('base64');
  const latencies = new Float64Array(opts.requests);
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < opts.requests) {
      const i = issued++;
      const key = Buffer.from(benchKey(Math.floor(Math.random() * opts.keyspace))).toString('base64');
      const t0 = now();
      if (opts.op === 'put') await postJson(agent, port, '/v3/kv/put', { key, value });
      else await postJson(agent, port, '/v3/kv/range', { key });
      latencies[i] = (now() - t0) * 1000;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = now();
  try {
    await Promise.all(Array.from({ length: opts.inFlight }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort();
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { rps: opts.requests / seconds, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1]!, clientCpu: (cpu.user + cpu.system) / 1e6 / seconds };
}
