import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DataFile, findValidRecord, readFully, scanRecords, writeFully, type ScanResult } from '../../../src/core/bitcask/datafile.js';
import { RECORD_HEADER_SIZE, encodeRecord, recordSize } from '../../../src/core/bitcask/record.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

type DataFileModule = typeof import('../../../src/core/bitcask/datafile.js');

const MiB = 1 << 20;
/** The scanner's read chunk and the write buffer are both 1 MiB. */
const CHUNK = MiB;

interface Rec {
  key: Buffer;
  value: Buffer;
  tombstone: boolean;
  tstamp: number;
}

/** Seeded bytes, filled a word at a time so that megabytes stay cheap. */
function bytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (rng.int(2 ** 32) | 1) >>> 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (; i < n; i++) b[i] = rng.int(256);
  return b;
}

function rec(rng: Rng, keyLength: number, valueLength: number, tombstone = false): Rec {
  return { key: bytes(rng, keyLength), value: tombstone ? Buffer.alloc(0) : bytes(rng, valueLength), tombstone, tstamp: rng.int(2 ** 32) };
}

/** A record whose encoded size is exactly `size` (at least 21 + keyLength). */
function recOfSize(rng: Rng, size: number, keyLength = 8): Rec {
  return rec(rng, keyLength, size - RECORD_HEADER_SIZE - keyLength);
}

const sizeOf = (r: Rec) => recordSize(r.key.length, r.value.length);

function offsetsOf(recs: Rec[]): number[] {
  const out: number[] = [];
  let p = 0;
  for (const r of recs) {
    out.push(p);
    p += sizeOf(r);
  }
  return out;
}

const encodeAll = (recs: Rec[]) => Buffer.concat(recs.map((r) => encodeRecord(r.key, r.value, r.tombstone, r.tstamp)));

function writeFile(t: Test, recs: Rec[], name = 'file.data'): { file: string; fd: number; size: number; offsets: number[] } {
  const file = path.join(tmpDir(t), name);
  const data = encodeAll(recs);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r+');
  t.teardown(() => fs.closeSync(fd));
  return { file, fd, size: data.length, offsets: offsetsOf(recs) };
}

interface Scan {
  result: ScanResult;
  /** Offsets of the records seen, in order. */
  offsets: number[];
  /** Descriptions of records that differ from the model at their position. */
  mismatches: string[];
}

/**
 * Scans and checks every record against `expected`, starting at model index `first`.
 * Key and value bytes are compared inside the callback, while `buf` is valid.
 */
function scan(fd: number, size: number, expected: Rec[], expectedOffsets: number[], start = 0, budget?: number): Scan {
  const offsets: number[] = [];
  const mismatches: string[] = [];
  let i = expectedOffsets.indexOf(start);
  if (i < 0) i = expectedOffsets.length;
  const result = scanRecords(
    fd,
    size,
    ({ offset, record, buf }) => {
      const want = expected[i];
      if (
        !want ||
        offset !== expectedOffsets[i] ||
        record.tombstone !== want.tombstone ||
        record.tstamp !== want.tstamp ||
        record.size !== sizeOf(want) ||
        record.end - record.keyStart !== record.size - RECORD_HEADER_SIZE ||
        !buf.subarray(record.keyStart, record.valueStart).equals(want.key) ||
        !buf.subarray(record.valueStart, record.end).equals(want.value)
      ) {
        mismatches.push(`record #${i} at ${offset}`);
      }
      offsets.push(offset);
      i++;
    },
    start,
    budget,
  );
  return { result, offsets, mismatches };
}

/**
 * A file built so that the scanner meets every chunk situation: a header cut by the end
 * of the first chunk, bodies cut by later chunk ends, records larger than a chunk (so the
 * chunk must grow), a record ending exactly at a chunk end, and many small records.
 */
