import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { checkHint, HintWriter, forEachHint, validateHint, type HintEntry, type HintState } from '../../../src/core/bitcask/hint.js';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { crc32 } from '../../../src/core/support/crc32.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const MiB = 1 << 20;
const MAGIC = 'BKH1';
const ENTRY_HEADER = 17;
const TRAILER = 12;

interface Entry {
  tombstone: boolean;
  tstamp: number;
  key: Buffer;
  offset: number;
  size: number;
  expiresAt: number;
}

function randomEntries(rng: Rng, n: number, maxKey = 40): Entry[] {
  return Array.from({ length: n }, () => {
    const key = Buffer.alloc(rng.int(maxKey + 1));
    for (let i = 0; i < key.length; i++) key[i] = rng.int(256);
    const tombstone = rng.int(4) === 0;
    // Some live entries expire: anywhere in the safe range, both 32-bit words used.
    const expiresAt = !tombstone && rng.int(3) === 0 ? 1 + rng.int(2 ** 21) * 2 ** 32 + rng.int(2 ** 32) : 0;
    return { tombstone, tstamp: rng.int(2 ** 32), key, offset: rng.int(2 ** 32), size: rng.int(2 ** 32), expiresAt };
  });
}

function writeHint(file: string, entries: Entry[], dataSize: number): void {
  const w = new HintWriter(file);
  for (const e of entries) w.add(e.tombstone, e.tstamp, e.key, e.offset, e.size, e.expiresAt);
  w.finish(dataSize);
}

/** Every entry, with its key copied out of the callback. */
function readBack(data: Buffer): Entry[] {
  const out: Entry[] = [];
  forEachHint(data, (e: HintEntry) => out.push({ ...e, key: Buffer.from(e.key) }));
  return out;
}

/** The expected bytes, built independently of HintWriter from the documented layout. */
function expectedBytes(entries: Entry[], dataSize: number): Buffer {
  const parts: Buffer[] = [Buffer.from(MAGIC, 'latin1')];
  for (const e of entries) {
    const h = Buffer.alloc(ENTRY_HEADER);
    h[0] = (e.tombstone ? 1 : 0) | (e.expiresAt > 0 ? 2 : 0);
    h.writeUInt32LE(e.tstamp, 1);
    h.writeUInt32LE(e.key.length, 5);
    h.writeUInt32LE(e.offset, 9);
    h.writeUInt32LE(e.size, 13);
    parts.push(h, e.key);
    if (e.expiresAt > 0) {
      const x = Buffer.alloc(8);
      x.writeBigUInt64LE(BigInt(e.expiresAt));
      parts.push(x);
    }
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(entries.length, 0);
  trailer.writeUInt32LE(dataSize, 4);
  parts.push(trailer);
  const body = Buffer.concat(parts);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, crc]);
}

/** Seals hand-made content with a valid trailer CRC, so only its structure can be objected to. */
function sealed(body: Buffer, count: number, dataSize: number): Buffer {
  const trailer = Buffer.alloc(TRAILER);
  trailer.writeUInt32LE(count, 0);
  trailer.writeUInt32LE(dataSize, 4);
  const out = Buffer.concat([body, trailer]);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

const rejected = (t: Test, reason: string | undefined, what: string) =>
  t.ok(typeof reason === 'string' && reason.length > 0, `${what}: rejected with a reason`);

t.test('round trip', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, '0000000001.hint');
  const entries: Entry[] = [
    { tombstone: false, tstamp: 0, key: Buffer.alloc(0), offset: 0, size: 21, expiresAt: 0 },
    { tombstone: true, tstamp: 0xffffffff, key: Buffer.from('deleted'), offset: 21, size: 28, expiresAt: 0 },
    { tombstone: false, tstamp: 1_700_000_000, key: Buffer.from([0x00, 0xff, 0x80]), offset: 0xffffffff, size: 0xffffffff, expiresAt: 0 },
    { tombstone: false, tstamp: 1, key: Buffer.from('expires'), offset: 7, size: 40, expiresAt: 1_700_000_000_123 },
    { tombstone: false, tstamp: 1, key: Buffer.alloc(0), offset: 8, size: 29, expiresAt: Number.MAX_SAFE_INTEGER },
    ...randomEntries(seededRng(1), 50),
  ];
  writeHint(file, entries, 123_456);
  t.same(fs.readdirSync(dir), ['0000000001.hint'], 'renamed into place; no tmp file left');
  const data = fs.readFileSync(file);
  t.ok(data.equals(expectedBytes(entries, 123_456)), 'bytes follow the documented layout');
  t.equal(validateHint(data, 123_456), undefined);
  t.same(readBack(data), entries);
});

