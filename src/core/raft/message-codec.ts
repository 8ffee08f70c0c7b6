/**
 * The wire encoding of a batch of Raft messages (all to one peer), as the peer transport
 * sends it: one byte string, carried as one RESP bulk argument of an internal command.
 * Pure (no I/O, no `Buffer`), so the simulator and the transport share it.
 *
 * Layout, integers little-endian:
 * - batch: `[u8 version = 1][u32 count][message]×count`, nothing after the last message;
 * - message: `[u8 type][str from][str to][u64 term]`, then by type:
 *   1 vote `[bool pre][u64 lastIndex][u64 lastTerm][bool transfer]`;
 *   2 vote-resp `[bool pre][bool granted]`;
 *   3 append `[u64 prevIndex][u64 prevTerm][u64 commit][u32 n][entry]×n`;
 *   4 append-resp `[u64 index][bool reject][u64 hintIndex][u64 hintTerm]`;
 *   5 heartbeat `[u64 commit][u64 context]`; 6 heartbeat-resp `[u64 context]`;
 *   7 snapshot `[u64 index][u64 term][u32 n][str voter]×n[u32 m][str learner]×m`;
 *   8 timeout-now: nothing more;
 * - entry: `[u64 index][u64 term][u8 type: 0 command, 1 noop, 2 config][u32 length][data]`;
 * - str: `[u16 length][UTF-8]`; bool: one byte, 0 or 1; u64: a safe integer (below 2^53).
 *
 * `Message` has no optional fields, so nothing encodes presence.
 */
import { BitraftError } from '../support/errors.js';
import type { Entry, EntryType, Message, NodeId } from './types.js';

/** The first byte of every batch. */
export const MESSAGE_CODEC_VERSION = 1;

const TYPE_CODES: Record<Message['type'], number> = {
  vote: 1,
  'vote-resp': 2,
  append: 3,
  'append-resp': 4,
  heartbeat: 5,
  'heartbeat-resp': 6,
  snapshot: 7,
  'timeout-now': 8,
};
/** Message types by their code (0 is none). */
const MESSAGE_TYPES: readonly (Message['type'] | undefined)[] = [undefined, 'vote', 'vote-resp', 'append', 'append-resp', 'heartbeat', 'heartbeat-resp', 'snapshot', 'timeout-now'];
const ENTRY_TYPES: readonly EntryType[] = ['command', 'noop', 'config'];
const ENTRY_CODES: Record<EntryType, number> = { command: 0, noop: 1, config: 2 };

/** Bytes of a batch without messages: version and count. */
const BATCH_HEADER = 5;
/** Bytes of the smallest message: type, two empty strings, term. */
const MIN_MESSAGE = 13;
/** Bytes of an entry without data: index, term, type, length. */
const ENTRY_FIXED = 21;
/** Bytes of an empty string: its length. */
const MIN_STRING = 2;
const MAX_STRING = 0xffff;
const MAX_DATA = 0xffffffff;
const TWO_32 = 2 ** 32;
/** The largest high word of a u64 that is still a safe integer. */
const MAX_SAFE_HIGH = 0x1fffff;

const utf8Encoder = new TextEncoder();
// ignoreBOM: a node id starting with U+FEFF must keep it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes `msgs` as one batch (see the layout above) in a single buffer sized exactly
 * beforehand. Every batch this returns decodes to messages deeply equal to `msgs`.
 * Throws `BitraftError('INVALID_ARGUMENT')` for what the format cannot carry: an index,
 * term, commit or context that is not a non-negative safe integer, a node id that is not
 * well-formed UTF-16 or longer than 65535 UTF-8 bytes, an unknown message or entry type,
 * or entry data of 4 GiB or more.
 */
export function encodeMessages(msgs: readonly Message[]): Uint8Array {
  let size = BATCH_HEADER;
  for (const m of msgs) size += sizeOf(m);
  const w = new Writer(size);
  w.u8(MESSAGE_CODEC_VERSION);
  w.u32(msgs.length);
  for (const m of msgs) write(w, m);
  return w.bytes;
}

/**
 * Decodes a batch made by `encodeMessages`. The `data` of each decoded entry is a plain
 * `Uint8Array` view of `buf`, not a copy: `buf` must not be reused or changed while the
 * entries are in use (copy them first if it is).
 *
 * Safe on hostile input: it never reads past `buf`, allocates only in proportion to
 * `buf.length` and runs in time linear in it. Anything that is not exactly one valid
 * batch — a wrong version, an unknown message or entry type, a boolean other than 0/1,
 * a length or count running past the end, an integer above 2^53 − 1, invalid UTF-8,
 * trailing bytes — throws `BitraftError('PROTOCOL')` naming the offending byte offset.
 */
