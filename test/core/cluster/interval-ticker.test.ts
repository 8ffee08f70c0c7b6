/**
 * Tests of intervalTicker (interval-ticker.ts): ticks every `ms` between start and stop,
 * with an unref'd timer; stop before start is harmless.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { intervalsStartedBy } from '../../helpers/fault-injection.js';
import { intervalTicker } from '../../../src/core/cluster/interval-ticker.js';

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

t.test('ticks repeatedly between start and stop', async (t) => {
  const ticker = intervalTicker(5);
  let ticks = 0;
  ticker.start(() => ticks++);
  t.teardown(() => ticker.stop());
  await until(() => ticks >= 3);
  ticker.stop();
  const stoppedAt = ticks;
  await sleep(30);
  t.equal(ticks, stoppedAt, 'no tick after stop');
  ticker.stop();
  t.pass('stop is idempotent');
});

t.test('the timer is unref\'d', async (t) => {
  const ticker = intervalTicker(60_000);
  const timers = intervalsStartedBy(() => ticker.start(() => {}));
  t.teardown(() => ticker.stop());
  t.equal(timers.length, 1);
  t.equal(timers[0]!.hasRef(), false);
});

t.test('stop before start does nothing', async (t) => {
  const ticker = intervalTicker(5);
  t.doesNotThrow(() => ticker.stop());
});

t.test('restarting after stop ticks again', async (t) => {
  const ticker = intervalTicker(5);
  let a = 0;
  let b = 0;
  ticker.start(() => a++);
  await until(() => a >= 1);
  ticker.stop();
  ticker.start(() => b++);
  t.teardown(() => ticker.stop());
  await until(() => b >= 2);
  ticker.stop();
  const aStopped = a;
  await sleep(20);
  t.equal(a, aStopped, 'the first tick function is not called any more');
});