t.test('an empty hint', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  writeHint(file, [], 0);
  const data = fs.readFileSync(file);
  t.equal(data.length, MAGIC.length + TRAILER);
  t.ok(data.equals(expectedBytes([], 0)));
  t.equal(validateHint(data, 0), undefined);
  t.same(readBack(data), []);
  rejected(t, validateHint(data, 1), 'data size 1');
});

t.test('tstamps are stored as unsigned 32-bit', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  const w = new HintWriter(file);
  w.add(false, -1, Buffer.from('a'), 0, 22);
  w.add(false, 2 ** 32 + 3, Buffer.from('b'), 22, 22);
  w.finish(44);
  t.same(
    readBack(fs.readFileSync(file)).map((e) => e.tstamp),
    [0xffffffff, 3],
  );
});

t.test('a hint for another data size is rejected', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  const entries = randomEntries(seededRng(2), 5);
  writeHint(file, entries, 5000);
  const data = fs.readFileSync(file);
  t.equal(validateHint(data, 5000), undefined);
  for (const size of [0, 4999, 5001, 0xffffffff]) rejected(t, validateHint(data, size), `data size ${size}`);
});

t.test('every truncation is rejected', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  const entries = randomEntries(seededRng(3), 12, 20);
  writeHint(file, entries, 777);
  const data = fs.readFileSync(file);
  const accepted: number[] = [];
  for (let cut = 0; cut < data.length; cut++) {
    const reason = validateHint(Buffer.from(data.subarray(0, cut)), 777);
    if (typeof reason !== 'string' || reason.length === 0) accepted.push(cut);
  }
  t.same(accepted, [], `all ${data.length} truncations rejected`);
  // Bytes appended after a whole hint are rejected too.
  rejected(t, validateHint(Buffer.concat([data, Buffer.alloc(1)]), 777), 'one byte too many');
  rejected(t, validateHint(Buffer.concat([data, data]), 777), 'doubled');
});

t.test('every single-byte corruption is rejected', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  const entries = randomEntries(seededRng(4), 6, 12);
  writeHint(file, entries, 4242);
  const data = fs.readFileSync(file);
  t.equal(validateHint(data, 4242), undefined);
  const accepted: string[] = [];
  const copy = Buffer.from(data);
  for (let i = 0; i < data.length; i++) {
    for (let x = 1; x < 256; x++) {
      copy[i] = data[i]! ^ x;
      const reason = validateHint(copy, 4242);
      if (typeof reason !== 'string' || reason.length === 0) accepted.push(`byte ${i} ^ ${x}`);
    }
    copy[i] = data[i]!;
  }
  t.same(accepted, [], `all ${data.length * 255} corruptions rejected`);
});

