import t from 'tap';
import { type Command, encodeCommand, parseOne, ProtocolError, RequestParser, DEFAULT_REQUEST_LIMITS, MAX_HEADER_LENGTH } from '../../../src/core/resp/index.js';
import { ChunkQueue } from '../../../src/core/resp/chunk-queue.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { bytewise, feed, requests } from './fixtures/harness.js';

const enc = (...args: (Buffer | string)[]): Buffer => encodeCommand(args);

t.test('a single multibulk command', async (t) => {
  t.same(requests(t, '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n'), { items: [['SET', 'k', 'hello']], pending: 0 });
  t.same(requests(t, '*1\r\n$4\r\nPING\r\n'), { items: [['PING']], pending: 0 });
});

t.test('pipelines of many commands, multibulk and inline mixed', async (t) => {
  const parts: Buffer[] = [];
  const expected: string[][] = [];
  for (let i = 0; i < 500; i++) {
    if (i % 7 === 3) {
      parts.push(Buffer.from(`GET key:${i}\r\n`));
      expected.push(['GET', `key:${i}`]);
    } else {
      parts.push(enc('SET', `key:${i}`, 'v'.repeat(i % 50)));
      expected.push(['SET', `key:${i}`, 'v'.repeat(i % 50)]);
    }
  }
  t.same(requests(t, Buffer.concat(parts)), { items: expected, pending: 0 });
});

t.test('binary args with CR, LF and NUL, and empty args', async (t) => {
  const bin = Buffer.from([0, 13, 10, 255, 0, 42, 13, 10, 13]);
  const input = Buffer.concat([enc('SET', bin, ''), enc('', '\r\n'), Buffer.from('*2\r\n$0\r\n\r\n$0\r\n\r\n')]);
  t.same(requests(t, input), {
    items: [['SET', bin.toString('latin1'), ''], ['', '\r\n'], ['', '']],
    pending: 0,
  });
});

t.test('zero and negative counts yield no command', async (t) => {
  t.same(requests(t, '*0\r\n*-1\r\n*-5\r\n*1\r\n$1\r\na\r\n*0\r\n'), { items: [['a']], pending: 0 });
  // string2ll range: -2^63 is still an integer, one less is not.
  t.same(requests(t, '*-9223372036854775808\r\n'), { items: [], pending: 0 });
  t.same(requests(t, '*-9223372036854775809\r\n'), { items: [], error: 'invalid multibulk length' });
});

t.test('partial input waits and reports its pending bytes', async (t) => {
  t.same(requests(t, '*2\r\n$3\r\nGET\r\n$3\r\nke'), { items: [], pending: 2 });
  t.same(requests(t, '*2\r'), { items: [], pending: 3 });
  t.same(requests(t, '*2\r\n$3'), { items: [], pending: 2 });
  t.same(requests(t, '*1\r\n$3\r\nGET'), { items: [], pending: 3 });
  t.same(requests(t, '*1\r\n$3\r\nGET\r'), { items: [], pending: 4 });
  t.same(requests(t, 'PING'), { items: [], pending: 4 });
  const p = new RequestParser();
  t.same(p.push(Buffer.alloc(0)), []);
  t.equal(p.pendingBytes, 0);
  t.equal(p.error, undefined);
});

t.test('multibulk count errors', async (t) => {
  const bad = (s: string) => requests(t, s).error;
  for (const s of ['*\r\n', '*x\r\n', '*1x\r\n', '*01\r\n', '*+1\r\n', '*-0\r\n', '* 1\r\n', '*-\r\n', '*1\n$1\r\na\r\n', '*99999999999999999999\r\n']) {
    t.equal(bad(s), 'invalid multibulk length', JSON.stringify(s));
  }
  t.equal(bad('*1\rx'), 'invalid multibulk length', 'CR not followed by LF');
  t.equal(bad(`*${DEFAULT_REQUEST_LIMITS.maxMultibulkLength + 1}\r\n`), 'invalid multibulk length');
  t.same(requests(t, `*${DEFAULT_REQUEST_LIMITS.maxMultibulkLength}\r\n`), { items: [], pending: 0 }, 'the limit itself is fine');
  t.equal(requests(t, '*3\r\n', { maxMultibulkLength: 2 }).error, 'invalid multibulk length');
  t.same(requests(t, '*1\r\n$1\r\nx\r\n', { maxMultibulkLength: undefined }).items, [['x']], 'undefined takes the default');
});

t.test("expected '$' errors name the byte seen", async (t) => {
  t.equal(requests(t, '*1\r\nPING\r\n').error, "expected '$', got 'P'");
  t.equal(requests(t, '*2\r\n$1\r\na\r\n:1\r\n').error, "expected '$', got ':'");
  t.equal(requests(t, '*1\r\n\r\n').error, "expected '$', got '\r'");
  t.equal(requests(t, '*1\r\nX').error, "expected '$', got 'X'", 'without waiting for the line end');
});