function straddlingRecords(rng: Rng): Rec[] {
  const recs: Rec[] = [];
  let size = 0;
  const push = (r: Rec) => {
    recs.push(r);
    size += sizeOf(r);
  };
  // Fill the first chunk up to 10 bytes before its end: the next header straddles it.
  while (CHUNK - 10 - size > 60_000) push(recOfSize(rng, 21 + 8 + rng.int(50_000)));
  push(recOfSize(rng, CHUNK - 10 - size));
  // A mid-sized record whose header starts 10 bytes before the first chunk boundary.
  push(rec(rng, 16, 200_000));
  // Records of up to 300 KiB, so bodies run past chunk ends.
  for (let i = 0; i < 12; i++) push(rec(rng, rng.int(100), rng.int(300_000), rng.int(5) === 0));
  // Larger than a chunk: the scanner has to grow its buffer, twice.
  push(rec(rng, 33, 1.5 * MiB));
  push(rec(rng, 0, 2.5 * MiB + 7));
  push(rec(rng, 5, 3 * MiB));
  // Hundreds of small records, including empty keys, empty values and tombstones.
  for (let i = 0; i < 300; i++) {
    const kind = rng.int(6);
    push(rec(rng, kind === 0 ? 0 : 1 + rng.int(40), kind === 1 ? 0 : rng.int(3000), kind === 2));
  }
  return recs;
}

t.test('scanRecords reads every record of a file, across chunk boundaries', async (t) => {
  const recs = straddlingRecords(seededRng(1));
  const { fd, size, offsets } = writeFile(t, recs);
  // The test data has what it claims to have.
  const spans = recs.map((r, i) => [offsets[i]!, offsets[i]! + sizeOf(r)] as const);
  t.ok(spans.some(([a]) => a === CHUNK - 10), 'a header straddles the first 1 MiB boundary');
  t.ok(spans.filter(([a, b]) => Math.floor(a / CHUNK) !== Math.floor((b - 1) / CHUNK)).length >= 5, 'records cross 1 MiB multiples');
  t.ok(recs.filter((r) => sizeOf(r) > CHUNK).length >= 3, 'records larger than a chunk');

  const s = scan(fd, size, recs, offsets);
  t.same(s.result, { next: size }, 'reached the end without a problem');
  t.same(s.offsets, offsets, 'every record, in order');
  t.same(s.mismatches, []);
});

t.test('scanRecords of an empty file and from the end', async (t) => {
  const { fd } = writeFile(t, []);
  let calls = 0;
  t.same(scanRecords(fd, 0, () => calls++), { next: 0 });
  const recs = [rec(seededRng(2), 3, 3)];
  const w = writeFile(t, recs, 'one.data');
  t.same(scanRecords(w.fd, w.size, () => calls++, w.size), { next: w.size }, 'start at the end');
  t.equal(calls, 0);
  t.same(scanRecords(w.fd, w.size, () => calls++, 0, 0), { next: 0 }, 'a zero budget reads nothing');
  t.equal(calls, 0);
});

t.test('scanning in small budgets and resuming from next yields the same records as one pass', async (t) => {
  const recs = straddlingRecords(seededRng(3));
  const { fd, size, offsets } = writeFile(t, recs);
  // Every record is at least 21 bytes, so a budget of 1 reads exactly one record per call.
  for (const budget of [1, 5000, 100_000, CHUNK - 1, CHUNK, 2 * CHUNK + 1]) {
    const seen: number[] = [];
    const mismatches: string[] = [];
    let bad = 0;
    let pos = 0;
    let calls = 0;
    while (pos < size && calls < recs.length + 5) {
      calls++;
      const s = scan(fd, size, recs, offsets, pos, budget);
      seen.push(...s.offsets);
      mismatches.push(...s.mismatches);
      if (s.result.problem) bad++;
      const read = s.result.next - pos;
      const last = s.offsets.length ? sizeOf(recs[offsets.indexOf(s.offsets.at(-1)!)]!) : 0;
      // Stops as soon as the budget is reached: at least `budget` bytes (unless at the end),
      // and the budget was not yet reached before the last record.
      if (s.result.next < size && read < budget) bad++;
      if (read - last >= budget) bad++;
      if (s.offsets.length === 0) bad++;
      pos = s.result.next;
    }
    t.equal(pos, size, `budget ${budget}: reached the end`);
    t.same(seen, offsets, `budget ${budget}: same records`);
    t.same(mismatches, []);
    t.equal(bad, 0, `budget ${budget}: every step respected its budget`);
  }
  // Starting at any record boundary reads the rest.
  for (const i of [1, 7, 8, 30, recs.length - 1]) {
    const s = scan(fd, size, recs, offsets, offsets[i]);
    t.same(s.offsets, offsets.slice(i), `start at record ${i}`);
    t.same(s.mismatches, []);
    t.same(s.result, { next: size });
  }
});