t.test('structural damage under a valid checksum is rejected', async (t) => {
  const magic = Buffer.from(MAGIC, 'latin1');
  const good = expectedBytes(randomEntries(seededRng(5), 3), 100);
  t.equal(validateHint(good, 100), undefined, 'control');
  const entryBytes = good.subarray(MAGIC.length, good.length - TRAILER);

  rejected(t, validateHint(sealed(Buffer.from('BKH2'), 0, 100), 100), 'wrong magic');
  rejected(t, validateHint(sealed(Buffer.concat([magic, Buffer.alloc(5)]), 1, 100), 100), 'a partial entry header');
  rejected(t, validateHint(sealed(Buffer.concat([magic, entryBytes]), 2, 100), 100), 'count too small');
  rejected(t, validateHint(sealed(Buffer.concat([magic, entryBytes]), 4, 100), 100), 'count too large');
  // A key length that runs past the trailer.
  const overlong = Buffer.from(entryBytes);
  overlong.writeUInt32LE(overlong.readUInt32LE(5) + 1, 5);
  rejected(t, validateHint(sealed(Buffer.concat([magic, overlong]), 3, 100), 100), 'a key running into the trailer');
  const huge = Buffer.from(entryBytes);
  huge.writeUInt32LE(0xffffffff, 5);
  rejected(t, validateHint(sealed(Buffer.concat([magic, huge]), 3, 100), 100), 'a 4 GiB key length');
  // The same structure with a right count is accepted: the hand sealing is sound.
  t.equal(validateHint(sealed(Buffer.concat([magic, entryBytes]), 3, 100), 100), undefined);
  for (const short of [Buffer.alloc(0), magic, Buffer.alloc(15)]) rejected(t, validateHint(short, 0), `${short.length} bytes`);
});

t.test('a flag bit other than the tombstone\'s is rejected', async (t) => {
  // The fuzz corpus case: one entry with flags 3, under a valid CRC.
  const corpus = Buffer.from('424b4831030100000001000000000000001e000000610100000064000000cc76b144', 'hex');
  t.equal(checkHint(corpus, 100), 'unknown flags 0x03');
  const entry = expectedBytes([{ tombstone: false, tstamp: 1, key: Buffer.from('k'), offset: 0, size: 30, expiresAt: 0 }], 100).subarray(MAGIC.length, -TRAILER);
  const magic = Buffer.from(MAGIC, 'latin1');
  const withFlags = (flags: number): Buffer => {
    const e = Buffer.from(entry);
    e[0] = flags;
    return sealed(Buffer.concat([magic, entry, e]), 2, 100);
  };
  for (const flags of [0, 1]) {
    t.equal(validateHint(withFlags(flags), 100), undefined, `flags ${flags}`);
    t.same(readBack(withFlags(flags)).map((x) => x.tombstone), [false, flags === 1], `flags ${flags}: the tombstone bit`);
  }
  // Flag 2 (expires) makes 8 more bytes follow the key: these bytes hold no valid expiry.
  t.match(validateHint(withFlags(2), 100), /^(truncated entry|bad expiry in entry 1|entry count mismatch)$/, 'flags 2 without its expiry');
  const accepted: string[] = [];
  for (let flags = 3; flags < 256; flags++) {
    const reason = validateHint(withFlags(flags), 100);
    if (reason !== `unknown flags 0x${flags.toString(16).padStart(2, '0')}`) accepted.push(`${flags}: ${reason}`);
  }
  t.same(accepted, [], 'every flags byte from 3 to 255 is rejected as unknown');
});

t.test('a store ignores a hint with unknown flags and scans the data file: a tombstone stays one', async (t) => {
  const dir = tmpDir(t);
  const opts = { maxFileSize: 256 };
  let store = await Bitcask.open(dir, opts);
  store.put(Buffer.from('gone'), Buffer.from('soon deleted'));
  store.put(Buffer.from('kept'), Buffer.from('value'));
  store.rotate();
  store.delete(Buffer.from('gone'));
  store.rotate();
  await store.close();
  // Mark the tombstone 3 (tombstone bit and an unknown one) in its file's hint, resealed.
  const hints = fs.readdirSync(dir).filter((n) => n.endsWith('.hint')).sort();
  const file = path.join(dir, hints[1]!);
  const hint = fs.readFileSync(file);
  t.same(readBack(hint).map((e) => [e.key.toString(), e.tombstone]), [['gone', true]]);
  hint[MAGIC.length] = 3;
  hint.writeUInt32LE(crc32(hint.subarray(0, hint.length - 4)), hint.length - 4);
  fs.writeFileSync(file, hint);
  const logger = memoryLogger();
  store = await Bitcask.open(dir, { ...opts, logger });
  t.teardown(() => store.close());
  t.equal(store.get(Buffer.from('gone')), undefined, 'still deleted');
  t.same(store.get(Buffer.from('kept')), Buffer.from('value'));
  t.match(logger.lines, [new RegExp(`^warn: ignoring hint .*${hints[1]}: unknown flags 0x03; scanning`)]);
});

