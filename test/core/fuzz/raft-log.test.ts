/**
 * Fuzzing of the Raft log's decoders in `src/core/raft/log-store.ts`: the log file
 * (`scanLog`, over a buffer and over a file descriptor) and the state file
 * (`readStateFile`).
 *
 * Logs are encoded with `encodeRecords` (contiguous indexes, non-decreasing terms), then
 * cut, mutated (with a record's CRC recomputed half of the time so that index, term, type
 * and length checks are reached), spliced with garbage, given entries whose data holds a
 * valid record, or entries whose data repeats headers claiming records. Every outcome
 * must match a reference scan written here from the layout and the documented rule for
 * what follows a bad record: the same records, the same end, the same torn tail or the
 * same corrupt offset; every record visited is written back to exactly its bytes; the
 * file path agrees with the buffer path; declared lengths allocate nothing. State files
 * are written as the store writes them, then mutated as JSON (CRC recomputed) or as
 * bytes; each must be read back exactly when its CRC matches and its shape is the
 * store's, and be refused with a CorruptionError otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { encodeCommand } from '../../../src/core/kv/command-codec.js';
import { encodeRecords, readStateFile, RECORD_OVERHEAD, scanLog, type LogRecord } from '../../../src/core/raft/log-store.js';
import type { Entry, EntryType } from '../../../src/core/raft/types.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import type { Rng } from '../../../src/core/support/rng.js';
import { boundedAllocation, check, DeepNesting, fuzz, fuzzSummary, jsonText, mutate, mutateJson, pick, randomBytes, randomString, replayCorpus, smallLength, tally } from '../../helpers/fuzz.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const TYPES: readonly EntryType[] = ['command', 'noop', 'config'];

// ---- the log file ----

function randomEntries(rng: Rng): Entry[] {
  const n = 1 + rng.int(6);
  const first = rng.int(4) === 0 ? pick(rng, [1, 2 ** 32 - 2, 2 ** 53 - 10]) : 1 + rng.int(1000);
  let term = rng.int(4) === 0 ? pick(rng, [0, 2 ** 32, 2 ** 53 - 1]) : rng.int(10);
  return Array.from({ length: n }, (_, i) => {
    if (rng.int(3) === 0 && term < 2 ** 53 - 1) term++;
    const type = pick(rng, TYPES);
    const data = type === 'noop' ? new Uint8Array(0) : rng.int(2) === 0 ? new Uint8Array(encodeCommand([Buffer.from('SET'), randomBytes(rng, smallLength(rng, 16)), randomBytes(rng, smallLength(rng, 40))])) : new Uint8Array(randomBytes(rng, rng.int(40) === 0 ? rng.int(3000) : smallLength(rng, 32)));
    return { index: first + i, term, type, data };
  });
}

/** Record starts in a buffer of whole records. */
function recordStarts(entries: readonly Entry[]): number[] {
  const starts = [0];
  for (const e of entries) starts.push(starts.at(-1)! + RECORD_OVERHEAD + e.data.length);
  return starts;
}

/** Recomputes the CRC of the record at `at` when its length field fits in `b`. */
function fixLogCrc(b: Buffer, at: number): void {
  if (b.length - at < RECORD_OVERHEAD) return;
  const len = b.readUInt32LE(at);
  if (len >= 17 && len <= b.length - at - 8) b.writeUInt32LE(crc32(b.subarray(at + 8, at + 8 + len)), at + 4);
}

/** The largest index or term a record may hold: a double holds it exactly. */
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The layout's record at `pos`, whole, with a matching CRC and a known type: its size, index and term (exact). */
function referenceRecord(b: Buffer, pos: number): { size: number; index: bigint; term: bigint } | undefined {
  if (b.length - pos < RECORD_OVERHEAD) return undefined;
  const len = b.readUInt32LE(pos);
  if (len < 17 || len > b.length - pos - 8) return undefined;
  const body = b.subarray(pos + 8, pos + 8 + len);
  if (crc32(body) !== b.readUInt32LE(pos + 4) || body[16]! > 2) return undefined;
  return { size: 8 + len, index: body.readBigUInt64LE(0), term: body.readBigUInt64LE(8) };
}

