/**
 * Snapshot test data independent of src/core/snapshot: the Go bitraft fixture kept in
 * the repository, and an encoder of state.bin's layout written from the spec
 * (`[u64 LE key length][key][u64 LE value length][value]`…, then gzip).
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { repoRoot } from './cli.js';

/** A snapshot written by the Go original (copied from the project's shared fixtures): state.bin, meta.json, contents.json. */
export const GO_SNAPSHOT_FIXTURE = path.join(repoRoot, 'test/fixtures/go-bitraft-snapshot');

/** The decompressed layout of `pairs`. */
export function rawStateRecords(pairs: readonly (readonly [Buffer, Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  for (const pair of pairs) {
    for (const field of pair) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(field.length));
      parts.push(len, field);
    }
  }
  return Buffer.concat(parts);
}

/** A whole state.bin of `pairs`. */
export function independentStateBin(pairs: readonly (readonly [Buffer, Buffer])[]): Buffer {
  return zlib.gzipSync(rawStateRecords(pairs));
}
