/**
 * Upper bounds (seconds) of the histograms of short operations — a command, an fsync:
 * from 50 µs to 10 s, about three per decade.
 */
export const LATENCY_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Upper bounds (seconds) of the histograms of long operations — a snapshot, a merge: from 10 ms to an hour. */
export const DURATION_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