t.test('a file cut inside its last record is incomplete at that record', async (t) => {
  const rng = seededRng(4);
  const recs = [...Array.from({ length: 30 }, () => rec(rng, rng.int(20), rng.int(100), rng.int(4) === 0)), rec(rng, 40, 300)];
  const { file, fd, size, offsets } = writeFile(t, recs);
  const last = offsets.at(-1)!;
  const badCuts: number[] = [];
  for (let cut = last + 1; cut < size; cut++) {
    const s = scan(fd, cut, recs, offsets);
    if (s.mismatches.length || s.offsets.join() !== offsets.slice(0, -1).join()) badCuts.push(cut);
    if (s.result.next !== last || s.result.problem?.kind !== 'incomplete' || s.result.problem.offset !== last) badCuts.push(cut);
  }
  t.same(badCuts, [], `every one of ${size - last - 1} cuts`);
  // Cut at a record boundary: no problem at all.
  t.same(scan(fd, last, recs, offsets).result, { next: last });
  // And the same with the file really truncated.
  const whole = fs.readFileSync(file);
  for (const cut of [last + 1, last + RECORD_HEADER_SIZE - 1, last + RECORD_HEADER_SIZE, size - 1]) {
    fs.writeFileSync(file, whole.subarray(0, cut));
    const s = scan(fd, fs.fstatSync(fd).size, recs, offsets);
    t.same(s.offsets, offsets.slice(0, -1), `truncated to ${cut}: earlier records`);
    t.match(s.result, { next: last, problem: { offset: last, kind: 'incomplete' } }, `truncated to ${cut}`);
    t.type(s.result.problem?.reason, 'string');
  }
});

t.test('a file cut inside a large record that spans chunks is incomplete at that record', async (t) => {
  const rng = seededRng(5);
  const recs = [...Array.from({ length: 20 }, () => rec(rng, 10, 50_000)), rec(rng, 10, 1.5 * MiB)];
  const { fd, size, offsets } = writeFile(t, recs);
  const last = offsets.at(-1)!;
  t.ok(last < CHUNK && size > 2 * CHUNK, 'the last record starts in the first chunk and ends past the second');
  const cuts = new Set<number>();
  for (let d = 1; d < 30; d++) cuts.add(last + d);
  for (let c = last + 1; c < size; c += 65_537) cuts.add(c);
  for (const c of [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, size - 21, size - 1]) cuts.add(c);
  const badCuts: number[] = [];
  for (const cut of cuts) {
    const s = scan(fd, cut, recs, offsets);
    if (s.mismatches.length || s.offsets.length !== recs.length - 1) badCuts.push(cut);
    if (s.result.next !== last || s.result.problem?.kind !== 'incomplete' || s.result.problem.offset !== last) badCuts.push(cut);
  }
  t.same(badCuts, [], `${cuts.size} cuts`);
});

t.test('a file shorter than the size claimed for it is incomplete where its data ends', async (t) => {
  const rng = seededRng(6);
  const recs = Array.from({ length: 10 }, () => rec(rng, 4, 100));
  const { fd, size, offsets } = writeFile(t, recs);
  for (const claimed of [size + 1, size + 20, size + 5000]) {
    const s = scan(fd, claimed, recs, offsets);
    t.same(s.offsets, offsets);
    t.match(s.result, { next: size, problem: { offset: size, kind: 'incomplete' } }, `claimed ${claimed}`);
  }
});

t.test('a flipped byte anywhere is corrupt at the record holding it', async (t) => {
  const rng = seededRng(7);
  const recs = Array.from({ length: 20 }, (_, i) => rec(rng, i % 4 === 0 ? 0 : 1 + rng.int(10), i % 5 === 0 ? 0 : rng.int(60), i % 7 === 3));
  const { fd, size, offsets } = writeFile(t, recs);
  const owner = (at: number) => {
    let i = 0;
    while (i + 1 < offsets.length && offsets[i + 1]! <= at) i++;
    return i;
  };
  const one = Buffer.alloc(1);
  let bad = 0;
  for (let at = 0; at < size; at++) {
    // One flip per byte, of a varying pattern: a single low bit, a single high bit, all bits.
    for (const mask of [[0x01, 0x80, 0xff, 0x10][at % 4]!]) {
      readFully(fd, one, 1, at);
      const orig = one[0]!;
      one[0] = orig ^ mask;
      writeFully(fd, one, 1, at);
      const i = owner(at);
      const s = scan(fd, size, recs, offsets);
      if (s.mismatches.length || s.offsets.join() !== offsets.slice(0, i).join()) bad++;
      if (s.result.next !== offsets[i] || s.result.problem?.kind !== 'corrupt' || s.result.problem.offset !== offsets[i]) bad++;
      if (typeof s.result.problem?.reason !== 'string') bad++;
      one[0] = orig;
      writeFully(fd, one, 1, at);
    }
  }
  t.equal(bad, 0, `all ${size} damaged bytes`);
  t.same(scan(fd, size, recs, offsets).result, { next: size }, 'restored file scans clean');
});

