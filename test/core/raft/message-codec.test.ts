/**
 * Tests of src/core/raft/message-codec.ts: the exact bytes of the layout, the round trip
 * of every message type and field (booleans both ways, empty and full entry lists and
 * memberships, every entry type, empty, multi-byte, astral and BOM-led node ids, integers
 * at 0, 2^32 and 2^53 − 1), the empty batch, large entries decoded as zero-copy views,
 * a seeded random round trip, and hostile input: every truncation, random byte flips and
 * random garbage throw PROTOCOL and nothing else (and whatever decodes re-encodes to the
 * same bytes), each decoding error at its offset, and each encoding refusal.
 */
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import { MESSAGE_CODEC_VERSION, decodeMessages, encodeMessages } from '../../../src/core/raft/message-codec.js';
import type { AppendMessage, Entry, EntryType, Message } from '../../../src/core/raft/types.js';
import { BitraftError, hasCode } from '../../../src/core/support/errors.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';

const MAX = Number.MAX_SAFE_INTEGER;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const entry = (index: number, term: number, type: EntryType, data: Uint8Array | string): Entry => ({
  index,
  term,
  type,
  data: typeof data === 'string' ? utf8(data) : data,
});

/** One message of every type, with ids `a` → `b` and term 7 (so bodies start at byte 20 when alone in a batch). */
const SAMPLES: Message[] = [
  { type: 'vote', from: 'a', to: 'b', term: 7, pre: true, lastIndex: 3, lastTerm: 2, transfer: false },
  { type: 'vote-resp', from: 'a', to: 'b', term: 7, pre: false, granted: true },
  { type: 'append', from: 'a', to: 'b', term: 7, prevIndex: 4, prevTerm: 6, commit: 3, entries: [entry(5, 7, 'noop', ''), entry(6, 7, 'command', 'set k v')] },
  { type: 'append-resp', from: 'a', to: 'b', term: 7, index: 4, reject: true, hintIndex: 2, hintTerm: 1 },
  { type: 'heartbeat', from: 'a', to: 'b', term: 7, commit: 9, context: 12 },
  { type: 'heartbeat-resp', from: 'a', to: 'b', term: 7, context: 12 },
  { type: 'snapshot', from: 'a', to: 'b', term: 7, snapshot: { index: 100, term: 6, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } } },
  { type: 'timeout-now', from: 'a', to: 'b', term: 7 },
];
/** The sample message of `type`. */
const sample = <T extends Message['type']>(type: T): Extract<Message, { type: T }> => SAMPLES.find((m): m is Extract<Message, { type: T }> => m.type === type)!;

/** Encodes then decodes, asserting the result deeply equals the input. */
function roundTrip(t: Test, msgs: readonly Message[], name?: string): Uint8Array {
  const enc = encodeMessages(msgs);
  t.strictSame(decodeMessages(enc), msgs, name ?? 'round trip');
  return enc;
}

/** The error `fn` throws, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Asserts that decoding `buf` throws PROTOCOL at byte `offset` with a message matching `reason`. */
function rejects(t: Test, buf: Uint8Array, offset: number, reason: RegExp, name: string): BitraftError | undefined {
  const err = thrown(() => decodeMessages(buf));
  if (!hasCode(err, 'PROTOCOL')) {
    t.fail(`${name}: expected PROTOCOL, got ${String(err)}`);
    return undefined;
  }
  t.match(err.message, `invalid raft message batch at byte ${offset}: `, `${name}: offset`);
  t.match(err.message, reason, `${name}: reason`);
  return err;
}

/** Asserts that encoding `msgs` throws INVALID_ARGUMENT with a message matching `reason`. */
function refuses(t: Test, msgs: unknown[], reason: RegExp, name: string): void {
  const err = thrown(() => encodeMessages(msgs as Message[]));
  t.ok(hasCode(err, 'INVALID_ARGUMENT'), `${name}: INVALID_ARGUMENT`);
  t.match((err as Error).message, reason, name);
}

/** Writes a u32 (little-endian) into a copy of `buf` at `offset`. */
function patchU32(buf: Uint8Array, offset: number, v: number): Uint8Array {
  const copy = buf.slice();
  new DataView(copy.buffer).setUint32(offset, v, true);
  return copy;
}

