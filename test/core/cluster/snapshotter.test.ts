/**
 * Tests of Snapshotter (snapshotter.ts) with a real SnapshotStore in a temp dir and
 * scripted collaborators: snapshots are due by entry count or log size; a snapshot
 * captures the view opened at rest with the index, term and membership then; the log
 * is compacted behind it keeping the tail, never past the saved applied index; on-demand
 * snapshots wait for a running one and reuse an up-to-date one; failures back off;
 * RAFTSHRINKLOG needs a snapshot; stop abandons a running snapshot.
 */
import t from 'tap';
import type { StoreView } from '../../../src/core/bitcask/index.js';
import { SNAPSHOT_RETRY_MS, Snapshotter, type SnapshotPolicy } from '../../../src/core/cluster/snapshotter.js';
import type { ConfState } from '../../../src/core/raft/types.js';
import { SnapshotStore, type StateRecord } from '../../../src/core/snapshot/index.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const CONF: ConfState = { voters: ['a:1'], learners: [] };
const rec = (k: string, v: string): StateRecord => ({ key: Buffer.from(k), value: Buffer.from(v) });

/** A view that yields `records` once `gate` resolves (immediately by default). */
function fakeView(records: StateRecord[], gate: Promise<void> = Promise.resolve(), fail?: unknown): StoreView & { closed: number } {
  const view = {
    closed: 0,
    size: records.length,
    expiring: [],
    async *batches(): AsyncGenerator<StateRecord[]> {
      await gate;
      if (fail !== undefined) throw fail;
      yield records;
    },
    close(): void {
      view.closed++;
    },
  };
  return view as unknown as StoreView & { closed: number };
}

interface Rig {
  snapshotter: Snapshotter;
  snapshots: SnapshotStore;
  driver: { applied: number; atRest(fn: () => void): void; busy: boolean; queued: (() => void)[]; rest(): void };
  log: { first: number; bytes: number; compactions: [number, ConfState][]; term(i: number): number; bytesAfter(i: number): number; snapshot(): { index: number }; compact(i: number, c: ConfState): void; failCompact?: Error };
  checkpoint: { savedIndex: number; saves: number; save(): Promise<void> };
  views: ReturnType<typeof fakeView>[];
  nextView: () => ReturnType<typeof fakeView>;
  logger: ReturnType<typeof memoryLogger>;
  clock: { now: number };
  /** Seconds of each snapshot written, as told to onSnapshot. */
  written: number[];
}

function rig(t: { teardown(fn: () => void): void }, policy: Partial<SnapshotPolicy> = {}, dir = tmpDir(t), logFirst = 0): Rig {
  const logger = memoryLogger();
  const clock = { now: 1_000_000 };
  const snapshots = new SnapshotStore(dir, { retain: 2, logger, clock: { now: () => clock.now++ } });
  const driver: Rig['driver'] = {
    applied: 0,
    busy: false,
    queued: [],
    atRest(fn) {
      if (driver.busy) driver.queued.push(fn);
      else fn();
    },
    rest() {
      driver.busy = false;
      for (const fn of driver.queued.splice(0)) fn();
    },
  };
  const log: Rig['log'] = {
    first: logFirst,
    bytes: 0,
    compactions: [],
    term: (i) => (i === 0 ? 0 : 2),
    bytesAfter: () => log.bytes,
    snapshot: () => ({ index: log.first }),
    compact(i, c) {
      if (log.failCompact) throw log.failCompact;
      log.compactions.push([i, c]);
      log.first = i;
    },
  };
  const checkpoint: Rig['checkpoint'] = {
    savedIndex: 0,
    saves: 0,
    save() {
      checkpoint.saves++;
      checkpoint.savedIndex = driver.applied;
      return Promise.resolve();
    },
  };
  const views: ReturnType<typeof fakeView>[] = [];
  const r: Rig = {
    snapshots,
    driver,
    log,
    checkpoint,
    views,
    logger,
    clock,
    nextView: () => fakeView([rec('k', 'v')]),
    snapshotter: undefined as unknown as Snapshotter,
    written: [],
  };
  r.snapshotter = new Snapshotter({
    openView: () => {
      const v = r.nextView();
      views.push(v);
      return v;
    },
    snapshots,
    log,
    driver,
    conf: () => CONF,
    checkpoint,
    policy: { entries: 100, logBytes: 1000, tail: 10, ...policy },
    logger,
    now: () => clock.now,
    onSnapshot: (seconds) => r.written.push(seconds),
  });
  return r;
}

/** Lets pending promise chains and file I/O run. */
async function settle(r: Rig): Promise<void> {
  for (let i = 0; i < 50 && (r.snapshotter.busy || i < 3); i++) await new Promise((res) => setTimeout(res, 5));
}

