/**
 * Harness of the integration tests: real `bitraft serve` and `redis-server` processes on
 * free loopback ports, `redis-cli` runs, and raw sockets. Every process started here is
 * killed by pid in the test's teardown if it is still alive.
 *
 * Uses the compiled CLI (bin/run.js over dist/, which `npm test` builds first; otherwise
 * run `npx tsc -p tsconfig.build.json`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, HOST, killPid, spawnChild, waitForOutput, type Child, type Exit } from './processes.js';
import { repoRoot } from './cli.js';
import { tmpDir } from './tmp-dir.js';

// Process handling is shared with the benchmark (bench/procs.ts); loopback only.
export { freePort, HOST, killPid, type Exit };

/** How long a server may take to say it listens. */
const START_TIMEOUT_MS = 20_000;

/** What `t` must offer: tap's Test has it. */
export interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}


// ---------------------------------------------------------------------------------------
// External tools

const checkedTools = new Map<string, boolean>();

function onPath(tool: string): boolean {
  let found = checkedTools.get(tool);
  if (found === undefined) {
    found = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .some((dir) => {
        try {
          fs.accessSync(path.join(dir, tool), fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    checkedTools.set(tool, found);
  }
  return found;
}

/**
 * Throws (so the test fails, it is not skipped) when one of `tools` is not installed,
 * saying how to install them.
 */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not found on PATH: the integration tests need redis-server, redis-cli, redis-benchmark and openssl; run \`npm run setup:test-tools\``);
  }
}

// ---------------------------------------------------------------------------------------
// Ports and processes

/** Whether a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A spawned child with its output collected and its exit awaited. */
export type Spawned = Child;

/**
 * Spawns `command args` with piped output and registers a teardown that SIGKILLs it by
 * pid (and waits for it) if it is still running when the test ends. `what` names it in
 * error messages.
 */
export function spawnTracked(t: Teardownable, command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; what?: string } = {}): Spawned {
  const proc = spawnChild(command, args, { cwd: opts.cwd ?? repoRoot, env: opts.env, what: opts.what });
  t.teardown(async () => {
    if (!proc.hasExited() && proc.pid > 0) {
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
    }
  });
  return proc;
}

// ---------------------------------------------------------------------------------------
// bitraft

/** Options of `startServer`. */
export interface ServerOptions {
  /** Data directory; a fresh temp dir (removed after the test) when absent. */
  dir?: string;
  /** Port to bind; 0 (a free one, chosen by the server) when absent. */
  port?: number;
  /** More `serve` flags, e.g. ['--requirepass', 'x']. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Options for `node` itself, before the script (e.g. `--import <preload>`). */
  nodeArgs?: string[];
}

/** A running `bitraft serve`. */
export interface ServerHandle {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (SIGTERM by default) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<Exit>;
  /** Everything logged so far. */
  stderr(): string;
  alive(): boolean;
}

/** The argv of `node bin/run.js serve ...` for `dir` and `port`. */
export function serveArgs(dir: string, port: number, extra: string[] = []): string[] {
  return [path.join(repoRoot, 'bin/run.js'), 'serve', '--dir', dir, '--bind', `${HOST}:${port}`, ...extra];
}

/**
 * Spawns `node bin/run.js serve --dir <dir> --bind 127.0.0.1:<port|0> ...args` and waits
 * (20 s at most) for its `listening on 127.0.0.1:PORT` log line. Fails with the server's
 * stderr if it exits or stays silent. Killed by pid in teardown if still alive.
 */
export async function startServer(t: Teardownable, opts: ServerOptions = {}): Promise<ServerHandle> {
  const dir = opts.dir ?? tmpDir(t, 'bitraft-it-');
  const proc = spawnTracked(t, process.execPath, [...(opts.nodeArgs ?? []), ...serveArgs(dir, opts.port ?? 0, opts.args)], { env: opts.env, what: `bitraft serve --dir ${dir}` });
  const m = await waitForOutput(proc, 'stderr', new RegExp(`listening on ${HOST.replace(/\./g, '\\.')}:(\\d+)`), START_TIMEOUT_MS);
  const port = Number(m[1]);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> => {
    if (!proc.hasExited()) killPid(proc.pid, signal);
    return proc.exited;
  };
  return {
    port,
    pid: proc.pid,
    dir,
    exited: proc.exited,
    stop,
    kill: () => stop('SIGKILL'),
    stderr: proc.stderr,
    alive: () => !proc.hasExited(),
  };
}

/**
 * Runs `bitraft serve` expecting it to exit by itself (e.g. on a locked directory):
 * resolves with its exit and output, SIGKILLs it after `timeoutMs`.
 */
export function runServeToExit(t: Teardownable, dir: string, extra: string[] = [], timeoutMs = 20_000): Promise<Run> {
  return runTracked(t, process.execPath, serveArgs(dir, 0, extra), timeoutMs);
}

/** How a process run to its end went: its exit, output, and whether it was killed for taking too long. */
export type Run = Exit & { stdout: string; stderr: string; timedOut: boolean };

/** Runs `command args` to its exit, SIGKILLing it by pid after `timeoutMs` (or in teardown). */
export async function runTracked(t: Teardownable, command: string, args: string[], timeoutMs: number): Promise<Run> {
  const proc = spawnTracked(t, command, args);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killPid(proc.pid, 'SIGKILL');
  }, timeoutMs);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { ...exit, stdout: proc.stdout(), stderr: proc.stderr(), timedOut };
}

// ---------------------------------------------------------------------------------------
// redis-server, redis-cli

/** A running reference `redis-server`. */
export interface RedisHandle {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  stop(signal?: NodeJS.Signals): Promise<Exit>;
  log(): string;
}

