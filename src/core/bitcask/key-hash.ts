/** The secret 64-bit key of `hashKey`, as two 32-bit words. */
export type HashSeed = readonly [number, number];

/** Compression rounds per 4-byte word, and finalisation rounds, of the hash tables' hash. */
const C_ROUNDS = 1;
const D_ROUNDS = 3;

/**
 * HalfSipHash-1-3 of `bytes[start..end)` under the secret `seed`, as a signed 32-bit
 * integer: a keyed hash, so a client who does not know the seed cannot choose keys that
 * collide (hash flooding), while a probe costs tens of nanoseconds and allocates nothing.
 * The reduced-round variant (as the Linux kernel uses for its hash tables) is enough for
 * a table whose seed never leaves the process. Every output bit depends on every input
 * bit, so the low bits alone make a good index into a power-of-two table.
 */
export function hashKey(bytes: Uint8Array, start: number, end: number, seed: HashSeed): number {
  return halfSipHash(bytes, start, end, seed, C_ROUNDS, D_ROUNDS);
}

/**
 * HalfSipHash-c-d with a 32-bit output (the reference algorithm of SipHash's authors):
 * `cRounds` rounds per 4-byte little-endian word and `dRounds` to finalise. Exported so
 * tests can check it against the published HalfSipHash-2-4 vectors.
 */
export function halfSipHash(bytes: Uint8Array, start: number, end: number, seed: HashSeed, cRounds: number, dRounds: number): number {
  const k0 = seed[0] | 0;
  const k1 = seed[1] | 0;
  let v0 = k0;
  let v1 = k1;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  const len = end - start;
  const blocks = start + (len & ~3);
  let i = start;
  // Passes: one per 4-byte word; then the last block (the 0–3 bytes left, the length's
  // low byte on top); then the finalisation. Each runs the same SipRound, n times.
  for (;;) {
    const final = i > end;
    let m = 0;
    if (final) {
      v2 ^= 0xff;
    } else if (i < blocks) {
      m = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
      v3 ^= m;
    } else {
      m = (len & 0xff) << 24;
      const rest = end - i;
      if (rest > 2) m |= bytes[i + 2]! << 16;
      if (rest > 1) m |= bytes[i + 1]! << 8;
      if (rest > 0) m |= bytes[i]!;
      v3 ^= m;
    }
    for (let r = final ? dRounds : cRounds; r > 0; r--) {
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    if (final) return v1 ^ v3;
    v0 ^= m;
    // After the last block, step past `end`: the next pass finalises.
    i = i < blocks ? i + 4 : end + 1;
  }
}

/** A fresh secret seed for `hashKey` from the system's cryptographic random source. */
export function randomHashSeed(): HashSeed {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return [words[0]!, words[1]!];
}
