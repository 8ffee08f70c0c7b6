/**
 * Many short random command sequences against the Bitcask engine and a `Map` model (as
 * property-based tests run them), on tiny data files (about 400 bytes) so that rotation
 * and merges happen all the time. Besides puts and deletes, a sequence may rotate,
 * merge, merge while reading every key (and writing) until the merge is done, reopen,
 * corrupt a byte of a hint file before reopening (the store must notice and scan the
 * data file instead), and leave a stale lock of a dead process behind (the store must
 * take it over). After every step the store must equal the model.
 *
 * A failing sequence is shrunk (chunks of operations removed while it still fails) and
 * printed as JSON; add it to `test/fixtures/bitcask-model-regressions.json`, whose
 * sequences are replayed first on every run. BITCASK_SEQUENCES sets how many random
 * sequences run (default 10,000), BITCASK_SEQUENCE_SEED the first seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, LOCK_FILE } from '../../../src/core/bitcask/index.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { b, fastTmpDir, s } from '../../helpers/bitcask.js';

const SEQUENCES = Number(process.env.BITCASK_SEQUENCES ?? 10_000);
// 10,000 sequences take a minute or two of one core; more on a busy machine than tap's default file timeout allows.
t.setTimeout(900_000);
const FIRST_SEED = Number(process.env.BITCASK_SEQUENCE_SEED ?? 1);
const REGRESSIONS = new URL('../../fixtures/bitcask-model-regressions.json', import.meta.url);
/** No process has this pid (above Linux's pid_max limit). */
const DEAD_PID = 4_194_304 + 17;

/** One step of a sequence; keys are indexes into `KEYS`, values are made from `v` and `size`. */
export type Step =
  | { op: 'put'; key: number; size: number; v: number }
  | { op: 'del'; key: number }
  | { op: 'rotate' }
  | { op: 'merge' }
  | { op: 'merge-reading'; writes: number[] }
  | { op: 'reopen' }
  | { op: 'corrupt-hint'; file: number; at: number }
  | { op: 'stale-lock' };

/** A sequence: the data file size and its steps. */
export interface Sequence {
  name?: string;
  maxFileSize: number;
  steps: Step[];
}

const KEYS = ['', 'a', 'ab', 'b', '\x00', '\xff\xfe', 'key:1', 'key:2', 'key:10', 'k'.repeat(40), 'z\x00z', 'm'];

