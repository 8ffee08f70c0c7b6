import type { Ticker } from '../raft/driver.js';

/** A `Ticker` driven by a timer every `ms` milliseconds (unref'd: it never keeps the process alive). */
export function intervalTicker(ms: number): Ticker {
  let timer: NodeJS.Timeout | undefined;
  return {
    start(tick) {
      timer = setInterval(tick, ms);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
