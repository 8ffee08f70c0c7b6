/**
 * Tests of what `scanLog` (src/core/raft/log-store.ts) decides after a bad record: a torn
 * tail, cut on open, unless a valid record that continues the log follows it (index in
 * the window `prev + 2 … prev + 1 + ⌊(offset − bad) / 25⌋`, term not lower), which is
 * corruption; records embedded in a torn entry's data; the cost of deciding (bytes read
 * from the file, counted by patching `node:fs`: linear in its size, whatever it holds);
 * and indexes and terms above 2^53 − 1, which are refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DiskLogStore, encodeRecords, LOG_FILE, RECORD_OVERHEAD, scanLog } from '../../../src/core/raft/log-store.js';
import type { Entry } from '../../../src/core/raft/types.js';
import { crc32 } from '../../../src/core/support/crc32.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { patch } from '../../helpers/fault-injection.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const MiB = 1 << 20;
const ent = (index: number, term: number, data: Uint8Array = new Uint8Array(3).fill(index)): Entry => ({ index, term, type: 'command', data });

/** Entries 1..3 (terms 1, 1, 2): the valid prefix of most logs here. */
const PREFIX = [ent(1, 1), ent(2, 1), ent(3, 2)];
/** Where the record after PREFIX starts. */
const AFTER_PREFIX = 3 * (RECORD_OVERHEAD + 3);

/** A log of PREFIX and an entry 4 of `data`, torn: its last `cut` bytes missing. */
function tornAfterPrefix(data: Uint8Array, cut = 1): Buffer {
  const all = encodeRecords([...PREFIX, ent(4, 2, data)]);
  return all.subarray(0, all.length - cut);
}

/** One record, with index and term written as given (beyond what a double holds, if asked). */
function rawRecord(index: bigint, term: bigint, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(RECORD_OVERHEAD + data.length);
  b.writeUInt32LE(17 + data.length, 0);
  b.writeBigUInt64LE(index, 8);
  b.writeBigUInt64LE(term, 16);
  b[24] = 1;
  Buffer.from(data).copy(b, RECORD_OVERHEAD);
  b.writeUInt32LE(crc32(b.subarray(8)), 4);
  return b;
}

/** `scanLog`'s verdict on `bytes`: `end=N`, `torn@N` or `corrupt@N: message`. */
function verdict(bytes: Uint8Array | number): string {
  try {
    const scan = scanLog(bytes, 'log');
    return scan.torn ? `torn@${scan.torn.offset}` : `end=${scan.end}`;
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return `corrupt@${err.offset}: ${err.message}`;
  }
}

/** Writes `bytes` to a file and returns its path. */
function logFile(t: Test, bytes: Uint8Array): string {
  const file = path.join(tmpDir(t), 'log');
  fs.writeFileSync(file, bytes);
  return file;
}

/** Runs `fn` and returns its result and the bytes it read through `fs.readSync`. */
function counted<T>(t: Test, fn: () => T): { value: T; read: number } {
  let read = 0;
  const readSync = fs.readSync;
  const restore = patch(t, fs, 'readSync', ((fd: number, buf: NodeJS.ArrayBufferView, off: number, len: number, pos: number) => {
    read += len;
    return readSync(fd, buf, off, len, pos);
  }) as typeof fs.readSync);
  try {
    return { value: fn(), read };
  } finally {
    restore();
  }
}

/** `verdict` of the log in `file`, read through a file descriptor, and the bytes read. */
function verdictOfFile(t: Test, file: string): { value: string; read: number } {
  const fd = fs.openSync(file, 'r');
  try {
    return counted(t, () => verdict(fd));
  } finally {
    fs.closeSync(fd);
  }
}