t.test('the exact layout', async (t) => {
  t.equal(MESSAGE_CODEC_VERSION, 1);
  t.strictSame(encodeMessages([]), bytes(1, 0, 0, 0, 0), 'version, then a u32 count');
  const common = [1, 0, 0, 0, /* from */ 1, 0, 0x61, /* to */ 1, 0, 0x62, /* term */ 7, 0, 0, 0, 0, 0, 0, 0];
  t.strictSame(
    encodeMessages([sample('vote')]),
    bytes(1, 1, 0, 0, 0, 1, ...common.slice(4), 1, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0),
    'vote: type 1, strings as u16 length + UTF-8, u64 term, then pre, lastIndex, lastTerm, transfer',
  );
  t.strictSame(
    encodeMessages([{ type: 'append', from: 'a', to: 'b', term: 7, prevIndex: 2 ** 32 + 5, prevTerm: 6, commit: 3, entries: [entry(5, 7, 'config', 'xy')] }]),
    bytes(
      ...[1, 1, 0, 0, 0, 3, 1, 0, 0x61, 1, 0, 0x62, 7, 0, 0, 0, 0, 0, 0, 0],
      ...[5, 0, 0, 0, 1, 0, 0, 0], // prevIndex 2^32 + 5: low word, then high word
      ...[6, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0], // prevTerm, commit
      ...[1, 0, 0, 0], // one entry
      ...[5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0x78, 0x79], // index, term, type config, u32 length, data
    ),
    'append: type 3, prevIndex, prevTerm, commit, u32 count, entries',
  );
  t.strictSame(
    encodeMessages([{ type: 'snapshot', from: '', to: 'é', term: MAX, snapshot: { index: 1, term: 1, conf: { voters: ['v'], learners: [] } } }]),
    bytes(
      ...[1, 1, 0, 0, 0, 7, 0, 0, 2, 0, 0xc3, 0xa9],
      ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0], // 2^53 - 1
      ...[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
      ...[1, 0, 0, 0, 1, 0, 0x76, 0, 0, 0, 0],
    ),
    'snapshot: type 7, index, term, u32 count + voters, u32 count + learners',
  );
  const codes = SAMPLES.map((m) => encodeMessages([m])[5]);
  t.strictSame(codes, [1, 2, 3, 4, 5, 6, 7, 8], 'type codes in the order of the Message union');
  t.strictSame(
    (['command', 'noop', 'config'] as EntryType[]).map((type) => encodeMessages([{ ...sample('append'), entries: [entry(1, 1, type, '')] }])[64]),
    [0, 1, 2],
    'entry type codes',
  );
});

