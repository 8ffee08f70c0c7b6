/** A source of wall-clock time in milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** The real clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock for tests: time moves only when `advance` or `set` is called. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** Creates a manual clock starting at `startMs`. */
export function manualClock(startMs = 0): ManualClock {
  let t = startMs;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}