t.test('a record embedded in a torn entry is cut with it unless it continues the log', async (t) => {
  // Entry 4 starts at AFTER_PREFIX; a record embedded after `lead` bytes of its data starts
  // 25 + lead bytes after it, so it may continue the log with index 5 … 4 + ⌊(25 + lead) / 25⌋.
  const embedded = (index: number, term: number, lead: number): Buffer =>
    tornAfterPrefix(Buffer.concat([Buffer.alloc(lead, 0x61), rawRecord(BigInt(index), BigInt(term)), Buffer.from('tail')]));
  const torn = `torn@${AFTER_PREFIX}`;
  t.equal(verdict(embedded(9, 9, 2)), torn, 'an index far ahead (the corpus case)');
  t.equal(verdict(embedded(4, 2, 2)), torn, 'the torn entry\'s own index');
  t.equal(verdict(embedded(3, 2, 2)), torn, 'an index already in the log');
  t.equal(verdict(embedded(5, 1, 2)), torn, 'the next index, with a lower term');
  t.equal(verdict(embedded(6, 2, 24)), torn, 'two ahead, one byte short of room for a record in between');
  const q = (lead: number): number => AFTER_PREFIX + RECORD_OVERHEAD + lead;
  t.equal(verdict(embedded(5, 2, 2)), `corrupt@${AFTER_PREFIX}: corrupt data in log at offset ${AFTER_PREFIX}: incomplete record, followed by valid records (index 5 at offset ${q(2)})`, 'the next index and term: the log may go on');
  t.equal(verdict(embedded(6, 7, 25)), `corrupt@${AFTER_PREFIX}: corrupt data in log at offset ${AFTER_PREFIX}: incomplete record, followed by valid records (index 6 at offset ${q(25)})`, 'room for one record in between');

  // Through the store: the corpus case opens, the entry is cut with a warning.
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, LOG_FILE), embedded(9, 9, 2));
  const logger = memoryLogger();
  const s = DiskLogStore.open(dir, { logger });
  t.equal(s.lastIndex(), 3);
  t.equal(fs.statSync(path.join(dir, LOG_FILE)).size, AFTER_PREFIX);
  t.match(logger.lines, [new RegExp(`^warn: raft log .* torn last record at offset ${AFTER_PREFIX} \\(incomplete record\\)`)]);
  s.close();
});

t.test('when the bad record is the first, any valid record after it counts', async (t) => {
  const first = encodeRecords([ent(1, 1, Buffer.concat([Buffer.from('ab'), rawRecord(9n, 9n), Buffer.from('c')]))]);
  t.match(verdict(first.subarray(0, first.length - 1)), /^corrupt@0: .*incomplete record, followed by valid records \(index 9 at offset 27\)/);
  t.equal(verdict(first.subarray(0, 26)), 'torn@0', 'cut before the embedded record is whole');
});

t.test('a bad record followed by the rest of the log is corruption, at any damage', async (t) => {
  const log = encodeRecords([...PREFIX, ent(4, 2, new Uint8Array(100)), ent(5, 2), ent(6, 3)]);
  for (const at of [AFTER_PREFIX, AFTER_PREFIX + 3, AFTER_PREFIX + 4, AFTER_PREFIX + 12, AFTER_PREFIX + 24, AFTER_PREFIX + 80]) {
    const bad = Buffer.from(log);
    bad[at]! ^= 0x40;
    t.match(verdict(bad), new RegExp(`^corrupt@${AFTER_PREFIX}: .*followed by valid records \\(index 5 at offset ${AFTER_PREFIX + RECORD_OVERHEAD + 100}\\)`), `damage at ${at}`);
  }
  // The whole of entry 4 and the header of entry 5 zeroed: entry 6 still shows the log goes on.
  const zeroed = Buffer.from(log);
  zeroed.fill(0, AFTER_PREFIX, AFTER_PREFIX + RECORD_OVERHEAD + 100 + 8);
  t.match(verdict(zeroed), new RegExp(`^corrupt@${AFTER_PREFIX}: .*\\(index 6 at offset ${AFTER_PREFIX + 2 * RECORD_OVERHEAD + 103}\\)`));
});

t.test('a torn 16 MiB entry is cut, reading the file about once', async (t) => {
  const data = Buffer.alloc(16 * MiB);
  const rng = seededRng(5);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(rng.int(2 ** 32), i);
  const log = tornAfterPrefix(data, 1000);
  t.equal(verdict(log), `torn@${AFTER_PREFIX}`);
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, LOG_FILE), log);
  const { value: store, read } = counted(t, () => DiskLogStore.open(dir, { logger: memoryLogger() }));
  t.equal(store.lastIndex(), 3);
  store.close();
  t.ok(read <= log.length + 2 * MiB, `read ${read} bytes of a ${log.length}-byte log`);
});

