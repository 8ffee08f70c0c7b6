/**
 * Model-based test of the Bitcask engine (after Basho's eqc `bitcask_qc`): random
 * operations are applied to a real store and to a `Map`, and after every operation
 * the two are compared (size, every value, absent keys, ordered walks, live counters).
 *
 * Replay one failure with the seed it prints, e.g.
 *   BITCASK_MODEL_SEED=5 npx tap test/core/bitcask/store-model.test.ts
 * (a comma-separated list runs several; BITCASK_MODEL_OPS changes the op count).
 */
import fs from 'node:fs';
import t from 'tap';
import { Bitcask, type BitcaskOptions, type MergeResult } from '../../../src/core/bitcask/index.js';
import { recordSize } from '../../../src/core/bitcask/record.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { hasCode } from '../../../src/core/support/errors.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { b, dataFiles, fastTmpDir, nextTurn, s, tmpFiles } from '../../helpers/bitcask.js';

const DEFAULT_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const SEEDS = process.env.BITCASK_MODEL_SEED ? process.env.BITCASK_MODEL_SEED.split(',').map((x) => Number(x.trim())) : DEFAULT_SEEDS;
const OPS = Number(process.env.BITCASK_MODEL_OPS ?? 10_000);

/** A difference between the store and the model, with what is needed to replay it. */
class ModelMismatch extends Error {
  constructor(
    message: string,
    readonly diagnostic: Record<string, unknown>,
  ) {
    super(message);
  }
}

type OpName =
  | 'put-new'
  | 'overwrite'
  | 'put-empty'
  | 'delete'
  | 'delete-missing'
  | 'put-big'
  | 'rotate'
  | 'merge'
  | 'reopen'
  | 'concurrent-merge'
  | 'turn'
  | 'clock';