t.test('every message type round-trips, every field both ways', async (t) => {
  roundTrip(t, SAMPLES, 'one of each, in one batch');
  for (const m of SAMPLES) roundTrip(t, [m], m.type);
  for (const pre of [false, true]) {
    for (const transfer of [false, true]) roundTrip(t, [{ ...sample('vote'), pre, transfer }], `vote pre=${pre} transfer=${transfer}`);
    for (const granted of [false, true]) roundTrip(t, [{ ...sample('vote-resp'), pre, granted }], `vote-resp pre=${pre} granted=${granted}`);
  }
  for (const reject of [false, true]) roundTrip(t, [{ ...sample('append-resp'), reject }], `append-resp reject=${reject}`);
  roundTrip(t, [{ ...sample('append'), entries: [] }], 'append without entries');
  roundTrip(
    t,
    [{ ...sample('append'), entries: [entry(1, 1, 'config', utf8('{"op":"add-voter","node":"x"}')), entry(2, 1, 'noop', ''), entry(3, 2, 'command', bytes(0, 255, 0))] }],
    'every entry type',
  );
  const snap = sample('snapshot');
  for (const conf of [
    { voters: [], learners: [] },
    { voters: ['a'], learners: [] },
    { voters: [], learners: ['l1', 'l2'] },
 ]) {
    roundTrip(t, [{ ...snap, snapshot: { ...snap.snapshot, conf } }], `snapshot conf ${JSON.stringify(conf)}`);
  }
  for (const n of [0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52, MAX - 1, MAX]) {
    roundTrip(
      t,
      [
        { type: 'vote', from: 'a', to: 'b', term: n, pre: false, lastIndex: n, lastTerm: n, transfer: true },
        { type: 'append', from: 'a', to: 'b', term: n, prevIndex: n, prevTerm: n, commit: n, entries: [entry(n, n, 'command', 'x')] },
        { type: 'append-resp', from: 'a', to: 'b', term: n, index: n, reject: false, hintIndex: n, hintTerm: n },
        { type: 'heartbeat', from: 'a', to: 'b', term: n, commit: n, context: n },
        { type: 'heartbeat-resp', from: 'a', to: 'b', term: n, context: n },
        { type: 'snapshot', from: 'a', to: 'b', term: n, snapshot: { index: n, term: n, conf: { voters: [], learners: [] } } },
      ],
      `integers = ${n}`,
    );
  }
  const ids = ['', 'n', '127.0.0.1:6380', 'é', 'ünïcødé ☃', '🦀 crab', '\u{10ffff}', '\ufeffbom', 'a\u0000b', '\uffff', 'x'.repeat(65535), '€'.repeat(21845)];
  for (const id of ids) {
    roundTrip(t, [{ ...sample('timeout-now'), from: id, to: id }], `node id ${JSON.stringify(id.slice(0, 20))} (${id.length} units)`);
    roundTrip(t, [{ ...snap, snapshot: { ...snap.snapshot, conf: { voters: [id, 'v'], learners: [id] } } }], `member id ${JSON.stringify(id.slice(0, 20))}`);
  }
  // Messages are rebuilt, not aliased; only entry data is a view.
  const decoded = decodeMessages(encodeMessages(SAMPLES));
  t.not(decoded[6], SAMPLES[6]);
});

t.test('the empty batch', async (t) => {
  const enc = roundTrip(t, []);
  t.equal(enc.length, 5);
  t.strictSame(decodeMessages(bytes(1, 0, 0, 0, 0)), []);
});

/** Like `t.strictSame(found, wanted)`, but comparing entry data with `Buffer.compare` (tap's deep compare is slow on megabytes). */
function sameLarge(t: Test, found: Message[], wanted: Message[]): void {
  const shape = (msgs: Message[]): unknown[] => msgs.map((m) => (m.type === 'append' ? { ...m, entries: m.entries.map((e) => ({ ...e, data: e.data.length })) } : m));
  t.strictSame(shape(found), shape(wanted), 'same messages and entries');
  const data = (msgs: Message[]): Uint8Array[] => msgs.flatMap((m) => (m.type === 'append' ? m.entries.map((e) => e.data) : []));
  const [f, w] = [data(found), data(wanted)];
  t.ok(f.length === w.length && f.every((d, i) => Buffer.compare(d, w[i]!) === 0), `same data in all ${w.length} entries`);
}

t.test('large entries, decoded as zero-copy views', async (t) => {
  const rng = seededRng(7);
  const big = new Uint8Array(8 << 20).map(() => rng.int(256));
  const many = Array.from({ length: 2000 }, (_, i) => entry(i + 1, 3, 'command', new Uint8Array(1024).fill(i & 255)));
  const msgs: Message[] = [
    { type: 'append', from: 'leader', to: 'follower', term: 3, prevIndex: 0, prevTerm: 0, commit: 0, entries: many },
    { type: 'append', from: 'leader', to: 'follower', term: 3, prevIndex: 2000, prevTerm: 3, commit: 2000, entries: [entry(2001, 3, 'command', big)] },
  ];
  const enc = encodeMessages(msgs);
  t.equal(enc.length, 5 + 2 * (1 + 8 + 10 + 8 + 28) + 2001 * 21 + 2000 * 1024 + big.length, 'the size is exact');
  t.equal(enc.buffer.byteLength, enc.length, 'one buffer, sized exactly');

  // Decode from the middle of a larger buffer, as a transport's read buffer would hand it over.
  const host = new Uint8Array(enc.length + 10);
  host.set(enc, 3);
  const view = host.subarray(3, 3 + enc.length);
  const decoded = decodeMessages(view);
  sameLarge(t, decoded, msgs);
  const data = (decoded[1] as AppendMessage).entries[0]!.data;
  t.equal(Object.getPrototypeOf(data), Uint8Array.prototype, 'a plain Uint8Array');
  t.equal(data.buffer, host.buffer, 'a view of the input, not a copy');
  t.equal(data.byteOffset, 3 + enc.length - big.length);
  host[3 + enc.length - 1] ^= 1;
  t.equal(data[data.length - 1], big[big.length - 1]! ^ 1, 'so it sees changes to the input');

  // A Buffer (a Uint8Array subclass) decodes the same, still to plain views.
  const fromBuffer = decodeMessages(Buffer.from(enc));
  sameLarge(t, fromBuffer, msgs);
  t.equal(Object.getPrototypeOf((fromBuffer[0] as AppendMessage).entries[0]!.data), Uint8Array.prototype);
});