t.test('flipped bytes in records that straddle chunks are corrupt at those records', async (t) => {
  const recs = straddlingRecords(seededRng(8));
  const { fd, size, offsets } = writeFile(t, recs);
  const header = offsets.findIndex((o) => o === CHUNK - 10);
  const big = recs.findIndex((r) => sizeOf(r) > 2 * CHUNK);
  const spots: [number, number][] = [
    [header, offsets[header]! + 2], // record checksum, in the first chunk
    [header, offsets[header]! + 14], // key length, past the first chunk's end
    [header, offsets[header]! + 150_000], // body
    [big, offsets[big]! + 4],
    [big, offsets[big]! + CHUNK + 3],
    [big, offsets[big]! + sizeOf(recs[big]!) - 1],
    [recs.length - 1, size - 1],
  ];
  const one = Buffer.alloc(1);
  for (const [i, at] of spots) {
    readFully(fd, one, 1, at);
    one[0]! ^= 0x20;
    writeFully(fd, one, 1, at);
    const s = scan(fd, size, recs, offsets);
    t.same(s.offsets, offsets.slice(0, i), `byte ${at}: earlier records`);
    t.same(s.mismatches, []);
    t.match(s.result, { next: offsets[i], problem: { offset: offsets[i], kind: 'corrupt' } }, `byte ${at} of record ${i}`);
    one[0]! ^= 0x20;
    writeFully(fd, one, 1, at);
  }
});

t.test('readFully and writeFully', async (t) => {
  const dir = tmpDir(t);
  const fd = fs.openSync(path.join(dir, 'f'), 'w+');
  t.teardown(() => fs.closeSync(fd));
  const data = bytes(seededRng(9), 5000);
  writeFully(fd, data, 3000, 100);
  t.equal(fs.fstatSync(fd).size, 3100);
  const back = Buffer.alloc(4000);
  t.equal(readFully(fd, back, 3000, 100), 3000);
  t.ok(back.subarray(0, 3000).equals(data.subarray(0, 3000)));
  t.equal(readFully(fd, back, 4000, 1000), 2100, 'short at the end of the file');
  t.ok(back.subarray(0, 2100).equals(data.subarray(900, 3000)));
  t.equal(readFully(fd, back, 10, 9999), 0, 'past the end');
  t.equal(readFully(fd, back, 0, 0), 0);
});

t.test('writeFully and readFully loop over short writes and reads', async (t) => {
  const writes: number[] = [];
  const reads: number[] = [];
  const mod = await t.mockImport<DataFileModule>('../../../src/core/bitcask/datafile.js', {
    'node:fs': t.createMock(fs, {
      writeSync: (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
        writes.push(len);
        return fs.writeSync(fd, buf, off, Math.min(len, 7), pos);
      },
      readSync: (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
        reads.push(len);
        return fs.readSync(fd, buf, off, Math.min(len, 5), pos);
      },
    }),
  });
  const file = path.join(tmpDir(t), 'f');
  const fd = fs.openSync(file, 'w+');
  t.teardown(() => fs.closeSync(fd));
  const data = bytes(seededRng(10), 100);
  mod.writeFully(fd, data, 100, 0);
  t.equal(writes.length, 15, '100 bytes in writes of 7');
  t.ok(fs.readFileSync(file).equals(data));
  const back = Buffer.alloc(100);
  t.equal(mod.readFully(fd, back, 100, 0), 100);
  t.equal(reads.length, 20, '100 bytes in reads of 5');
  t.ok(back.equals(data));
});