t.test('bulk length errors', async (t) => {
  for (const s of ['$\r\n', '$-1\r\n', '$-5\r\n', '$x\r\n', '$01\r\n', '$ 1\r\n', '$1\rX']) {
    t.equal(requests(t, `*1\r\n${s}`).error, 'invalid bulk length', JSON.stringify(s));
  }
  t.equal(requests(t, `*1\r\n$${DEFAULT_REQUEST_LIMITS.maxBulkLength + 1}\r\n`).error, 'invalid bulk length');
  t.equal(requests(t, '*1\r\n$4\r\nabcd\r\n', { maxBulkLength: 3 }).error, 'invalid bulk length');
  t.same(requests(t, '*1\r\n$3\r\nabc\r\n', { maxBulkLength: 3 }), { items: [['abc']], pending: 0 });
});

t.test('a bulk not followed by CRLF', async (t) => {
  t.equal(requests(t, '*1\r\n$3\r\nabcd\r\n').error, 'invalid bulk length', 'longer than announced');
  t.equal(requests(t, '*1\r\n$3\r\nabcX').error, 'invalid bulk length', 'fails before the second byte arrives');
  t.equal(requests(t, '*1\r\n$3\r\nabc\rX').error, 'invalid bulk length', 'CR then not LF');
  t.equal(requests(t, '*1\r\n$3\r\nabc\n\r').error, 'invalid bulk length');
  t.equal(requests(t, '*1\r\n$0\r\n\n\n').error, 'invalid bulk length');
});

t.test('header lines longer than 64 KiB', async (t) => {
  const long = '1'.repeat(MAX_HEADER_LENGTH);
  t.equal(requests(t, `*${long}`).error, 'too big mbulk count string', 'without a line end');
  t.equal(requests(t, `*${long}\r\n`).error, 'too big mbulk count string', 'with a line end');
  t.equal(requests(t, `*1\r\n$${long}`).error, 'too big bulk count string');
  t.equal(requests(t, `*1\r\n$${long}\r\n`).error, 'too big bulk count string');
  const fits = '0'.repeat(MAX_HEADER_LENGTH - 1);
  t.equal(requests(t, `*${fits}\r\n`).error, 'invalid multibulk length', 'a line at the limit is parsed');
  t.same(requests(t, `*${fits}`), { items: [], pending: MAX_HEADER_LENGTH }, 'and waited for');
});

t.test('an error carries the commands completed before it, then the parser is dead', async (t) => {
  t.same(requests(t, `${enc('A').toString('latin1')}PING\r\n*1\r\n$1\r\nb\r\n*x\r\n*1\r\n$1\r\nc\r\n`), {
    items: [['A'], ['PING'], ['b']],
    error: 'invalid multibulk length',
  });
  const p = new RequestParser();
  t.same(p.push(Buffer.from('PING\r\n')).length, 1);
  const err = t.throws(() => p.push(Buffer.from('GET a\r\n*x\r\n'))) as ProtocolError<Command>;
  t.ok(err instanceof ProtocolError);
  t.equal(err.code, 'PROTOCOL');
  t.equal(err.name, 'ProtocolError');
  t.equal(err.message, 'invalid multibulk length');
  t.same(err.parsed.map((c) => c.args.map(String)), [['GET', 'a']]);
  t.equal(p.error, err);
  const again = t.throws(() => p.push(Buffer.from('PING\r\n'))) as ProtocolError;
  t.ok(again instanceof ProtocolError);
  t.equal(again.message, 'invalid multibulk length');
  t.same(again.parsed, [], 'no command is delivered twice');
});

t.test('huge announced lengths are rejected at once, legal ones are not preallocated', async (t) => {
  t.equal(requests(t, '*2147483647\r\n').error, 'invalid multibulk length');
  t.equal(requests(t, '*1\r\n$2147483647\r\n').error, 'invalid bulk length');
  t.equal(requests(t, '*1\r\n$9223372036854775807\r\n').error, 'invalid bulk length');
  const before = process.memoryUsage().arrayBuffers;
  const parsers: RequestParser[] = [];
  for (let i = 0; i < 20; i++) {
    const p = new RequestParser();
    t.same(p.push(Buffer.from(`*${DEFAULT_REQUEST_LIMITS.maxMultibulkLength}\r\n$${DEFAULT_REQUEST_LIMITS.maxBulkLength}\r\nab`)), []);
    parsers.push(p);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 64 * 1024 * 1024, `20 parsers awaiting 512 MiB bulks hold little memory (${grown} bytes)`);
  t.equal(parsers[0]!.pendingBytes, 2);
});

