/**
 * Child processes of the benchmark: servers (`bitraft serve`, `redis-server`) on free
 * loopback ports and short-lived tools (`redis-benchmark`, `redis-cli`).
 *
 * The spawning, waiting and killing pieces are shared with the integration tests
 * (test/helpers/processes.ts); every child is killed by pid if the benchmark exits first.
 */
import path from 'node:path';
import { HOST, REPO_ROOT, freePort, killPid, spawnChild, tail, waitForOutput, type Child, type Exit } from '../test/helpers/processes.js';

export { HOST, freePort, killPid, waitForOutput };

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
 * Starts a cluster member, `node bin/run.js serve --dir <dir> --bind 127.0.0.1:<port>
 * [--join 127.0.0.1:<join>] [args]`, on a fixed port (a node's id is its address, so a
 * restarted member must come back on the same one), and waits for its `listening on`
 * line. Without `port`, a free port is picked, and picked again if someone takes it
 * first. Durability is left at its default (high) unless `args` say otherwise.
 */
export async function startBitraftNode(dir: string, opts: { port?: number; join?: number; args?: string[]; what?: string } = {}): Promise<ServerProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.port === undefined ? 5 : 1); attempt++) {
    const port = opts.port ?? (await freePort());
    const args = [path.join(REPO_ROOT, 'bin/run.js'), 'serve', '--dir', dir, '--bind', `${HOST}:${port}`];
    if (opts.join !== undefined) args.push('--join', `${HOST}:${opts.join}`);
    args.push(...(opts.args ?? []));
    const proc = spawnChild(process.execPath, args, { what: opts.what ?? `bitraft serve --bind ${HOST}:${port}${opts.join === undefined ? '' : ` --join ${HOST}:${opts.join}`}` });
    try {
      await waitForOutput(proc, 'stderr', new RegExp(`listening on 127\\.0\\.0\\.1:${port}\\b`));
    } catch (err) {
      lastError = err;
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
      if (opts.port === undefined && /EADDRINUSE|address already in use/i.test(proc.stderr())) continue;
      throw err;
    }
    return { kind: 'bitraft', port, pid: proc.pid, dir, proc, stop: () => stopChild(proc) };
  }
  throw lastError;
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

/**
 * Runs a tool to completion like `runTool`, but with its stdout written to `outPath`
 * (`/dev/null` to discard it) instead of collected, for tools that write more than
 * should be held in memory. The tool is started by `sh -c 'exec …'`, so the process
 * waited for (and killed by pid on a timeout) is the tool itself, after one shell start.
 */
export async function runToolTo(outPath: string, command: string, args: string[], opts: { timeoutMs: number; what?: string }): Promise<{ stderr: string }> {
  const script = 'out=$1; shift; exec "$@" > "$out"';
  const { stderr } = await runTool('sh', ['-c', script, 'sh', outPath, command, ...args], { timeoutMs: opts.timeoutMs, what: opts.what ?? `${command} ${args.join(' ')} > ${outPath}` });
  return { stderr };
}
