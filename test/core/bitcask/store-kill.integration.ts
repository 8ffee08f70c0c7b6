/**
 * Kills a real writer process mid-stream: a child opens a store with sync 'always' and
 * loops put → await sync() → print the index. The parent SIGKILLs it after a few hundred
 * acknowledgements, reopens the directory (taking over the dead process's lock) and
 * checks that every acknowledged write is there with its value. Uses the compiled engine
 * in dist/ (`npm test` builds it; otherwise run `npx tsc -p tsconfig.build.json`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { Bitcask, LOCK_FILE, readLockPid } from '../../../src/core/bitcask/index.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const engine = path.join(repoRoot, 'dist/src/core/bitcask/index.js');

/** The child: argv = dir, first index, value size, max file size. */
const CHILD = `
const [dir, first, valueSize, maxFileSize] = process.argv.slice(2);
const { Bitcask } = await import(${JSON.stringify(pathToFileURL(engine).href)});
const store = await Bitcask.open(dir, { sync: 'always', maxFileSize: Number(maxFileSize) });
process.stdout.write('ready\\n');
for (let i = Number(first); ; i++) {
  const v = Buffer.alloc(Number(valueSize), 'value-' + i + '-');
  store.put(Buffer.from('key-' + i), v);
  await store.sync();
  process.stdout.write(i + '\\n');
}
`;

function expectedValue(i: number, size: number): Buffer {
  return Buffer.alloc(size, `value-${i}-`);
}

interface Round {
  first: number;
  valueSize: number;
  maxFileSize: number;
  killAfter: number;
}

/** Runs the child until `killAfter` acknowledgements, SIGKILLs it, and returns the acknowledged indexes. */
function runAndKill(t: { teardown(fn: () => void): void }, script: string, dir: string, round: Round): Promise<{ acked: number[]; pid: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [script, dir, String(round.first), String(round.valueSize), String(round.maxFileSize)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid!;
    t.teardown(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });
    const acked: number[] = [];
    let pending = '';
    let stderr = '';
    let killed = false;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') continue;
        acked.push(Number(line));
      }
      if (!killed && acked.length >= round.killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own (code ${code}, signal ${signal}): ${stderr}`));
      else resolve({ acked, pid, stderr });
    });
  });
}

t.test('every acknowledged write survives SIGKILL of the writer', async (t) => {
  if (!fs.existsSync(engine)) {
    t.fail(`${engine} is missing: build first (npx tsc -p tsconfig.build.json, or npm test)`);
    return;
  }
  const work = tmpDir(t, 'bitcask-kill-');
  const script = path.join(work, 'child.mjs');
  fs.writeFileSync(script, CHILD);
  const dir = path.join(work, 'data');
  const rounds: Round[] = [
    { first: 0, valueSize: 100, maxFileSize: 1 << 20, killAfter: 300 },
    { first: 0, valueSize: 100, maxFileSize: 1 << 20, killAfter: 170 },
    { first: 0, valueSize: 24_000, maxFileSize: 64 * 1024, killAfter: 120 },
    { first: 0, valueSize: 24_000, maxFileSize: 64 * 1024, killAfter: 190 },
    { first: 0, valueSize: 7, maxFileSize: 4096, killAfter: 250 },
  ];
  // Every round writes after the last one into the same directory, so each recovers the
  // directory the previous kill (and the parent's reopen) left.
  const all = new Map<number, number>(); // acknowledged index -> value size
  let next = 0;
  for (const [n, base] of rounds.entries()) {
    const round = { ...base, first: next };
    const { acked, pid, stderr } = await runAndKill(t, script, dir, round);
    const what = `round ${n} (values of ${round.valueSize} bytes, files of ${round.maxFileSize})`;
    t.ok(acked.length >= round.killAfter, `${what}: ${acked.length} writes acknowledged before the kill`);
    t.same(acked, Array.from({ length: acked.length }, (_, i) => round.first + i), `${what}: acknowledgements in order`);
    t.equal(readLockPid(dir), pid, `${what}: the dead child's lock is still there`);
    for (const i of acked) all.set(i, round.valueSize);

    const log = memoryLogger();
    const store = await Bitcask.open(dir, { logger: log, maxFileSize: round.maxFileSize });
    t.ok(
      log.lines.some((l) => l.startsWith('warn:') && l.includes('stale lock') && l.includes(String(pid))),
      `${what}: stale lock of pid ${pid} taken over`,
    );
    t.equal(readLockPid(dir), process.pid, `${what}: the lock is ours now`);
    const missing: number[] = [];
    const wrong: number[] = [];
    for (const [i, size] of all) {
      const v = store.get(Buffer.from(`key-${i}`));
      if (v === undefined) missing.push(i);
      else if (!v.equals(expectedValue(i, size))) wrong.push(i);
    }
    t.same(missing, [], `${what}: no acknowledged write lost (${all.size} so far)`);
    t.same(wrong, [], `${what}: every acknowledged value intact`);
    // At most the one write in flight when the child died can be there unacknowledged.
    const last = acked.at(-1)!;
    const extra = [...store.keys()].map((k) => Number(k.toString().slice(4))).filter((i) => !all.has(i));
    t.ok(
      extra.every((i) => i === last + 1),
      `${what}: no unexpected keys (${JSON.stringify(extra)}) ${stderr}`,
    );
    if (extra.length === 1) {
      const v = store.get(Buffer.from(`key-${last + 1}`));
      t.same(v, expectedValue(last + 1, round.valueSize), `${what}: the unacknowledged write is whole`);
      all.set(last + 1, round.valueSize);
    }
    t.equal(store.size, all.size, `${what}: store size`);
    await store.close();
    t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), `${what}: lock released`);
    next = Math.max(...all.keys()) + 1;
  }
});