// ---- random batches ----

const ALPHABET = ['a', 'b', 'z', '0', ':', '.', ' ', 'é', 'ß', '€', '☃', '\ufeff', '🦀', '\u{1f600}', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800'];

function randomInt(rng: Rng): number {
  switch (rng.int(5)) {
    case 0:
      return rng.int(4);
    case 1:
      return rng.int(1000);
    case 2:
      return 2 ** 32 - 2 + rng.int(4);
    case 3:
      return MAX - rng.int(3);
    default:
      return Math.floor(rng.float() * MAX);
  }
}

function randomId(rng: Rng): string {
  let s = '';
  for (let n = rng.int(12); n > 0; n--) s += ALPHABET[rng.int(ALPHABET.length)];
  return s;
}

function randomData(rng: Rng): Uint8Array {
  const len = rng.int(4) === 0 ? 0 : rng.int(rng.int(10) === 0 ? 5000 : 40);
  const d = new Uint8Array(len);
  for (let i = 0; i < len; i++) d[i] = rng.int(256);
  return d;
}

function randomMessage(rng: Rng): Message {
  const from = randomId(rng);
  const to = randomId(rng);
  const term = randomInt(rng);
  const bool = (): boolean => rng.int(2) === 1;
  const ids = (): string[] => Array.from({ length: rng.int(5) }, () => randomId(rng));
  switch (rng.int(8)) {
    case 0:
      return { type: 'vote', from, to, term, pre: bool(), lastIndex: randomInt(rng), lastTerm: randomInt(rng), transfer: bool() };
    case 1:
      return { type: 'vote-resp', from, to, term, pre: bool(), granted: bool() };
    case 2: {
      const types: EntryType[] = ['command', 'noop', 'config'];
      const entries = Array.from({ length: rng.int(4) === 0 ? 0 : rng.int(30) }, () => entry(randomInt(rng), randomInt(rng), types[rng.int(3)]!, randomData(rng)));
      return { type: 'append', from, to, term, prevIndex: randomInt(rng), prevTerm: randomInt(rng), entries, commit: randomInt(rng) };
    }
    case 3:
      return { type: 'append-resp', from, to, term, index: randomInt(rng), reject: bool(), hintIndex: randomInt(rng), hintTerm: randomInt(rng) };
    case 4:
      return { type: 'heartbeat', from, to, term, commit: randomInt(rng), context: randomInt(rng) };
    case 5:
      return { type: 'heartbeat-resp', from, to, term, context: randomInt(rng) };
    case 6:
      return { type: 'snapshot', from, to, term, snapshot: { index: randomInt(rng), term: randomInt(rng), conf: { voters: ids(), learners: ids() } } };
    default:
      return { type: 'timeout-now', from, to, term };
  }
}

const randomBatch = (rng: Rng): Message[] => Array.from({ length: rng.int(4) === 0 ? rng.int(2) : rng.int(12) }, () => randomMessage(rng));

t.test('seeded random batches round-trip', async (t) => {
  const rng = seededRng(20240601);
  let messages = 0;
  let mismatches = 0;
  const seen = new Set<string>();
  for (let i = 0; i < 1500; i++) {
    const batch = randomBatch(rng);
    messages += batch.length;
    for (const m of batch) seen.add(m.type);
    const enc = encodeMessages(batch);
    const dec = decodeMessages(enc);
    // isDeepStrictEqual is strict like t.strictSame (prototypes, typed array contents) but much faster; t.strictSame shows a mismatch.
    if (!isDeepStrictEqual(dec, batch) && !t.strictSame(dec, batch, `batch ${i}`)) mismatches++;
    // Encoding is canonical: re-encoding the decoded batch gives the same bytes.
    if (Buffer.compare(encodeMessages(dec), enc) !== 0 && !t.strictSame(encodeMessages(dec), enc, `batch ${i} re-encodes identically`)) mismatches++;
    if (mismatches > 3) break;
  }
  t.equal(mismatches, 0, 'every batch round-trips');
  t.equal(seen.size, 8, 'every message type was generated');
  t.ok(messages > 5000, `${messages} messages`);
});

// ---- hostile input ----

/** Decodes `buf`: 'ok' when it decodes (and re-encodes to the same bytes), 'protocol' on PROTOCOL, or the foreign error. */
function outcome(buf: Uint8Array): 'ok' | 'protocol' | string {
  let msgs: Message[];
  try {
    msgs = decodeMessages(buf);
  } catch (err) {
    return hasCode(err, 'PROTOCOL') ? 'protocol' : `foreign error: ${String(err)}`;
  }
  const again = encodeMessages(msgs);
  return again.length === buf.length && again.every((b, i) => b === buf[i]) ? 'ok' : 'decoded, but re-encodes differently';
}

t.test('every truncation of a valid encoding throws PROTOCOL', async (t) => {
  const rng = seededRng(99);
  const small: Uint8Array[] = [];
  while (small.length < 40) {
    const enc = encodeMessages(randomBatch(rng));
    if (enc.length < 3000) small.push(enc); // every prefix is decoded: keep the quadratic cost down
  }
  const encodings = [encodeMessages(SAMPLES), ...SAMPLES.map((m) => encodeMessages([m])), ...small];
  for (const enc of encodings) {
    const bad: string[] = [];
    for (let len = 0; len < enc.length; len++) {
      const o = outcome(enc.subarray(0, len));
      if (o !== 'protocol') bad.push(`${len}: ${o}`);
    }
    t.strictSame(bad.slice(0, 5), [], `all ${enc.length} prefixes of a ${enc.length}-byte batch are rejected`);
  }
});

t.test('random byte flips decode to a canonical batch or throw PROTOCOL', async (t) => {
  const rng = seededRng(4242);
  const counts = { ok: 0, protocol: 0 };
  const bad: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const enc = encodeMessages(i % 4 === 0 ? SAMPLES : randomBatch(rng));
    if (enc.length === 5) continue;
    for (let flips = 1 + rng.int(3); flips > 0; flips--) {
      const at = rng.int(enc.length);
      enc[at] = rng.int(2) === 0 ? enc[at]! ^ (1 << rng.int(8)) : rng.int(256);
    }
    const o = outcome(enc);
    if (o === 'ok' || o === 'protocol') counts[o]++;
    else bad.push(`flip ${i}: ${o}`);
  }
  t.strictSame(bad.slice(0, 5), []);
  t.ok(counts.ok > 100 && counts.protocol > 100, `both outcomes happen (${counts.ok} decoded, ${counts.protocol} rejected)`);
});

