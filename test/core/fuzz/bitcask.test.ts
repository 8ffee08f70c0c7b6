/**
 * Fuzzing of the Bitcask storage decoders: data records (`decodeRecord`,
 * `peekRecordSize`, and `scanRecords` over a real file) and hint files (`checkHint`,
 * `forEachHintRaw`).
 *
 * Records are encoded with `encodeRecord`, hints with the documented layout (which
 * `test/core/bitcask/hint.test.ts` checks against `HintWriter`), then mutated, with the
 * checksums recomputed half of the time so that the structural checks behind them are
 * reached (huge lengths, unknown flags, tombstones with values, entry counts). Every
 * outcome must match a reference written here from the layout; whatever decodes must be
 * written back to exactly the same bytes; a valid record cut short is `incomplete` and a
 * valid record with one bit flipped `corrupt`; declared lengths must not allocate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { scanRecords } from '../../../src/core/bitcask/datafile.js';
import { checkHint, forEachHintRaw } from '../../../src/core/bitcask/hint.js';
import { decodeRecord, encodeRecord, peekRecordSize, RECORD_HEADER_SIZE } from '../../../src/core/bitcask/record.js';
import type { Rng } from '../../../src/core/support/rng.js';
import { boundedAllocation, check, fuzz, fuzzSummary, mutate, pick, randomBytes, replayCorpus, smallLength } from '../../helpers/fuzz.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

// ---- records ----

interface RecordFields {
  key: Buffer;
  value: Buffer;
  tombstone: boolean;
  tstamp: number;
}

function randomRecord(rng: Rng): RecordFields {
  const tombstone = rng.int(5) === 0;
  return {
    key: randomBytes(rng, smallLength(rng, 32)),
    value: tombstone ? Buffer.alloc(0) : randomBytes(rng, rng.int(50) === 0 ? rng.int(5000) : smallLength(rng, 48)),
    tombstone,
    tstamp: rng.int(3) === 0 ? pick(rng, [0, 1, 2 ** 31, 2 ** 32 - 1]) : 1_700_000_000 + rng.int(1e8),
  };
}

const encode = (r: RecordFields): Buffer => encodeRecord(r.key, r.value, r.tombstone, r.tstamp);

/** Recomputes the header CRC and the record CRC of the record at `at` (as far as `b` holds it). */
function fixRecordCrcs(b: Buffer, at: number): void {
  if (b.length - at < RECORD_HEADER_SIZE) return;
  b.writeUInt32LE(crc32(b.subarray(at + 8, at + RECORD_HEADER_SIZE)), at + 4);
  const end = at + RECORD_HEADER_SIZE + b.readUInt32LE(at + 13) + b.readUInt32LE(at + 17);
  if (end <= b.length) b.writeUInt32LE(crc32(b.subarray(at + 4, end)), at);
}

/** The layout's verdict on the record at `offset` of `buf[0..limit)`: its size, or why there is none. */
function referenceRecord(buf: Buffer, offset: number, limit: number): { kind: 'ok'; size: number } | { kind: 'incomplete' | 'corrupt' } {
  if (limit - offset < RECORD_HEADER_SIZE) return { kind: 'incomplete' };
  if (crc32(buf.subarray(offset + 8, offset + RECORD_HEADER_SIZE)) !== buf.readUInt32LE(offset + 4)) return { kind: 'corrupt' };
  // Flags: bit 0 a tombstone (no value), bit 1 an expiry (8 bytes before the value), never both.
  const flags = buf[offset + 8]!;
  const keyLength = buf.readUInt32LE(offset + 13);
  const valueLength = buf.readUInt32LE(offset + 17);
  if (flags > 2 || (flags === 1 && valueLength !== 0) || (flags === 2 && valueLength < 8)) return { kind: 'corrupt' };
  const size = RECORD_HEADER_SIZE + keyLength + valueLength;
  if (limit - offset < size) return { kind: 'incomplete' };
  if (crc32(buf.subarray(offset + 4, offset + size)) !== buf.readUInt32LE(offset)) return { kind: 'corrupt' };
  if (flags === 2) {
    const at = offset + RECORD_HEADER_SIZE + keyLength;
    const expiry = buf.readBigUInt64LE(at);
    if (expiry === 0n || expiry > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: 'corrupt' };
  }
  return { kind: 'ok', size };
}