const WEIGHTS: [OpName, number][] = [
  ['put-new', 220],
  ['overwrite', 180],
  ['put-empty', 40],
  ['delete', 120],
  ['delete-missing', 40],
  ['put-big', 10],
  ['rotate', 20],
  ['merge', 5],
  ['reopen', 5],
  ['concurrent-merge', 3],
  ['turn', 20],
  ['clock', 10],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((a, [, w]) => a + w, 0);

/** One seeded run: the store, its model, and the ops applied so far. */
class ModelRun {
  readonly rng: Rng;
  readonly clock = manualClock(1_700_000_000_000);
  readonly opts: BitcaskOptions;
  readonly pool: string[];
  readonly model = new Map<string, Buffer>();
  store!: Bitcask;
  op = 0;
  private readonly history: string[] = [];
  private sortedCache: string[] | undefined;

  constructor(
    readonly seed: number,
    readonly dir: string,
  ) {
    this.rng = seededRng(seed);
    const maxFileSize = 2048 + this.rng.int(6 * 1024 + 1);
    this.opts = { maxFileSize, clock: this.clock, sync: seed % 2 === 0 ? 'always' : 'none' };
    this.pool = this.makePool();
  }

  async run(ops: number): Promise<void> {
    this.store = await Bitcask.open(this.dir, this.opts);
    this.check();
    for (this.op = 1; this.op <= ops; this.op++) {
      await this.step(this.pickOp());
      this.check();
    }
    await this.reopen();
    this.check();
    await this.store.close();
  }

  /** Where the run is, for failure messages: seed, op number, how to replay, recent ops. */
  where(): Record<string, unknown> {
    return {
      seed: this.seed,
      op: this.op,
      replay: `BITCASK_MODEL_SEED=${this.seed} npx tap test/core/bitcask/store-model.test.ts`,
      options: { maxFileSize: this.opts.maxFileSize, sync: this.opts.sync },
      lastOps: [...this.history],
    };
  }

  private log(desc: string): void {
    this.history.push(`#${this.op} ${desc}`);
    if (this.history.length > 25) this.history.shift();
  }

  private pickOp(): OpName {
    let r = this.rng.int(TOTAL_WEIGHT);
    for (const [name, w] of WEIGHTS) {
      if (r < w) return name;
      r -= w;
    }
    return 'turn';
  }

  private async step(op: OpName): Promise<void> {
    switch (op) {
      case 'put-new':
      case 'overwrite':
      case 'put-empty':
      case 'put-big':
      case 'delete':
      case 'delete-missing':
        this.write(op);
        return;
      case 'rotate':
        this.log('rotate');
        this.store.rotate();
        return;
      case 'merge': {
        this.log('merge');
        const r = await this.store.merge();
        this.checkMergeResult(r, true);
        return;
      }
      case 'reopen':
        this.log('reopen');
        await this.reopen();
        return;
      case 'concurrent-merge':
        await this.concurrentMerge();
        return;
      case 'turn':
        this.log('turn');
        await nextTurn();
        return;
      case 'clock': {
        const ms = this.rng.int(10_000_000);
        this.log(`clock +${ms}`);
        this.clock.advance(ms);
        return;
      }
    }
  }

  /** One put or delete, mirrored in the model. */
  private write(op: OpName): void {
    this.clock.advance(this.rng.int(3000));
    switch (op) {
      case 'put-new':
      case 'overwrite':
      case 'put-empty':
      case 'put-big': {
        let key: string;
        if (op === 'overwrite' && this.model.size > 0) key = this.pick(this.sortedModelKeys());
        else if (op === 'put-new') key = this.pickAbsent() ?? this.pick(this.pool);
        else key = this.pick(this.pool);
        const size = op === 'put-empty' ? 0 : op === 'put-big' ? this.bigSize() : this.valueSize();
        const value = this.value(size);
        this.log(`${op} ${JSON.stringify(key)} (${size} bytes)`);
        this.store.put(b(key), value);
        this.setModel(key, value);
        return;
      }
      case 'delete':
      case 'delete-missing': {
        const existing = op === 'delete' && this.model.size > 0;
        const key = existing ? this.pick(this.sortedModelKeys()) : (this.pickAbsent() ?? `missing-${this.op}`);
        this.log(`${op} ${JSON.stringify(key)}`);
        const existed = this.store.delete(b(key));
        const expected = this.model.has(key);
        if (existed !== expected) this.fail(`delete(${JSON.stringify(key)}) returned ${existed}, expected ${expected}`);
        this.deleteModel(key);
        return;
      }
      default:
        throw new TypeError(`not a write: ${op}`);
    }
  }

  /**
   * Starts a merge without awaiting it, writes (and rotates) while it runs, checking the
   * contents after each write; sometimes closes the store before the merge is done.
   */
  private async concurrentMerge(): Promise<void> {
    const yieldEveryBytes = 64 + this.rng.int(4096);
    this.log(`concurrent-merge start (yieldEveryBytes=${yieldEveryBytes})`);
    const merge = this.store.merge({ yieldEveryBytes }).then(
      (r) => ({ ok: true as const, r }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const writes = 1 + this.rng.int(16);
    const closeAt = this.rng.int(4) === 0 ? this.rng.int(writes) : -1;
    for (let i = 0; i < writes; i++) {
      if (i === closeAt) {
        this.log('close during merge');
        await this.store.close();
        const outcome = await merge;
        if (!outcome.ok && !hasCode(outcome.err, 'CLOSED')) throw outcome.err;
        this.store = await Bitcask.open(this.dir, this.opts);
        this.checkNoTmp();
        return;
      }
      const r = this.rng.int(10);
      if (r < 4) this.write('overwrite');
      else if (r < 6) this.write('put-new');
      else if (r < 8) this.write('delete');
      else if (r < 9) this.write('put-empty');
      else {
        this.log('rotate');
        this.store.rotate();
      }
      this.check();
      if (this.rng.int(2) === 0) await nextTurn();
    }
    const outcome = await merge;
    if (!outcome.ok) throw outcome.err;
    this.log('concurrent-merge done');
    this.checkMergeResult(outcome.r, false);
  }

  private async reopen(): Promise<void> {
    await this.store.close();
    this.store = await Bitcask.open(this.dir, this.opts);
    this.checkNoTmp();
  }

  // ---- comparison ----

  /** Compares the store with the model; throws ModelMismatch on the first difference. */
  check(): void {
    const st = this.store;
    if (st.size !== this.model.size) this.fail(`size ${st.size}, model has ${this.model.size}`);
    let liveBytes = 0;
    for (const [k, v] of this.model) {
      const got = st.get(b(k));
      if (got === undefined) this.fail(`get(${JSON.stringify(k)}) is undefined, expected ${v.length} bytes`);
      if (!got.equals(v)) this.fail(`get(${JSON.stringify(k)}) returned ${got.length} bytes, expected ${v.length} (different bytes)`);
      liveBytes += recordSize(Buffer.byteLength(k, 'latin1'), v.length);
    }
    for (let i = 0; i < 2; i++) {
      const absent = this.pickAbsent() ?? `never-${this.op}`;
      if (st.get(b(absent)) !== undefined) this.fail(`get(${JSON.stringify(absent)}) found a value for an absent key`);
      if (st.has(b(absent))) this.fail(`has(${JSON.stringify(absent)}) is true for an absent key`);
    }
    const stats = st.stats();
    if (stats.liveKeys !== this.model.size) this.fail(`stats().liveKeys ${stats.liveKeys}, model has ${this.model.size}`);
    if (stats.liveBytes !== liveBytes) this.fail(`stats().liveBytes ${stats.liveBytes}, model needs ${liveBytes}`);
    if (stats.deadBytes < 0 || stats.reclaimableBytes < 0 || stats.reclaimableBytes > stats.deadBytes) {
      this.fail(`impossible stats ${JSON.stringify(stats)}`);
    }

    const sorted = this.sortedModelKeys();
    this.compareWalk('keys()', [...st.keys()].map(s), sorted);
    this.compareWalk('keys({reverse})', [...st.keys({ reverse: true })].map(s), [...sorted].reverse());
    for (let i = 0; i < 2; i++) {
      const pivot = this.rng.int(3) === 0 && sorted.length > 0 ? this.pick(sorted) : this.pick(this.pool);
      const inclusive = this.rng.int(2) === 0;
      const reverse = this.rng.int(2) === 0;
      const expected = reverse
        ? sorted.filter((k) => (inclusive ? k <= pivot : k < pivot)).reverse()
        : sorted.filter((k) => (inclusive ? k >= pivot : k > pivot));
      const actual = [...st.keys({ from: b(pivot), inclusive, reverse })].map(s);
      this.compareWalk(`keys({from: ${JSON.stringify(pivot)}, inclusive: ${inclusive}, reverse: ${reverse}})`, actual, expected);
    }
  }

  private compareWalk(what: string, actual: string[], expected: string[]): void {
    const n = Math.max(actual.length, expected.length);
    for (let i = 0; i < n; i++) {
      if (actual[i] !== expected[i]) {
        this.fail(`${what}: at position ${i} got ${JSON.stringify(actual[i])}, expected ${JSON.stringify(expected[i])} (${actual.length} vs ${expected.length} keys)`);
      }
    }
  }

  /** A merge's report adds up; one that ran alone leaves nothing to reclaim. */
  private checkMergeResult(r: MergeResult, alone: boolean): void {
    if (r.inputFiles > 0 && r.reclaimedBytes !== r.inputBytes - r.outputBytes) this.fail(`merge result inconsistent: ${JSON.stringify(r)}`);
    if (!alone) return; // writes may have run after the swap: no exact expectations
    if (r.liveKeys > this.model.size) this.fail(`merge copied ${r.liveKeys} live keys, model has ${this.model.size}`);
    const reclaimable = this.store.stats().reclaimableBytes;
    if (reclaimable !== 0) this.fail(`${reclaimable} reclaimable bytes right after a merge: ${JSON.stringify(r)}`);
  }

  private checkNoTmp(): void {
    // The active file's hint is being written (as .hint.tmp) while the store is open.
    const active = dataFiles(this.dir).at(-1)?.replace(/\.data$/, '.hint.tmp');
    const left = tmpFiles(this.dir).filter((n) => n !== active);
    if (left.length > 0) this.fail(`temporary files left after open: ${left.join(', ')}`);
    const names = fs.readdirSync(this.dir);
    for (const n of names) {
      if (n.endsWith('.hint') && !names.includes(n.replace(/\.hint$/, '.data'))) this.fail(`orphan hint ${n} after open`);
    }
  }

  private fail(msg: string): never {
    throw new ModelMismatch(`seed ${this.seed}, op ${this.op}: ${msg}`, this.where());
  }

  // ---- model and generators ----

  private setModel(key: string, value: Buffer): void {
    if (!this.model.has(key)) this.sortedCache = undefined;
    this.model.set(key, value);
  }

  private deleteModel(key: string): void {
    if (this.model.delete(key)) this.sortedCache = undefined;
  }

  private sortedModelKeys(): string[] {
    this.sortedCache ??= [...this.model.keys()].sort();
    return this.sortedCache;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)]!;
  }

  private pickAbsent(): string | undefined {
    for (let i = 0; i < 8; i++) {
      const k = this.pick(this.pool);
      if (!this.model.has(k)) return k;
    }
    return undefined;
  }

  /** Keys: the empty key, prefixes of each other, 0x00 and 0xff bytes, ASCII, random binary, one long key. */
  private makePool(): string[] {
    const keys = new Set<string>(['', '\x00', '\xff', '\x00\x00', 'a', 'a\x00', 'a\xff', 'ab', '\xff\xff\xff']);
    for (let i = 0; i < 4; i++) keys.add(`key:${i}`);
    while (keys.size < 17) {
      const len = 1 + this.rng.int(12);
      let k = '';
      for (let j = 0; j < len; j++) k += String.fromCharCode(this.rng.int(256));
      keys.add(k);
    }
    keys.add('L'.repeat(300 + this.rng.int(200)));
    return [...keys];
  }

  private valueSize(): number {
    const r = this.rng.int(100);
    if (r < 6) return 0;
    if (r < 60) return 1 + this.rng.int(32);
    if (r < 88) return 33 + this.rng.int(600);
    if (r < 98) return 600 + this.rng.int(Math.floor(this.opts.maxFileSize! / 2));
    return this.bigSize();
  }

  /** Larger than a whole data file. */
  private bigSize(): number {
    return this.opts.maxFileSize! + 1 + this.rng.int(this.opts.maxFileSize!);
  }

  /** Distinct bytes: a seeded pattern with the op number in front. */
  private value(size: number): Buffer {
    const v = Buffer.allocUnsafe(size);
    let x = this.rng.int(0x7fffffff) | 1;
    for (let i = 0; i < size; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      v[i] = x >>> 24;
    }
    if (size >= 4) v.writeUInt32LE(this.op, 0);
    return v;
  }
}

for (const seed of SEEDS) {
  t.test(`seed ${seed}: ${OPS} random ops match the model`, async (t) => {
    const run = new ModelRun(seed, fastTmpDir(t, `bitcask-model-${seed}-`));
    t.teardown(() => run.store?.close().catch(() => undefined));
    try {
      await run.run(OPS);
    } catch (err) {
      if (err instanceof ModelMismatch) t.fail(err.message, { diagnostic: true, ...err.diagnostic });
      else t.fail(`seed ${seed}, op ${run.op}: unexpected error ${String(err)}`, { diagnostic: true, error: err, ...run.where() });
      return;
    }
    t.pass(`seed ${seed}: ${OPS} ops, ${run.model.size} keys at the end`);
  });
}
