/**
 * Tests of the automatic merge policy (`AutoMerger`) against a fake store, a manual
 * clock and a ticker driven by hand: when a merge triggers, one at a time, back-off
 * after failures, giving way to shutdown and snapshot installs, free space, the log.
 */
import t from 'tap';
import type { MergeOptions, MergeResult } from '../../../src/core/bitcask/index.js';
import {
  AutoMerger,
  checkAutoMergeSettings,
  MAX_BACKOFF_MS,
  MERGE_SLICE_BYTES,
  mergeTrigger,
  parseDeadRatio,
  type AutoMergeOptions,
  type AutoMergeSettings,
  type MergeStats,
} from '../../../src/core/cluster/auto-merge.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { ioError } from '../../helpers/fault-injection.js';

const MiB = 1 << 20;
const SETTINGS: AutoMergeSettings = { deadRatio: 0.5, minDeadBytes: 64 * MiB, bytesPerSecond: 32 * MiB, checkIntervalMs: 10_000 };
const DEAD: MergeStats = { dataFiles: 5, dataBytes: 400 * MiB, liveBytes: 100 * MiB, deadBytes: 300 * MiB, reclaimableBytes: 250 * MiB };
const RESULT: MergeResult = { inputFiles: 4, inputBytes: 350 * MiB, outputFiles: 1, outputBytes: 100 * MiB, liveKeys: 1000, reclaimedBytes: 250 * MiB };

/** What the fake store's merge does with its options: by default, reads `slices` slices and succeeds. */
type MergeScript = (opts: MergeOptions) => Promise<MergeResult>;

function fixture(over: Partial<AutoMergeOptions> = {}, script?: MergeScript) {
  const clock = manualClock(5000);
  const logger = memoryLogger();
  const calls: MergeOptions[] = [];
  let tick: (() => void) | undefined;
  const ticker = {
    running: false,
    start(fn: () => void) {
      tick = fn;
      this.running = true;
    },
    stop() {
      this.running = false;
    },
  };
  const waits: number[] = [];
  const store = {
    current: { ...DEAD },
    closing: false,
    isReplacing: false,
    stats: () => store.current,
    merge: (opts: MergeOptions): Promise<MergeResult> => {
      calls.push(opts);
      return (script ?? readSlices(4))(opts);
    },
  };
  const merger = new AutoMerger({
    ...SETTINGS,
    store,
    logger,
    ticker,
    now: () => clock.now(),
    sleep: async (ms) => {
      waits.push(ms);
      clock.advance(ms);
    },
    ...over,
  });
  return { clock, logger, calls, ticker, tick: () => tick!(), store, merger, waits };
}

/** A merge script reading `n` slices through the pace, then running its steps. */
function readSlices(n: number, between?: (i: number) => void): MergeScript {
  return async (opts) => {
    for (let i = 0; i < n; i++) {
      between?.(i);
      await opts.pace!(MERGE_SLICE_BYTES);
    }
    await opts.onStep!('done');
    return RESULT;
  };
}

/** A merge script that waits until `release` is called. */
function held() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const script: MergeScript = async () => {
    await gate;
    return RESULT;
  };
  return { script, release: () => release() };
}

t.test('mergeTrigger: the ratio over all data, the minimum over what a merge can reclaim', async (t) => {
  const s = { deadRatio: 0.5, minDeadBytes: 64 * MiB };
  t.match(mergeTrigger(DEAD, s), /^300\.0 MiB of 400\.0 MiB dead \(75%, threshold 50%\), 250\.0 MiB reclaimable in 4 files$/);
  t.equal(mergeTrigger(DEAD, { ...s, deadRatio: 0 }), undefined, 'ratio 0: off');
  t.equal(mergeTrigger(DEAD, { ...s, deadRatio: 0.76 }), undefined, 'below the ratio');
  t.ok(mergeTrigger(DEAD, { ...s, deadRatio: 0.75 }), 'at the ratio');
  t.equal(mergeTrigger({ ...DEAD, reclaimableBytes: 64 * MiB - 1 }, s), undefined, 'too little reclaimable');
  t.ok(mergeTrigger({ ...DEAD, reclaimableBytes: 64 * MiB }, s), 'exactly the minimum');
  t.equal(mergeTrigger({ ...DEAD, reclaimableBytes: 0 }, { ...s, minDeadBytes: 0 }), undefined, 'nothing reclaimable: no merge, even with no minimum');
  t.equal(mergeTrigger({ dataFiles: 1, dataBytes: 0, liveBytes: 0, deadBytes: 0, reclaimableBytes: 0 }, { deadRatio: 1, minDeadBytes: 0 }), undefined, 'an empty store');
});