/**
 * The documented rule: whether the log goes on after the bad record at `pos`, which
 * follows `prev` (undefined: it is the first). A record R goes on with it when R is valid,
 * its index and term are at most 2^53 − 1, and — after a previous record — prev.index + 2
 * ≤ R.index ≤ prev.index + 1 + ⌊(R's offset − pos) / 25⌋ and R.term ≥ prev.term. Every
 * header passing all of that but the CRC is a candidate; candidates are checked in order
 * of offset, their lengths spending a budget of twice the bytes from `pos` on, and a
 * candidate beyond the budget counts as going on (`'over'`).
 */
function referenceGoesOn(b: Buffer, pos: number, prev: { index: bigint; term: bigint } | undefined): boolean | 'over' {
  let budget = 2 * (b.length - pos);
  for (let q = pos + 1; q + RECORD_OVERHEAD <= b.length; q++) {
    const len = b.readUInt32LE(q);
    const index = b.readBigUInt64LE(q + 8);
    const term = b.readBigUInt64LE(q + 16);
    if (len < 17 || len > b.length - q - 8 || b[q + 24]! > 2 || index > SAFE || term > SAFE) continue;
    if (prev && (term < prev.term || index < prev.index + 2n || index > prev.index + 1n + BigInt(Math.floor((q - pos) / RECORD_OVERHEAD)))) continue;
    if (len > budget) return 'over';
    budget -= len;
    if (referenceRecord(b, q)) return true;
  }
  return false;
}

/** The layout's verdict on a whole log: records, then its end and torn tail, or a corrupt offset. */
function referenceScan(b: Buffer): string {
  const offsets: number[] = [];
  let pos = 0;
  let prev: { index: bigint; term: bigint } | undefined;
  while (pos < b.length) {
    const r = referenceRecord(b, pos);
    if (r === undefined) {
      const goesOn = referenceGoesOn(b, pos, prev);
      if (goesOn === 'over') tally('the search after a bad record ran out of budget');
      return goesOn ? `${offsets.join()}|corrupt@${pos}` : `${offsets.join()}|end=${pos}|torn@${pos}`;
    }
    if (r.index > SAFE || r.term > SAFE) return `${offsets.join()}|corrupt@${pos}`;
    if (prev && (r.index !== prev.index + 1n || r.term < prev.term)) return `${offsets.join()}|corrupt@${pos}`;
    offsets.push(pos);
    prev = r;
    pos += r.size;
  }
  return `${offsets.join()}|end=${pos}`;
}

/** Runs `scanLog` on `source` and describes the outcome like `referenceScan`, checking each record on the way. */
function scanOutcome(source: number | Buffer, bytes: Buffer): string {
  const offsets: number[] = [];
  let expectAt = 0;
  const visit = (rec: LogRecord): void => {
    check(rec.offset === expectAt && rec.size >= RECORD_OVERHEAD && rec.offset + rec.size <= bytes.length, 'a record out of place');
    check(TYPES.includes(rec.type) && rec.data.length === rec.size - RECORD_OVERHEAD, 'a malformed record');
    check(Number.isSafeInteger(rec.index) && Number.isSafeInteger(rec.term) && rec.index >= 0 && rec.term >= 0, 'an index or term that is not a safe integer');
    const again = encodeRecords([{ index: rec.index, term: rec.term, type: rec.type, data: rec.data }]);
    check(again.equals(bytes.subarray(rec.offset, rec.offset + rec.size)), 'a visited record is written back to other bytes');
    offsets.push(rec.offset);
    expectAt = rec.offset + rec.size;
  };
  try {
    const scan = scanLog(source, 'log', visit);
    check(scan.size === bytes.length && scan.end === expectAt, 'size or end do not match the records visited');
    if (scan.torn) {
      check(scan.torn.offset === scan.end && scan.end < scan.size && scan.torn.reason.length > 0, 'a malformed torn tail');
      return `${offsets.join()}|end=${scan.end}|torn@${scan.torn.offset}`;
    }
    check(scan.end === scan.size, 'no torn tail, yet the records end before the file');
    return `${offsets.join()}|end=${scan.end}`;
  } catch (err) {
    check(err instanceof CorruptionError && err.code === 'CORRUPT' && err.file === 'log', () => `threw ${String(err)}`);
    check(err.offset === expectAt, 'a corrupt offset other than where the records stop');
    return `${offsets.join()}|corrupt@${err.offset}`;
  }
}

/** The oracle of a log buffer: scanLog's outcome equals the reference's. */
function logOracle(bytes: Buffer): string {
  const got = scanOutcome(bytes, bytes);
  const ref = referenceScan(bytes);
  check(got === ref, () => `scanLog gives ${got}, the layout ${ref}`);
  return got.replace(/^[^|]*/, (o) => `${o === '' ? 0 : o.split(',').length} records`);
}