t.test('DataFile: appends are buffered, readable, then flushed', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, '0000000001.data');
  const id = { major: 1, minor: 0 };
  const df = DataFile.openAppendable(id, file);
  t.equal(df.id, id);
  t.equal(df.path, file);
  t.equal(df.appendable, true);
  t.equal(df.size, 0);
  t.equal(df.pendingBytes, 0);
  const rng = seededRng(11);
  const recs = [rec(rng, 3, 10), rec(rng, 0, 0), rec(rng, 5, 0, true), rec(rng, 50, 2000)];
  const offsets = offsetsOf(recs);
  const got = recs.map((r) => df.appendRecord(r.key, r.value, r.tombstone, r.tstamp));
  t.same(got, offsets, 'offsets are the running size');
  const total = offsets.at(-1)! + sizeOf(recs.at(-1)!);
  t.equal(df.size, total);
  t.equal(df.pendingBytes, total);
  t.equal(fs.statSync(file).size, 0, 'nothing handed to the OS yet');
  recs.forEach((r, i) => {
    t.ok(df.read(offsets[i]!, sizeOf(r)).equals(encodeRecord(r.key, r.value, r.tombstone, r.tstamp)), `buffered read ${i}`);
  });
  // A read from the buffer is a copy.
  const copy = df.read(0, sizeOf(recs[0]!));
  copy.fill(0);
  t.notOk(df.read(0, sizeOf(recs[0]!)).equals(copy), 'the buffer is not exposed');

  df.flush();
  t.equal(df.pendingBytes, 0);
  t.equal(df.size, total);
  t.ok(fs.readFileSync(file).equals(encodeAll(recs)), 'file holds exactly the records');
  df.flush(); // nothing to do
  t.equal(fs.statSync(file).size, total);

  // Mixed: older records from the file, newer from the buffer.
  const more = [rec(rng, 7, 70), rec(rng, 8, 80)];
  const moreOffsets = more.map((r) => df.appendRecord(r.key, r.value, r.tombstone, r.tstamp));
  t.same(moreOffsets, [total, total + sizeOf(more[0]!)]);
  t.ok(df.read(offsets[3]!, sizeOf(recs[3]!)).equals(encodeRecord(recs[3]!.key, recs[3]!.value, false, recs[3]!.tstamp)));
  t.ok(df.read(moreOffsets[1]!, sizeOf(more[1]!)).equals(encodeRecord(more[1]!.key, more[1]!.value, false, more[1]!.tstamp)));

  df.syncNow();
  t.equal(df.pendingBytes, 0);
  t.ok(fs.readFileSync(file).equals(encodeAll([...recs, ...more])));
  t.equal(df.read(df.size - 5, 100).length, 5, 'a read past the end of the file is short');
  df.close();
});

// Regression: reads at or after `written` come from the write buffer and must be clamped
// to the buffered bytes, or they return stale bytes (phantom records) from the buffer.
t.test('DataFile: reads past the logical end are short, from the buffer as from the file', async (t) => {
  const file = path.join(tmpDir(t), 'f.data');
  const df = DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const rng = seededRng(18);
  const old = rec(rng, 4, 100);
  df.appendRecord(old.key, old.value, false, old.tstamp);
  df.flush(); // the buffer still holds `old`'s bytes, now at buffer position 0
  const end = df.size;
  t.equal(df.read(end, 100).length, 0, 'at the end, with nothing buffered');
  t.equal(df.read(end + 1000, 10).length, 0, 'well past the end');
  const r = rec(rng, 1, 1);
  df.appendRecord(r.key, r.value, false, r.tstamp);
  t.equal(df.read(end, 1000).length, sizeOf(r), 'a buffered read stops at the buffered bytes');
  const past = df.read(df.size, sizeOf(old));
  t.equal(past.length, 0, 'no phantom bytes after the last record');
  df.close();
  const ro = DataFile.openReadOnly({ major: 1, minor: 0 }, file);
  t.equal(ro.read(ro.size, 100).length, 0, 'the file read is short, for comparison');
  ro.close();
});

