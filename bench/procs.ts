/**
 * Child processes of the benchmark: servers (`bitraft serve`, `redis-server`) on free
 * loopback ports and short-lived tools (`redis-benchmark`, `redis-cli`).
 *
 * The spawning, waiting and killing pieces are shared with the integration tests
 * (test/helpers/server.ts), which add a per-test teardown on top.
 *
 * Every child is tracked by pid until it exits; if the benchmark process exits first
 * (an error, or Ctrl-C: the entry point's signal handler calls process.exit), the exit
 * hook SIGKILLs each one still running, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Servers listen on loopback only. */
export const HOST = '127.0.0.1';

/** The nearest directory above `file` holding a package.json. */
function packageRoot(file: string): string {
  let dir = path.dirname(file);
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${file}`);
    dir = up;
  }
  return dir;
}

/** The repository root, whether this file runs compiled (dist/bench/) or from source (the tests import it). */
export const REPO_ROOT = packageRoot(fileURLToPath(import.meta.url));

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Map<number, string>();
let hookInstalled = false;

function track(pid: number, what: string, child: ChildProcess): void {
  live.set(pid, what);
  child.once('exit', () => live.delete(pid));
  if (!hookInstalled) {
    hookInstalled = true;
    process.on('exit', killAllTracked);
  }
}

/** SIGKILLs every tracked child still running (by pid). Called on process exit. */
export function killAllTracked(): void {
  for (const pid of live.keys()) killPid(pid, 'SIGKILL');
  live.clear();
}

/** Sends `signal` to `pid`; false when the process is already gone. */
export function killPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A spawned child with its output collected and its exit awaited. */
export interface Child {
  readonly pid: number;
  readonly what: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  hasExited(): boolean;
  stdout(): string;
  stderr(): string;
}

/** Spawns `command args` with piped output, tracked by pid until it exits. */
export function spawnChild(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; what?: string } = {}): Child {
  const what = opts.what ?? `${command} ${args.join(' ')}`;
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exit: Exit | undefined;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (e) => {
      err += `\n[spawn error] ${e.message}`;
      exit ??= { code: null, signal: null };
      resolve(exit);
    });
    // 'close' rather than 'exit': all output has been read by then.
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) track(pid, what, child);
  return { pid, what, child, exited, hasExited: () => exit !== undefined, stdout: () => out, stderr: () => err };
}

/** The last `max` characters of `text`, for error messages. */
export function tail(text: string, max = 2000): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(-max)}`;
}

/**
 * Resolves with the first match of `re` in the child's stdout or stderr; rejects with
 * the output when the child exits first or `timeoutMs` passes.
 */
