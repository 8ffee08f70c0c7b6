/**
 * Tests of merge pacing: the token-bucket throttle (`mergeThrottle`) on a fake clock,
 * and a merge driven by a pace — bytes reported, a pace that stops it, an output fsync
 * that fails — leaving the store whole.
 */
import fs from 'node:fs';
import t from 'tap';
import { mergeThrottle, realSleep, yieldToEventLoop, type BitcaskOptions } from '../../../src/core/bitcask/index.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { b, contentsOf, dataFiles, diffContents, overwrittenStore, readAll, tmpFiles } from '../../helpers/bitcask.js';
import { ioError, patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

/** A fake clock whose sleeps move it on, recording every wait asked for. */
function fakeTime(start = 1000) {
  const clock = manualClock(start);
  const waits: number[] = [];
  const sleep = async (ms: number): Promise<void> => {
    waits.push(ms);
    clock.advance(ms);
  };
  return { clock, waits, sleep, now: () => clock.now() };
}

t.test('without a rate, every slice gets exactly one turn of the event loop', async (t) => {
  const time = fakeTime();
  let checks = 0;
  const pace = mergeThrottle({ bytesPerSecond: 0, now: time.now, sleep: time.sleep, check: () => void checks++ });
  for (const bytes of [0, 1, 1 << 30]) await pace(bytes);
  t.same(time.waits, [0, 0, 0]);
  t.equal(checks, 6, 'checked before and after each wait');
});

t.test('a rate holds the bytes read to it: the waits add up to bytes ÷ rate', async (t) => {
  const time = fakeTime();
  const pace = mergeThrottle({ bytesPerSecond: 1000, burstMs: 0, maxWaitMs: 1e9, now: time.now, sleep: time.sleep });
  for (let i = 0; i < 10; i++) await pace(100);
  t.same(time.waits, Array<number>(10).fill(100), 'each 100 bytes at 1000 B/s wait 100 ms');
  t.equal(time.now() - 1000, 1000, '1000 bytes took one second');
});

t.test('slices within the burst wait only a turn; the first one over it waits for what is owed', async (t) => {
  const time = fakeTime();
  const pace = mergeThrottle({ bytesPerSecond: 1000, burstMs: 50, maxWaitMs: 1e9, now: time.now, sleep: time.sleep });
  await pace(20);
  await pace(20);
  t.same(time.waits, [0, 0], '40 bytes fit in 50 ms of credit');
  await pace(30);
  t.same(time.waits, [0, 0, 20], '70 bytes: 20 ms over the credit');
});

t.test('credit saved while the merge was elsewhere is capped at burstMs', async (t) => {
  const time = fakeTime();
  const pace = mergeThrottle({ bytesPerSecond: 1000, burstMs: 50, maxWaitMs: 1e9, now: time.now, sleep: time.sleep });
  await pace(100);
  t.same(time.waits, [50]);
  time.clock.advance(60_000);
  time.waits.length = 0;
  await pace(100);
  t.same(time.waits, [50], 'a minute idle buys only 50 ms of reading ahead');
});

t.test('long waits are cut into maxWaitMs pieces with a check after each; a check that throws stops the wait', async (t) => {
  const time = fakeTime();
  let checks = 0;
  let stopAfter = Number.POSITIVE_INFINITY;
  const pace = mergeThrottle({
    bytesPerSecond: 100,
    burstMs: 0,
    maxWaitMs: 100,
    now: time.now,
    sleep: time.sleep,
    check: () => {
      if (++checks > stopAfter) throw new BitraftError('CLOSED', 'stop');
    },
  });
  await pace(25);
  t.same(time.waits, [100, 100, 50], '250 ms in pieces of at most 100');
  t.equal(checks, 4, 'checked on entry and after each piece');
  stopAfter = checks + 1;
  time.waits.length = 0;
  await t.rejects(pace(100), { code: 'CLOSED' });
  t.same(time.waits, [100], 'stopped after the first piece of a second');
  stopAfter = checks;
  time.waits.length = 0;
  await t.rejects(pace(0), { code: 'CLOSED' }, 'and before waiting at all');
  t.same(time.waits, []);
});

t.test('bad settings are a programming error', async (t) => {
  for (const bad of [{ bytesPerSecond: -1 }, { bytesPerSecond: Number.NaN }, { bytesPerSecond: 1, burstMs: -1 }, { bytesPerSecond: 1, maxWaitMs: 0 }]) {
    t.throws(() => mergeThrottle(bad), TypeError, JSON.stringify(bad));
  }
});

t.test('the real waits: a turn of the event loop for 0, else a timer', async (t) => {
  const calls: string[] = [];
  const immediate = globalThis.setImmediate;
  const timeout = globalThis.setTimeout;
  patch(t, globalThis, 'setImmediate', ((fn: () => void) => {
    calls.push('immediate');
    return immediate(fn);
  }) as typeof setImmediate);
  patch(t, globalThis, 'setTimeout', ((fn: () => void, ms: number) => {
    calls.push(`timeout ${ms}`);
    return timeout(fn, ms);
  }) as typeof setTimeout);
  await realSleep(0);
  await realSleep(2);
  await yieldToEventLoop(123);
  t.same(calls, ['immediate', 'timeout 2', 'immediate']);
  calls.length = 0;
  await mergeThrottle({ bytesPerSecond: 1 << 30 })(1);
  t.same(calls, ['immediate'], 'the default sleep, within budget');
});

const OPTS: BitcaskOptions = { maxFileSize: 4096, sync: 'none', clock: manualClock(1_700_000_000_000) };


t.test('a merge calls its pace after each slice with the bytes it read: every input byte once', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 200, 2);
  const slices: number[] = [];
  const r = await store.merge({ yieldEveryBytes: 1024, pace: async (bytes) => void slices.push(bytes) });
  t.ok(slices.length > r.inputFiles, `${slices.length} slices over ${r.inputFiles} files`);
  t.ok(slices.every((n) => n > 0), 'each slice read something');
  t.equal(slices.reduce((a, n) => a + n, 0), r.inputBytes, 'the slices add up to the input');
  t.equal(diffContents(readAll(store), model), undefined);
});

t.test('a pace that rejects abandons the merge: its error, the outputs gone, the store as it was', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 200, 2);
  const before = dataFiles(dir);
  let slices = 0;
  const merge = store.merge({
    yieldEveryBytes: 512,
    pace: async () => {
      if (++slices === 3) throw new BitraftError('BUSY', 'give way');
    },
  });
  await t.rejects(merge, { code: 'BUSY', message: 'give way' });
  t.same(dataFiles(dir), before, 'only the inputs remain');
  t.equal(diffContents(readAll(store), model), undefined, 'reads see every key');
  const again = await store.merge();
  t.ok(again.reclaimedBytes > 0, 'a later merge goes ahead');
  await store.close();
  t.same(tmpFiles(dir), [], 'no temporary files');
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined, 'and it reopens whole');
});

t.test('an output that cannot be fsynced fails the merge and changes nothing', async (t) => {
  const dir = tmpDir(t);
  const { store, model } = await overwrittenStore(t, dir, OPTS, 200, 2);
  const before = dataFiles(dir);
  const restore = patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError('EIO')));
  }) as typeof fs.fdatasync);
  await t.rejects(store.merge(), { code: 'EIO' });
  restore();
  t.same(dataFiles(dir), before);
  t.equal(diffContents(readAll(store), model), undefined);
  await store.close();
  t.same(tmpFiles(dir), [], 'no temporary files');
  t.equal(diffContents(await contentsOf(dir, OPTS), model), undefined);
});