t.test('snapshots are due by entries applied or log bytes since the last one', async (t) => {
  const r = rig(t);
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 0, 'nothing applied');
  r.driver.applied = 99;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 0, 'below both thresholds');
  r.driver.applied = 100;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 1, 'by count');
  t.ok(r.snapshotter.busy);
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 1, 'one at a time');
  await settle(r);
  const [s] = r.snapshots.list();
  t.match(s!.meta, { index: 100, term: 2, conf: CONF, size: s!.meta.size });
  t.equal(r.snapshotter.lastSnapshotIndex, 100);
  t.equal(r.views[0]!.closed, 1, 'the view is closed');
  t.same(r.log.compactions, [[90, CONF]], 'compacted behind it, keeping the tail');
  t.equal(r.checkpoint.saves, 1, 'the store was made durable first');
  t.match(r.logger.lines.join('\n'), /snapshot 2-100-\d+ written: 1 keys/);
  t.match(r.logger.lines.join('\n'), /compacted the log up to index 90 \(90 entries\)/);

  r.driver.applied = 150;
  r.log.bytes = 999;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 1);
  r.log.bytes = 1000;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 2, 'by log size');
  await settle(r);
  t.equal(r.snapshots.list()[0]!.meta.index, 150);
});

t.test('thresholds of 0 turn automatic snapshots off', async (t) => {
  const r = rig(t, { entries: 0, logBytes: 0 });
  r.driver.applied = 1_000_000;
  r.log.bytes = 1 << 30;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 0);
});

t.test('compaction never passes the saved applied index', async (t) => {
  const r = rig(t);
  r.checkpoint.save = () => Promise.resolve();
  r.checkpoint.savedIndex = 40;
  r.driver.applied = 100;
  const s = await r.snapshotter.snapshotNow();
  t.equal(s.meta.index, 100);
  t.same(r.log.compactions, [[40, CONF]]);
  r.checkpoint.savedIndex = 5;
  t.equal(await r.snapshotter.shrinkLog(0), 0, 'nothing to drop below what is compacted');
});

t.test('snapshotNow waits for a running snapshot, reuses an up-to-date one, and needs something applied', async (t) => {
  const r = rig(t);
  await t.rejects(r.snapshotter.snapshotNow(), { code: 'NOT_FOUND', message: /nothing was applied yet/ });
  let open!: () => void;
  r.nextView = () => fakeView([rec('a', '1')], new Promise((res) => (open = res)));
  r.driver.applied = 100;
  r.snapshotter.maybeSnapshot();
  const waiting = r.snapshotter.snapshotNow();
  r.driver.applied = 120;
  r.nextView = () => fakeView([rec('a', '2')]);
  open();
  const s = await waiting;
  t.equal(s.meta.index, 120, 'after the running one, a new one of what was applied since');
  t.equal(r.snapshots.list().length, 2);
  const again = await r.snapshotter.snapshotNow();
  t.equal(again.path, s.path, 'nothing applied since: the newest is returned');
  t.equal(r.views.length, 2);

  // Asked while a Ready is being handled: runs at rest; joins a snapshot started meanwhile.
  r.driver.applied = 130;
  r.driver.busy = true;
  const atRest = r.snapshotter.snapshotNow();
  await new Promise((res) => setTimeout(res, 5));
  t.equal(r.views.length, 2, 'not before the driver is at rest');
  r.nextView = () => fakeView([rec('b', '1')]);
  r.driver.queued.unshift(() => r.snapshotter.maybeSnapshot());
  r.driver.applied = 230;
  r.driver.rest();
  t.equal((await atRest).meta.index, 230);
  t.equal(r.views.length, 3);
});

t.test('onSnapshot is told of each snapshot written, with the seconds it took; not of a failed one', async (t) => {
  const r = rig(t);
  let open!: () => void;
  r.nextView = () => fakeView([rec('a', '1')], new Promise((res) => (open = res)));
  r.driver.applied = 10;
  const taking = r.snapshotter.snapshotNow();
  await new Promise((res) => setTimeout(res, 5));
  r.clock.now += 2500;
  open();
  await taking;
  t.equal(r.written.length, 1);
  t.ok(r.written[0]! >= 2.5 && r.written[0]! < 2.6, `2.5 s and the store's own clock ticks (${r.written[0]})`);
  r.driver.applied = 20;
  r.nextView = () => fakeView([rec('a', '2')], Promise.resolve(), new Error('disk on fire'));
  await t.rejects(r.snapshotter.snapshotNow());
  t.equal(r.written.length, 1, 'a failed snapshot is not told');
});