// ---- the state file ----

function randomState(rng: Rng): unknown {
  const ids = (): string[] => Array.from({ length: smallLength(rng, 4) }, () => (rng.int(3) === 0 ? randomString(rng, 8) : `127.0.0.1:${7000 + rng.int(9)}`));
  const conf = { voters: ids(), learners: ids() };
  return {
    hardState: { term: rng.int(100), vote: rng.int(2) ? '' : `127.0.0.1:${7000 + rng.int(9)}`, commit: rng.int(1000) },
    conf,
    snapshot: { index: rng.int(1000), term: rng.int(100), conf: rng.int(2) ? conf : { voters: ids(), learners: ids() } },
  };
}

/** The state file text for `state`, as the store writes it. */
function stateText(state: unknown): string {
  const json = jsonText(state);
  return `{"crc":${crc32(Buffer.from(json))},"state":${json}}\n`;
}

const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIds = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isConf = (v: unknown): boolean => typeof v === 'object' && v !== null && isIds((v as Record<string, unknown>).voters) && isIds((v as Record<string, unknown>).learners);

/** Whether `v` has the shape of the state the store persists (members beyond it allowed). */
function wellFormed(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { hardState: hs, conf, snapshot: snap } = v as Record<string, Record<string, unknown> | undefined>;
  return (
    typeof hs === 'object' && hs !== null && isCount(hs.term) && typeof hs.vote === 'string' && isCount(hs.commit) &&
    isConf(conf) &&
    typeof snap === 'object' && snap !== null && isCount(snap.index) && isCount(snap.term) && isConf(snap.conf)
  );
}

/** The known fields of a well-formed state, as `readStateFile` returns them. */
function knownFields(v: unknown): unknown {
  type Members = { voters: unknown; learners: unknown };
  const { hardState: hs, conf, snapshot: snap } = v as { hardState: Record<string, unknown>; conf: Members; snapshot: { index: unknown; term: unknown; conf: Members } };
  const members = (c: Members): Members => ({ voters: c.voters, learners: c.learners });
  return { hardState: { term: hs.term, vote: hs.vote, commit: hs.commit }, conf: members(conf), snapshot: { index: snap.index, term: snap.term, conf: members(snap.conf) } };
}

/**
 * What the state file `text` must read as: the known fields of its state when the text is
 * JSON, its CRC matches the JSON of its state and that state is well-formed; otherwise
 * undefined (refused). Deep nesting that JSON.stringify cannot handle is refused.
 */
function referenceState(text: Buffer): unknown {
  try {
    const { crc, state } = Object(JSON.parse(text.toString('utf8'))) as { crc?: unknown; state?: unknown };
    if (!wellFormed(state)) return undefined;
    return crc32(Buffer.from(JSON.stringify(state))) === crc ? knownFields(state) : undefined;
  } catch {
    return undefined;
  }
}

/** `readStateFile` returns exactly what `referenceState` says, or throws CorruptionError naming the file when that is undefined. */
function stateOracle(file: string, text: Buffer): string {
  fs.writeFileSync(file, text);
  const expected = referenceState(text);
  let state: unknown;
  try {
    state = readStateFile(file);
  } catch (err) {
    check(err instanceof CorruptionError && err.code === 'CORRUPT' && err.file === file, () => `threw ${String(err)}`);
    check(expected === undefined, () => `refused a state file that reads as ${JSON.stringify(expected)}`);
    return 'CORRUPT';
  }
  check(expected !== undefined, () => `accepted a state file that must be refused, as ${JSON.stringify(state)}`);
  check(isDeepStrictEqual(state, expected), () => `read ${JSON.stringify(state)}, expected ${JSON.stringify(expected)}`);
  return 'ok';
}

// ---- tests ----

t.test('corpus', async (t) => {
  const dir = tmpDir(t, 'bitraft-fuzz-state-');
  replayCorpus(t, 'raft-log', (input) => boundedAllocation(input.length, () => logOracle(input)));
  replayCorpus(t, 'raft-state', (input) => stateOracle(path.join(dir, 'state'), input));
});

