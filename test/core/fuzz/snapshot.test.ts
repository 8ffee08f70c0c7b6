/**
 * Fuzzing of the snapshot decoders: the state.bin record stream (`StateRecordDecoder`
 * on decompressed bytes, and `readStateBatches` on gzip), meta.json
 * (`decodeSnapshotMeta`, also what `RAFTINSTALL BEGIN` decodes), the msgpack `Peers`
 * field (`decodePeers`) and snapshot ids (`parseSnapshotId`).
 *
 * Valid values come from the project's encoders (`encodeStateRecord`, gzip,
 * `encodeSnapshotMeta`, `encodePeers`, `snapshotId`), then are mutated as bytes, as JSON,
 * or with edge lengths (u64 near 2^53 and 2^64, the 512 MiB limit). Each outcome must
 * match a reference decoder written here from the format, whole and split at random
 * points; only CorruptionError (or, for `decodePeers`, a plain Error) may be thrown; a
 * length announced but not sent must not allocate in proportion to it.
 */
import { isDeepStrictEqual } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import {
  DEFAULT_MAX_FIELD_BYTES,
  decodePeers,
  decodeSnapshotMeta,
  encodePeers,
  encodeSnapshotMeta,
  encodeStateRecord,
  parseSnapshotId,
  readStateBatches,
  snapshotId,
  StateRecordDecoder,
  type SnapshotFileMeta,
} from '../../../src/core/snapshot/index.js';
import { crc64Bytes } from '../../../src/core/support/crc64.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import {
  boundedAllocation,
  boundedAllocationAsync,
  check,
  chunkings,
  DeepNesting,
  fuzz,
  fuzzAsync,
  fuzzSummary,
  jsonText,
  mutate,
  mutateJson,
  pick,
  randomBytes,
  randomSplit,
  randomString,
  replayCorpus,
  replayCorpusAsync,
  smallLength,
  tally,
} from '../../helpers/fuzz.js';

// ---- the decompressed record stream ----

/** A digest of records, cheap to compare even when they are large. */
function recordsKey(records: readonly { key: Buffer; value: Buffer }[]): string {
  return records.map((r) => `${r.key.length}:${r.key.subarray(0, 32).toString('hex')}/${r.value.length}:${r.value.subarray(0, 32).toString('hex')}:${zlib.crc32(r.value)}`).join(';');
}

/** Feeds `chunks` to a fresh decoder: the records, then the CorruptionError's offset or the count. */
function feedState(chunks: Buffer[], maxFieldBytes?: number): string {
  const d = new StateRecordDecoder({ file: 'state.bin', maxFieldBytes });
  const records: { key: Buffer; value: Buffer }[] = [];
  let outcome: string;
  try {
    for (const c of chunks) {
      // Copy each record now: a record's buffers may be slices of the chunk.
      for (const r of d.write(c)) records.push({ key: Buffer.from(r.key), value: Buffer.from(r.value) });
    }
    const count = d.end();
    check(count === records.length && d.records === count, 'the record count is not the number of records returned');
    outcome = `end:${count}`;
  } catch (err) {
    check(err instanceof CorruptionError && err.code === 'CORRUPT' && err.file === 'state.bin', () => `threw ${String(err)}`);
    check(/^corrupt data in state\.bin at offset \d+: (truncated: record|record \d+ at decompressed byte \d+ has a (key|value) length)/.test(err.message), () => `message ${err.message}`);
    outcome = `corrupt@${err.offset}:${err.message.includes('truncated') ? 'truncated' : 'length'}`;
  }
  return `${recordsKey(records)}|${outcome}`;
}

