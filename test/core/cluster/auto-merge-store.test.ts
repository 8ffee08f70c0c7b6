/**
 * The automatic merge against a real Bitcask store, racing what else a node does with
 * it: a snapshot view being read, a snapshot install (`replaceAll`), the store closing,
 * a full disk. After each, every key reads its latest value, before and after a reopen.
 */
import fs from 'node:fs';
import t from 'tap';
import type { Bitcask, BitcaskOptions, ReplaceRecord } from '../../../src/core/bitcask/index.js';
import { AutoMerger, type MergeOutcome } from '../../../src/core/cluster/auto-merge.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { b, contentsOf, dataFiles, diffContents, overwrittenStore, readAll, tmpFiles } from '../../helpers/bitcask.js';
import { ioError, patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const OPTS: BitcaskOptions = { maxFileSize: 2048, sync: 'none', clock: manualClock(1_700_000_000_000) };


/**
 * An AutoMerger over `store` that triggers on any dead bytes; its waits take a real turn
 * of the event loop each (and move a fake clock), so the test can act between slices.
 */
function merger(store: Bitcask, over: { bytesPerSecond?: number; freeBytes?: () => number; minFreeBytes?: number } = {}) {
  const clock = manualClock(0);
  const logger = memoryLogger();
  let waits = 0;
  const m = new AutoMerger({
    deadRatio: 0.1,
    minDeadBytes: 0,
    bytesPerSecond: over.bytesPerSecond ?? 1 << 20,
    checkIntervalMs: 1000,
    store,
    logger,
    ticker: { start: () => {}, stop: () => {} },
    now: () => clock.now(),
    sleep: (ms) => {
      waits++;
      clock.advance(ms);
      return new Promise((resolve) => setImmediate(resolve));
    },
    freeBytes: over.freeBytes,
    minFreeBytes: over.minFreeBytes,
  });
  return { merger: m, logger, waits: () => waits };
}

/** Turns of the event loop until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setImmediate(resolve));
}

t.test('a merge during a snapshot view: the view reads its point in time, the inputs go once it is closed', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 150, 3);
  const snapshot = new Map(model);
  const inputs = dataFiles(dir).slice(0, -1);
  const view = store.openView();
  const { merger: m } = merger(store);
  const running = m.check()!;
  t.ok(running, 'the dead bytes trigger a merge');
  store.put(b('k0'), b('written during the merge'));
  model.set('k0', b('written during the merge'));
  // Once the merge's outputs are in place, only the open view keeps the inputs.
  await until(() => dataFiles(dir).some((f) => /^\d+\.\d+\.data$/.test(f)));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.ok(
    inputs.every((f) => dataFiles(dir).includes(f)),
    'the inputs are kept while the view is open',
  );
  const seen = new Map<string, Buffer>();
  for await (const batch of view.batches({ maxKeys: 10 })) for (const r of batch) seen.set(r.key.toString('latin1'), Buffer.from(r.value));
  t.equal(diffContents(seen, snapshot), undefined, 'the view sees the store as it was when opened (the walk closes it)');
  const outcome = await running;
  t.equal(outcome.kind, 'done');
  t.same(
    inputs.filter((f) => dataFiles(dir).includes(f)),
    [],
    'and deleted once it is closed',
  );
  t.equal(diffContents(readAll(store), model), undefined, 'the store, with the write made during the merge');
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'and after a reopen');
});

t.test('a snapshot install abandons a running merge and goes ahead; the new contents stand', async (t) => {
  const dir = tmpDir(t);
  const { store } = await overwrittenStore(t, dir, OPTS, 150, 3);
  const { merger: m, logger, waits } = merger(store, { bytesPerSecond: 2048 });
  const running = m.check()!;
  await until(() => waits() >= 3);
  t.equal(m.status().inProgress, true, 'the merge is under way (and slow)');
  const fresh: ReplaceRecord[] = Array.from({ length: 20 }, (_, i) => ({ key: b(`new${i}`), value: b(`v${i}`) }));
  const replaced = store.replaceAll(
    (async function* () {
      yield fresh;
    })(),
  );
  t.equal(store.isReplacing, true, 'the store says a replace waits');
  const outcome: MergeOutcome = await running;
  t.same(outcome.kind === 'abandoned' && outcome.reason, 'a snapshot is being installed');
  t.equal(await replaced, 20);
  t.equal(store.isReplacing, false);
  const expected = new Map(fresh.map((r) => [Buffer.from(r.key).toString('latin1'), Buffer.from(r.value)]));
  t.equal(diffContents(readAll(store), expected), undefined, 'the snapshot contents, nothing of the old');
  t.match(logger.lines.at(-1), /^info: merge: abandoned after [\d.]+ s: a snapshot is being installed$/);
  await store.close();
  t.same(tmpFiles(dir), [], 'no temporary files left');
  t.equal(diffContents(await contentsOf(dir, OPTS), expected), undefined, 'and after a reopen');
});

t.test('the store closing abandons a running merge; the directory reopens whole', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 150, 3);
  const before = dataFiles(dir);
  const { merger: m, waits } = merger(store, { bytesPerSecond: 2048 });
  const running = m.check()!;
  await until(() => waits() >= 3);
  const closed = store.close();
  const outcome = await running;
  t.same(outcome.kind === 'abandoned' && outcome.reason, 'the node is stopping');
  await closed;
  t.same(dataFiles(dir), before, 'the inputs kept, the outputs gone');
  t.same(tmpFiles(dir), []);
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});

t.test('a full disk fails the merge without losing anything; it is retried after the back-off and succeeds', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 150, 3);
  const before = dataFiles(dir);
  // Writes to the merge's temporary outputs fail as on a full disk.
  const outputs = new Set<number>();
  const { openSync, writeSync } = fs;
  const restoreOpen = patch(t, fs, 'openSync', ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (openSync as (...a: unknown[]) => number)(file, ...rest);
    if (String(file).endsWith('.data.tmp')) outputs.add(fd);
    return fd;
  }) as typeof fs.openSync);
  const restoreWrite = patch(t, fs, 'writeSync', ((fd: number, ...rest: unknown[]) => {
    if (outputs.has(fd)) throw ioError('ENOSPC');
    return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync);
  const restore = (): void => {
    restoreOpen();
    restoreWrite();
  };
  const { merger: m, logger } = merger(store);
  const failed = await m.check()!;
  t.equal(failed.kind, 'failed');
  t.match(logger.lines.at(-1), /^warn: merge failed after [\d.]+ s, nothing changed: ENOSPC: injected; next attempt in 2\.0 s$/);
  t.same(dataFiles(dir), before, 'the inputs stay');
  t.equal(diffContents(readAll(store), model), undefined, 'every key reads its latest value');
  t.equal(m.check(), undefined, 'no attempt before the back-off ends');
  restore();
  t.equal(m.check(), undefined, 'space back, but still backing off');
  const outcome = await m.mergeNow('asked');
  t.equal(outcome.kind, 'done', 'the next attempt succeeds');
  t.ok(outcome.kind === 'done' && outcome.result.reclaimedBytes > 0);
  await store.close();
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});

t.test('free space below the reserve stops a running merge', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 150, 3);
  let free = 1 << 30;
  const { merger: m, waits } = merger(store, { bytesPerSecond: 2048, freeBytes: () => free, minFreeBytes: 1 << 20 });
  const running = m.check()!;
  await until(() => waits() >= 2);
  free = 1000;
  const outcome = await running;
  t.equal(outcome.kind, 'failed');
  t.match(outcome.kind === 'failed' && outcome.error, /^not enough free space: 0\.0 MiB free, and 1\.0 MiB must stay free/);
  t.equal(diffContents(readAll(store), model), undefined);
});
