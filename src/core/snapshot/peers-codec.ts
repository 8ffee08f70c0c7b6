import { isUtf8 } from 'node:buffer';

/**
 * The `Peers` field of the Go original's meta.json: hashicorp/raft's `encodePeers`, a
 * msgpack array of the voters' addresses, each a raw string, written by go-msgpack's
 * default `MsgpackHandle` (the old msgpack spec: fixstr, then str16 and str32, never
 * str8; fixarray, then array16 and array32).
 */

/** Header bytes of msgpack strings and byte arrays with a length field, and that field's width. */
const STRING_LENGTH_BYTES = new Map([
  [0xd9, 1], // str8
  [0xda, 2], // str16
  [0xdb, 4], // str32
  [0xc4, 1], // bin8
  [0xc5, 2], // bin16
  [0xc6, 4], // bin32
]);
/** Header bytes of msgpack arrays with a length field, and that field's width. */
const ARRAY_LENGTH_BYTES = new Map([
  [0xdc, 2], // array16
  [0xdd, 4], // array32
]);

/** The msgpack encoding of `addresses` exactly as the Go original writes it (see the module comment). */
export function encodePeers(addresses: readonly string[]): Buffer {
  const parts: Buffer[] = [header(addresses.length, 16, 0x90, 0xdc, 0xdd)];
  for (const address of addresses) {
    const bytes = Buffer.from(address, 'utf8');
    parts.push(header(bytes.length, 32, 0xa0, 0xda, 0xdb), bytes);
  }
  return Buffer.concat(parts);
}

function header(length: number, fixLimit: number, fix: number, b16: number, b32: number): Buffer {
  if (length < fixLimit) return Buffer.from([fix | length]);
  if (length < 0x10000) return Buffer.from([b16, length >> 8, length & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = b32;
  out.writeUInt32BE(length, 1);
  return out;
}

/**
 * Decodes a msgpack array of strings (any of the string and byte-array forms, which must
 * hold valid UTF-8). Throws an `Error` saying what is wrong (the caller names the file).
 */
export function decodePeers(bytes: Buffer): string[] {
  const reader = new Reader(bytes);
  const count = reader.length(0x90, 16, ARRAY_LENGTH_BYTES, 'an array');
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.length(0xa0, 32, STRING_LENGTH_BYTES, `a string at element ${i}`);
    const raw = reader.take(length);
    if (!isUtf8(raw)) throw new Error(`element ${i} is not valid UTF-8`);
    out.push(raw.toString('utf8'));
  }
  if (reader.at !== bytes.length) throw new Error(`${bytes.length - reader.at} bytes follow the array`);
  return out;
}

class Reader {
  at = 0;

  constructor(private readonly bytes: Buffer) {}

  /** Reads a header: a fix form `fix | n` with n < `fixCount`, or a byte of `sized` and its big-endian length. */
  length(fix: number, fixCount: number, sized: Map<number, number>, what: string): number {
    const b = this.take(1)[0]!;
    if (b >= fix && b < fix + fixCount) return b - fix;
    const width = sized.get(b);
    if (width === undefined) throw new Error(`expected ${what}, found byte 0x${b.toString(16)} at offset ${this.at - 1}`);
    return this.take(width).readUIntBE(0, width);
  }

  take(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new Error(`truncated at offset ${this.at}: ${n} bytes needed, ${this.bytes.length - this.at} left`);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
