/**
 * Tests of Deadlines (deadlines.ts): outcomes pass through, a request not settled in
 * time rejects with TIMEOUT, settled requests are forgotten, the FIFO is compacted, and
 * one unref'd timer serves every request (driven here by an injected `now`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Deadlines } from '../../../src/core/cluster/deadlines.js';
import { BitraftError } from '../../../src/core/support/errors.js';

/** A promise settled by hand. */
function deferred<T = string>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A promise that never settles. */
const never = <T = string>(): Promise<T> => new Promise<T>(() => {});

/** The private FIFO, to observe compaction. */
function internals(d: Deadlines): { queue: unknown[]; head: number } {
  return d as unknown as { queue: unknown[]; head: number };
}

/** Records every setTimeout made while `fn` runs (the timers still work). */
function countTimers<T>(fn: () => T): { result: T; timers: NodeJS.Timeout[] } {
  const original = globalThis.setTimeout;
  const timers: NodeJS.Timeout[] = [];
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    const timer = original(...args);
    timers.push(timer);
    return timer;
  }) as typeof setTimeout;
  try {
    return { result: fn(), timers };
  } finally {
    globalThis.setTimeout = original;
  }
}

/** Keeps the process alive while a test waits on unref'd timers only. */
function keepAlive(t: { teardown(fn: () => void): void }): void {
  const timer = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(timer));
}

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** Lets pending promise callbacks run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('a resolution passes through', async (t) => {
  const d = new Deadlines(1000);
  t.equal(await d.bound(Promise.resolve('v'), 'get'), 'v');
  const later = deferred<number>();
  const p = d.bound(later.promise, 'get');
  later.resolve(42);
  t.equal(await p, 42);
});

t.test('a rejection passes through', async (t) => {
  const d = new Deadlines(1000);
  const boom = new Error('boom');
  await t.rejects(d.bound(Promise.reject(boom), 'set'), boom);
  const later = deferred();
  const p = d.bound(later.promise, 'set');
  later.reject('not an error');
  t.equal(
    await p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    'not an error',
    'any rejection value passes through',
  );
});

t.test('a request not settled in time rejects with TIMEOUT', async (t) => {
  keepAlive(t);
  const d = new Deadlines(20);
  const p = deferred();
  const started = Date.now();
  const err = await d.bound(p.promise, 'SET k').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof BitraftError, 'a BitraftError');
  t.equal((err as BitraftError).code, 'TIMEOUT');
  t.equal((err as BitraftError).message, 'SET k timed out after 20 ms');
  t.ok(Date.now() - started >= 15, 'not before the timeout');
  t.equal(d.size, 0, 'forgotten');
  p.resolve('too late'); // the late outcome is dropped without trouble
  await flush();
});

t.test('settled requests are forgotten', async (t) => {
  const d = new Deadlines(10_000);
  const a = deferred();
  const b = deferred();
  const pa = d.bound(a.promise, 'a');
  const pb = d.bound(b.promise, 'b');
  t.equal(d.size, 2);
  a.resolve('A');
  b.resolve('B');
  t.strictSame(await Promise.all([pa, pb]), ['A', 'B']);
  t.equal(d.size, 2, 'settled ones are forgotten lazily');
  const c = deferred();
  const pc = d.bound(c.promise, 'c');
  t.equal(d.size, 1, 'the next request prunes the settled head');
  c.resolve('C');
  await pc;

  // A settled request behind an unsettled one stays until the head goes.
  const d2 = new Deadlines(10_000);
  const x = deferred();
  const y = deferred();
  void d2.bound(x.promise, 'x');
  const py = d2.bound(y.promise, 'y');
  y.resolve('Y');
  await py;
  void d2.bound(never(), 'z');
  t.equal(d2.size, 3, 'nothing pruned while the oldest is pending');
  x.resolve('X');
});