/** The format's verdict on a whole decompressed stream. */
function referenceState(b: Buffer, maxFieldBytes = DEFAULT_MAX_FIELD_BYTES): string {
  const records: { key: Buffer; value: Buffer }[] = [];
  let pos = 0;
  const done = (outcome: string): string => `${recordsKey(records)}|${outcome}`;
  while (pos < b.length) {
    const start = pos;
    const fields: Buffer[] = [];
    for (let f = 0; f < 2; f++) {
      if (b.length - pos < 8) return done(`corrupt@${start}:truncated`);
      const length = Number(b.readBigUInt64LE(pos));
      if (length > maxFieldBytes) return done(`corrupt@${pos}:length`);
      pos += 8;
      if (b.length - pos < length) return done(`corrupt@${start}:truncated`);
      fields.push(b.subarray(pos, pos + length));
      pos += length;
    }
    records.push({ key: fields[0]!, value: fields[1]! });
  }
  return done(`end:${records.length}`);
}

/** Whole, split, and against the reference; split feeds are measured for allocation. */
function stateOracle(input: Buffer, rng: Rng, maxFieldBytes?: number): string {
  const whole = feedState([input], maxFieldBytes);
  for (const chunks of chunkings(rng, input)) {
    const split = boundedAllocation(input.length, () => feedState(chunks, maxFieldBytes));
    check(split === whole, () => `split into ${chunks.length} chunks gives ${split}, whole gives ${whole}`);
  }
  const ref = referenceState(input, maxFieldBytes);
  check(ref === whole, () => `the decoder gives ${whole}, the format ${ref}`);
  return whole.slice(whole.lastIndexOf('|') + 1);
}

function randomPairs(rng: Rng): [Buffer, Buffer][] {
  return Array.from({ length: smallLength(rng, 6) }, () => [randomBytes(rng, smallLength(rng, 24)), randomBytes(rng, rng.int(100) === 0 ? rng.int(4000) : smallLength(rng, 40))]);
}

const rawState = (pairs: [Buffer, Buffer][]): Buffer => Buffer.concat(pairs.map(([k, v]) => encodeStateRecord(k, v)));

/** Writes an edge length (near the limit, 2^32, 2^53, 2^64) into a length field of the first record. */
function edgeLength(rng: Rng, raw: Buffer, pairs: [Buffer, Buffer][]): Buffer {
  const b = Buffer.from(raw);
  if (pairs.length === 0) return Buffer.concat([b, Buffer.alloc(8, 0xff)]);
  const at = rng.int(2) === 0 ? 0 : 8 + pairs[0]![0].length;
  const value = pick(rng, [DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_FIELD_BYTES + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64 - 1, b.length, b.length - at - 8, b.length - at - 7].map(BigInt));
  b.writeBigUInt64LE(value & 0xffff_ffff_ffff_ffffn, at);
  return b;
}

// ---- gzip ----

/** Runs `readStateBatches` over `compressed` in random chunks: the records, then how it ended. */
async function readGzip(compressed: Buffer, rng: Rng): Promise<string> {
  const records: { key: Buffer; value: Buffer }[] = [];
  let outcome: string;
  try {
    const it = readStateBatches(randomSplit(rng, compressed).map((c) => Buffer.from(c)), { file: 'state.bin' });
    for (;;) {
      const next = await it.next();
      if (next.done) {
        outcome = `end:${next.value}`;
        break;
      }
      for (const r of next.value) records.push({ key: Buffer.from(r.key), value: Buffer.from(r.value) });
    }
  } catch (err) {
    check(err instanceof CorruptionError && err.code === 'CORRUPT' && err.file === 'state.bin', () => `threw ${String(err)}`);
    outcome = err.message.includes('not a valid gzip stream') ? 'gzip-error' : `corrupt@${err.offset}:${err.message.includes('truncated') ? 'truncated' : 'length'}`;
  }
  return `${recordsKey(records)}|${outcome}`;
}

/** What zlib inflates of `compressed` before it ends or fails, and whether it failed. */
function inflatePartial(compressed: Buffer): Promise<{ bytes: Buffer; failed: boolean }> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const gunzip = zlib.createGunzip();
    gunzip.on('data', (c: Buffer) => out.push(c));
    gunzip.on('error', () => resolve({ bytes: Buffer.concat(out), failed: true }));
    gunzip.on('end', () => resolve({ bytes: Buffer.concat(out), failed: false }));
    gunzip.end(compressed);
  });
}

