/**
 * Tests of point-in-time views (`Bitcask.openView`, store-view.ts): a view gives exactly
 * the keys and values of its moment while writes, rotations and merges go on — checked
 * against a model over random operations — and holds the files it reads until closed.
 *
 * Replay one seed of the model test with BITCASK_VIEW_SEED=3 (BITCASK_VIEW_OPS changes
 * the op count).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Bitcask, type BitcaskOptions, type StoreView, type ViewRecord } from '../../../src/core/bitcask/index.js';
import { NO_FILE } from '../../../src/core/bitcask/keydir.js';
import { offsetsByFile, sortUint32 } from '../../../src/core/bitcask/store-view.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { CorruptionError, hasCode } from '../../../src/core/support/errors.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { b, dataFiles, diffContents, fastTmpDir, nextTurn, printable, readAll, s } from '../../helpers/bitcask.js';

const OPTS: BitcaskOptions = { maxFileSize: 2048, sync: 'none', clock: manualClock(1_700_000_000_000) };

async function open(t: Test, dir: string, opts: BitcaskOptions = {}): Promise<Bitcask> {
  const store = await Bitcask.open(dir, { ...OPTS, ...opts });
  t.teardown(() => store.close().catch(() => undefined));
  return store;
}

/** Every record of a view as key → value; fails the test on a key given twice. */
async function drain(t: Test, view: StoreView, opts?: Parameters<StoreView['batches']>[0]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const batch of view.batches(opts)) add(t, out, batch);
  return out;
}

function add(t: Test, out: Map<string, Buffer>, batch: ViewRecord[]): void {
  for (const { key, value } of batch) {
    const k = s(key);
    if (out.has(k)) t.fail(`${JSON.stringify(k)} given twice`);
    out.set(k, Buffer.from(value));
  }
}

function value(tag: number, size: number): Buffer {
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = (tag * 131 + i * 7) & 0xff;
  return v;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

t.test('a view gives the contents of its moment, whatever is written after', async (t) => {
  const store = await open(t, fastTmpDir(t));
  const model = new Map<string, Buffer>();
  const put = (k: string, v: Buffer): void => {
    store.put(b(k), v);
    model.set(k, v);
  };
  for (let i = 0; i < 60; i++) put(`k${i}`, value(i, 20 + (i % 30)));
  put('', value(99, 3));
  put('\x00\xff\x80', Buffer.alloc(0));
  put('empty', Buffer.alloc(0));
  store.delete(b('k7'));
  model.delete('k7');
  const view = store.openView();
  t.equal(view.size, model.size, 'size is the live keys at open');
  t.equal(view.isClosed, false);
  // Updates, deletes, re-inserts, new keys, rotations after the view opened.
  store.put(b('k1'), b('changed'));
  store.delete(b('k2'));
  store.delete(b('k3'));
  store.put(b('k3'), b('back'));
  store.put(b('k7'), b('was deleted before'));
  store.put(b('brand-new'), b('x'));
  store.delete(b(''));
  store.rotate();
  store.put(b('\x00\xff\x80'), b('no longer empty'));
  const got = await drain(t, view);
  t.equal(diffContents(got, model), undefined, 'exactly the contents at open');
  t.equal(view.isClosed, true, 'closed once walked');
  t.equal(store.get(b('k1'))!.toString(), 'changed', 'the store itself moved on');
});

t.test('batches respect maxKeys and maxBytes, and yield to the event loop between them', async (t) => {
  const store = await open(t, fastTmpDir(t), { maxFileSize: 1 << 20 });
  for (let i = 0; i < 100; i++) store.put(b(`k${String(i).padStart(3, '0')}`), value(i, 96));
  const sizes: number[] = [];
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const view = store.openView();
  const got = new Map<string, Buffer>();
  for await (const batch of view.batches({ maxKeys: 7 })) {
    sizes.push(batch.length);
    add(t, got, batch);
  }
  clearInterval(ticker);
  t.same(sizes, [...Array<number>(14).fill(7), 2]);
  t.equal(got.size, 100);
  t.ok(turns > 0, 'timers ran between batches');
  // 4 + 96 bytes a record: a batch ends once it holds 1000 bytes or more.
  const bySize: number[] = [];
  for await (const batch of store.openView().batches({ maxBytes: 1000 })) bySize.push(batch.length);
  t.same(bySize, [...Array<number>(10).fill(10)]);
  const defaults: number[] = [];
  for await (const batch of store.openView().batches()) defaults.push(batch.length);
  t.same(defaults, [100], 'defaults: 4096 keys, 1 MiB');
  const tiny: number[] = [];
  for await (const batch of store.openView().batches({ maxKeys: 0, maxBytes: 0 })) tiny.push(batch.length);
  t.equal(tiny.length, 100, 'limits below 1 mean one record a batch');
});

t.test('an empty store gives no batch', async (t) => {
  const store = await open(t, fastTmpDir(t));
  const view = store.openView();
  t.equal(view.size, 0);
  let batches = 0;
  for await (const _ of view.batches()) batches++;
  t.equal(batches, 0);
  t.equal(view.isClosed, true);
});

t.test('two views at once, each of its own moment', async (t) => {
  const store = await open(t, fastTmpDir(t));
  const m1 = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) {
    store.put(b(`k${i}`), value(i, 30));
    m1.set(`k${i}`, value(i, 30));
  }
  const v1 = store.openView();
  const m2 = new Map(m1);
  for (let i = 0; i < 40; i += 3) {
    store.delete(b(`k${i}`));
    m2.delete(`k${i}`);
  }
  for (let i = 1; i < 40; i += 3) {
    store.put(b(`k${i}`), value(100 + i, 10));
    m2.set(`k${i}`, value(100 + i, 10));
  }
  const v2 = store.openView();
  const g1 = v1.batches({ maxKeys: 5 });
  const g2 = v2.batches({ maxKeys: 5 });
  const got1 = new Map<string, Buffer>();
  const got2 = new Map<string, Buffer>();
  // Interleave the walks with more writes.
  for (let round = 0; ; round++) {
    const [a, c] = await Promise.all([g1.next(), g2.next()]);
    if (!a.done) add(t, got1, a.value);
    if (!c.done) add(t, got2, c.value);
    store.put(b(`k${round % 40}`), value(200 + round, 5));
    store.delete(b(`k${(round * 7) % 40}`));
    if (a.done && c.done) break;
  }
  t.equal(diffContents(got1, m1), undefined, 'first view');
  t.equal(diffContents(got2, m2), undefined, 'second view');
});

