/**
 * Tests of the command entry codec (command-codec.ts): round trips of binary, empty and
 * many arguments; every malformed layout decodes to undefined (never a throw), including
 * every prefix of a valid encoding; decoding a view into a larger buffer.
 */
import t from 'tap';
import { decodeCommand, decodeEntry, encodeCommand, encodeStampedCommand } from '../../../src/core/kv/command-codec.js';

function roundTrip(args: Buffer[]): Buffer[] | undefined {
  return decodeCommand(encodeCommand(args));
}

/** `[u32 count]` then `[u32 len][bytes]` per part, little-endian, built by hand. */
function raw(count: number, ...parts: (number | Buffer)[]): Buffer {
  const out: Buffer[] = [u32(count)];
  for (const p of parts) out.push(typeof p === 'number' ? u32(p) : p);
  return Buffer.concat(out);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

t.test('round trips', async (t) => {
  const set = [Buffer.from('SET'), Buffer.from('k'), Buffer.from('v')];
  t.strictSame(roundTrip(set), set, 'simple command');

  const binary = [Buffer.from('SET'), Buffer.from([0, 0xff, 13, 10, 0x80]), Buffer.from([0, 0, 0, 0])];
  t.strictSame(roundTrip(binary), binary, 'binary-safe arguments');

  const empty = [Buffer.from('SET'), Buffer.alloc(0), Buffer.alloc(0)];
  t.strictSame(roundTrip(empty), empty, 'empty arguments');

  t.strictSame(roundTrip([Buffer.alloc(0)]), [Buffer.alloc(0)], 'a single empty argument');

  const many = Array.from({ length: 1000 }, (_, i) => Buffer.from(`arg-${i}`));
  t.strictSame(roundTrip(many), many, 'many arguments');

  const big = [Buffer.from('SET'), Buffer.from('k'), Buffer.alloc(100_000, 7)];
  t.strictSame(roundTrip(big), big, 'a large argument');
});

t.test('the layout', async (t) => {
  const enc = encodeCommand([Buffer.from('AB'), Buffer.from('C')]);
  t.strictSame(enc, raw(2, 2, Buffer.from('AB'), 1, Buffer.from('C')), 'count, then length-prefixed arguments, little-endian');
  t.equal(encodeCommand([Buffer.from('X'), Buffer.alloc(0)]).length, 4 + 5 + 4, 'size is exact');
  t.ok(Buffer.isBuffer(enc), 'a Buffer');
});

t.test('decoded arguments are views into the data, not copies', async (t) => {
  const enc = encodeCommand([Buffer.from('GET'), Buffer.from('key')]);
  const args = decodeCommand(enc)!;
  enc[4 + 4] = 'g'.charCodeAt(0);
  t.equal(args[0]!.toString(), 'gET');
});

t.test('malformed data decodes to undefined', async (t) => {
  t.equal(decodeCommand(Buffer.alloc(0)), undefined, 'empty');
  t.equal(decodeCommand(Buffer.from([1, 0, 0])), undefined, 'shorter than the count');
  t.equal(decodeCommand(u32(0)), undefined, 'zero count, nothing else');
  t.equal(decodeCommand(raw(0, 1, Buffer.from('x'))), undefined, 'zero count with trailing data');
  t.equal(decodeCommand(raw(2, 1, Buffer.from('x'))), undefined, 'count too large for the data (by the 4-byte bound)');
  t.equal(decodeCommand(raw(0xffffffff)), undefined, 'huge count');
  t.strictSame(decodeCommand(raw(2, 0, 0)), [Buffer.alloc(0), Buffer.alloc(0)], '(two empty arguments are fine)');
  t.equal(decodeCommand(raw(2, 3, Buffer.from('abc'), Buffer.from([0]))), undefined, 'count fits the bound, but the second length header is cut short');
  t.equal(decodeCommand(raw(2, 4, Buffer.from('abcd'))), undefined, 'count fits the bound, but the second length header is missing');
  t.equal(decodeCommand(raw(1, 5, Buffer.from('abc'))), undefined, 'length past the end');
  t.equal(decodeCommand(raw(1, 0xffffffff)), undefined, 'huge length');
  t.equal(decodeCommand(raw(1, 1, Buffer.from('ab'))), undefined, 'one trailing byte');
  t.equal(decodeCommand(Buffer.concat([encodeCommand([Buffer.from('SET'), Buffer.from('k')]), u32(0)])), undefined, 'trailing bytes');
  t.equal(decodeCommand(Buffer.from('not a command at all')), undefined, 'garbage');
});

t.test('no prefix of a valid encoding decodes, and none throws', async (t) => {
  const enc = encodeCommand([Buffer.from('SET'), Buffer.from('key'), Buffer.alloc(0), Buffer.from([0xff, 0])]);
  let throws = 0;
  let decoded = 0;
  for (let n = 0; n < enc.length; n++) {
    try {
      if (decodeCommand(enc.subarray(0, n)) !== undefined) decoded++;
    } catch {
      throws++;
    }
  }
  t.equal(throws, 0, 'no prefix throws');
  t.equal(decoded, 0, 'no strict prefix decodes');
  t.ok(decodeCommand(enc), 'the whole encoding decodes');
});

t.test('random bytes never throw', async (t) => {
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 16;
  };
  let throws = 0;
  for (let i = 0; i < 2000; i++) {
    const len = next() % 24;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = next() % 4 === 0 ? next() & 0xff : next() % 3;
    try {
      decodeCommand(buf);
    } catch {
      throws++;
    }
  }
  t.equal(throws, 0);
});