t.test('entries larger than the 1 MiB write buffer', async (t) => {
  const file = path.join(tmpDir(t), 'h.hint');
  const rng = seededRng(6);
  const big = (n: number): Entry => {
    const key = Buffer.alloc(n);
    for (let i = 0; i < n; i += 997) key[i] = rng.int(256);
    key[n - 1] = 0x5a;
    return { tombstone: false, tstamp: rng.int(1000), key, offset: rng.int(2 ** 32), size: n + 21, expiresAt: 0 };
  };
  const entries: Entry[] = [
    ...randomEntries(rng, 100),
    big(1.5 * MiB), // does not fit the buffer at all
    ...randomEntries(rng, 10),
    big(MiB - 17), // exactly fills a fresh buffer
    big(3 * MiB),
    big(3 * MiB + 1),
    ...randomEntries(rng, 10),
    // Many small entries that fill the buffer more than once.
    ...randomEntries(rng, 20_000, 100),
  ];
  writeHint(file, entries, 9_999_999);
  const data = fs.readFileSync(file);
  t.ok(data.length > 9 * MiB);
  t.equal(validateHint(data, 9_999_999), undefined);
  t.ok(data.equals(expectedBytes(entries, 9_999_999)), 'same bytes as the layout');
  const back = readBack(data);
  t.equal(back.length, entries.length);
  t.ok(
    back.every((e, i) => {
      const w = entries[i]!;
      return e.key.equals(w.key) && e.offset === w.offset && e.size === w.size && e.tstamp === w.tstamp && e.tombstone === w.tombstone;
    }),
    'every entry reads back',
  );
});

t.test('abort removes the unfinished file', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  const w = new HintWriter(file);
  t.equal(w.path, file);
  t.same(fs.readdirSync(dir), ['h.hint.tmp'], 'written as a tmp file');
  for (const e of randomEntries(seededRng(7), 10)) w.add(e.tombstone, e.tstamp, e.key, e.offset, e.size);
  // Force some of it to disk so there is something to remove.
  w.add(false, 1, Buffer.alloc(2 * MiB), 0, 1);
  t.ok(fs.statSync(`${file}.tmp`).size > 0);
  w.abort();
  t.same(fs.readdirSync(dir), [], 'no tmp file and no hint');
});

t.test('abort after the tmp file vanished still succeeds', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  const w = new HintWriter(file);
  fs.rmSync(`${file}.tmp`);
  t.doesNotThrow(() => w.abort());
  t.same(fs.readdirSync(dir), []);
});

t.test('abort removes the tmp file even when closing fails', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  const w = new HintWriter(file);
  w.add(false, 1, Buffer.from('k'), 0, 22);
  // Close the descriptor underneath the writer: its own close then fails.
  const fd = (w as unknown as { fd: number }).fd;
  fs.closeSync(fd);
  t.throws(() => w.abort(), { code: 'EBADF' });
  t.same(fs.readdirSync(dir), [], 'the tmp file is gone anyway');
});

t.test('finish replaces an older hint', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  writeHint(file, randomEntries(seededRng(8), 5), 10);
  const entries = randomEntries(seededRng(9), 7);
  writeHint(file, entries, 20);
  const data = fs.readFileSync(file);
  t.equal(validateHint(data, 20), undefined);
  rejected(t, validateHint(data, 10), 'the old size');
  t.same(readBack(data), entries);
  t.same(fs.readdirSync(dir), ['h.hint']);
});

t.test('HintWriter: abort after finish closes nothing twice and leaves the hint', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'x.hint');
  const w = new HintWriter(file);
  w.add(false, 1, Buffer.from('k'), 0, 30);
  w.finish(30);
  t.doesNotThrow(() => w.abort());
  t.ok(fs.existsSync(file), 'the finished hint stays');
  t.equal(validateHint(fs.readFileSync(file), 30), undefined);
});

