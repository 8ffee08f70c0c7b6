import { randomInt } from 'node:crypto';

/** A source of randomness. `int(n)` returns an integer in [0, n). */
export interface Rng {
  int(n: number): number;
  /** A float in [0, 1). */
  float(): number;
}

/** Randomness from the operating system. */
export const cryptoRng: Rng = {
  int: (n) => randomInt(n),
  float: () => randomInt(2 ** 48 - 1) / 2 ** 48,
};

/**
 * A deterministic generator (mulberry32) for tests and simulations: the same seed
 * always yields the same sequence.
 */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float: next,
    int: (n) => Math.floor(next() * n),
  };
}
