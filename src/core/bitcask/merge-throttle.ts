/**
 * Paces a merge: called after each slice of input it read (`bytesRead` bytes), and the
 * merge reads on once the promise resolves. It should always give the event loop a
 * turn, so that reads and writes go on between slices. A rejection abandons the merge
 * (its outputs are discarded; the store is unchanged).
 */
export type MergePace = (bytesRead: number) => Promise<void>;

/** Waits `ms` milliseconds; 0 means one turn of the event loop. */
export type Sleep = (ms: number) => Promise<void>;

/** The real `Sleep`: `setImmediate` for 0, else a timer. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => (ms <= 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));

/** The default pace of a merge: one turn of the event loop per slice, no rate limit. */
export const yieldToEventLoop: MergePace = () => realSleep(0);

/** Settings of `mergeThrottle`. */
export interface MergeThrottleOptions {
  /** Input bytes the merge may read per second; 0: no limit (it only yields). */
  bytesPerSecond: number;
  /**
   * Credit kept while the merge reads slower than the rate (it waited for something
   * else), in ms of the rate: after a pause, at most this much is read without a wait
   * (default 50).
   */
  burstMs?: number;
  /** The longest single wait; longer ones are cut into waits of this length, with `check` after each (default 100). */
  maxWaitMs?: number;
  /** A monotonic clock in ms (default `performance.now`). */
  now?: () => number;
  /** How waits are made (default `realSleep`). A fake must move `now` on, or a wait never ends. */
  sleep?: Sleep;
  /** Called on entry and after each wait; throwing abandons the merge (stop on shutdown, say). */
  check?: () => void;
}

/**
 * A `MergePace` holding a merge to `bytesPerSecond` of input read, with a token bucket:
 * each slice costs its bytes, the budget refills at the rate and holds at most `burstMs`
 * of it. A slice over budget waits until it is paid for, in waits of at most
 * `maxWaitMs` each followed by `check` (so a stop is noticed promptly even at a low
 * rate); a slice within budget still waits one turn of the event loop.
 */
export function mergeThrottle(opts: MergeThrottleOptions): MergePace {
  const { bytesPerSecond, burstMs = 50, maxWaitMs = 100, now = () => performance.now(), sleep = realSleep, check = () => undefined } = opts;
  if (!(bytesPerSecond >= 0) || !(burstMs >= 0) || !(maxWaitMs > 0)) {
    throw new TypeError(`mergeThrottle: bad settings (rate ${bytesPerSecond}, burst ${burstMs} ms, longest wait ${maxWaitMs} ms)`);
  }
  /** When the bytes read so far are paid for: the next slice may start then. */
  let paidUntil = Number.NEGATIVE_INFINITY;
  return async (bytesRead) => {
    check();
    if (bytesPerSecond > 0) paidUntil = Math.max(paidUntil, now() - burstMs) + (bytesRead * 1000) / bytesPerSecond;
    // Within budget (always, without a rate): one turn of the event loop.
    let wait = paidUntil - now();
    do {
      await sleep(Math.max(0, Math.min(wait, maxWaitMs)));
      check();
      wait = paidUntil - now();
    } while (wait > 0);
  };
}