export function decodeMessages(buf: Uint8Array): Message[] {
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== MESSAGE_CODEC_VERSION) throw invalid(0, `unknown version ${version}`);
  const count = r.count(MIN_MESSAGE);
  const msgs: Message[] = [];
  for (let i = 0; i < count; i++) msgs.push(readMessage(r));
  if (r.pos !== buf.length) throw invalid(r.pos, `${buf.length - r.pos} trailing bytes`);
  return msgs;
}

// ---- encoding ----

/** The encoded size of `m`, validating what the write pass does not. */
function sizeOf(m: Message): number {
  const common = 1 + stringSize(m.from) + stringSize(m.to) + 8;
  switch (m.type) {
    case 'vote':
      return common + 18;
    case 'vote-resp':
      return common + 2;
    case 'append': {
      let size = common + 28;
      for (const e of m.entries) size += entrySize(e);
      return size;
    }
    case 'append-resp':
      return common + 25;
    case 'heartbeat':
      return common + 16;
    case 'heartbeat-resp':
      return common + 8;
    case 'snapshot': {
      let size = common + 24;
      for (const id of m.snapshot.conf.voters) size += stringSize(id);
      for (const id of m.snapshot.conf.learners) size += stringSize(id);
      return size;
    }
    case 'timeout-now':
      return common;
    default:
      throw cannotEncode(`unknown message type ${JSON.stringify((m as { type: unknown }).type)}`);
  }
}

function entrySize(e: Entry): number {
  if (typeof ENTRY_CODES[e.type] !== 'number') throw cannotEncode(`unknown entry type ${JSON.stringify(e.type)}`);
  if (e.data.length > MAX_DATA) throw cannotEncode(`entry data of ${e.data.length} bytes`);
  return ENTRY_FIXED + e.data.length;
}

/** The encoded size of `s`: its length prefix and its UTF-8 bytes. */
function stringSize(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c < 0xd800 || c > 0xdfff) n += 2;
    else if (c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 units, 4 bytes
      i++;
    }
    else throw cannotEncode(`node id ${JSON.stringify(s)} has a lone surrogate`);
  }
  if (n > MAX_STRING) throw cannotEncode(`node id of ${n} UTF-8 bytes`);
  return MIN_STRING + n;
}

function write(w: Writer, m: Message): void {
  w.u8(TYPE_CODES[m.type]);
  w.str(m.from);
  w.str(m.to);
  w.u64(m.term);
  switch (m.type) {
    case 'vote':
      w.bool(m.pre);
      w.u64(m.lastIndex);
      w.u64(m.lastTerm);
      w.bool(m.transfer);
      break;
    case 'vote-resp':
      w.bool(m.pre);
      w.bool(m.granted);
      break;
    case 'append':
      w.u64(m.prevIndex);
      w.u64(m.prevTerm);
      w.u64(m.commit);
      w.u32(m.entries.length);
      for (const e of m.entries) {
        w.u64(e.index);
        w.u64(e.term);
        w.u8(ENTRY_CODES[e.type]);
        w.u32(e.data.length);
        w.bytes.set(e.data, w.pos);
        w.pos += e.data.length;
      }
      break;
    case 'append-resp':
      w.u64(m.index);
      w.bool(m.reject);
      w.u64(m.hintIndex);
      w.u64(m.hintTerm);
      break;
    case 'heartbeat':
      w.u64(m.commit);
      w.u64(m.context);
      break;
    case 'heartbeat-resp':
      w.u64(m.context);
      break;
    case 'snapshot':
      w.u64(m.snapshot.index);
      w.u64(m.snapshot.term);
      w.strings(m.snapshot.conf.voters);
      w.strings(m.snapshot.conf.learners);
      break;
    case 'timeout-now':
      break;
  }
}