t.test('DataFile: a full buffer is flushed; records larger than the buffer bypass it', async (t) => {
  const file = path.join(tmpDir(t), 'f.data');
  const df = DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const rng = seededRng(12);
  const recs: Rec[] = [];
  const offsets: number[] = [];
  const add = (r: Rec) => {
    recs.push(r);
    offsets.push(df.appendRecord(r.key, r.value, r.tombstone, r.tstamp));
  };
  // About 1.3 MiB of 10 KiB records: the buffer must be flushed on the way.
  for (let i = 0; i < 130; i++) add(rec(rng, 10, 10_000));
  const onDisk = fs.statSync(file).size;
  t.ok(onDisk > 0, 'the buffer was flushed when full');
  t.ok(df.pendingBytes > 0 && df.pendingBytes <= MiB);
  t.equal(onDisk + df.pendingBytes, df.size);
  t.ok(onDisk % sizeOf(recs[0]!) === 0, 'only whole records were flushed');

  // A record of exactly the buffer's size still goes through the buffer.
  add(recOfSize(rng, MiB));
  t.equal(df.pendingBytes, MiB, 'buffered records flushed first, then this one buffered');
  t.equal(fs.statSync(file).size, df.size - MiB);

  // One byte more and it is written directly, after what was buffered.
  add(recOfSize(rng, MiB + 1));
  t.equal(df.pendingBytes, 0, 'the buffer was flushed, the large record written directly');
  t.equal(fs.statSync(file).size, df.size);
  add(rec(rng, 1, 1));
  add(rec(rng, 100, 3 * MiB));
  t.equal(df.pendingBytes, 0);
  add(rec(rng, 1, 1));
  t.equal(df.pendingBytes, sizeOf(recs.at(-1)!));

  t.same(offsets, offsetsOf(recs), 'offsets follow each other');
  for (const i of [0, 129, 130, 131, 132, 133, 134]) {
    const r = recs[i]!;
    t.ok(df.read(offsets[i]!, sizeOf(r)).equals(encodeRecord(r.key, r.value, r.tombstone, r.tstamp)), `read ${i}`);
  }
  df.close();
  t.ok(fs.readFileSync(file).equals(encodeAll(recs)), 'close flushed the rest; the file is exactly the records');
});

t.test('DataFile: seal, read-only files and reopening', async (t) => {
  const file = path.join(tmpDir(t), 'f.data');
  const rng = seededRng(13);
  const recs = [rec(rng, 4, 40), rec(rng, 4, 0, true), rec(rng, 4, 44)];
  const offsets = offsetsOf(recs);
  const total = encodeAll(recs).length;

  const df = DataFile.openAppendable({ major: 2, minor: 0 }, file);
  for (const r of recs) df.appendRecord(r.key, r.value, r.tombstone, r.tstamp);
  df.seal();
  t.equal(df.appendable, false);
  t.equal(df.pendingBytes, 0);
  t.equal(df.size, total);
  t.equal(fs.statSync(file).size, total, 'seal flushed');
  t.throws(() => df.appendRecord(Buffer.from('k'), Buffer.from('v'), false, 1), TypeError);
  t.equal(df.size, total);
  t.ok(df.read(offsets[2]!, sizeOf(recs[2]!)).equals(encodeRecord(recs[2]!.key, recs[2]!.value, false, recs[2]!.tstamp)));
  df.seal(); // again: nothing to do
  df.flush();
  df.close();

  const ro = DataFile.openReadOnly({ major: 2, minor: 0 }, file);
  t.equal(ro.appendable, false);
  t.equal(ro.size, total);
  t.equal(ro.pendingBytes, 0);
  t.throws(() => ro.appendRecord(Buffer.from('k'), Buffer.from('v'), false, 1), TypeError);
  t.ok(ro.read(offsets[1]!, sizeOf(recs[1]!)).equals(encodeRecord(recs[1]!.key, Buffer.alloc(0), true, recs[1]!.tstamp)));
  const s = scan(ro.fd, ro.size, recs, offsets);
  t.same(s.offsets, offsets);
  t.same(s.mismatches, []);
  ro.close();
  t.throws(() => DataFile.openReadOnly({ major: 3, minor: 0 }, path.join(path.dirname(file), 'missing.data')), { code: 'ENOENT' });

  // Reopened for appends: continue at the end, or cut back to a given size.
  const again = DataFile.openAppendable({ major: 2, minor: 0 }, file);
  t.equal(again.size, total, 'appends continue at the end');
  const extra = rec(rng, 2, 2);
  t.equal(again.appendRecord(extra.key, extra.value, false, extra.tstamp), total);
  again.close();
  t.ok(fs.readFileSync(file).equals(encodeAll([...recs, extra])));

  const cut = DataFile.openAppendable({ major: 2, minor: 0 }, file, offsets[2]);
  t.equal(cut.size, offsets[2]);
  t.equal(fs.statSync(file).size, offsets[2], 'anything after the given size is cut');
  t.equal(cut.appendRecord(extra.key, extra.value, false, extra.tstamp), offsets[2]);
  cut.close();
  t.ok(fs.readFileSync(file).equals(encodeAll([recs[0]!, recs[1]!, extra])));
});