/**
 * Starts a real redis-server on a free loopback port (chosen now; retried if someone
 * takes it first) with its own temp dir, `--save '' --appendonly no` and then `args`.
 * Waits for "Ready to accept connections". Killed by pid in teardown.
 */
export async function startRedisServer(t: Teardownable, args: string[] = []): Promise<RedisHandle> {
  requireTools('redis-server', 'redis-cli', 'redis-benchmark');
  const dir = tmpDir(t, 'bitraft-redis-');
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawnTracked(
      t,
      'redis-server',
      ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '', ...args],
      { cwd: dir, what: `redis-server on port ${port}` },
    );
    try {
      await waitForOutput(proc, 'stdout', /Ready to accept connections/, START_TIMEOUT_MS);
    } catch (err) {
      lastError = err;
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
      if (/Address already in use/i.test(proc.stdout())) continue;
      throw err;
    }
    return {
      port,
      pid: proc.pid,
      dir,
      stop: async (signal: NodeJS.Signals = 'SIGKILL') => {
        if (!proc.hasExited()) killPid(proc.pid, signal);
        return proc.exited;
      },
      log: proc.stdout,
    };
  }
  throw lastError;
}

/** The outcome of one redis-cli run; stdout and stderr are latin1 (byte for byte). */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `redis-cli -h 127.0.0.1 -p <port> ...args` (no TTY, so raw output), feeding
 * `input` on stdin. Killed after `timeoutMs`.
 */
export function redisCli(port: number, args: string[], input?: string | Buffer, timeoutMs = 30_000): CliRun {
  requireTools('redis-cli');
  const r = spawnSync('redis-cli', ['-h', HOST, '-p', String(port), ...args], {
    input: input ?? '',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

/** Pids of short-lived helpers still running; SIGKILLed if this test process exits first. */
const running = new Set<number>();
let exitHookInstalled = false;

function trackUntilExit(pid: number, child: ChildProcess): void {
  running.add(pid);
  child.once('exit', () => running.delete(pid));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of running) killPid(p, 'SIGKILL');
    });
  }
}

/**
 * Like `redisCli`, without blocking the event loop (so two servers can be asked at once).
 * Killed by pid after `timeoutMs`, or when the test process exits before it does.
 */
export function redisCliAsync(port: number, args: string[], input?: string | Buffer, timeoutMs = 30_000): Promise<CliRun> {
  requireTools('redis-cli');
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-h', HOST, '-p', String(port), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) trackUntilExit(child.pid, child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killPid(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

// ---------------------------------------------------------------------------------------
// Raw sockets

/** Connects a raw socket to 127.0.0.1:port; destroyed in teardown. */
export function connect(t: Teardownable, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    t.teardown(() => {
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // Errors after connecting (resets) are observed through 'close'.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** A socket's received bytes and whether the server closed it. */
export interface Conversation {
  readonly socket: net.Socket;
  received(): Buffer;
  closed(): boolean;
  /** Resolves once the peer closed (end or close) or `timeoutMs` passed; true when closed. */
  waitClosed(timeoutMs: number): Promise<boolean>;
  /** Resolves once `predicate(received)` holds, false after `timeoutMs`. */
  waitFor(predicate: (data: Buffer) => boolean, timeoutMs: number): Promise<boolean>;
  send(data: string | Buffer): void;
}

/** A raw connection that records everything the server sends. */
export async function converse(t: Teardownable, port: number): Promise<Conversation> {
  const socket = await connect(t, port);
  const chunks: Buffer[] = [];
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    wake();
  });
  const onClosed = (): void => {
    closed = true;
    wake();
  };
  socket.on('end', onClosed);
  socket.on('close', onClosed);
  const received = (): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  const waitUntil = (cond: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (cond()) return resolve(true);
      const timer = setTimeout(() => {
        waiters.delete(check);
        resolve(cond());
      }, timeoutMs);
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(true);
      };
      waiters.add(check);
    });
  return {
    socket,
    received,
    closed: () => closed,
    waitClosed: (ms) => waitUntil(() => closed, ms),
    waitFor: (predicate, ms) => waitUntil(() => predicate(received()), ms),
    send: (data) => {
      if (!socket.destroyed && socket.writable) socket.write(data);
    },
  };
}

/**
 * Sends `data` on a fresh connection and collects what comes back until the server
 * closes it or `quietMs` pass without new bytes (or `maxMs` in all).
 */
export async function exchange(t: Teardownable, port: number, data: string | Buffer, quietMs = 300, maxMs = 5000): Promise<{ reply: Buffer; closed: boolean }> {
  const c = await converse(t, port);
  c.send(data);
  const started = Date.now();
  let seen = -1;
  while (!c.closed() && Date.now() - started < maxMs) {
    const len = c.received().length;
    if (len === seen) break;
    seen = len;
    await c.waitClosed(quietMs);
  }
  const out = { reply: c.received(), closed: c.closed() };
  c.socket.destroy();
  return out;
}

/** One RESP request as bytes. */
export function resp(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Checks, over a fresh connection, that the server still answers PING with +PONG
 * within `timeoutMs`.
 */
export async function pingOk(t: Teardownable, port: number, timeoutMs = 3000): Promise<boolean> {
  const c = await converse(t, port);
  c.send('PING\r\n');
  const ok = await c.waitFor((d) => d.toString('latin1') === '+PONG\r\n', timeoutMs);
  c.socket.destroy();
  return ok;
}

/** Resident memory of a process in bytes (Linux /proc), or undefined. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Number of CPUs, for scaling loads down on small machines. */
export const CPUS = os.cpus().length;