t.test('a view reads values still in the active file write buffer, and sealed files', async (t) => {
  const store = await open(t, fastTmpDir(t), { maxFileSize: 1 << 20 });
  store.put(b('a'), b('buffered'));
  const big = value(1, 3 << 20 >> 1);
  store.put(b('big'), big);
  const view = store.openView();
  store.rotate();
  store.put(b('a'), b('later'));
  const got = await drain(t, view);
  t.same(printable(got), printable(new Map([['a', b('buffered')], ['big', big]])));
});

t.test('walking a view once only; a closed view fails with CLOSED', async (t) => {
  const store = await open(t, fastTmpDir(t));
  store.put(b('a'), b('1'));
  store.put(b('b'), b('2'));
  const view = store.openView();
  const gen = view.batches({ maxKeys: 1 });
  const first = await gen.next();
  t.equal((first.value as ViewRecord[]).length, 1);
  const again = await rejection(view.batches().next());
  t.ok(hasCode(again, 'INVALID_ARGUMENT'), 'a second walk is refused');
  view.close();
  view.close();
  t.equal(view.isClosed, true);
  const err = await rejection(gen.next());
  t.ok(hasCode(err, 'CLOSED'), 'the walk in progress stops with CLOSED');
  const closed = store.openView();
  closed.close();
  t.ok(hasCode(await rejection(closed.batches().next()), 'CLOSED'), 'a view closed before its walk');
  await closed.closed;
});

t.test('a consumer that stops early closes the view', async (t) => {
  const store = await open(t, fastTmpDir(t));
  for (let i = 0; i < 10; i++) store.put(b(`k${i}`), b('v'));
  const view = store.openView();
  for await (const batch of view.batches({ maxKeys: 2 })) {
    t.equal(batch.length, 2);
    break;
  }
  t.equal(view.isClosed, true);
});