t.test('forFollower sends the newest snapshot while the log continues after it, else takes a new one', async (t) => {
  const r = rig(t, { entries: 0, logBytes: 0, tail: 10 });
  r.driver.applied = 100;
  const first = await r.snapshotter.forFollower();
  t.equal(first.meta.index, 100, 'none yet: one is taken');
  t.equal(r.log.first, 90, 'and the log compacted behind it, keeping the tail');
  r.driver.applied = 150;
  t.equal((await r.snapshotter.forFollower()).path, first.path, 'entries applied since, but the log holds them: the same snapshot');
  t.equal(r.views.length, 1, 'no new snapshot written');
  t.equal(await r.snapshotter.shrinkLog(0), 10);
  t.equal((await r.snapshotter.forFollower()).path, first.path, 'the log compacted exactly to it still continues after it');
  r.log.first = 120;
  const fresh = await r.snapshotter.forFollower();
  t.equal(fresh.meta.index, 150, 'the log starts past it: a new one');
  t.equal(r.views.length, 2);

  // Asked while a snapshot is being written: that one, once done.
  let open!: () => void;
  r.nextView = () => fakeView([rec('a', '1')], new Promise((res) => (open = res)));
  r.driver.applied = 400;
  r.log.bytes = 0;
  const running = r.snapshotter.snapshotNow();
  while (r.views.length < 3) await new Promise((res) => setImmediate(res));
  t.ok(r.snapshotter.busy, 'a snapshot is being written');
  const asked = r.snapshotter.forFollower();
  open();
  t.equal((await asked).path, (await running).path, 'the running snapshot');
  t.equal(r.views.length, 3);
});

t.test('a failed snapshot is reported, cleaned up, and pauses automatic ones', async (t) => {
  const r = rig(t);
  r.nextView = () => fakeView([], Promise.resolve(), new Error('read error'));
  r.driver.applied = 100;
  await t.rejects(r.snapshotter.snapshotNow(), /read error/);
  t.equal(r.views[0]!.closed, 1);
  t.same(r.snapshots.list(), []);
  t.match(r.logger.lines.join('\n'), /snapshot at index 100 failed: read error/);
  r.nextView = () => fakeView([rec('k', 'v')]);
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 1, 'paused');
  r.clock.now += SNAPSHOT_RETRY_MS;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 2, 'retried after the pause');
  await settle(r);
  t.equal(r.snapshots.list().length, 1);

  const odd = rig(t);
  odd.nextView = () => fakeView([], Promise.resolve(), 'not an Error');
  odd.driver.applied = 7;
  await t.rejects(odd.snapshotter.snapshotNow());
  t.match(odd.logger.lines.join('\n'), /snapshot at index 7 failed: not an Error/);
  const broken = rig(t);
  broken.nextView = () => {
    throw new Error('store closed');
  };
  broken.driver.applied = 5;
  await t.rejects(broken.snapshotter.snapshotNow(), /store closed/);
  const failing = rig(t);
  failing.driver.applied = 50;
  failing.log.failCompact = new Error('log gone');
  await t.rejects(failing.snapshotter.snapshotNow(), /log gone/);
});

t.test('shrinkLog compacts behind the newest applied snapshot', async (t) => {
  const r = rig(t, { entries: 0, logBytes: 0 });
  await t.rejects(r.snapshotter.shrinkLog(), { code: 'NOT_FOUND', message: /no snapshot to compact the log behind/ });
  r.driver.applied = 60;
  await r.snapshotter.snapshotNow();
  t.same(r.log.compactions, [[50, CONF]]);
  t.equal(await r.snapshotter.shrinkLog(0), 10);
  t.equal(await r.snapshotter.shrinkLog(), 0, 'the default tail keeps what is left');
  r.snapshotter.installed(500);
  t.equal(r.snapshotter.lastSnapshotIndex, 500);
  r.snapshotter.installed(10);
  t.equal(r.snapshotter.lastSnapshotIndex, 500, 'never moves back');
});

t.test('a new snapshotter starts from the newest snapshot on disk or the log start', async (t) => {
  const dir = tmpDir(t);
  const first = rig(t, {}, dir);
  first.driver.applied = 70;
  await first.snapshotter.snapshotNow();
  const second = rig(t, {}, dir);
  t.equal(second.snapshotter.lastSnapshotIndex, 70);
  t.equal(rig(t, {}, tmpDir(t), 33).snapshotter.lastSnapshotIndex, 33, 'no snapshot: the compacted log start');
});

t.test('stop abandons a running snapshot and starts no more', async (t) => {
  const r = rig(t);
  let open!: () => void;
  r.nextView = () => fakeView([rec('a', '1')], new Promise((res) => (open = res)));
  r.driver.applied = 100;
  const running = r.snapshotter.snapshotNow();
  await new Promise((res) => setTimeout(res, 5));
  r.snapshotter.stop();
  t.equal(r.views[0]!.closed, 1, 'the view is closed at once');
  open();
  await running.catch(() => {});
  t.same(r.log.compactions, [], 'no compaction once stopped');
  r.driver.applied = 1000;
  r.snapshotter.maybeSnapshot();
  t.equal(r.views.length, 1);
  await t.rejects(r.snapshotter.snapshotNow(), { code: 'CLOSED' });
  r.snapshotter.stop();
});