t.test('checkHint describes an intact hint: count, end of the entries, their CRC and key bytes', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  const entries = randomEntries(seededRng(21), 50);
  writeHint(file, entries, 4321);
  const data = fs.readFileSync(file);
  const state = checkHint(data, 4321) as HintState;
  const end = data.length - TRAILER;
  t.same(state, {
    count: 50,
    entriesEnd: end,
    crc: crc32(data.subarray(0, end)),
    keyBytes: entries.reduce((n, e) => n + e.key.length, 0),
  });
  t.equal(checkHint(data, 1), 'describes 4321 data bytes, file has 1', 'a reason when it cannot be trusted');
});

t.test('resume extends a finished hint in place: old entries kept, new ones appended', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  const rng = seededRng(22);
  const first = randomEntries(rng, 30);
  writeHint(file, first, 1000);
  const state = checkHint(fs.readFileSync(file), 1000) as HintState;
  const w = new HintWriter(file, state);
  t.same(fs.readdirSync(dir), ['h.hint.tmp'], 'moved aside while unfinished');
  const more = randomEntries(rng, 20);
  for (const e of more) w.add(e.tombstone, e.tstamp, e.key, e.offset, e.size, e.expiresAt);
  w.finish(2000);
  const data = fs.readFileSync(file);
  t.ok(data.equals(expectedBytes([...first, ...more], 2000)), 'the same bytes as a hint written in one go');
  t.same(fs.readdirSync(dir), ['h.hint']);

  // Resumed and finished with nothing added: the same entries, the new data size.
  const again = new HintWriter(file, checkHint(data, 2000) as HintState);
  again.finish(2500);
  t.ok(fs.readFileSync(file).equals(expectedBytes([...first, ...more], 2500)));

  // Resumed and aborted: no hint remains (the data file is then scanned).
  const dropped = new HintWriter(file, checkHint(fs.readFileSync(file), 2500) as HintState);
  dropped.abort();
  t.same(fs.readdirSync(dir), []);
});

t.test('a resume that cannot cut the trailer removes the moved hint and throws', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'h.hint');
  writeHint(file, randomEntries(seededRng(23), 3), 10);
  const state = checkHint(fs.readFileSync(file), 10) as HintState;
  t.throws(() => new HintWriter(file, { ...state, entriesEnd: 0.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.same(fs.readdirSync(dir), [], 'neither the hint nor its tmp file is left');
  t.throws(() => new HintWriter(file, state), { code: 'ENOENT' }, 'resuming a missing hint fails');
});

t.test('an expiry of 0 or beyond 2^53 - 1, or cut short, makes a hint untrusted', async (t) => {
  const magic = Buffer.from(MAGIC, 'latin1');
  const entry = (expiry: Buffer): Buffer => {
    const h = Buffer.alloc(ENTRY_HEADER);
    h[0] = 2;
    h.writeUInt32LE(1, 5);
    return Buffer.concat([h, Buffer.from('k'), expiry]);
  };
  const u64 = (n: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  t.equal(validateHint(sealed(Buffer.concat([magic, entry(u64(1n))]), 1, 100), 100), undefined, 'control: 1 ms');
  t.equal(validateHint(sealed(Buffer.concat([magic, entry(u64(BigInt(Number.MAX_SAFE_INTEGER)))]), 1, 100), 100), undefined, 'control: 2^53 - 1');
  t.equal(validateHint(sealed(Buffer.concat([magic, entry(u64(0n))]), 1, 100), 100), 'bad expiry in entry 0');
  t.equal(validateHint(sealed(Buffer.concat([magic, entry(u64(2n ** 53n))]), 1, 100), 100), 'bad expiry in entry 0');
  t.equal(validateHint(sealed(Buffer.concat([magic, entry(Buffer.alloc(5, 1))]), 1, 100), 100), 'truncated entry');
});