t.test('a record claiming 4 GiB allocates nothing, from a buffer or a file', async (t) => {
  const log = encodeRecords([{ index: 1, term: 1, type: 'command', data: new Uint8Array(4) }, { index: 2, term: 1, type: 'noop', data: new Uint8Array(0) }]);
  log.writeUInt32LE(0xfffffff0, RECORD_OVERHEAD + 4);
  const bytes = Buffer.concat([log, Buffer.alloc(64)]);
  t.equal(boundedAllocation(bytes.length, () => logOracle(bytes)), `1 records|end=${RECORD_OVERHEAD + 4}|torn@${RECORD_OVERHEAD + 4}`);
  const file = path.join(tmpDir(t, 'bitraft-fuzz-log-'), 'log');
  fs.writeFileSync(file, bytes);
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  t.equal(boundedAllocation(bytes.length, () => scanOutcome(fd, bytes)), `0|end=${RECORD_OVERHEAD + 4}|torn@${RECORD_OVERHEAD + 4}`);
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'raft-log/logs', (c) => {
    const entries = randomEntries(c.rng);
    const bytes = encodeRecords(entries);
    const starts = recordStarts(entries);
    switch (c.rng.int(9)) {
      case 0: {
        c.input(bytes);
        const seen: Entry[] = [];
        scanLog(bytes, 'log', (r) => seen.push({ index: r.index, term: r.term, type: r.type, data: Uint8Array.from(r.data) }));
        check(isDeepStrictEqual(seen, entries.map((e) => ({ ...e, data: Uint8Array.from(e.data) }))), 'a valid log does not decode to its entries');
        logOracle(bytes);
        return;
      }
      case 1: {
        // Cut anywhere: a torn tail at the last whole record, never corruption.
        const cut = c.rng.int(bytes.length + 1);
        const b = c.input(bytes.subarray(0, cut));
        const whole = starts.filter((s) => s <= cut).at(-1)!;
        const expected = `${starts.filter((s) => s < whole).join()}|end=${whole}${whole < cut ? `|torn@${whole}` : ''}`;
        const got = scanOutcome(b, b);
        check(got === expected, () => `a log cut at ${cut} gives ${got}, expected ${expected}`);
        return;
      }
      case 2: {
        // An entry whose data holds a valid record, cut inside that entry after it: a torn
        // tail unless the embedded record may continue the log (index in the window after
        // the previous entry, term not lower), or the entry is the file's first.
        const k = c.rng.int(entries.length);
        const prev = entries[k - 1];
        const lead = randomBytes(c.rng, smallLength(c.rng, 80));
        const high = prev === undefined ? 0 : prev.index + 1 + Math.floor((RECORD_OVERHEAD + lead.length) / RECORD_OVERHEAD);
        const index = prev === undefined ? 1 + c.rng.int(1000) : pick(c.rng, [9, prev.index, prev.index + 1, prev.index + 2, high, high + 1]);
        const term = prev === undefined ? c.rng.int(10) : Math.max(0, prev.term + pick(c.rng, [-1, 0, 0, 1]));
        const inner = encodeRecords([{ index, term, type: pick(c.rng, TYPES), data: new Uint8Array(randomBytes(c.rng, smallLength(c.rng, 8))) }]);
        const data = new Uint8Array(Buffer.concat([lead, inner, randomBytes(c.rng, 1 + smallLength(c.rng, 8))]));
        const embedded = entries.map((e, i) => (i === k ? { ...e, type: 'command' as const, data } : e));
        const starts = recordStarts(embedded);
        const innerEnd = starts[k]! + RECORD_OVERHEAD + lead.length + inner.length;
        const b = c.input(encodeRecords(embedded).subarray(0, innerEnd + c.rng.int(starts[k + 1]! - innerEnd)));
        const safe = index <= Number.MAX_SAFE_INTEGER && term <= Number.MAX_SAFE_INTEGER;
        const goesOn = safe && (prev === undefined || (index >= prev.index + 2 && index <= high && term >= prev.term));
        const got = logOracle(b);
        check(got.endsWith(goesOn ? `corrupt@${starts[k]}` : `torn@${starts[k]}`), () => `a torn entry holding a record of index ${index}, term ${term} gives ${got}`);
        tally(goesOn ? 'a torn entry holding a record that may continue the log is refused (documented)' : 'a torn entry holding a record that cannot continue the log is cut');
        return;
      }
      case 3: {
        // Garbage between two records.
        const at = pick(c.rng, starts);
        const b = c.input(Buffer.concat([bytes.subarray(0, at), randomBytes(c.rng, 1 + c.rng.int(30)), bytes.subarray(at)]));
        logOracle(b);
        return;
      }
      case 4:
      case 5: {
        // Mutated, then one record's CRC recomputed so that index, term, type and length checks run.
        const m = mutate(c.rng, bytes, { other: encodeRecords(randomEntries(c.rng)) });
        fixLogCrc(m.bytes, pick(c.rng, starts));
        c.input(m.bytes);
        boundedAllocation(m.bytes.length, () => logOracle(m.bytes));
        return;
      }
      case 6: {
        // An entry whose data repeats a header claiming the next records (lengths reaching
        // near the end), cut: many candidates, so the search's budget is what decides.
        const k = c.rng.int(entries.length);
        const prev = entries[k - 1];
        const header = Buffer.alloc(RECORD_OVERHEAD, pick(c.rng, [0, 0xff, c.rng.int(256)]));
        const copies = 1 + c.rng.int(40);
        header.writeUInt32LE(17 + c.rng.int(copies * RECORD_OVERHEAD), 0);
        header.writeBigUInt64LE(BigInt(prev === undefined ? c.rng.int(100) : prev.index + 1 + c.rng.int(3)), 8);
        header.writeBigUInt64LE(BigInt(prev === undefined ? c.rng.int(10) : prev.term + c.rng.int(2)), 16);
        header[24] = c.rng.int(4);
        const data = new Uint8Array(Buffer.concat([randomBytes(c.rng, smallLength(c.rng, 4)), ...Array.from({ length: copies }, () => header)]));
        const embedded = entries.map((e, i) => (i === k ? { ...e, type: 'command' as const, data } : e));
        const all = encodeRecords(embedded);
        const end = recordStarts(embedded)[k + 1]!;
        logOracle(c.input(all.subarray(0, end - 1 - c.rng.int(Math.min(end - recordStarts(embedded)[k]!, 60)))));
        return;
      }
      default: {
        const m = mutate(c.rng, bytes, { other: encodeRecords(randomEntries(c.rng)) });
        logOracle(c.input(m.bytes));
      }
    }
  });
});

