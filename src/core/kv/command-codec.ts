/**
 * The data of a command log entry: the command's arguments, name first, as
 * `[u32 count]` then `[u32 length][bytes]` per argument (little-endian). Compact and
 * decoded without parsing text; `bitraft inspect-log` shows it as the command.
 */

/** Encodes `args` (at least the command name) as one entry's data. */
export function encodeCommand(args: readonly Uint8Array[]): Buffer {
  let size = 4;
  for (const a of args) size += 4 + a.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(args.length, 0);
  let pos = 4;
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