t.test('a 200 MiB bulk arriving in 64 KiB chunks is joined once', async (t) => {
  const chunk = 64 * 1024;
  const count = 3200;
  const size = chunk * count;
  // Seven distinct chunks, cycled, so a lost, repeated or reordered chunk shows.
  const rng = seededRng(7);
  const sources = Array.from({ length: 7 }, () => Buffer.from(Array.from({ length: chunk }, () => rng.int(256))));
  const p = new RequestParser();
  t.same(p.push(Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${size}\r\n`)), []);
  let early = 0;
  for (let i = 0; i < count; i++) early += p.push(sources[i % 7]!).length;
  t.equal(early, 0, 'nothing completes before the last byte');
  t.equal(p.pendingBytes, size);
  const commands = p.push(Buffer.from('\r\n*1\r\n$4\r\nPING\r\n'));
  t.equal(commands.length, 2);
  const value = commands[0]!.args[2]!;
  t.equal(value.length, size);
  let intact = 0;
  for (let i = 0; i < count; i++) if (value.subarray(i * chunk, (i + 1) * chunk).equals(sources[i % 7]!)) intact++;
  t.equal(intact, count, 'every chunk arrives intact and in order');
  t.same(commands[1]!.args.map(String), ['PING']);
  t.equal(p.pendingBytes, 0);
});

t.test('args inside one chunk are zero-copy slices of it', async (t) => {
  const chunk = Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$2\r\n');
  const p = new RequestParser();
  const [cmd] = p.push(chunk);
  t.equal(cmd!.args[0]!.buffer, chunk.buffer);
  t.equal(cmd!.args[1]!.byteOffset, chunk.byteOffset + 17);
  const [next] = p.push(Buffer.from('hi\r\n'));
  t.same(next!.args.map(String), ['hi']);
  // A bulk spanning chunks is joined into its own buffer.
  const q = new RequestParser();
  const parts = bytewise(Buffer.from('*1\r\n$5\r\nhello\r\n'));
  const out = parts.flatMap((c) => q.push(c));
  t.same(out.map((c) => c.args.map(String)), [['hello']]);
});

t.test('parseOne and encodeCommand round trip', async (t) => {
  const cases: (Buffer | string)[][] = [
    ['PING'],
    ['SET', 'k', 'v'],
    ['SET', Buffer.from([0, 13, 10, 0]), ''],
    ['ECHO', 'héllo wörld ☃'],
    [''],
    Array.from({ length: 100 }, (_, i) => `arg${i}`),
  ];
  for (const args of cases) {
    const raw = encodeCommand(args);
    const cmd = parseOne(raw);
    t.same(cmd.args, args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'utf8') : a)));
    t.same(feed(new RequestParser(), bytewise(raw)).items, [cmd]);
  }
  t.equal(encodeCommand(['SET', 'k', 'é']).toString('latin1'), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n');
  t.equal(encodeCommand([]).toString(), '*0\r\n');
  t.same(parseOne(Buffer.from('GET "a b"\n')).args.map(String), ['GET', 'a b'], 'inline too');
});

t.test('parseOne rejects anything but exactly one complete command', async (t) => {
  const code = (raw: string): string | undefined => {
    try {
      parseOne(Buffer.from(raw));
      return undefined;
    } catch (err) {
      t.ok(err instanceof ProtocolError);
      t.equal((err as ProtocolError).code, 'PROTOCOL');
      return (err as ProtocolError).message;
    }
  };
  t.equal(code(''), 'no command');
  t.equal(code('*0\r\n'), 'no command');
  t.equal(code('*1\r\n$4\r\nPI'), 'incomplete command');
  t.equal(code('PING\r\nPING\r\n'), 'trailing bytes after the command');
  t.equal(code('PING\r\n*1'), 'trailing bytes after the command');
  t.equal(code('*x\r\n'), 'invalid multibulk length');
  t.equal(code('*1\r\n$3\r\nabc\r\n'), undefined);
  t.throws(() => parseOne(Buffer.from('*1\r\n$3\r\nabc\r\n'), { maxBulkLength: 2 }), { code: 'PROTOCOL', message: 'invalid bulk length' });
});

t.test('errors that are not protocol errors propagate unchanged', async (t) => {
  const hostile = { length: 3, 0: 0x41, indexOf: () => { throw new RangeError('boom'); } } as unknown as Buffer;
  const p = new RequestParser();
  t.throws(() => p.push(hostile), RangeError);
  t.equal(p.error, undefined);
});

// The internal chunk list every decoder reads through.
t.test('ChunkQueue: byteAt, scan, take and skip across chunks', async (t) => {
  const q = new ChunkQueue();
  t.equal(q.scan(0x0a), -1, 'empty');
  q.push(Buffer.from('ab'));
  q.push(Buffer.alloc(0));
  q.push(Buffer.from('cd\nef'));
  q.push(Buffer.from('g\n'));
  t.equal(q.length, 9);
  t.equal(String.fromCharCode(q.byteAt(3)), 'd');
  t.throws(() => q.byteAt(9), RangeError);
  t.equal(q.scan(0x0a), 4);
  t.equal(q.scan(0x0a), 4, 'a repeated scan resumes at the hit');
  t.equal(q.scan(0x7a), -1, 'another byte restarts the scan');
  t.equal(q.take(1).toString(), 'a');
  t.equal(q.take(4).toString(), 'bcd\n', 'joined across chunks');
  t.equal(q.scan(0x0a), 3);
  q.skip(2);
  t.equal(q.take(0).length, 0);
  t.equal(q.take(2).toString(), 'g\n');
  t.equal(q.length, 0);
  q.push(Buffer.from('xyz'));
  t.equal(q.take(3).toString(), 'xyz');
});

t.test('ChunkQueue: scan only searches bytes it has not seen', async (t) => {
  const q = new ChunkQueue();
  let hits = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) {
    q.push(Buffer.from('x'));
    if (q.scan(0x0a) !== -1) hits++;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.equal(hits, 0);
  t.equal(q.length, 100_000);
  t.comment(`100,000 one-byte chunks scanned in ${ms.toFixed(0)} ms`);
  q.push(Buffer.from('\n'));
  t.equal(q.scan(0x0a), 100_000);
  t.equal(q.take(100_001).length, 100_001);
});

t.test("before AUTH: Redis's limits of 10 arguments and 16 KiB per argument, with its messages", async (t) => {
  const parse = (input: Buffer | string) => {
    const p = new RequestParser();
    p.authenticated = false;
    try {
      return { items: p.push(Buffer.from(input)).map((c) => c.args.length) };
    } catch (err) {
      return { error: (err as ProtocolError).message };
    }
  };
  t.same(parse(enc(...Array.from({ length: 10 }, () => 'a'))), { items: [10] }, '10 arguments');
  t.same(parse(enc(...Array.from({ length: 11 }, () => 'a'))), { error: 'unauthenticated multibulk length' });
  t.same(parse('*11\r\n'), { error: 'unauthenticated multibulk length' }, 'from the header alone');
  t.same(parse(enc('SET', 'k', 'v'.repeat(16 * 1024))), { items: [3] }, '16 KiB');
  t.same(parse(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${16 * 1024 + 1}\r\n`), { error: 'unauthenticated bulk length' }, 'before the bytes arrive');
  t.same(parse('*2147483647\r\n'), { error: 'unauthenticated multibulk length' });
  const later = new RequestParser();
  later.authenticated = false;
  later.authenticated = true;
  t.same(later.push(enc(...Array.from({ length: 11 }, () => 'a'))).length, 1, 'once authenticated, the full limits');
});

