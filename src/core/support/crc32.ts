import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * CRC-32 (IEEE, as zlib and gzip use it) of `data`, continuing from `initial`.
 * Backed by zlib's native implementation.
 */
export function crc32(data: Uint8Array, initial = 0): number {
  return zlibCrc32(data, initial);
}