t.test('random garbage throws PROTOCOL, quickly', async (t) => {
  const rng = seededRng(1);
  const bad: string[] = [];
  const started = performance.now();
  for (let i = 0; i < 5000; i++) {
    const buf = new Uint8Array(rng.int(64));
    for (let j = 0; j < buf.length; j++) buf[j] = rng.int(256);
    if (buf.length > 0 && i % 2 === 0) buf[0] = 1; // get past the version byte
    if (buf.length > 5 && i % 4 === 0) buf[5] = 1 + rng.int(8); // and a valid type
    const o = outcome(buf);
    if (o !== 'protocol' && o !== 'ok') bad.push(`${i}: ${o}`);
  }
  t.strictSame(bad.slice(0, 5), []);
  t.ok(performance.now() - started < 5000, 'no input takes long');
});

t.test('each decoding error, at its offset', async (t) => {
  const hb = encodeMessages([sample('heartbeat')]); // commit at 20, context at 28, 36 bytes
  const app = encodeMessages([sample('append')]); // entry count at 44, first entry at 48: type at 64, length at 65, data at 69
  const snap = encodeMessages([sample('snapshot')]); // voters count at 36, first voter length at 40
  const vote = encodeMessages([sample('vote')]); // pre at 20, transfer at 37

  rejects(t, bytes(), 0, /truncated: 1 bytes needed, 0 left/, 'empty input');
  for (const v of [0, 2, 255]) rejects(t, bytes(v, 0, 0, 0, 0), 0, new RegExp(`unknown version ${v}$`), `version ${v}`);
  rejects(t, bytes(1, 0, 0), 1, /truncated: 4 bytes needed, 2 left/, 'a short count');

  for (const code of [0, 9, 255]) {
    const b = hb.slice();
    b[5] = code;
    rejects(t, b, 5, new RegExp(`unknown message type ${code}$`), `message type ${code}`);
  }
  const e = app.slice();
  e[64] = 3;
  rejects(t, e, 64, /unknown entry type 3$/, 'entry type 3');
  for (const [at, name] of [
    [20, 'pre'],
    [37, 'transfer'],
  ] as const) {
    const b = vote.slice();
    b[at] = 2;
    rejects(t, b, at, /invalid boolean 2$/, `boolean ${name} = 2`);
  }

  // Lengths running past the end.
  rejects(t, encodeMessages([sample('heartbeat'), sample('heartbeat')]).subarray(0, 38), 37, /truncated: 2 bytes needed, 1 left/, 'a cut string length');
  const longFrom = hb.slice();
  longFrom[6] = 200;
  rejects(t, longFrom, 8, /truncated: 200 bytes needed, 28 left/, 'a string length past the end');
  rejects(t, patchU32(app, 65, 1000), 69, /truncated: 1000 bytes needed, \d+ left/, 'a data length past the end');
  rejects(t, patchU32(app, 65, 0xffffffff), 69, /truncated: 4294967295 bytes needed/, 'a 4 GiB data length');

  // Counts larger than the rest could hold.
  rejects(t, patchU32(hb, 1, 2), 5 + 36 - 5, /truncated/, 'one message fewer than counted');
  rejects(t, patchU32(hb, 1, 3), 1, /count 3 exceeds the 31 bytes left$/, 'a message count too large');
  rejects(t, patchU32(hb, 1, 0xffffffff), 1, /count 4294967295 exceeds/, 'a huge message count');
  rejects(t, patchU32(app, 44, 0xffffffff), 44, /count 4294967295 exceeds the \d+ bytes left$/, 'a huge entry count');
  rejects(t, patchU32(app, 44, 3), 44, /count 3 exceeds/, 'an entry count one too many for the bytes left');
  rejects(t, patchU32(snap, 36, 0xffffffff), 36, /count 4294967295 exceeds/, 'a huge voter count');
  // Four voters: the fourth is read from the learner count (length 1, '\0'), so the learner count is read from 'd''s bytes.
  rejects(t, patchU32(snap, 36, 4), 52, /count 1677721856 exceeds the 0 bytes left$/, 'a voter count the bytes could hold but do not');

  // Integers above 2^53 - 1.
  t.strictSame(decodeMessages(patchU32(patchU32(hb, 28, 0xffffffff), 32, 0x1fffff)), [{ ...sample('heartbeat'), context: MAX }], '2^53 - 1 decodes');
  rejects(t, patchU32(patchU32(hb, 28, 0), 32, 0x200000), 28, /integer above 2\^53 - 1$/, '2^53');
  rejects(t, patchU32(hb, 16, 0xffffffff), 12, /integer above/, '2^64 - 1 as a term');
  rejects(t, patchU32(app, 60, 0x80000000), 56, /integer above/, 'a huge entry term');

  // Invalid UTF-8 in a node id.
  for (const [name, seq] of [
    ['0xff', [0xff]],
    ['a lone continuation byte', [0x80]],
    ['an overlong NUL', [0xc0, 0x80]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a cut sequence', [0xe2, 0x82]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ] as const) {
    const b = bytes(1, 1, 0, 0, 0, 8, seq.length, 0, ...seq, 0, 0, ...new Array<number>(8).fill(0));
    const err = rejects(t, b, 8, /invalid UTF-8$/, `invalid UTF-8: ${name}`);
    t.ok(err?.cause instanceof TypeError, `${name}: the decoder's error is the cause`);
  }
  const badMember = snap.slice();
  badMember[42] = 0xff; // the first voter, 'a'
  rejects(t, badMember, 42, /invalid UTF-8$/, 'invalid UTF-8 in a member id');

  // Trailing bytes.
  rejects(t, Uint8Array.from([...hb, 0]), 36, /1 trailing bytes$/, 'one trailing byte');
  rejects(t, Uint8Array.from([...encodeMessages([]), 1, 2, 3]), 5, /3 trailing bytes$/, 'bytes after an empty batch');
  rejects(t, patchU32(encodeMessages(SAMPLES), 1, 7), encodeMessages(SAMPLES.slice(0, 7)).length, /trailing bytes$/, 'a message count one too small');

  // Errors are BitraftErrors and nothing leaks from the decoder's internals.
  const err = thrown(() => decodeMessages(bytes(2)));
  t.ok(err instanceof BitraftError);
  t.equal((err as BitraftError).code, 'PROTOCOL');
});

t.test('encoding refuses what the format cannot carry', async (t) => {
  for (const n of [-1, 1.5, NaN, Infinity, MAX + 1, 2 ** 64]) {
    refuses(t, [{ ...sample('heartbeat-resp'), term: n }], /is not a non-negative safe integer$/, `term ${n}`);
    refuses(t, [{ ...sample('heartbeat'), context: n }], /is not a non-negative safe integer$/, `context ${n}`);
    refuses(t, [{ ...sample('append'), entries: [entry(n, 1, 'noop', '')] }], /is not a non-negative safe integer$/, `entry index ${n}`);
  }
  refuses(t, [{ ...sample('timeout-now'), from: 'x'.repeat(65536) }], /node id of 65536 UTF-8 bytes$/, 'a 64 KiB ASCII id');
  refuses(t, [{ ...sample('timeout-now'), to: '€'.repeat(21846) }], /node id of 65538 UTF-8 bytes$/, 'a multi-byte id over 64 KiB');
  refuses(t, [{ ...sample('timeout-now'), to: '🦀'.repeat(16384) }], /node id of 65536 UTF-8 bytes$/, 'an astral id over 64 KiB');
  const snap = sample('snapshot');
  refuses(t, [{ ...snap, snapshot: { ...snap.snapshot, conf: { voters: [], learners: ['y'.repeat(70000)] } } }], /node id of 70000/, 'a long learner id');
  for (const [name, id] of [
    ['a lone high surrogate at the end', 'ab\ud83e'],
    ['a high surrogate before a non-surrogate', '\ud83ex'],
    ['two high surrogates', '\ud83e\ud83e\udd80'],
    ['a lone low surrogate', 'a\udd80b'],
 ]) {
    refuses(t, [{ ...sample('timeout-now'), from: id }], /has a lone surrogate$/, name);
  }
  refuses(t, [{ ...sample('timeout-now'), type: 'gossip' }], /unknown message type "gossip"$/, 'an unknown message type');
  for (const type of ['blob', 'toString', '__proto__']) {
    refuses(t, [{ ...sample('append'), entries: [{ index: 1, term: 1, type, data: new Uint8Array(0) }] }], new RegExp(`unknown entry type "${type}"$`), `entry type ${type}`);
  }
  const huge = { length: 2 ** 32 } as unknown as Uint8Array;
  refuses(t, [{ ...sample('append'), entries: [{ index: 1, term: 1, type: 'command', data: huge }] }], /entry data of 4294967296 bytes$/, 'entry data of 4 GiB');
  t.ok(encodeMessages([{ ...sample('append'), entries: [entry(1, 1, 'command', new Uint8Array(2 ** 16))] }]).length > 2 ** 16, '64 KiB of data is fine');
});