t.test('onePerPush: one command per push, the rest left pending', async (t) => {
  const p = new RequestParser();
  p.onePerPush = true;
  const input = Buffer.concat([enc('AUTH', 'pw'), enc('GET', 'a'), Buffer.from('PING\r\n')]);
  t.same(p.push(input).map((c) => c.args[0]!.toString()), ['AUTH']);
  t.ok(p.pendingBytes > 0);
  t.same(p.push(Buffer.alloc(0)).map((c) => c.args[0]!.toString()), ['GET']);
  p.onePerPush = false;
  t.same(p.push(Buffer.alloc(0)).map((c) => c.args[0]!.toString()), ['PING']);
  t.equal(p.pendingBytes, 0);
});

t.test('the arguments of one request may add up to maxQueryBuffer (1 GiB), not more', async (t) => {
  t.equal(DEFAULT_REQUEST_LIMITS.maxQueryBuffer, 1024 * 1024 * 1024);
  const p = new RequestParser({ maxQueryBuffer: 100 });
  t.same(p.push(enc('SET', 'k', 'v'.repeat(96))).length, 1, 'exactly 100 bytes');
  const over = new RequestParser({ maxQueryBuffer: 100 });
  t.throws(() => over.push(enc('SET', 'k', 'v'.repeat(97))), { message: 'query buffer limit reached' });
  const early = new RequestParser({ maxQueryBuffer: 100 });
  t.throws(() => early.push(Buffer.from('*2\r\n$50\r\n' + 'x'.repeat(50) + '\r\n$51\r\n')), { message: 'query buffer limit reached' }, 'as soon as a header crosses it, before its bytes');
});