/** Whether the records of one outcome key are a prefix of the other's. */
function prefixConsistent(a: string, b: string): boolean {
  const ra = a.slice(0, a.lastIndexOf('|')).split(';').filter((x) => x !== '');
  const rb = b.slice(0, b.lastIndexOf('|')).split(';').filter((x) => x !== '');
  const n = Math.min(ra.length, rb.length);
  return ra.slice(0, n).join(';') === rb.slice(0, n).join(';');
}

/**
 * When zlib inflates the whole input, `readStateBatches` gives exactly what the record
 * decoder makes of the inflated bytes. When zlib fails on it, a CorruptionError: the gzip
 * one, or a bad length in what was inflated before (whichever shows first), after records
 * that agree with what zlib inflated.
 */
async function gzipOracle(compressed: Buffer, rng: Rng): Promise<string> {
  const got = await boundedAllocationAsync(compressed.length, () => readGzip(compressed, rng));
  const inflated = await inflatePartial(compressed);
  if (inflated.failed) {
    const partial = referenceState(inflated.bytes);
    check(got.endsWith('|gzip-error') || /\|corrupt@\d+:length$/.test(got), () => `zlib fails on the input, readStateBatches gives ${got}`);
    check(prefixConsistent(got, partial), () => `zlib fails on the input; readStateBatches gives ${got}, what zlib inflated is ${partial}`);
    return got.endsWith('|gzip-error') ? 'gzip-error' : 'corrupt:length';
  }
  const expected = referenceState(inflated.bytes);
  check(got === expected, () => `readStateBatches gives ${got}, the inflated bytes are ${expected}`);
  return got.slice(got.lastIndexOf('|') + 1);
}

// ---- meta.json ----

function randomMeta(rng: Rng): SnapshotFileMeta {
  const edge = (): number => (rng.int(4) === 0 ? pick(rng, [0, 1, 2 ** 32, 2 ** 53 - 1]) : rng.int(100_000));
  const term = edge();
  const index = edge();
  const ids = (): string[] => Array.from({ length: smallLength(rng, 4) }, () => (rng.int(3) === 0 ? randomString(rng, 8) : `10.0.0.${rng.int(256)}:${7000 + rng.int(9)}`));
  return {
    id: snapshotId(term, index, rng.int(2) ? 1_700_000_000_000 + rng.int(1e9) : edge()),
    index,
    term,
    conf: { voters: ids(), learners: ids() },
    size: edge(),
    crc: crc64Bytes(BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 31)) + BigInt(rng.int(2))).toString('base64'),
  };
}

/** The format's verdict on a meta.json text: the meta it describes, or undefined. */
function referenceMeta(text: string): SnapshotFileMeta | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(json)) return undefined;
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const { Index: rawIndex, Term: rawTerm, Size: rawSize, ID: id, CRC: crc, Peers: peers, Membership: m } = json;
  if (!count(rawIndex) || !count(rawTerm) || !count(rawSize) || typeof id !== 'string') return undefined;
  // The integers the text denotes: "-0" is 0.
  const [index, term, size] = [rawIndex, rawTerm, rawSize].map((v) => Math.abs(v));
  const parts = /^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/.exec(id);
  if (!parts || !parts.slice(1).every((p) => Number.isSafeInteger(Number(p))) || Number(parts[1]) !== term || Number(parts[2]) !== index) return undefined;
  if (typeof crc !== 'string' || !canonicalBase64(crc) || Buffer.from(crc, 'base64').length !== 8) return undefined;
  let voters: string[] | undefined;
  if (peers === null) voters = [];
  else if (peers !== undefined) {
    if (typeof peers !== 'string' || !canonicalBase64(peers)) return undefined;
    voters = referencePeers(Buffer.from(peers, 'base64'));
    if (voters === undefined) return undefined;
  }
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  let conf: SnapshotFileMeta['conf'];
  if (m !== undefined) {
    if (!isObj(m) || !strings(m.Voters) || !strings(m.Learners)) return undefined;
    conf = { voters: m.Voters, learners: m.Learners };
  } else if (voters !== undefined) conf = { voters, learners: [] };
  else return undefined;
  // MetaCRC, when present: CRC-32 of the fields as a JSON array (zlib's CRC, independent of the product's).
  const metaCrc = json.MetaCRC;
  if (metaCrc !== undefined && metaCrc !== zlib.crc32(JSON.stringify([id, index, term, conf.voters, conf.learners, size, crc]))) return undefined;
  return { id, index, term, conf, size, crc };
}