t.test('a corrupt record fails the walk with CORRUPT and closes the view', async (t) => {
  const dir = fastTmpDir(t);
  const store = await open(t, dir, { maxFileSize: 1 << 20 });
  store.put(b('a'), value(1, 50));
  store.rotate();
  const file = path.join(dir, dataFiles(dir)[0]!);
  const bytes = fs.readFileSync(file);
  bytes[30]! ^= 0xff;
  fs.writeFileSync(file, bytes);
  const view = store.openView();
  const err = await rejection(drain(t, view));
  t.ok(err instanceof CorruptionError, 'CorruptionError');
  t.equal((err as CorruptionError).file, file);
  t.equal(view.isClosed, true);
  // A damaged record larger than one read, read on its own.
  const bigDir = fastTmpDir(t);
  const big = await open(t, bigDir, { maxFileSize: 8 << 20 });
  big.put(b('big'), value(3, 2 << 20));
  big.rotate();
  const bigFile = path.join(bigDir, dataFiles(bigDir)[0]!);
  const fd = fs.openSync(bigFile, 'r+');
  fs.writeSync(fd, Buffer.from([0x55]), 0, 1, 1 << 20);
  fs.closeSync(fd);
  const err3 = await rejection(drain(t, big.openView()));
  t.match((err3 as CorruptionError).message, /record checksum mismatch/);
  // A record cut short reads as corrupt too.
  fs.truncateSync(file, 10);
  const err2 = await rejection(drain(t, store.openView()));
  t.match((err2 as CorruptionError).message, /cut short/);
});

t.test('closing the store closes its views; their walks fail with CLOSED', async (t) => {
  const dir = fastTmpDir(t);
  const store = await Bitcask.open(dir, OPTS);
  for (let i = 0; i < 20; i++) store.put(b(`k${i}`), b('v'));
  const walking = store.openView();
  const idle = store.openView();
  const gen = walking.batches({ maxKeys: 3 });
  await gen.next();
  await store.close();
  t.equal(walking.isClosed, true);
  t.equal(idle.isClosed, true);
  const err = await rejection(gen.next());
  t.ok(hasCode(err, 'CLOSED'), 'the walk fails with CLOSED');
  t.match((err as Error).message, /store is closed/);
  t.ok(hasCode(await rejection(idle.batches().next()), 'CLOSED'), 'a view not walked yet too');
  t.throws(() => store.openView(), { code: 'CLOSED' }, 'no view of a closed store');
});

t.test('openView while the store is closing is refused', async (t) => {
  const store = await Bitcask.open(fastTmpDir(t), OPTS);
  const closing = store.close();
  t.throws(() => store.openView(), { code: 'CLOSED' });
  await closing;
});

t.test('a read-only store has views too', async (t) => {
  const dir = fastTmpDir(t);
  const w = await Bitcask.open(dir, OPTS);
  w.put(b('a'), b('1'));
  await w.close();
  const ro = await open(t, dir, { readOnly: true });
  t.same(printable(await drain(t, ro.openView())), printable(new Map([['a', b('1')]])));
});

/** A store with several sealed files of overwritten and deleted keys, and its model. */
async function filled(t: Test, dir: string): Promise<{ store: Bitcask; model: Map<string, Buffer> }> {
  const store = await open(t, dir, { maxFileSize: 512 });
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 200; i++) {
    const k = `k${i % 37}`;
    const v = value(i, 10 + (i % 23));
    store.put(b(k), v);
    model.set(k, v);
    if (i % 9 === 0 && store.delete(b(`k${(i * 7) % 37}`))) model.delete(`k${(i * 7) % 37}`);
  }
  store.rotate();
  return { store, model };
}

t.test('a merge started after a view opened keeps its inputs until the view closes', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await filled(t, dir);
  const before = dataFiles(dir);
  const view = store.openView();
  let merged = false;
  const merge = store.merge().then((r) => {
    merged = true;
    return r;
  });
  for (let i = 0; i < 50 && !merged; i++) await nextTurn();
  t.equal(merged, false, 'the merge waits for the view');
  t.equal(diffContents(readAll(store), model), undefined, 'the store reads the merged copies meanwhile');
  for (const name of before) t.ok(fs.existsSync(path.join(dir, name)), `${name} still there`);
  const got = await drain(t, view);
  t.equal(diffContents(got, model), undefined, 'the view reads its moment from the inputs');
  const r = await merge;
  t.ok(r.inputFiles > 2, `${r.inputFiles} inputs`);
  t.notOk(before.slice(0, -1).some((name) => fs.existsSync(path.join(dir, name))), 'inputs deleted once the view closed');
});

t.test('a view opened while a merge copies reads correct values; views opened after its switch do not hold it', async (t) => {
  const dir = fastTmpDir(t);
  const { store, model } = await filled(t, dir);
  const snapModel = new Map(model);
  let view: StoreView | undefined;
  let late: StoreView | undefined;
  const merge = store.merge({
    yieldEveryBytes: 64,
    onStep: (step) => {
      if (step === 'outputs-written') {
        // Writes during the merge, seen by neither view.
        store.put(b('k1'), b('after'));
        store.delete(b('k2'));
      }
      if (step === 'keydir-swapped') late = store.openView();
    },
  });
  await nextTurn();
  view = store.openView();
  const lateDone = merge.then(async (r) => {
    t.ok(late!.size > 0);
    late!.close();
    return r;
  });
  await nextTurn();
  const got = await drain(t, view);
  t.equal(diffContents(got, snapModel), undefined, 'the view reads its moment');
  await lateDone;
  view = undefined;
});

