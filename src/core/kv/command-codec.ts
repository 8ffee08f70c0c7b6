/**
 * The data of a command log entry: the command's arguments, name first, as
 * `[u32 count]` then `[u32 length][bytes]` per argument (little-endian). Compact and
 * decoded without parsing text; `bitraft inspect-log` shows it as the command.
 *
 * A *stamped* entry carries the leader's clock as well, so that every replica judges
 * expiries at the same time: `[u32 0xFFFFFFFF][u32 ms low][u32 ms high]` and then the
 * command as above. A count of 0xFFFFFFFF can never be a command's (it would need 16 GiB).
 */

const STAMP_MARK = 0xffffffff;
const STAMP_HEADER = 12;

/** A decoded command entry: its arguments, and the leader's time stamped in it (0 if none). */
export interface CommandEntry {
  at: number;
  args: Buffer[];
}

/** Encodes `args` as one entry's data, stamped with the leader's time `at` (ms since the epoch, a safe integer). */
export function encodeStampedCommand(at: number, args: readonly Uint8Array[]): Buffer {
  const out = encodeAfter(STAMP_HEADER, args);
  out.writeUInt32LE(STAMP_MARK, 0);
  out.writeUInt32LE(at % 2 ** 32, 4);
  out.writeUInt32LE(Math.floor(at / 2 ** 32), 8);
  return out;
}

/**
 * Decodes an entry's data, stamped or not (then `at` is 0). Undefined for anything
 * malformed (see `decodeCommand`), including a stamp that is not a safe integer.
 */
export function decodeEntry(data: Uint8Array): CommandEntry | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4 || buf.readUInt32LE(0) !== STAMP_MARK) {
    const args = decodeCommand(buf);
    return args && { at: 0, args };
  }
  if (buf.length < STAMP_HEADER) return undefined;
  const at = buf.readUInt32LE(4) + buf.readUInt32LE(8) * 2 ** 32;
  const args = Number.isSafeInteger(at) ? decodeCommand(buf.subarray(STAMP_HEADER)) : undefined;
  return args && { at, args };
}

/** Encodes `args` (at least the command name) as one entry's data. */
export function encodeCommand(args: readonly Uint8Array[]): Buffer {
  return encodeAfter(0, args);
}

/** `args` encoded after `header` bytes left for the caller to fill. */
function encodeAfter(header: number, args: readonly Uint8Array[]): Buffer {
  let size = header + 4;
  for (const a of args) size += 4 + a.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(args.length, header);
  let pos = header + 4;
  for (const a of args) {
    out.writeUInt32LE(a.length, pos);
    out.set(a, pos + 4);
    pos += 4 + a.length;
  }
  return out;
}

/**
 * Decodes an entry's data into the command's arguments (views into `data`, not copies).
 * Returns undefined for anything malformed — no arguments, a length past the end, or
 * trailing bytes — so that applying a damaged entry yields an error reply, never a throw.
 */
export function decodeCommand(data: Uint8Array): Buffer[] | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4) return undefined;
  const count = buf.readUInt32LE(0);
  if (count === 0 || count > (buf.length - 4) / 4) return undefined;
  const args: Buffer[] = [];
  let pos = 4;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > buf.length) return undefined;
    const len = buf.readUInt32LE(pos);
    pos += 4;
    if (len > buf.length - pos) return undefined;
    args.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return pos === buf.length ? args : undefined;
}