const canonicalBase64 = (s: string): boolean => Buffer.from(s, 'base64').toString('base64') === s;

/** `decodeSnapshotMeta` accepts exactly what the format describes, and throws only CorruptionError. */
function metaOracle(input: Buffer): string {
  const text = input.toString('utf8');
  let got: SnapshotFileMeta | undefined;
  try {
    got = decodeSnapshotMeta(text, 'meta.json');
  } catch (err) {
    check(err instanceof CorruptionError && err.code === 'CORRUPT' && err.file === 'meta.json' && err.offset === 0, () => `threw ${String(err)}`);
    check(err.message.length < 1000, 'an error message quoting too much of the input');
  }
  const ref = referenceMeta(text);
  check(isDeepStrictEqual(got, ref), () => `decoded ${JSON.stringify(got)}, the format says ${JSON.stringify(ref)}`);
  if (got) check(isDeepStrictEqual(decodeSnapshotMeta(encodeSnapshotMeta(got), 'again'), got), 'a decoded meta does not survive a round trip');
  return got ? 'ok' : 'CORRUPT';
}

/** meta.json text of the Go original: no Membership nor MetaCRC, the voters in Peers (or null). */
function goMetaText(rng: Rng, meta: SnapshotFileMeta): string {
  const obj = JSON.parse(encodeSnapshotMeta(meta)) as Record<string, unknown>;
  delete obj.Membership;
  delete obj.MetaCRC;
  if (rng.int(4) === 0) obj.Peers = null;
  return JSON.stringify(obj);
}

// ---- peers ----

/** The msgpack array of strings of the format, or undefined. */
function referencePeers(b: Buffer): string[] | undefined {
  let at = 0;
  const take = (n: number): Buffer | undefined => {
    if (at + n > b.length) return undefined;
    at += n;
    return b.subarray(at - n, at);
  };
  const length = (fixLo: number, fixCount: number, sized: Record<number, number>): number | undefined => {
    const h = take(1)?.[0];
    if (h === undefined) return undefined;
    if (h >= fixLo && h < fixLo + fixCount) return h - fixLo;
    const width = sized[h];
    if (width === undefined) return undefined;
    return take(width)?.readUIntBE(0, width);
  };
  const n = length(0x90, 16, { 0xdc: 2, 0xdd: 4 });
  if (n === undefined) return undefined;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = length(0xa0, 32, { 0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4 });
    if (len === undefined) return undefined;
    const raw = take(len);
    if (raw === undefined) return undefined;
    const s = raw.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(raw)) return undefined;
    out.push(s);
  }
  return at === b.length ? out : undefined;
}

/** `decodePeers` accepts exactly the format's arrays of strings, and throws only plain Errors. */
function peersOracle(input: Buffer): string {
  let got: string[] | undefined;
  try {
    got = decodePeers(input);
  } catch (err) {
    check(err instanceof Error && err.constructor === Error && err.message.length > 0, () => `threw ${String(err)}`);
  }
  const ref = referencePeers(input);
  check(isDeepStrictEqual(got, ref), () => `decoded ${JSON.stringify(got)}, the format says ${JSON.stringify(ref)}`);
  if (got) check(isDeepStrictEqual(decodePeers(encodePeers(got)), got), 'decoded peers do not survive a round trip');
  return got ? `ok:${got.length}` : 'Error';
}

