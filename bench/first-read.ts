/**
 * Time to first read: spawns a server on an existing data directory and measures how
 * long it takes from the spawn until a `GET` on a fresh connection returns the expected
 * value. Connections are attempted every `POLL_MS` (a refused connection fails at once);
 * an error reply, a wrong value or a dropped connection counts as not ready yet.
 */
import fs from 'node:fs';
import { now } from './harness.js';
import { killPid, tail, type Child } from '../test/helpers/processes.js';
import { command } from './resp-client.js';

/** Pause between two probes. */
export const POLL_MS = 10;
/** A probe whose reply takes longer than this is abandoned and sent again. */
const PROBE_TIMEOUT_MS = 5000;

/** One measured start. */
export interface FirstRead {
  /** Spawn → the first correct GET reply, ms. */
  ms: number;
  /** Probes sent until then. */
  probes: number;
  /** Wall-clock time of the spawn (ms since the epoch), to place the server's log lines. */
  spawnedAtMs: number;
  /** Resident memory of the server right after the first correct GET, bytes (Linux), or NaN. */
  rssBytes: number;
}

/** Resident memory of a process in bytes (Linux /proc), or NaN. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `spawn` (which must start the server listening on `port`) and probes
 * `GET key` until the reply is `expected`. Throws, with the server's output, if the
 * server exits first or is not ready within `giveUpMs`; the server is then SIGKILLed.
 */
export function timeToFirstRead(spawn: () => Child, port: number, key: string, expected: string, giveUpMs = 120_000): Promise<{ proc: Child; read: FirstRead }> {
  return timeToReply(spawn, port, ['GET', key], expected, giveUpMs);
}

/**
 * Calls `spawn` (which must start the server listening on `port`) and sends `args` on a
 * fresh connection every `POLL_MS` until the reply is `expected`. Throws, with the
 * server's output, if the server exits first or does not answer so within `giveUpMs`;
 * the server is then SIGKILLed.
 */
export async function timeToReply(spawn: () => Child, port: number, args: string[], expected: string | number, giveUpMs: number): Promise<{ proc: Child; read: FirstRead }> {
  const spawnedAtMs = Date.now();
  const t0 = now();
  const proc = spawn();
  let probes = 0;
  let last = 'no probe yet';
  for (;;) {
    probes++;
    try {
      const reply = await command(port, args, PROBE_TIMEOUT_MS);
      if (reply === expected) break;
      last = `${args.join(' ')} answered ${JSON.stringify(reply)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    const failure = proc.hasExited() ? 'exited' : (now() - t0) * 1000 > giveUpMs ? `did not answer ${JSON.stringify(expected)} within ${giveUpMs} ms` : undefined;
    if (failure !== undefined) {
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
      throw new Error(`${proc.what} ${failure}; last probe: ${last}\n--- stderr ---\n${tail(proc.stderr())}\n--- stdout ---\n${tail(proc.stdout())}`);
    }
    await sleep(POLL_MS);
  }
  const ms = (now() - t0) * 1000;
  return { proc, read: { ms, probes, spawnedAtMs, rssBytes: rssOf(proc.pid) } };
}

/**
 * Milliseconds from `spawnedAtMs` to the first bitraft log line (`<ISO time> <level> …`)
 * matching `re`, or NaN when there is none.
 */
export function logLineAfter(log: string, re: RegExp, spawnedAtMs: number): number {
  for (const line of log.split('\n')) {
    if (!re.test(line)) continue;
    const at = Date.parse(line.slice(0, line.indexOf(' ')));
    return Number.isFinite(at) ? at - spawnedAtMs : Number.NaN;
  }
  return Number.NaN;
}