t.test('settings are checked, naming the flag', async (t) => {
  t.doesNotThrow(() => checkAutoMergeSettings(SETTINGS));
  t.doesNotThrow(() => checkAutoMergeSettings({ deadRatio: 0, minDeadBytes: 0, bytesPerSecond: 0, checkIntervalMs: 1 }), 'zeros turn things off');
  const cases: [Partial<AutoMergeSettings>, RegExp][] = [
    [{ deadRatio: -0.1 }, /^--merge-dead-ratio must be a number from 0 to 1/],
    [{ deadRatio: 1.5 }, /--merge-dead-ratio/],
    [{ deadRatio: Number.NaN }, /--merge-dead-ratio/],
    [{ minDeadBytes: -1 }, /^--merge-min-dead-bytes must be an integer of at least 0, not -1$/],
    [{ minDeadBytes: 0.5 }, /--merge-min-dead-bytes/],
    [{ bytesPerSecond: -1 }, /^--merge-rate must be an integer of at least 0 \(0: no limit\), not -1$/],
    [{ checkIntervalMs: 0 }, /^--merge-check-interval must be an integer of at least 1, not 0$/],
  ];
  for (const [bad, message] of cases) {
    t.throws(() => checkAutoMergeSettings({ ...SETTINGS, ...bad }), { code: 'INVALID_ARGUMENT', message }, JSON.stringify(bad));
    t.throws(() => fixture(bad), { code: 'INVALID_ARGUMENT' }, 'the constructor checks them too');
  }
});

t.test('parseDeadRatio takes decimals from 0 to 1', async (t) => {
  for (const [text, value] of [['0', 0], ['0.5', 0.5], ['.25', 0.25], ['1', 1], ['1.0', 1], [' 0.3 ', 0.3]] as const) t.equal(parseDeadRatio(text), value, text);
  for (const text of ['', 'half', '1.5', '-0.1', '0x1', '1e-1', '50%', 'Infinity', '0.5.1']) {
    t.throws(() => parseDeadRatio(text), { code: 'INVALID_ARGUMENT', message: /^--merge-dead-ratio must be a number from 0 to 1 \(0: no automatic merges\), not ".*"$/ }, JSON.stringify(text));
  }
});

t.test('a check merges when the store calls for it, throttled, and logs start and end', async (t) => {
  const f = fixture();
  f.store.current = { ...DEAD, deadBytes: 100 * MiB };
  t.equal(f.merger.check(), undefined, '25% dead: no merge');
  t.same(f.calls, []);
  f.store.current = DEAD;
  t.same(f.merger.status(), { enabled: true, inProgress: false, merges: 0, failures: 0, last: undefined });
  const running = f.merger.check()!;
  t.equal(f.merger.status().inProgress, true, 'in progress while it runs');
  const outcome = await running;
  t.equal(outcome.kind, 'done');
  t.same(outcome.kind === 'done' && outcome.result, RESULT);
  t.equal(f.calls.length, 1);
  t.equal(f.calls[0]!.yieldEveryBytes, MERGE_SLICE_BYTES, 'paced every slice');
  // 4 slices of 256 KiB at 32 MiB/s owe 31.25 ms, less 50 ms of initial credit: only turns of the loop.
  t.ok(f.waits.length >= 5 && f.waits.every((w) => w === 0), 'within the burst, and a turn for the step');
  t.same(f.merger.status(), { enabled: true, inProgress: false, merges: 1, failures: 0, last: { ok: true, reclaimedBytes: RESULT.reclaimedBytes, durationMs: 0 } });
  t.same(f.logger.lines, [
    'info: merge: starting (300.0 MiB of 400.0 MiB dead (75%, threshold 50%), 250.0 MiB reclaimable in 4 files; at most 32.0 MiB/s)',
    'info: merge: done in 0.0 s: reclaimed 250.0 MiB (4 files of 350.0 MiB became 1 of 100.0 MiB, 1000 live keys)',
  ]);
});