/** Loads datafile.ts with an fs whose writes (and optionally truncations) can be made to fail. */
async function failingFs(t: Test) {
  const state = { failWrites: false, failTruncate: false, partial: 0, truncates: 0 };
  const mod = await t.mockImport<DataFileModule>('../../../src/core/bitcask/datafile.js', {
    'node:fs': t.createMock(fs, {
      writeSync: (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
        if (!state.failWrites) return fs.writeSync(fd, buf, off, len, pos);
        // A disk filling up: the first call gets half of the bytes out, the next one fails.
        if (state.partial === 0 && len > 1) {
          state.partial++;
          return fs.writeSync(fd, buf, off, Math.floor(len / 2), pos);
        }
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      },
      ftruncateSync: (fd: number, len?: number) => {
        state.truncates++;
        if (state.failTruncate) throw Object.assign(new Error('i/o error'), { code: 'EIO' });
        fs.ftruncateSync(fd, len);
      },
    }),
  });
  return { mod, state };
}

t.test('DataFile: a failed flush cuts the file back and keeps the buffer for a retry', async (t) => {
  const { mod, state } = await failingFs(t);
  const file = path.join(tmpDir(t), 'f.data');
  const df = mod.DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const rng = seededRng(14);
  const first = [rec(rng, 3, 300), rec(rng, 3, 300)];
  for (const r of first) df.appendRecord(r.key, r.value, r.tombstone, r.tstamp);
  df.flush();
  const flushed = df.size;
  const later = [rec(rng, 3, 500), rec(rng, 0, 0, true), rec(rng, 3, 700)];
  const laterOffsets = later.map((r) => df.appendRecord(r.key, r.value, r.tombstone, r.tstamp));
  const size = df.size;
  const pending = df.pendingBytes;

  state.failWrites = true;
  t.throws(() => df.flush(), { code: 'ENOSPC' });
  t.equal(state.partial, 1, 'part of the buffer did reach the file');
  t.equal(fs.statSync(file).size, flushed, 'the file was cut back to its last whole record');
  t.equal(df.pendingBytes, pending, 'the buffer is kept');
  t.equal(df.size, size);
  later.forEach((r, i) => {
    t.ok(df.read(laterOffsets[i]!, sizeOf(r)).equals(encodeRecord(r.key, r.value, r.tombstone, r.tstamp)), `still readable ${i}`);
  });
  t.throws(() => df.syncNow(), { code: 'ENOSPC' }, 'sync fails the same way');
  t.equal(fs.statSync(file).size, flushed);

  state.failWrites = false;
  df.flush();
  t.equal(df.pendingBytes, 0);
  t.ok(fs.readFileSync(file).equals(encodeAll([...first, ...later])), 'the retry wrote everything once');
  df.close();
});

t.test('DataFile: a failed flush inside an append leaves nothing appended', async (t) => {
  const { mod, state } = await failingFs(t);
  const file = path.join(tmpDir(t), 'f.data');
  const df = mod.DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const rng = seededRng(15);
  const recs: Rec[] = [];
  while (df.pendingBytes < MiB - 20_000) {
    const r = rec(rng, 8, 10_000);
    recs.push(r);
    df.appendRecord(r.key, r.value, false, r.tstamp);
  }
  const size = df.size;
  state.failWrites = true;
  const next = rec(rng, 8, 30_000);
  t.throws(() => df.appendRecord(next.key, next.value, false, next.tstamp), { code: 'ENOSPC' });
  t.equal(df.size, size, 'nothing appended');
  t.equal(fs.statSync(file).size, 0);
  state.failWrites = false;
  t.equal(df.appendRecord(next.key, next.value, false, next.tstamp), size, 'the append goes through on retry');
  df.close();
  t.ok(fs.readFileSync(file).equals(encodeAll([...recs, next])));
});

t.test('DataFile: a failed direct write of a large record is cut back', async (t) => {
  const { mod, state } = await failingFs(t);
  const file = path.join(tmpDir(t), 'f.data');
  const df = mod.DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const rng = seededRng(16);
  const small = rec(rng, 2, 20);
  df.appendRecord(small.key, small.value, false, small.tstamp);
  df.flush();
  const size = df.size;
  const big = rec(rng, 2, 2 * MiB);
  state.failWrites = true;
  t.throws(() => df.appendRecord(big.key, big.value, false, big.tstamp), { code: 'ENOSPC' });
  t.equal(df.size, size);
  t.equal(df.pendingBytes, 0);
  t.equal(fs.statSync(file).size, size, 'the half-written record was cut off');
  state.failWrites = false;
  t.equal(df.appendRecord(big.key, big.value, false, big.tstamp), size, 'the retry lands at the same offset');
  df.close();
  t.ok(fs.readFileSync(file).equals(encodeAll([small, big])));
});