t.test('many requests share one unref\'d timer', async (t) => {
  let now = 1000;
  const d = new Deadlines(30, () => now);
  const pending = [deferred(), deferred(), deferred()];
  const { result: bounded, timers } = countTimers(() => pending.map((p, i) => d.bound(p.promise, `req ${i}`)));
  t.equal(timers.length, 1, 'one timer for three requests');
  t.equal(timers[0]!.hasRef(), false, 'the timer is unref\'d');

  // Only the injected clock decides what is due: the timer fires, nothing is due, it re-arms.
  const outcomes: string[] = [];
  bounded.forEach((p, i) =>
    p.then(
      (v) => outcomes.push(`${i} ok ${v}`),
      (e: BitraftError) => outcomes.push(`${i} ${e.code}`),
    ),
  );
  pending[1]!.resolve('one');
  await sleep(60);
  t.strictSame(outcomes, ['1 ok one'], 'not due by the injected clock: nothing times out');
  t.equal(d.size, 3, 'the settled one is not at the head, nothing pruned');

  now += 30;
  await until(() => outcomes.length === 3);
  t.strictSame(outcomes.sort(), ['0 TIMEOUT', '1 ok one', '2 TIMEOUT'], 'due by the injected clock: the rest time out');
  t.equal(d.size, 0);
});

t.test('deadlines are checked in order; settled ones at the head are skipped', async (t) => {
  let now = 0;
  const d = new Deadlines(20, () => now);
  const first = deferred();
  const pFirst = d.bound(first.promise, 'first');
  now = 10;
  const pSecond = d.bound(never(), 'second');
  first.resolve('done');
  t.equal(await pFirst, 'done');

  let secondErr: unknown;
  pSecond.catch((e: unknown) => {
    secondErr = e;
  });
  // The timer fires at the first deadline (20): the first is settled and skipped, the second (30) is not due.
  now = 20;
  await sleep(40);
  t.equal(secondErr, undefined, 'the second is not due yet');
  t.equal(d.size, 1);
  now = 30;
  await until(() => secondErr !== undefined);
  t.equal((secondErr as BitraftError).code, 'TIMEOUT', 'the second times out at its own deadline');
  t.equal((secondErr as BitraftError).message, 'second timed out after 20 ms');
  t.equal(d.size, 0);

  // After everything expired no timer is left; a new request arms a new one.
  const { timers } = countTimers(() => void d.bound(Promise.resolve('x'), 'third'));
  t.equal(timers.length, 1, 're-armed for the next request');
});

t.test('no timer is armed while one is pending', async (t) => {
  const d = new Deadlines(10_000);
  void d.bound(never(), 'a');
  const { timers } = countTimers(() => {
    void d.bound(never(), 'b');
    void d.bound(never(), 'c');
  });
  t.equal(timers.length, 0);
});

t.test('the FIFO is compacted after more than 1024 settled requests', async (t) => {
  const d = new Deadlines(10_000);
  const n = 1100;
  await Promise.all(Array.from({ length: n }, (_, i) => d.bound(Promise.resolve(i), 'r')));
  t.equal(internals(d).queue.length, n, 'settled requests stay until the next one');
  const last = deferred();
  const pLast = d.bound(last.promise, 'last');
  t.equal(internals(d).head, 0, 'compacted');
  t.equal(internals(d).queue.length, 1);
  t.equal(d.size, 1);
  last.resolve('ok');
  await pLast;
});

t.test('no compaction while most of the FIFO is still pending', async (t) => {
  const d = new Deadlines(10_000);
  const settledFirst = Array.from({ length: 1100 }, () => deferred());
  const bounded = settledFirst.map((p) => d.bound(p.promise, 'r'));
  for (let i = 0; i < 1200; i++) void d.bound(never(), 'pending');
  for (const p of settledFirst) p.resolve('x');
  await Promise.all(bounded);
  void d.bound(never(), 'one more');
  t.equal(internals(d).head, 1100, 'the settled head is skipped but not cut off: it is less than half');
  t.equal(internals(d).queue.length, 2301);
  t.equal(d.size, 1201);
});

t.test('expiring more than 1024 requests compacts the FIFO', async (t) => {
  let now = 0;
  const d = new Deadlines(10, () => now);
  const n = 1100;
  let timeouts = 0;
  for (let i = 0; i < n; i++) {
    d.bound(never(), `r${i}`).catch((e: BitraftError) => {
      if (e.code === 'TIMEOUT') timeouts++;
    });
  }
  now = 10;
  await until(() => timeouts === n);
  t.equal(timeouts, n, 'all timed out');
  t.equal(internals(d).head, 0, 'compacted');
  t.equal(internals(d).queue.length, 0);
  t.equal(d.size, 0);
});