t.test('the throttle holds a long merge to the rate; unthrottled it only yields', async (t) => {
  const f = fixture({ bytesPerSecond: MERGE_SLICE_BYTES * 10 }, readSlices(21));
  const outcome = await f.merger.check()!;
  t.equal(outcome.kind, 'done');
  t.equal(outcome.durationMs, 21 * 100 - 50, '21 slices at 10 a second, the first half-slice on credit');
  t.match(f.logger.lines[0], /at most 2\.5 MiB\/s\)$/);
  const g = fixture({ bytesPerSecond: 0 }, readSlices(21));
  const fast = await g.merger.check()!;
  t.equal(fast.durationMs, 0);
  t.ok(g.waits.every((w) => w === 0));
  t.match(g.logger.lines[0], /; unthrottled\)$/);
});

t.test('never two merges at once: checks skip, mergeNow joins the running one', async (t) => {
  const gate = held();
  const f = fixture({}, gate.script);
  const first = f.merger.check()!;
  t.equal(f.merger.check(), undefined, 'a check while it runs starts nothing');
  t.equal(f.merger.mergeNow('asked'), first, 'mergeNow gives the running merge');
  gate.release();
  t.equal((await first).kind, 'done');
  t.equal(f.calls.length, 1, 'one merge');
  t.equal(f.merger.status().inProgress, false);
  const second = f.merger.mergeNow('asked again');
  t.not(second, first, 'a new one once it ended');
  t.equal((await second).kind, 'done');
  t.match(f.logger.lines.at(-2), /^info: merge: starting \(asked again; /);
});

t.test('a failed merge is logged and retried after a back-off that doubles up to the cap; success resets it', async (t) => {
  let fail = true;
  const f = fixture({}, async () => {
    if (fail) throw ioError('ENOSPC');
    return RESULT;
  });
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const outcome = await f.merger.check()!;
    t.equal(outcome.kind, 'failed');
    if (outcome.kind !== 'failed') return;
    delays.push(outcome.retryInMs);
    f.clock.advance(outcome.retryInMs - 1);
    t.equal(f.merger.check(), undefined, 'not before the back-off ends');
    f.clock.advance(1);
  }
  t.same(delays, [20_000, 40_000, 80_000, 160_000, 320_000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  t.equal(f.calls.length, 8);
  t.same(f.merger.status(), { enabled: true, inProgress: false, merges: 0, failures: 8, last: { ok: false, reclaimedBytes: 0, durationMs: 0 } });
  t.equal(f.logger.lines[1], 'warn: merge failed after 0.0 s, nothing changed: ENOSPC: injected; next attempt in 20.0 s');
  fail = false;
  t.equal((await f.merger.check()!).kind, 'done');
  t.equal(f.merger.status().last?.ok, true);
  fail = true;
  const again = await f.merger.check()!;
  t.equal(again.kind === 'failed' && again.retryInMs, 20_000, 'the back-off starts over after a success');
});

t.test('a check interval longer than the cap backs off by the interval', async (t) => {
  const hour = 3_600_000;
  const f = fixture({ checkIntervalMs: hour }, async () => {
    throw ioError('EIO');
  });
  const outcome = await f.merger.mergeNow('test');
  t.equal(outcome.kind === 'failed' && outcome.retryInMs, hour);
});

t.test('stop abandons a running merge at its next slice, without counting a failure', async (t) => {
  const f = fixture({}, readSlices(10, (i) => i === 3 && f.merger.stop()));
  const outcome = await f.merger.check()!;
  t.same(outcome, { kind: 'abandoned', reason: 'the node is stopping', durationMs: 0 });
  t.same(f.merger.status(), { enabled: true, inProgress: false, merges: 0, failures: 0, last: undefined });
  t.equal(f.logger.lines.at(-1), 'info: merge: abandoned after 0.0 s: the node is stopping');
  t.equal(f.merger.check(), undefined, 'no merge after stop');
});

t.test('a merge gives way to the store closing and to a snapshot install, and tries again at the next check', async (t) => {
  for (const [what, reason] of [
    ['closing', 'the node is stopping'],
    ['isReplacing', 'a snapshot is being installed'],
  ] as const) {
    const f = fixture({}, readSlices(10, (i) => i === 2 && (f.store[what] = true)));
    const outcome = await f.merger.check()!;
    t.same(outcome, { kind: 'abandoned', reason, durationMs: 0 }, what);
    f.store.closing = false;
    f.store.isReplacing = false;
    t.ok(f.merger.check(), `${what}: the next check may merge again, no back-off`);
  }
});

t.test('a slow merge notices a stop within one wait, however low the rate', async (t) => {
  const waits: number[] = [];
  const f = fixture({
    bytesPerSecond: 1,
    // Each wait takes a turn of the event loop, so the test runs between them.
    sleep: (ms) => {
      waits.push(ms);
      f.clock.advance(ms);
      return new Promise((resolve) => setImmediate(resolve));
    },
  });
  const running = f.merger.check()!;
  // The first slice owes 262144 s at 1 B/s; stop after a few of its 100 ms waits.
  while (waits.length < 3) await new Promise((resolve) => setImmediate(resolve));
  f.merger.stop();
  const outcome = await running;
  t.equal(outcome.kind, 'abandoned');
  t.ok(waits.length <= 4 && waits.every((w) => w <= 100), `stopped after ${waits.length} waits of at most 100 ms`);
});

t.test('a merge the store refuses (BUSY, CLOSED) is abandoned, not failed', async (t) => {
  for (const code of ['BUSY', 'CLOSED'] as const) {
    const f = fixture({}, async () => {
      throw new BitraftError(code, `refused: ${code}`);
    });
    const outcome = await f.merger.check()!;
    t.same(outcome, { kind: 'abandoned', reason: `refused: ${code}`, durationMs: 0 });
    t.equal(f.merger.status().failures, 0);
  }
});

t.test('free space: no merge without room for the live data it copies; a merge stops when the disk fills', async (t) => {
  let free = 200 * MiB;
  const f = fixture({ freeBytes: () => free, minFreeBytes: 64 * MiB }, readSlices(6, (i) => i === 3 && (free = 10 * MiB)));
  f.store.current = { ...DEAD, liveBytes: 150 * MiB };
  const refused = await f.merger.check()!;
  t.equal(refused.kind, 'failed');
  t.equal(f.calls.length, 0, 'the store was not asked');
  t.equal(
    f.logger.lines[0],
    'warn: merge failed after 0.0 s, nothing changed: not enough free space: the merge needs up to 150.0 MiB for the live data it copies, 200.0 MiB free, and 64.0 MiB must stay free (--min-free-space); next attempt in 20.0 s',
  );
  f.clock.advance(20_000);
  f.store.current = { ...DEAD, liveBytes: 136 * MiB };
  const stopped = await f.merger.check()!;
  t.equal(stopped.kind, 'failed', 'room enough to start; then the disk filled up');
  t.equal(f.calls.length, 1);
  t.match(f.logger.lines.at(-1), /merge failed after 0\.0 s, nothing changed: not enough free space: 10\.0 MiB free, and 64\.0 MiB must stay free \(--min-free-space\); next attempt in 40\.0 s$/);
  t.equal(f.merger.status().failures, 2);
});

t.test('the ticker runs checks while started and enabled', async (t) => {
  const f = fixture();
  f.merger.start();
  t.equal(f.ticker.running, true);
  f.store.current = { ...DEAD, deadBytes: 0 };
  f.tick();
  t.equal(f.calls.length, 0, 'a tick with nothing to merge');
  f.store.current = DEAD;
  f.tick();
  t.equal(f.calls.length, 1, 'a tick that merges');
  f.merger.stop();
  f.merger.stop();
  t.equal(f.ticker.running, false, 'stopped (twice is fine)');
  f.merger.start();
  t.equal(f.ticker.running, false, 'no restart after stop');
  const off = fixture({ deadRatio: 0 });
  off.merger.start();
  t.equal(off.ticker.running, false, 'disabled: no checks');
  t.equal(off.merger.status().enabled, false);
  t.equal((await off.merger.mergeNow('asked')).kind, 'done', 'but a merge can still be asked for');
});

t.test('the defaults: a real timer, clock and sleep', async (t) => {
  const store = { closing: false, isReplacing: false, stats: () => DEAD, merge: readSlices(2) };
  const merger = new AutoMerger({ ...SETTINGS, checkIntervalMs: 3_600_000, store, logger: memoryLogger() });
  merger.start();
  const outcome = await merger.mergeNow('test');
  merger.stop();
  t.equal(outcome.kind, 'done');
  t.ok(outcome.durationMs >= 0);
});

t.test('onMerged hears the seconds of each merge that completed', async (t) => {
  const heard: number[] = [];
  const f = fixture({ onMerged: (s) => void heard.push(s) });
  f.store.current = DEAD;
  await f.merger.check();
  t.same(heard, [0]);
});