t.test('scanLog over a file descriptor agrees with the buffer', async (t) => {
  t.teardown(() => fuzzSummary(t));
  const dir = tmpDir(t, 'bitraft-fuzz-log-');
  fuzz(t, 'raft-log/file', (c) => {
    const entries = randomEntries(c.rng);
    let bytes = encodeRecords(entries);
    if (c.rng.int(4) !== 0) {
      bytes = mutate(c.rng, bytes).bytes;
      fixLogCrc(bytes, pick(c.rng, recordStarts(entries)));
    }
    c.input(bytes);
    const file = path.join(dir, `${c.index}.log`);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      const fromFile = boundedAllocation(bytes.length, () => scanOutcome(fd, bytes));
      const fromBuffer = scanOutcome(bytes, bytes);
      check(fromFile === fromBuffer, () => `the file gives ${fromFile}, the buffer ${fromBuffer}`);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file);
    }
  });
});

t.test('state files', async (t) => {
  t.teardown(() => fuzzSummary(t));
  const file = path.join(tmpDir(t, 'bitraft-fuzz-state-'), 'state');
  fuzz(t, 'raft-state/files', (c) => {
    const state = randomState(c.rng);
    switch (c.rng.int(5)) {
      case 0: {
        const text = c.input(Buffer.from(stateText(state)));
        check(stateOracle(file, text) === 'ok' && isDeepStrictEqual(readStateFile(file), state), 'a valid state file does not read back');
        return;
      }
      case 1:
      case 2: {
        // Mutated as JSON, with a matching CRC: only the checks behind the CRC can refuse it.
        const mutated = mutateJson(c.rng, state);
        const text = Buffer.from(stateText(mutated));
        c.input(text);
        stateOracle(file, text);
        return;
      }
      case 3: {
        const deep = c.rng.int(8) === 0;
        const text = Buffer.from(deep ? `{"crc":1,"state":${jsonText(new DeepNesting(12_000))}}` : `{"state":${jsonText(state)},"crc":${c.rng.int(2 ** 32)}}`);
        stateOracle(file, c.input(text));
        return;
      }
      default: {
        const m = mutate(c.rng, Buffer.from(stateText(state)), { maxOps: 2 });
        stateOracle(file, c.input(m.bytes));
      }
    }
  });
});