/** The value of a put: `size` bytes from the seed `v` (its first byte is `v`'s, so equal sizes still differ). */
function valueOf(v: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (v * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  if (size > 0) out[0] = v & 0xff;
  return out;
}

function randomStep(rng: Rng, n: number): Step {
  const r = rng.int(100);
  if (r < 45) {
    const big = rng.int(40) === 0;
    return { op: 'put', key: rng.int(KEYS.length), size: big ? 400 + rng.int(600) : rng.int(5) === 0 ? 0 : 1 + rng.int(120), v: n };
  }
  if (r < 65) return { op: 'del', key: rng.int(KEYS.length) };
  if (r < 72) return { op: 'rotate' };
  if (r < 80) return { op: 'merge' };
  if (r < 86) return { op: 'merge-reading', writes: Array.from({ length: rng.int(4) }, () => rng.int(KEYS.length)) };
  if (r < 92) return { op: 'reopen' };
  if (r < 97) return { op: 'corrupt-hint', file: rng.int(8), at: rng.int(1 << 16) };
  return { op: 'stale-lock' };
}

/** The random sequence of `seed`: 5–40 steps on files of 300–500 bytes. */
export function randomSequence(seed: number): Sequence {
  const rng = seededRng(seed);
  const maxFileSize = 300 + rng.int(201);
  const length = 5 + rng.int(36);
  return { name: `seed ${seed}`, maxFileSize, steps: Array.from({ length }, (_, i) => randomStep(rng, i + 1)) };
}

/** What went wrong at which step. */
class Mismatch extends Error {}

/**
 * Runs `seq` in `dir` (empty), checking the store against the model after every step;
 * resolves with the number of steps, or throws a `Mismatch` (or the store's error).
 */
async function runSequence(seq: Sequence, dir: string): Promise<void> {
  // A small value cache: the default (64 MiB) would be allocated at every open.
  const opts = { maxFileSize: seq.maxFileSize, sync: 'none' as const, cacheSize: 4096 };
  const model = new Map<string, Buffer>();
  let store = await Bitcask.open(dir, opts);
  const check = (at: string): void => {
    if (store.size !== model.size) throw new Mismatch(`${at}: size ${store.size}, model ${model.size}`);
    for (const [k, v] of model) {
      const got = store.get(b(k));
      if (!got?.equals(v)) throw new Mismatch(`${at}: get(${JSON.stringify(k)}) gave ${got ? `${got.length} other bytes` : 'nothing'}, expected ${v.length} bytes`);
    }
    for (const k of KEYS) if (!model.has(k) && store.has(b(k))) throw new Mismatch(`${at}: ${JSON.stringify(k)} is back`);
    const keys = [...store.keys()].map(s);
    const want = [...model.keys()].sort();
    if (keys.join('\n') !== want.join('\n')) throw new Mismatch(`${at}: keys() gave ${JSON.stringify(keys)}, expected ${JSON.stringify(want)}`);
  };
  const reopen = async (damage?: () => void): Promise<void> => {
    await store.close();
    damage?.();
    store = await Bitcask.open(dir, opts);
  };
  try {
    for (const [i, step] of seq.steps.entries()) {
      const at = `step ${i} ${JSON.stringify(step)}`;
      switch (step.op) {
        case 'put': {
          const value = valueOf(step.v, step.size);
          store.put(b(KEYS[step.key]!), value);
          model.set(KEYS[step.key]!, value);
          break;
        }
        case 'del': {
          const existed = store.delete(b(KEYS[step.key]!));
          if (existed !== model.delete(KEYS[step.key]!)) throw new Mismatch(`${at}: delete returned ${existed}`);
          break;
        }
        case 'rotate':
          store.rotate();
          break;
        case 'merge':
          await store.merge();
          break;
        case 'merge-reading': {
          let done = false;
          const merge = store.merge({ yieldEveryBytes: 64 }).finally(() => {
            done = true;
          });
          let w = 0;
          // Read every key (and write now and then) on each turn until the merge is done.
          while (!done) {
            check(`${at} (during the merge)`);
            if (w < step.writes.length) {
              const key = KEYS[step.writes[w]!]!;
              const value = valueOf(1000 + w, 1 + w * 7);
              store.put(b(key), value);
              model.set(key, value);
              w++;
            }
            await new Promise((resolve) => setImmediate(resolve));
          }
          await merge;
          break;
        }
        case 'reopen':
          await reopen();
          break;
        case 'corrupt-hint':
          await reopen(() => {
            const hints = fs.readdirSync(dir).filter((n) => n.endsWith('.hint')).sort();
            if (hints.length === 0) return;
            const file = path.join(dir, hints[step.file % hints.length]!);
            const bytes = fs.readFileSync(file);
            if (bytes.length === 0) return;
            bytes[step.at % bytes.length]! ^= 0x5a;
            fs.writeFileSync(file, bytes);
          });
          break;
        case 'stale-lock':
          await reopen(() => fs.writeFileSync(path.join(dir, LOCK_FILE), `${DEAD_PID}\n`));
          break;
      }
      check(at);
    }
    await reopen();
    check('after a final reopen');
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Whether `seq` fails, run in a fresh subdirectory of `base`. */
async function fails(seq: Sequence, base: string, n: { value: number }): Promise<unknown> {
  const dir = path.join(base, `run-${n.value++}`);
  fs.mkdirSync(dir);
  try {
    await runSequence(seq, dir);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Shrinks a failing sequence: removes chunks of steps, halving the chunk size, while it still fails. */
async function shrink(seq: Sequence, base: string, n: { value: number }): Promise<Sequence> {
  let steps = seq.steps;
  for (let chunk = Math.ceil(steps.length / 2); chunk >= 1; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    for (let start = 0; start < steps.length; ) {
      const candidate = [...steps.slice(0, start), ...steps.slice(start + chunk)];
      if (candidate.length > 0 && (await fails({ ...seq, steps: candidate }, base, n))) steps = candidate;
      else start += chunk;
    }
  }
  return { name: `${seq.name ?? 'sequence'} (shrunk)`, maxFileSize: seq.maxFileSize, steps };
}

/** Runs `sequences`; fails the test with the first failure, shrunk. */
async function runAll(t: Test, sequences: Iterable<Sequence>, base: string): Promise<number> {
  const n = { value: 0 };
  let count = 0;
  for (const seq of sequences) {
    count++;
    const err = await fails(seq, base, n);
    if (err === undefined) continue;
    const small = await shrink(seq, base, n);
    const why = await fails(small, base, n);
    t.fail(`${seq.name}: ${err instanceof Error ? err.message : String(err)}`, {
      shrunk: JSON.stringify(small),
      shrunkFailure: why instanceof Error ? why.message : String(why),
      hint: 'add the shrunk sequence to test/fixtures/bitcask-model-regressions.json',
    });
    return count;
  }
  return count;
}

t.test('the regression sequences still pass', async (t) => {
  const corpus = JSON.parse(fs.readFileSync(REGRESSIONS, 'utf8')) as Sequence[];
  t.ok(corpus.length > 0, 'there are regression sequences');
  const ran = await runAll(t, corpus, fastTmpDir(t, 'bitcask-seq-'));
  t.equal(ran, corpus.length, `${ran} regression sequences`);
});

t.test(`${SEQUENCES} random sequences match the model (seeds ${FIRST_SEED}…${FIRST_SEED + SEQUENCES - 1})`, async (t) => {
  const counts = new Map<string, number>();
  function* sequences(): Generator<Sequence> {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEQUENCES; seed++) {
      const seq = randomSequence(seed);
      for (const step of seq.steps) counts.set(step.op, (counts.get(step.op) ?? 0) + 1);
      yield seq;
    }
  }
  const ran = await runAll(t, sequences(), fastTmpDir(t, 'bitcask-seq-'));
  t.comment(`steps run: ${[...counts].map(([op, c]) => `${op} ${c}`).join(', ')}`);
  t.equal(ran, SEQUENCES, `${ran} sequences`);
});