/** Header bytes worth writing into a msgpack array of strings. */
const MSGPACK_DICTIONARY = [0x90, 0x9f, 0xdc, 0xdd, 0xa0, 0xbf, 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6, 0xc0, 0x80, 0xff].map((b) => Buffer.from([b]));

// ---- snapshot ids ----

/** `parseSnapshotId` accepts exactly canonical `<term>-<index>-<ms>` of safe integers. */
function idOracle(input: Buffer): string {
  const id = input.toString('utf8');
  const got = parseSnapshotId(id);
  const m = /^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/.exec(id);
  const ok = m !== null && m.slice(1).every((p) => Number.isSafeInteger(Number(p)));
  check((got !== undefined) === ok, () => `parseSnapshotId says ${JSON.stringify(got)} of ${JSON.stringify(id)}`);
  if (got) check(snapshotId(got.term, got.index, got.ms) === id, 'a parsed id is written back differently');
  return got ? 'ok' : 'undefined';
}

// ---- tests ----

t.test('corpus', async (t) => {
  replayCorpus(t, 'snapshot-state', (input, rng) => stateOracle(input, rng));
  await replayCorpusAsync(t, 'snapshot-state-gzip', (input, rng) => gzipOracle(input, rng));
  replayCorpus(t, 'snapshot-meta', (input) => metaOracle(input));
  replayCorpus(t, 'snapshot-peers', (input) => peersOracle(input));
  replayCorpus(t, 'snapshot-id', (input) => idOracle(input));
});

t.test('an announced field length allocates in proportion to the bytes that arrived, not to the length', async (t) => {
  // 512 MiB announced for a key, then 1 KiB of it in 64-byte chunks: a split field.
  const head = Buffer.alloc(8);
  head.writeUInt32LE(DEFAULT_MAX_FIELD_BYTES, 0);
  const d = new StateRecordDecoder({ file: 'state.bin' });
  boundedAllocation(1024, () => {
    d.write(head.subarray(0, 3));
    d.write(head.subarray(3));
    for (let i = 0; i < 16; i++) d.write(Buffer.alloc(64, i));
  });
  t.throws(() => d.end(), { code: 'CORRUPT', offset: 0, message: /cut off in its key;/ });
  // A field larger than the first buffer grows as it arrives and decodes exactly, in any split.
  const big = randomBytes(seededRng(7), 300 * 1024);
  const raw = Buffer.concat([encodeStateRecord(Buffer.from('k'), big), encodeStateRecord(big.subarray(0, 70_000), Buffer.from('v'))]);
  const expected = `${recordsKey([{ key: Buffer.from('k'), value: big }, { key: big.subarray(0, 70_000), value: Buffer.from('v') }])}|end:2`;
  for (const size of [1000, 65_536, 100_000]) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < raw.length; at += size) chunks.push(raw.subarray(at, at + size));
    t.equal(feedState(chunks), expected, `in chunks of ${size} bytes`);
  }
});