/** Writes into a buffer of the exact size computed beforehand. */
class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(v: number): void {
    this.bytes[this.pos++] = v;
  }

  bool(v: boolean): void {
    this.bytes[this.pos++] = v ? 1 : 0;
  }

  u32(v: number): void {
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw cannotEncode(`${v} is not a non-negative safe integer`);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / TWO_32), true);
    this.pos += 8;
  }

  /** A string `stringSize` accepted: ASCII byte by byte, anything else through the encoder. */
  str(s: string): void {
    const start = this.pos + 2;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      this.bytes[start + i] = c;
    }
    const len = i === s.length ? i : utf8Encoder.encodeInto(s, this.bytes.subarray(start)).written;
    this.view.setUint16(this.pos, len, true);
    this.pos = start + len;
  }

  strings(ids: readonly NodeId[]): void {
    this.u32(ids.length);
    for (const id of ids) this.str(id);
  }
}

function cannotEncode(reason: string): BitraftError {
  return new BitraftError('INVALID_ARGUMENT', `cannot encode raft messages: ${reason}`);
}

// ---- decoding ----

function readMessage(r: Reader): Message {
  const code = r.u8();
  const type = MESSAGE_TYPES[code];
  if (type === undefined) throw invalid(r.pos - 1, `unknown message type ${code}`);
  const from = r.str();
  const to = r.str();
  const term = r.u64();
  switch (type) {
    case 'vote':
      return { type, from, to, term, pre: r.bool(), lastIndex: r.u64(), lastTerm: r.u64(), transfer: r.bool() };
    case 'vote-resp':
      return { type, from, to, term, pre: r.bool(), granted: r.bool() };
    case 'append': {
      const prevIndex = r.u64();
      const prevTerm = r.u64();
      const commit = r.u64();
      const n = r.count(ENTRY_FIXED);
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push(r.entry());
      return { type, from, to, term, prevIndex, prevTerm, entries, commit };
    }
    case 'append-resp':
      return { type, from, to, term, index: r.u64(), reject: r.bool(), hintIndex: r.u64(), hintTerm: r.u64() };
    case 'heartbeat':
      return { type, from, to, term, commit: r.u64(), context: r.u64() };
    case 'heartbeat-resp':
      return { type, from, to, term, context: r.u64() };
    case 'snapshot': {
      const index = r.u64();
      const snapTerm = r.u64();
      const voters = r.strings();
      const learners = r.strings();
      return { type, from, to, term, snapshot: { index, term: snapTerm, conf: { voters, learners } } };
    }
    case 'timeout-now':
      return { type, from, to, term };
  }
}

/** Reads fields in order, checking each against the end of the buffer before reading it. */
class Reader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Fails unless `n` more bytes remain. */
  private need(n: number): void {
    const left = this.buf.length - this.pos;
    if (n > left) throw invalid(this.pos, `truncated: ${n} bytes needed, ${left} left`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw invalid(this.pos - 1, `invalid boolean ${b}`);
    return b === 1;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const high = this.view.getUint32(this.pos + 4, true);
    if (high > MAX_SAFE_HIGH) throw invalid(this.pos, 'integer above 2^53 - 1');
    const v = high * TWO_32 + this.view.getUint32(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u32 count of items of at least `min` bytes each, which the rest of the buffer must be able to hold. */
  count(min: number): number {
    const at = this.pos;
    const n = this.u32();
    if (n * min > this.buf.length - this.pos) throw invalid(at, `count ${n} exceeds the ${this.buf.length - this.pos} bytes left`);
    return n;
  }

  str(): string {
    this.need(2);
    const len = this.view.getUint16(this.pos, true);
    this.pos += 2;
    this.need(len);
    const start = this.pos;
    this.pos += len;
    try {
      return utf8Decoder.decode(this.buf.subarray(start, this.pos));
    } catch (cause) {
      throw invalid(start, 'invalid UTF-8', cause);
    }
  }

  strings(): NodeId[] {
    const n = this.count(MIN_STRING);
    const ids: NodeId[] = [];
    for (let i = 0; i < n; i++) ids.push(this.str());
    return ids;
  }

  entry(): Entry {
    const index = this.u64();
    const term = this.u64();
    const code = this.u8();
    const type = ENTRY_TYPES[code];
    if (type === undefined) throw invalid(this.pos - 1, `unknown entry type ${code}`);
    const len = this.u32();
    this.need(len);
    const data = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, len);
    this.pos += len;
    return { index, term, type, data };
  }
}

function invalid(offset: number, reason: string, cause?: unknown): BitraftError {
  return new BitraftError('PROTOCOL', `invalid raft message batch at byte ${offset}: ${reason}`, cause === undefined ? undefined : { cause });
}