t.test('closing the store while a merge waits for a view does not hang', async (t) => {
  const dir = fastTmpDir(t);
  const store = await Bitcask.open(dir, { ...OPTS, maxFileSize: 512 });
  for (let i = 0; i < 100; i++) store.put(b(`k${i % 20}`), value(i, 40));
  store.rotate();
  const view = store.openView();
  let swapped!: () => void;
  const atSwap = new Promise<void>((resolve) => (swapped = resolve));
  // Past the switch, the merge waits for the view before it deletes its inputs.
  const merge = store.merge({ onStep: (step) => void (step === 'keydir-swapped' && swapped()) });
  await atSwap;
  await store.close();
  t.equal(view.isClosed, true);
  const r = await merge;
  t.ok(r.inputFiles > 0, 'the merge finished once the view was closed');
  const reopened = await open(t, dir, OPTS);
  t.equal(reopened.size, 20);
});

t.test('sortUint32 sorts short and long arrays, whatever their order and range', async (t) => {
  const rng = seededRng(9);
  for (const n of [0, 1, 5, 2047, 2048, 5000, 70_000]) {
    for (const kind of ['random', 'sorted', 'reversed', 'high bits', 'few values']) {
      const a = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        a[i] =
          kind === 'random' ? rng.int(2 ** 32)
          : kind === 'sorted' ? i * 3
          : kind === 'reversed' ? n - i
          : kind === 'high bits' ? 0xffff0000 + rng.int(65536)
          : rng.int(3) * 0x10001;
      }
      const expected = Float64Array.from(a).sort();
      sortUint32(a, new Uint32Array(n + 10));
      t.ok(
        a.every((v, i) => v === expected[i]),
        `${n} ${kind}`,
      );
    }
  }
});

t.test('offsetsByFile groups live locations by file, each group in offset order', async (t) => {
  const files = Uint32Array.from([2, 0, NO_FILE, 2, 0, 2]);
  const offsets = Uint32Array.from([50, 10, 999, 5, 3, 70]);
  const { starts, offsets: sorted } = offsetsByFile({ files, offsets, size: 5 }, 4);
  t.same([...starts], [0, 2, 2, 5, 5]);
  t.same([...sorted], [3, 10, 5, 50, 70]);
});

t.test('a view over many records of one file, shuffled by updates, reads each once', async (t) => {
  const store = await open(t, fastTmpDir(t), { maxFileSize: 8 << 20 });
  const rng = seededRng(4);
  const model = new Map<string, Buffer>();
  for (let i = 0; i < 6000; i++) {
    store.put(b(`key-${i}`), value(i, rng.int(200)));
    model.set(`key-${i}`, value(i, 0));
  }
  for (let i = 0; i < 3000; i++) {
    const k = `key-${rng.int(6000)}`;
    const v = value(10_000 + i, rng.int(300));
    store.put(b(k), v);
    model.set(k, v);
  }
  for (const [k] of model) model.set(k, store.get(b(k))!);
  store.put(b('huge'), value(7, 3 << 20)); // larger than one read
  model.set('huge', value(7, 3 << 20));
  const view = store.openView();
  store.put(b('key-1'), b('after'));
  t.equal(diffContents(await drain(t, view, { maxKeys: 500 }), model), undefined);
});

// ---- model test ----

const SEEDS = process.env.BITCASK_VIEW_SEED ? process.env.BITCASK_VIEW_SEED.split(',').map(Number) : [1, 2, 3, 4, 5, 6];
const OPS = Number(process.env.BITCASK_VIEW_OPS ?? 3000);

interface OpenView {
  id: number;
  view: StoreView;
  gen: AsyncGenerator<ViewRecord[]>;
  expected: Map<string, Buffer>;
  got: Map<string, Buffer>;
}

/** One seeded run: random writes, rotations, merges (awaited and in the background) and view steps. */
class ViewModelRun {
  readonly rng: Rng;
  readonly model = new Map<string, Buffer>();
  readonly deleted: string[] = [];
  readonly views: OpenView[] = [];
  merge: Promise<unknown> | undefined;
  checked = 0;
  private nextId = 0;
  private readonly history: string[] = [];