t.test('meta.json faults are CorruptionErrors quoting little of the value, whatever its shape', async (t) => {
  const meta = randomMeta(seededRng(3));
  const obj = JSON.parse(encodeSnapshotMeta(meta)) as Record<string, unknown>;
  t.throws(() => decodeSnapshotMeta(jsonText({ ...obj, Index: new DeepNesting(100_000) }), 'm.json'), { code: 'CORRUPT', message: /field Index must be a non-negative integer, got a value nested too deep to show/ });
  const err = t.throws(() => decodeSnapshotMeta(JSON.stringify({ ...obj, CRC: 'x'.repeat(10_000) }), 'm.json')) as Error;
  t.match(err.message, /field CRC must be base64 of 8 bytes, got "x{99}…$/);
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'snapshot-state/records', (c) => {
    const pairs = randomPairs(c.rng);
    const raw = rawState(pairs);
    switch (c.rng.int(6)) {
      case 0: {
        c.input(raw);
        check(stateOracle(raw, c.rng) === `end:${pairs.length}`, 'valid records do not all decode');
        return;
      }
      case 1:
      case 2: {
        const b = c.input(edgeLength(c.rng, raw, pairs));
        stateOracle(b, c.rng, c.rng.int(4) === 0 ? 64 : undefined);
        return;
      }
      case 3:
        stateOracle(c.input(randomBytes(c.rng, c.rng.int(80))), c.rng, c.rng.int(2) === 0 ? 16 : undefined);
        return;
      default: {
        const m = mutate(c.rng, raw, { other: rawState(randomPairs(c.rng)) });
        stateOracle(c.input(m.bytes), c.rng, c.rng.int(4) === 0 ? 32 : undefined);
      }
    }
  });
  await fuzzAsync(t, 'snapshot-state/gzip', async (c) => {
    const pairs = randomPairs(c.rng);
    let raw = rawState(pairs);
    if (c.rng.int(3) === 0) raw = edgeLength(c.rng, raw, pairs);
    const gz = zlib.gzipSync(raw, { level: pick(c.rng, [0, 1, 6, 9]) });
    const input = c.rng.int(3) === 0 ? gz : c.rng.int(3) === 0 ? Buffer.concat([gz, zlib.gzipSync(rawState(randomPairs(c.rng)))]) : mutate(c.rng, gz).bytes;
    c.input(input);
    tally(`state.bin through gzip: ${await gzipOracle(input, c.rng).then((o) => o.replace(/[@:].*/, ''))}`);
  });
  fuzz(t, 'snapshot-meta/meta', (c) => {
    const meta = randomMeta(c.rng);
    const text = encodeSnapshotMeta(meta);
    switch (c.rng.int(6)) {
      case 0:
        c.input(text);
        check(isDeepStrictEqual(decodeSnapshotMeta(text, 'meta.json'), meta), 'a meta does not decode to itself');
        metaOracle(Buffer.from(text));
        return;
      case 1: {
        const go = c.input(Buffer.from(goMetaText(c.rng, meta)));
        check(metaOracle(go) === 'ok', 'a Go meta.json is refused');
        return;
      }
      case 2:
      case 3: {
        const json = c.rng.int(3) === 0 ? JSON.parse(goMetaText(c.rng, meta)) : JSON.parse(text);
        metaOracle(c.input(Buffer.from(jsonText(mutateJson(c.rng, json)))));
        return;
      }
      default:
        metaOracle(c.input(mutate(c.rng, Buffer.from(text), { maxOps: 3 }).bytes));
    }
  });
  fuzz(t, 'snapshot-meta/peers', (c) => {
    const addresses = Array.from({ length: c.rng.int(20) === 0 ? 16 + c.rng.int(20) : smallLength(c.rng, 5) }, () => (c.rng.int(10) === 0 ? 'a'.repeat(c.rng.int(300)) : randomString(c.rng, 10)));
    const bytes = encodePeers(addresses);
    if (c.rng.int(4) === 0) {
      c.input(bytes);
      check(isDeepStrictEqual(decodePeers(bytes), addresses.map((a) => Buffer.from(a, 'utf8').toString('utf8'))), 'peers do not decode to themselves');
      return;
    }
    const m = mutate(c.rng, bytes, { dictionary: MSGPACK_DICTIONARY });
    c.input(m.bytes);
    if (m.huge) boundedAllocation(m.bytes.length, () => peersOracle(m.bytes));
    else peersOracle(m.bytes);
  });
  fuzz(t, 'snapshot-meta/ids', (c) => {
    const parts = [0, 1, 2].map(() => String(c.rng.int(4) === 0 ? pick(c.rng, [0, 2 ** 53 - 1, 2 ** 53, 10 ** 16, 10 ** 17]) : c.rng.int(1e6)));
    const id = parts.join('-');
    const input = c.rng.int(3) === 0 ? Buffer.from(id) : mutate(c.rng, Buffer.from(id), { dictionary: ['-', '0', '00', '+', ' ', '\n', '٣', '9'].map((s) => Buffer.from(s)), maxOps: 2 }).bytes;
    idOracle(c.input(input));
  });
});
