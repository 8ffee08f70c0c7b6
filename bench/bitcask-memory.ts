/**
 * Child process of the storage suite that measures memory in a fresh heap, so that
 * the earlier phases of the benchmark do not pollute it. Run with `--expose-gc`:
 *
 *   node --expose-gc dist/bench/bitcask-memory.js store <dir> <keys>
 *     opens the store in <dir> (which must hold <keys> live keys)
 *   node --expose-gc dist/bench/bitcask-memory.js map <keys>
 *     builds a bare Map<string, number> of the same <keys> keys (the reference)
 *
 * Prints one JSON line of `MemorySample` on stdout.
 */
import { Bitcask } from '../src/core/bitcask/index.js';
import { fullGc, gcAvailable, nextTurn } from './harness.js';
import { KEY_SIZE, SEED, writeKey } from './workload.js';

/** Process memory before and after loading, in bytes, as printed by the child. */
export interface MemorySample {
  keys: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  /** `external` of `process.memoryUsage()`: buffers and typed arrays outside the JS heap. */
  externalBefore: number;
  externalAfter: number;
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await nextTurn();
    fullGc();
  }
  return process.memoryUsage();
}

async function measure(load: () => Promise<unknown>): Promise<MemorySample & { keep: unknown }> {
  const before = await settle();
  const keep = await load();
  const after = await settle();
  return {
    keys: 0,
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    externalBefore: before.external,
    externalAfter: after.external,
    keep,
  };
}

async function main(argv: string[]): Promise<void> {
  if (!gcAvailable()) throw new Error('run with --expose-gc');
  const [mode, ...rest] = argv;
  let sample: MemorySample & { keep: unknown };
  if (mode === 'store') {
    const [dir, n] = [rest[0]!, Number(rest[1])];
    sample = await measure(() => Bitcask.open(dir, { sync: 'none' }));
    const store = sample.keep as Bitcask;
    if (store.size !== n) throw new Error(`expected ${n} keys in ${dir}, found ${store.size}`);
    await store.close();
    sample.keys = n;
  } else if (mode === 'map') {
    const n = Number(rest[0]);
    sample = await measure(async () => {
      const scratch = Buffer.allocUnsafe(KEY_SIZE);
      const map = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        writeKey(i, SEED, scratch);
        map.set(scratch.toString('latin1'), i);
      }
      return map;
    });
    sample.keys = n;
  } else {
    throw new Error(`unknown mode ${String(mode)}; expected store or map`);
  }
  const { keep: _keep, ...out } = sample;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