/**
 * Decodes the record at `offset` of `buf[0..limit)` and checks it against the reference,
 * `peekRecordSize`, and the encoder (a decoded record re-encodes to exactly its bytes).
 */
function checkRecordAt(buf: Buffer, offset: number, limit: number): ReturnType<typeof decodeRecord> {
  const got = decodeRecord(buf, offset, limit);
  const ref = referenceRecord(buf, offset, limit);
  check(got.kind === ref.kind, () => `decodeRecord at ${offset} (limit ${limit}) says ${got.kind}, the layout ${ref.kind}`);
  const peek = peekRecordSize(buf, offset, limit);
  const headerOk = limit - offset >= RECORD_HEADER_SIZE && crc32(buf.subarray(offset + 8, offset + RECORD_HEADER_SIZE)) === buf.readUInt32LE(offset + 4);
  check(peek === (headerOk ? RECORD_HEADER_SIZE + buf.readUInt32LE(offset + 13) + buf.readUInt32LE(offset + 17) : -1), () => `peekRecordSize says ${peek}`);
  if (got.kind === 'corrupt') check(/^(header checksum mismatch|unknown flags 0x[0-9a-f]+|tombstone with a value|bad expiry field|bad expiry \d+|record checksum mismatch)$/.test(got.reason), () => `reason ${got.reason}`);
  if (got.kind === 'ok') {
    check(got.size === (ref as { size: number }).size && got.end === offset + got.size && got.keyStart === offset + RECORD_HEADER_SIZE, 'wrong bounds');
    check(got.keyStart <= got.keyEnd && got.keyEnd <= got.valueStart && got.valueStart <= got.end && got.end <= limit, 'bounds out of order');
    check(!got.tombstone || got.valueStart === got.end, 'a tombstone with a value');
    const again = encodeRecord(buf.subarray(got.keyStart, got.keyEnd), buf.subarray(got.valueStart, got.end), got.tombstone, got.tstamp, got.expiresAt);
    check(again.equals(buf.subarray(offset, got.end)), 'a decoded record is written back to other bytes');
  }
  return got;
}

/** Scans `buf` record by record from 0, as a file scanner does; returns a summary. */
function recordsOracle(buf: Buffer): string {
  let pos = 0;
  let count = 0;
  for (;;) {
    const r = checkRecordAt(buf, pos, buf.length);
    if (r.kind !== 'ok') return `${count} records, then ${r.kind}${pos === buf.length ? ' (at the end)' : ''}`;
    count++;
    pos = r.end;
  }
}

// ---- hints ----

interface HintFields {
  flags: number;
  tstamp: number;
  key: Buffer;
  offset: number;
  size: number;
  /** With flags bit 1: the expiry, written after the key. */
  expiresAt?: number;
}

/** A hint file in the documented layout: `BKH1`, entries, then count, data size and CRC-32. */
function buildHint(entries: HintFields[], dataSize: number): Buffer {
  const parts: Buffer[] = [Buffer.from('BKH1', 'latin1')];
  for (const e of entries) {
    const h = Buffer.alloc(17);
    h[0] = e.flags;
    h.writeUInt32LE(e.tstamp, 1);
    h.writeUInt32LE(e.key.length, 5);
    h.writeUInt32LE(e.offset, 9);
    h.writeUInt32LE(e.size, 13);
    parts.push(h, e.key);
    if (e.flags & 2) {
      const x = Buffer.alloc(8);
      x.writeBigUInt64LE(BigInt(e.expiresAt ?? 1));
      parts.push(x);
    }
  }
  const trailer = Buffer.alloc(12);
  trailer.writeUInt32LE(entries.length, 0);
  trailer.writeUInt32LE(dataSize, 4);
  parts.push(trailer);
  const out = Buffer.concat(parts);
  fixHintCrc(out);
  return out;
}

