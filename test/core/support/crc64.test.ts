import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { crc64, crc64Bytes } from '../../../src/core/support/crc64.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { GO_SNAPSHOT_FIXTURE } from '../../helpers/state-bin.js';

/** Bit-by-bit reference of Go's crc64 with the ECMA table (reflected 0xC96C5795D7870F42, init and xorout all ones). */
function reference(data: Uint8Array): bigint {
  const POLY = 0xc96c5795d7870f42n;
  let crc = 0xffffffffffffffffn;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ POLY : crc >> 1n;
  }
  return crc ^ 0xffffffffffffffffn;
}

t.test('known vectors', async (t) => {
  t.equal(crc64(Buffer.from('123456789')), 0x995dc9bbdf1939fan, 'the CRC-64/XZ check value');
  t.equal(crc64(Buffer.alloc(0)), 0n);
  t.equal(crc64(new Uint8Array([0])), reference(new Uint8Array([0])));
  t.equal(crc64(Buffer.alloc(1000, 0xff)), reference(Buffer.alloc(1000, 0xff)));
});

t.test('matches the bitwise reference at every length and alignment', async (t) => {
  const rng = seededRng(64);
  const backing = Buffer.from(Array.from({ length: 300 }, () => rng.int(256)));
  let mismatches = 0;
  for (let start = 0; start < 9; start++) {
    for (let length = 0; length <= 70; length++) {
      const view = new Uint8Array(backing.buffer, backing.byteOffset + start, length);
      if (crc64(view) !== reference(view)) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});

t.test('continues from a previous value, split anywhere', async (t) => {
  const rng = seededRng(5);
  const data = Buffer.from(Array.from({ length: 257 }, () => rng.int(256)));
  const whole = crc64(data);
  t.equal(whole, reference(data));
  let bad = 0;
  for (let cut = 0; cut <= data.length; cut++) if (crc64(data.subarray(cut), crc64(data.subarray(0, cut))) !== whole) bad++;
  t.equal(bad, 0);
  let running = 0n;
  for (let at = 0; at < data.length; ) {
    const n = rng.int(20);
    running = crc64(data.subarray(at, at + n), running);
    at += n;
  }
  t.equal(running, whole, 'random chunks, empty ones included');
  t.equal(crc64(Buffer.alloc(0), 0x0123456789abcdefn), 0x0123456789abcdefn, 'no data keeps the running value');
});

t.test('reproduces the CRC of the Go fixture', async (t) => {
  const meta = JSON.parse(fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'meta.json'), 'utf8')) as { CRC: string };
  const state = fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'state.bin'));
  t.equal(meta.CRC, 'd1cqDnZCIg8=');
  t.equal(crc64Bytes(crc64(state)).toString('base64'), meta.CRC);
});

t.test('crc64Bytes is the 8-byte big-endian form', async (t) => {
  t.equal(crc64Bytes(0x995dc9bbdf1939fan).toString('hex'), '995dc9bbdf1939fa');
  t.equal(crc64Bytes(0n).toString('hex'), '0000000000000000');
  t.equal(crc64Bytes(1n).toString('hex'), '0000000000000001');
});