export function waitForOutput(proc: Child, which: 'stdout' | 'stderr', re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const stream = which === 'stdout' ? proc.child.stdout! : proc.child.stderr!;
  const text = (): string => (which === 'stdout' ? proc.stdout() : proc.stderr());
  const describe = (): string => `--- stderr ---\n${tail(proc.stderr())}\n--- stdout ---\n${tail(proc.stdout())}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      fn();
    };
    const check = (): void => {
      const m = text().match(re);
      if (m) finish(() => resolve(m));
    };
    const onData = (): void => void setImmediate(check);
    const timer = setTimeout(() => finish(() => reject(new Error(`${proc.what}: no ${re} within ${timeoutMs} ms\n${describe()}`))), timeoutMs);
    stream.on('data', onData);
    void proc.exited.then((e) => {
      check();
      finish(() => reject(new Error(`${proc.what}: exited (code ${e.code}, signal ${e.signal}) before ${re}\n${describe()}`)));
    });
    check();
  });
}

/**
 * Sends `signal` and waits `graceMs` for the exit; then SIGKILLs and throws. Throws too
 * when the process exits with a non-zero code (a server must shut down cleanly).
 */
export async function stopChild(proc: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<Exit> {
  if (!proc.hasExited()) killPid(proc.pid, signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
  const result = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    killPid(proc.pid, 'SIGKILL');
    await proc.exited;
    throw new Error(`${proc.what} (pid ${proc.pid}) did not exit within ${graceMs} ms of ${signal}; killed\n${tail(proc.stderr())}`);
  }
  if (result.code !== 0 && result.signal !== signal) {
    throw new Error(`${proc.what} (pid ${proc.pid}) exited with code ${result.code}, signal ${result.signal}\n--- stderr ---\n${tail(proc.stderr())}\n--- stdout ---\n${tail(proc.stdout())}`);
  }
  return result;
}

/** A port free right now on 127.0.0.1 (listen on 0, close, return the port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const addr = server.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** A running server: bitraft or redis-server. */
export interface ServerProcess {
  readonly kind: 'bitraft' | 'redis';
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly proc: Child;
  /** SIGTERM (a clean shutdown for both servers), then waits; throws on a bad exit. */
  stop(): Promise<Exit>;
}

/**
 * Starts `node [nodeArgs] bin/run.js serve --dir <dir> --bind 127.0.0.1:0 --durability <d>`
 * and waits for its `listening on 127.0.0.1:PORT` line.
 */
export async function startBitraft(dir: string, durability: 'high' | 'medium' | 'low', nodeArgs: string[] = []): Promise<ServerProcess> {
  const args = [...nodeArgs, path.join(REPO_ROOT, 'bin/run.js'), 'serve', '--dir', dir, '--bind', `${HOST}:0`, '--durability', durability];
  const proc = spawnChild(process.execPath, args, { what: `bitraft serve --durability ${durability}` });
  try {
    const m = await waitForOutput(proc, 'stderr', /listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    return { kind: 'bitraft', port, pid: proc.pid, dir, proc, stop: () => stopChild(proc) };
  } catch (err) {
    killPid(proc.pid, 'SIGKILL');
    await proc.exited;
    throw err;
  }
}

/**
 * Starts `redis-server` on a free loopback port (retried if someone takes it first),
 * in `dir`, with `--save ''` and then `args`, and waits for "Ready to accept connections".
 */
export async function startRedis(dir: string, args: string[]): Promise<ServerProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawnChild(
      'redis-server',
      ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '', ...args],
      { cwd: dir, what: `redis-server ${args.join(' ')}` },
    );
    try {
      await waitForOutput(proc, 'stdout', /Ready to accept connections/);
    } catch (err) {
      lastError = err;
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
      if (/Address already in use/i.test(proc.stdout())) continue;
      throw err;
    }
    return { kind: 'redis', port, pid: proc.pid, dir, proc, stop: () => stopChild(proc) };
  }
  throw lastError;
}

/**
 * Runs a tool to completion, killed by pid after `timeoutMs`. With `failOnStderr`, the
 * first stderr output kills it at once (after 200 ms to collect the rest) and fails the
 * run: redis-benchmark, for one, spins forever after "Could not connect".
 */
export async function runTool(
  command: string,
  args: string[],
  opts: { timeoutMs: number; failOnStderr?: boolean; what?: string },
): Promise<{ stdout: string; stderr: string }> {
  const proc = spawnChild(command, args, { what: opts.what });
  let reason: string | undefined;
  const kill = (why: string): void => {
    reason ??= why;
    killPid(proc.pid, 'SIGKILL');
  };
  const timer = setTimeout(() => kill(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
  let stderrTimer: NodeJS.Timeout | undefined;
  if (opts.failOnStderr) {
    proc.child.stderr!.once('data', () => {
      stderrTimer = setTimeout(() => kill('wrote to stderr'), 200);
    });
  }
  const exit = await proc.exited;
  clearTimeout(timer);
  clearTimeout(stderrTimer);
  const describe = (): string => `\n--- stderr ---\n${tail(proc.stderr())}\n--- stdout ---\n${tail(proc.stdout())}`;
  if (reason === undefined && opts.failOnStderr && proc.stderr().trim() !== '') reason = 'wrote to stderr';
  if (reason !== undefined) throw new Error(`${proc.what} ${reason}${describe()}`);
  if (exit.code !== 0) throw new Error(`${proc.what} exited with code ${exit.code}, signal ${exit.signal}${describe()}`);
  return { stdout: proc.stdout(), stderr: proc.stderr() };
}