t.test('DataFile: when the cut-back fails too, the write error is the one reported', async (t) => {
  const { mod, state } = await failingFs(t);
  const file = path.join(tmpDir(t), 'f.data');
  const df = mod.DataFile.openAppendable({ major: 1, minor: 0 }, file);
  const r = rec(seededRng(17), 2, 200);
  df.appendRecord(r.key, r.value, false, r.tstamp);
  state.failWrites = true;
  state.failTruncate = true;
  const truncatesBefore = state.truncates;
  t.throws(() => df.flush(), { code: 'ENOSPC' });
  t.equal(state.truncates, truncatesBefore + 1, 'a cut-back was attempted');
  t.equal(df.pendingBytes, sizeOf(r), 'the buffer is kept');
  state.failWrites = false;
  state.failTruncate = false;
  df.close();
  t.ok(fs.readFileSync(file).equals(encodeAll([r])), 'the retried flush rewrote the half-written bytes');
});

t.test('DataFile.appendEncoded copies records as they are, large ones past the buffer', async (t) => {
  const file = path.join(tmpDir(t), 'e.data');
  const df = DataFile.openAppendable({ major: 1, minor: 0 }, file, 0);
  const small = encodeRecord(Buffer.from('k'), Buffer.from('v'), false, 7);
  const large = encodeRecord(Buffer.from('big'), Buffer.alloc(2 << 20, 0x61), false, 8);
  t.equal(df.appendEncoded(small), 0);
  t.equal(df.appendEncoded(large), small.length);
  t.equal(df.appendEncoded(small), small.length + large.length);
  t.ok(df.read(small.length, large.length).equals(large));
  df.close();
  t.ok(fs.readFileSync(file).equals(Buffer.concat([small, large, small])));
  const ro = DataFile.openReadOnly({ major: 1, minor: 0 }, file);
  t.throws(() => ro.appendEncoded(small), TypeError);
  ro.close();
});

t.test('findValidRecord finds the first valid record after an offset, however large, or nothing', async (t) => {
  const rng = seededRng(77);
  // A small record, one that straddles the 1 MiB read window, and a small one after it.
  const recs = [rec(rng, 4, 30), recOfSize(rng, CHUNK + 100), rec(rng, 5, 40)];
  const { fd, size, offsets } = writeFile(t, recs);
  t.equal(findValidRecord(fd, 0, size), offsets[1], 'the large record, read on its own');
  t.equal(findValidRecord(fd, offsets[1]!, size), offsets[2], 'past the large one');
  t.equal(findValidRecord(fd, offsets[2]!, size), undefined, 'nothing after the last');
  // Damage the large record's value: its header still checks out, the record does not.
  const byte = Buffer.alloc(1);
  readFully(fd, byte, 1, offsets[1]! + 5000);
  byte[0]! ^= 0x10;
  writeFully(fd, byte, 1, offsets[1]! + 5000);
  t.equal(findValidRecord(fd, 0, size), offsets[2], 'a record that fails its checksum is passed over');
  t.equal(findValidRecord(fd, offsets[2]!, offsets[2]! + 10), undefined, 'fewer bytes than a header left');
});

t.test('findValidRecord does not take a record inside the bad record\'s value for one after it', async (t) => {
  const rng = seededRng(78);
  const inner = encodeRecord(Buffer.from('inner'), bytes(rng, 20), false, 1);
  const outer: Rec = { key: Buffer.from('outer'), value: Buffer.concat([bytes(rng, 7), inner, bytes(rng, 5)]), tombstone: false, tstamp: 2 };
  const { fd, size } = writeFile(t, [outer]);
  const flip = (at: number): void => {
    const byte = Buffer.alloc(1);
    readFully(fd, byte, 1, at);
    byte[0]! ^= 0x01;
    writeFully(fd, byte, 1, at);
  };
  flip(size - 2);
  t.equal(findValidRecord(fd, 0, size), undefined, 'its header gives its end: the value is not searched');
  flip(10);
  t.equal(findValidRecord(fd, 0, size), RECORD_HEADER_SIZE + 5 + 7, 'with its header damaged, its extent is unknown: the inner record counts');
});