t.test('a file of headers claiming records is decided after checksumming at most twice its size', async (t) => {
  // 1 MiB of `00 00 08 00`: at every 4th offset a header claims a 512 KiB record (index
  // and term 0x0008000000080000, type 0) that fits in the file; the first record is bad,
  // so no sequence rules any of them out. Checking them all would checksum 64 GiB.
  const crafted = Buffer.alloc(MiB);
  for (let i = 0; i < crafted.length; i += 4) crafted.writeUInt32BE(0x0000_0800, i);
  const refused = /^corrupt@0: .*checksum mismatch, followed by more records claiming to continue the log than can be checked$/;
  t.match(verdict(crafted), refused);
  const { value, read } = verdictOfFile(t, logFile(t, crafted));
  t.match(value, refused);
  // The file read once for its records and once for the search, plus at most twice its
  // size of checksummed bodies (the search's budget).
  t.ok(read <= 4 * crafted.length, `read ${read} bytes of a ${crafted.length}-byte file`);

  // A torn entry of headers that continue the log (index 5, term 2, up to near the end):
  // refused the same way, for the same bounded cost.
  const header = Buffer.alloc(RECORD_OVERHEAD);
  header.writeUInt32LE(2 * MiB, 0);
  header.writeBigUInt64LE(5n, 8);
  header.writeBigUInt64LE(2n, 16);
  const claims = tornAfterPrefix(Buffer.concat(Array.from({ length: (3 * MiB) / RECORD_OVERHEAD }, () => header)), MiB);
  const file = logFile(t, claims);
  const again = verdictOfFile(t, file);
  t.match(again.value, new RegExp(`^corrupt@${AFTER_PREFIX}: .*than can be checked$`));
  t.ok(again.read <= 4 * claims.length, `read ${again.read} bytes of a ${claims.length}-byte file`);
  t.throws(() => DiskLogStore.open(path.dirname(file)), { code: 'CORRUPT', offset: AFTER_PREFIX });

  // Such headers with indexes or terms that cannot continue the log cost no checksum at
  // all (their CRC bytes are 0xff, so that no shifted reading of them claims a record either).
  for (const [index, term] of [[4n, 2n], [3n, 2n], [5n, 1n], [2n ** 53n + 5n, 2n], [5n, 2n ** 60n]] as const) {
    const header = Buffer.alloc(RECORD_OVERHEAD, 0xff);
    header.writeUInt32LE(2 * MiB, 0);
    header.writeBigUInt64LE(index, 8);
    header.writeBigUInt64LE(term, 16);
    header[24] = 0;
    const harmless = tornAfterPrefix(Buffer.concat(Array.from({ length: (2 * MiB) / RECORD_OVERHEAD }, () => header)), 100);
    const scanned = verdictOfFile(t, logFile(t, harmless));
    t.equal(scanned.value, `torn@${AFTER_PREFIX}`, `index ${index}, term ${term}`);
    t.ok(scanned.read <= harmless.length + 2 * MiB, `index ${index}, term ${term}: read ${scanned.read} bytes of ${harmless.length}`);
  }
});

t.test('an index or term above 2^53 - 1 is refused, never rounded or cut', async (t) => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  t.equal(verdict(Buffer.concat([rawRecord(max - 1n, 1n), rawRecord(max, max)])), `end=${2 * RECORD_OVERHEAD}`, '2^53 - 1 itself is fine');
  for (const [index, term] of [[max + 2n, 1n], [2n, max + 1n], [2n ** 64n - 1n, 2n ** 64n - 1n]]) {
    const log = Buffer.concat([rawRecord(1n, 1n), rawRecord(index!, term!)]);
    t.equal(verdict(log), `corrupt@${RECORD_OVERHEAD}: corrupt data in log at offset ${RECORD_OVERHEAD}: index or term above 2^53 - 1`, `index ${index}, term ${term}`);
  }
  // The corpus record: index 2^53 + 1, which a double would read as 2^53.
  const corpus = Buffer.from('11000000fc91a9a80100000000002000010000000000000001', 'hex');
  t.match(verdict(corpus), /^corrupt@0: .*above 2\^53 - 1$/);
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, LOG_FILE), Buffer.concat([encodeRecords([ent(1, 1)]), corpus]));
  t.throws(() => DiskLogStore.open(dir), { code: 'CORRUPT', offset: RECORD_OVERHEAD + 3 }, 'the store refuses it rather than cutting it');
  // After a bad first record, such a record is no evidence that the log goes on.
  const torn = encodeRecords([ent(1, 1, Buffer.concat([rawRecord(2n ** 53n + 2n, 1n), rawRecord(2n, 2n ** 53n + 2n)]))]);
  t.equal(verdict(torn.subarray(0, torn.length - 1)), 'torn@0');
});