function fixHintCrc(b: Buffer): void {
  if (b.length >= 16) b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)), b.length - 4);
}

function randomHintEntries(rng: Rng): HintFields[] {
  return Array.from({ length: smallLength(rng, 8) }, () => {
    const flags = pick(rng, [0, 0, 1, 2]);
    const expiresAt = flags === 2 ? 1 + rng.int(2 ** 21) * 2 ** 32 + rng.int(2 ** 32 - 1) : undefined;
    return { flags, tstamp: rng.int(2 ** 32), key: randomBytes(rng, smallLength(rng, 24)), offset: rng.int(2 ** 32), size: rng.int(2 ** 32), expiresAt };
  });
}

/** The layout's verdict on a hint: intact (with its entries) or not. */
function referenceHint(data: Buffer, dataSize: number): HintFields[] | undefined {
  if (data.length < 16 || data.subarray(0, 4).toString('latin1') !== 'BKH1') return undefined;
  const t = data.length - 12;
  if (crc32(data.subarray(0, t + 8)) !== data.readUInt32LE(t + 8) || data.readUInt32LE(t + 4) !== dataSize) return undefined;
  const entries: HintFields[] = [];
  for (let p = 4; p < t; ) {
    // Flags: bit 0 marks a tombstone, bit 1 an expiry after the key (1 to 2^53 - 1 ms), never both.
    if (t - p < 17 || data[p]! > 2) return undefined;
    const flags = data[p]!;
    const len = data.readUInt32LE(p + 5);
    const extra = flags === 2 ? 8 : 0;
    if (len + extra > t - p - 17) return undefined;
    const entry: HintFields = { flags, tstamp: data.readUInt32LE(p + 1), key: data.subarray(p + 17, p + 17 + len), offset: data.readUInt32LE(p + 9), size: data.readUInt32LE(p + 13) };
    if (extra) {
      const expiry = data.readBigUInt64LE(p + 17 + len);
      if (expiry === 0n || expiry > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      entry.expiresAt = Number(expiry);
    }
    entries.push(entry);
    p += 17 + len + extra;
  }
  return entries.length === data.readUInt32LE(t) ? entries : undefined;
}

/**
 * `checkHint` must accept exactly what the layout calls intact; then `forEachHintRaw`
 * must give back every entry, which the layout writes back to the same bytes.
 */
function hintOracle(data: Buffer, dataSize: number): string {
  const state = checkHint(data, dataSize);
  const ref = referenceHint(data, dataSize);
  check((typeof state !== 'string') === (ref !== undefined), () => `checkHint says ${typeof state === 'string' ? state : 'intact'}, the layout ${ref ? 'intact' : 'not'}`);
  if (typeof state === 'string') {
    check(state.length > 0, 'an empty reason');
    return 'rejected';
  }
  const t = data.length - 12;
  check(state.count === ref!.length && state.entriesEnd === t && state.crc === crc32(data.subarray(0, t)) && state.keyBytes === ref!.reduce((n, e) => n + e.key.length, 0), 'a wrong HintState');
  const seen: HintFields[] = [];
  let expectStart = 4 + 17;
  forEachHintRaw(data, (tombstone, tstamp, keyStart, keyEnd, offset, size, expiresAt) => {
    check(keyStart === expectStart && keyStart <= keyEnd && keyEnd <= t, 'entry bounds out of place');
    seen.push({ flags: tombstone ? 1 : expiresAt > 0 ? 2 : 0, tstamp, key: data.subarray(keyStart, keyEnd), offset, size, expiresAt: expiresAt || undefined });
    expectStart = keyEnd + (expiresAt > 0 ? 8 : 0) + 17;
  });
  check(seen.length === state.count, 'forEachHintRaw visited another number of entries');
  check(buildHint(seen, dataSize).equals(data), 'the entries forEachHintRaw gave are written back to other bytes');
  return `intact:${state.count}`;
}

/** A hint corpus entry: the data size (u32 LE) followed by the hint file. */
function hintCorpusOracle(input: Buffer): string {
  check(input.length >= 4, 'a bitcask-hint corpus entry starts with the data size');
  return hintOracle(input.subarray(4), input.readUInt32LE(0));
}

// ---- tests ----

t.test('corpus', async (t) => {
  replayCorpus(t, 'bitcask-record', (input) => boundedAllocation(input.length, () => recordsOracle(input)));
  replayCorpus(t, 'bitcask-hint', (input) => boundedAllocation(input.length, () => hintCorpusOracle(input)));
});

t.test('a record cut short is incomplete and one flipped bit makes it corrupt, for every cut and bit', async (t) => {
  const rec = encode({ key: Buffer.from('key'), value: Buffer.from('value'), tombstone: false, tstamp: 1_700_000_000 });
  for (let cut = 0; cut < rec.length; cut++) t.equal(decodeRecord(rec.subarray(0, cut), 0).kind, 'incomplete', `cut at ${cut}`);
  let corrupt = 0;
  for (let bit = 0; bit < rec.length * 8; bit++) {
    const b = Buffer.from(rec);
    b[bit >> 3]! ^= 1 << (bit & 7);
    if (decodeRecord(b, 0).kind === 'corrupt') corrupt++;
  }
  t.equal(corrupt, rec.length * 8);
});

t.test('a header claiming 4 GiB allocates nothing, in memory and in a file scan', async (t) => {
  const rec = encode({ key: Buffer.from('k'), value: Buffer.from('v'), tombstone: false, tstamp: 1 });
  rec.writeUInt32LE(0xffffffff, 13);
  rec.writeUInt32LE(0xffffffff, 17);
  fixRecordCrcs(rec, 0);
  t.equal(boundedAllocation(rec.length, () => decodeRecord(rec, 0).kind), 'incomplete');
  t.equal(peekRecordSize(rec, 0), RECORD_HEADER_SIZE + 2 * 0xffffffff);
  const file = path.join(tmpDir(t, 'bitraft-fuzz-record-'), 'data');
  fs.writeFileSync(file, Buffer.concat([encode({ key: Buffer.from('a'), value: Buffer.from('b'), tombstone: false, tstamp: 1 }), rec, Buffer.alloc(100)]));
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  const result = boundedAllocation(0, () => scanRecords(fd, fs.fstatSync(fd).size, () => {}));
  t.same(result.problem?.kind, 'incomplete');
  t.equal(result.next, 23);
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'bitcask-record/records', (c) => {
    const records = Array.from({ length: 1 + c.rng.int(4) }, () => randomRecord(c.rng));
    const bytes = Buffer.concat(records.map(encode));
    switch (c.rng.int(5)) {
      case 0: {
        c.input(bytes);
        check(recordsOracle(bytes) === `${records.length} records, then incomplete (at the end)`, 'valid records do not all decode');
        // The first record, cut anywhere, is incomplete; one bit flipped, corrupt.
        const first = encode(records[0]!);
        check(checkRecordAt(first, 0, c.rng.int(first.length)).kind === 'incomplete', 'a cut record is not incomplete');
        const flipped = Buffer.from(first);
        flipped[c.rng.int(first.length)]! ^= 1 << c.rng.int(8);
        check(checkRecordAt(flipped, 0, flipped.length).kind === 'corrupt', 'a record with a flipped bit is not corrupt');
        return;
      }
      case 1: {
        // Mutated, then the checksums of a record recomputed, so the checks behind them run.
        const m = mutate(c.rng, bytes);
        const starts = [0];
        for (const r of records) starts.push(starts.at(-1)! + RECORD_HEADER_SIZE + r.key.length + r.value.length);
        fixRecordCrcs(m.bytes, pick(c.rng, starts));
        c.input(m.bytes);
        boundedAllocation(m.bytes.length, () => recordsOracle(m.bytes));
        return;
      }
      case 2: {
        // An edge value in a length, flags or timestamp field of the first record, checksums fixed.
        const b = Buffer.from(bytes);
        const field = pick(c.rng, [8, 9, 13, 17]);
        if (field === 8) b[8] = pick(c.rng, [0, 1, 2, 3, 0x80, 0xff]);
        else b.writeUInt32LE(pick(c.rng, [0, 1, 0x7fffffff, 0xffffffff, b.length, c.rng.int(2 ** 32)]), field);
        fixRecordCrcs(b, 0);
        c.input(b);
        boundedAllocation(b.length, () => recordsOracle(b));
        return;
      }
      default: {
        const m = mutate(c.rng, bytes, { other: encode(randomRecord(c.rng)) });
        c.input(m.bytes);
        recordsOracle(m.bytes);
        // And at an arbitrary offset and limit.
        const offset = c.rng.int(m.bytes.length + 1);
        checkRecordAt(m.bytes, offset, offset + c.rng.int(m.bytes.length - offset + 1));
      }
    }
  });
  fuzz(t, 'bitcask-record/random', (c) => {
    const b = randomBytes(c.rng, c.rng.int(100));
    if (c.rng.int(2) === 0) fixRecordCrcs(b, 0);
    recordsOracle(c.input(b));
  });
  fuzz(t, 'bitcask-hint/hints', (c) => {
    const entries = randomHintEntries(c.rng);
    const dataSize = c.rng.int(2 ** 32);
    const hint = buildHint(entries, dataSize);
    const withSize = (h: Buffer, size: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(size);
      return Buffer.concat([b, h]);
    };
    switch (c.rng.int(5)) {
      case 0:
        c.input(withSize(hint, dataSize));
        check(hintOracle(hint, dataSize) === `intact:${entries.length}`, 'a valid hint is not intact');
        return;
      case 1:
        c.input(withSize(hint, (dataSize ^ 1) >>> 0));
        check(hintOracle(hint, (dataSize ^ 1) >>> 0) === 'rejected', 'a hint of another data size is intact');
        return;
      default: {
        const m = mutate(c.rng, hint, { other: buildHint(randomHintEntries(c.rng), dataSize) });
        if (c.rng.int(3) !== 0) fixHintCrc(m.bytes);
        c.input(withSize(m.bytes, dataSize));
        if (m.huge) boundedAllocation(m.bytes.length, () => hintOracle(m.bytes, dataSize));
        else hintOracle(m.bytes, dataSize);
      }
    }
  });
});