t.test('decodes a Uint8Array view with a byteOffset', async (t) => {
  const args = [Buffer.from('SET'), Buffer.from('k'), Buffer.from([1, 2, 3])];
  const enc = encodeCommand(args);
  const backing = new ArrayBuffer(enc.length + 20);
  const whole = new Uint8Array(backing);
  whole.fill(0xee);
  whole.set(enc, 7);
  const view = new Uint8Array(backing, 7, enc.length);
  const decoded = decodeCommand(view);
  t.strictSame(decoded, args, 'only the view is read, not the bytes around it');
  t.equal(decoded![0]!.buffer, backing, 'the arguments are views of the same memory');

  // A Buffer slice from the shared pool has a non-zero byteOffset too.
  const pooled = Buffer.concat([Buffer.from('xx'), enc, Buffer.from('yy')]).subarray(2, 2 + enc.length);
  t.strictSame(decodeCommand(pooled), args);
});

t.test('a stamped entry carries the leader time before the command', async (t) => {
  const args = [Buffer.from('SET'), Buffer.from('k'), Buffer.from('v')];
  for (const at of [0, 1, 1_700_000_000_123, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    const data = encodeStampedCommand(at, args);
    t.equal(data.readUInt32LE(0), 0xffffffff, 'the mark');
    t.equal(data.readUInt32LE(4) + data.readUInt32LE(8) * 2 ** 32, at);
    t.strictSame(data.subarray(12), encodeCommand(args), 'then the command as ever');
    t.strictSame(decodeEntry(data), { at, args });
  }
  t.strictSame(decodeEntry(encodeCommand(args)), { at: 0, args }, 'an entry without a stamp: time 0');
  t.equal(decodeCommand(encodeStampedCommand(5, args)), undefined, 'a stamped entry is not a plain command');
});

t.test('a malformed stamped entry decodes to undefined', async (t) => {
  const data = encodeStampedCommand(7, [Buffer.from('GET'), Buffer.from('k')]);
  for (let n = 0; n < data.length; n++) t.equal(decodeEntry(data.subarray(0, n)), undefined, `cut at ${n}`);
  const huge = Buffer.from(data);
  huge.writeUInt32LE(0xffffffff, 8);
  t.equal(decodeEntry(huge), undefined, 'a stamp beyond 2^53');
  t.equal(decodeEntry(Buffer.alloc(2)), undefined);
});
