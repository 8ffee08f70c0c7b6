/**
 * Child processes for the integration tests and the benchmark (bench/procs.ts builds its
 * servers on these): spawn with collected output, wait for a line of output, kill by
 * pid, a free loopback port.
 *
 * Every child is tracked by pid until it exits; if this process exits first (an error,
 * or Ctrl-C: the benchmark's signal handler calls process.exit), an exit hook SIGKILLs
 * each one still running, by pid. Tests add a per-test teardown on top
 * (`spawnTracked` in server.ts).
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

/** The repository root, whether this file runs compiled (under dist/) or from source. */
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