t.test('scanRecords over a real file agrees with decoding in memory', async (t) => {
  t.teardown(() => fuzzSummary(t));
  const dir = tmpDir(t, 'bitraft-fuzz-scan-');
  fuzz(t, 'bitcask-record/scan-file', (c) => {
    const records = Array.from({ length: 1 + c.rng.int(6) }, () => randomRecord(c.rng));
    let bytes: Buffer = Buffer.concat(records.map(encode));
    if (c.rng.int(3) !== 0) {
      bytes = mutate(c.rng, bytes).bytes;
      if (c.rng.int(2) === 0) fixRecordCrcs(bytes, 0);
    }
    c.input(bytes);
    const file = path.join(dir, `${c.index}.data`);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      const seen: number[] = [];
      const result = boundedAllocation(bytes.length, () => scanRecords(fd, bytes.length, (r) => seen.push(r.offset)));
      // The same walk in memory.
      const expected: number[] = [];
      let pos = 0;
      let kind: string | undefined;
      while (pos < bytes.length) {
        const r = decodeRecord(bytes, pos);
        if (r.kind !== 'ok') {
          kind = r.kind;
          break;
        }
        expected.push(pos);
        pos = r.end;
      }
      check(seen.join() === expected.join() && result.next === pos && result.problem?.kind === kind, () => `the file scan gives ${seen.join()} then ${result.problem?.kind} at ${result.next}, memory ${expected.join()} then ${kind} at ${pos}`);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file);
    }
  });
});
