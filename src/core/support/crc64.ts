/**
 * CRC-64 as Go's `hash/crc64` computes it with the `crc64.ECMA` table: the reflected
 * ECMA-182 polynomial 0xC96C5795D7870F42, initial value and final xor all ones (the
 * catalogue's CRC-64/XZ; `crc64("123456789")` is 0x995DC9BBDF1939FA). The Go original
 * checksums snapshot files with it.
 *
 * Pure JavaScript, slicing-by-8: the 64-bit state is kept as two uint32 halves and eight
 * bytes are folded per step through eight 256-entry tables, so no BigInt is touched per
 * byte (only one per call, for the result).
 */

const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;
const MASK32 = 0xffffffffn;

/** Low and high halves of the eight slicing tables, table k at offset k * 256. */
const LO = new Uint32Array(8 * 256);
const HI = new Uint32Array(8 * 256);

for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let bit = 0; bit < 8; bit++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | (hi << 31)) >>> 0;
    hi >>>= 1;
    if (odd) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  LO[i] = lo;
  HI[i] = hi;
}
for (let k = 1; k < 8; k++) {
  for (let i = 0; i < 256; i++) {
    const lo = LO[(k - 1) * 256 + i]!;
    const hi = HI[(k - 1) * 256 + i]!;
    const j = lo & 0xff;
    LO[k * 256 + i] = (((lo >>> 8) | (hi << 24)) ^ LO[j]!) >>> 0;
    HI[k * 256 + i] = ((hi >>> 8) ^ HI[j]!) >>> 0;
  }
}

/**
 * The CRC-64/ECMA (Go `crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))`) of `data`,
 * continuing from `previous` (the CRC of the bytes before it; 0n to start), so that
 * `crc64(b, crc64(a)) === crc64(a ++ b)`. Returns an unsigned 64-bit bigint.
 */
export function crc64(data: Uint8Array, previous = 0n): bigint {
  let lo = ~Number(previous & MASK32) >>> 0;
  let hi = ~Number((previous >> 32n) & MASK32) >>> 0;
  const n = data.length;
  let i = 0;
  for (const stop = n - 7; i < stop; i += 8) {
    const a = lo ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const b = hi ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24));
    lo =
      LO[0x700 + (a & 0xff)]! ^
      LO[0x600 + ((a >>> 8) & 0xff)]! ^
      LO[0x500 + ((a >>> 16) & 0xff)]! ^
      LO[0x400 + (a >>> 24)]! ^
      LO[0x300 + (b & 0xff)]! ^
      LO[0x200 + ((b >>> 8) & 0xff)]! ^
      LO[0x100 + ((b >>> 16) & 0xff)]! ^
      LO[b >>> 24]!;
    hi =
      HI[0x700 + (a & 0xff)]! ^
      HI[0x600 + ((a >>> 8) & 0xff)]! ^
      HI[0x500 + ((a >>> 16) & 0xff)]! ^
      HI[0x400 + (a >>> 24)]! ^
      HI[0x300 + (b & 0xff)]! ^
      HI[0x200 + ((b >>> 8) & 0xff)]! ^
      HI[0x100 + ((b >>> 16) & 0xff)]! ^
      HI[b >>> 24]!;
  }
  for (; i < n; i++) {
    const j = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ LO[j]!;
    hi = (hi >>> 8) ^ HI[j]!;
  }
  return (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0);
}

/** The 8-byte big-endian form of a CRC-64 (as the Go original stores it, base64-encoded, in meta.json). */
export function crc64Bytes(crc: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(crc & 0xffffffffffffffffn);
  return out;
}