  constructor(
    readonly t: Test,
    readonly seed: number,
    readonly store: Bitcask,
  ) {
    this.rng = seededRng(seed);
  }

  async run(ops: number): Promise<void> {
    for (let op = 0; op < ops; op++) await this.step(op);
    while (this.views.length > 0) await this.finish(0);
    await this.merge;
    this.t.equal(diffContents(readAll(this.store), this.model), undefined, `seed ${this.seed}: store contents at the end`);
  }

  private key(): string {
    const n = this.rng.int(120);
    // Binary keys, the empty key and prefixes of each other.
    return n === 0 ? '' : n === 1 ? '\x00' : n === 2 ? '\xff\x00' : `k${n}`;
  }

  private log(what: string): void {
    this.history.push(what);
    if (this.history.length > 30) this.history.shift();
  }

  private async step(op: number): Promise<void> {
    const r = this.rng.int(100);
    if (r < 35) {
      const k = this.rng.int(4) === 0 && this.deleted.length > 0 ? this.deleted[this.rng.int(this.deleted.length)]! : this.key();
      const v = value(op, this.rng.int(8) === 0 ? 0 : this.rng.int(150));
      this.log(`put ${JSON.stringify(k)}`);
      this.store.put(b(k), v);
      this.model.set(k, v);
    } else if (r < 55) {
      const k = this.key();
      this.log(`delete ${JSON.stringify(k)}`);
      if (this.store.delete(b(k))) this.deleted.push(k);
      this.model.delete(k);
    } else if (r < 60) {
      this.log('rotate');
      this.store.rotate();
    } else if (r < 63) {
      if (this.merge) return;
      const background = this.rng.int(2) === 0;
      this.log(`merge${background ? ' (background)' : ''}`);
      const run = this.store.merge({ yieldEveryBytes: 64 + this.rng.int(2048) }).finally(() => {
        if (this.merge === run) this.merge = undefined;
      });
      this.merge = run;
      // A merge waits for the views opened before its switch: awaiting it here could hang.
      if (!background && this.views.length === 0) await run;
    } else if (r < 70) {
      if (this.views.length >= 3) return;
      const view = this.store.openView();
      const id = this.nextId++;
      this.log(`open view ${id}`);
      this.views.push({ id, view, gen: view.batches({ maxKeys: 1 + this.rng.int(16) }), expected: new Map(this.model), got: new Map() });
    } else if (r < 90) {
      if (this.views.length === 0) return;
      const v = this.views[this.rng.int(this.views.length)]!;
      this.log(`step view ${v.id}`);
      const next = await v.gen.next();
      if (next.done) await this.finish(this.views.indexOf(v));
      else add(this.t, v.got, next.value);
    } else if (r < 93) {
      if (this.views.length === 0) return;
      await this.finish(this.rng.int(this.views.length));
    } else if (r < 95) {
      if (this.views.length === 0) return;
      const i = this.rng.int(this.views.length);
      const v = this.views.splice(i, 1)[0]!;
      this.log(`close view ${v.id} early`);
      v.view.close();
      const err = await rejection(v.gen.next());
      // Only a walk that gave its last batch already may end normally.
      const complete = err === undefined && v.got.size === v.expected.size;
      if (!complete && !hasCode(err, 'CLOSED')) this.t.fail(`seed ${this.seed}: a closed view's walk ended with ${String(err)}`);
    } else {
      this.log('turn');
      await nextTurn();
    }
  }

  private async finish(i: number): Promise<void> {
    const v = this.views.splice(i, 1)[0]!;
    this.log(`finish view ${v.id}`);
    for await (const batch of { [Symbol.asyncIterator]: () => v.gen }) add(this.t, v.got, batch);
    if (v.view.size !== v.expected.size) this.t.fail(`seed ${this.seed}: view ${v.id} size ${v.view.size}, expected ${v.expected.size}`);
    const diff = diffContents(v.got, v.expected);
    if (diff) this.t.fail(`seed ${this.seed}: view ${v.id}: ${diff}`, { lastOps: this.history });
    this.checked++;
  }
}

t.test('views give exactly their moment under random writes, rotations and merges', async (t) => {
  for (const seed of SEEDS) {
    const store = await open(t, fastTmpDir(t, 'bitcask-view-model-'), { maxFileSize: 1024 + seededRng(seed).int(4096) });
    const run = new ViewModelRun(t, seed, store);
    await run.run(OPS);
    t.ok(run.checked > 20, `seed ${seed}: ${run.checked} views checked`);
    await store.close();
  }
});
