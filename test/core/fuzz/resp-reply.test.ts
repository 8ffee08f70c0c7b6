/**
 * Fuzzing of the RESP reply decoder, `ReplyParser` (what a node's `RespClient` uses to
 * read its peers' replies).
 *
 * Inputs: random reply trees (every type, nested arrays, binary bulks, integers at the
 * 64-bit edges) written by `ReplyWriter`, then mutated; headers declaring huge, negative
 * or odd lengths and counts, and arrays nested thousands deep; random bytes. Each input is
 * decoded whole and in other chunkings, which must agree, and must equal a whole-buffer
 * reference decoder written here from the grammar; a written reply must decode and be
 * written back to the same bytes; huge declared sizes must not allocate in proportion.
 */
import t from 'tap';
import { ProtocolError, ReplyParser, ReplyWriter, type Reply, type ReplyParserOptions } from '../../../src/core/resp/index.js';
import type { Rng } from '../../../src/core/support/rng.js';
import { boundedAllocation, check, chunkings, fuzz, fuzzSummary, mutate, pick, randomBytes, replayCorpus, smallLength } from '../../helpers/fuzz.js';

const CR = 0x0d;
const LF = 0x0a;
const DEFAULT_MAX_BULK = 512 * 1024 * 1024;
const DEFAULT_MAX_LINE = 64 * 1024;

/** The text of an integer reply as the writer formats it. */
const intText = (n: number | bigint): string => (typeof n === 'bigint' ? n.toString() : Number.isSafeInteger(n) ? String(n) : n === 2 ** 63 ? '9223372036854775807' : BigInt(n).toString());

/**
 * The RESP bytes of `replies` (hex), built without recursion so that replies nested
 * thousands deep can be compared; `asWritten`, exactly what ReplyWriter writes (a simple
 * string or error read with a bare LF in it is written with a space there).
 */
function repliesKey(replies: readonly Reply[], asWritten = false): string {
  /** The writer sends CR and LF of simple strings and errors as spaces. */
  const line = (s: string): string => (asWritten ? s.replace(/[\r\n]/g, ' ') : s);
  const parts: string[] = [];
  const stack: Reply[] = [...replies].reverse();
  while (stack.length > 0) {
    const r = stack.pop()!;
    switch (r.type) {
      case 'simple':
        parts.push(Buffer.from(`+${line(r.value)}\r\n`, 'latin1').toString('hex'));
        break;
      case 'error':
        parts.push(Buffer.from(`-${line(r.text)}\r\n`, 'latin1').toString('hex'));
        break;
      case 'integer':
        parts.push(Buffer.from(`:${intText(r.value)}\r\n`, 'latin1').toString('hex'));
        break;
      case 'bulk':
        parts.push(Buffer.from(`$${r.value.length}\r\n`).toString('hex'), r.value.toString('hex'), '0d0a');
        break;
      case 'null-bulk':
        parts.push(Buffer.from('$-1\r\n').toString('hex'));
        break;
      case 'null-array':
        parts.push(Buffer.from('*-1\r\n').toString('hex'));
        break;
      case 'array':
        parts.push(Buffer.from(`*${r.items.length}\r\n`).toString('hex'));
        for (let i = r.items.length - 1; i >= 0; i--) stack.push(r.items[i]!);
    }
  }
  return parts.join('');
}

interface Outcome {
  replies: string;
  count: number;
  error?: string;
  pending?: number;
  /** The replies themselves (not part of the comparison key). */
  items?: Reply[];
}

const key = (o: Outcome): string => `${o.count}:${o.replies}|${o.error ?? ''}|${o.pending ?? ''}`;

const MESSAGES = /^(unexpected reply type '[\s\S]'|invalid integer reply|invalid bulk length|invalid multibulk length|too big reply line|invalid line ending)$/;

function feed(chunks: Buffer[], options: ReplyParserOptions | undefined): Outcome {
  const parser = new ReplyParser(options);
  const replies: Reply[] = [];
  let error: string | undefined;
  for (const c of chunks) {
    try {
      replies.push(...parser.push(c));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      check(err.code === 'PROTOCOL' && MESSAGES.test(err.message), () => `unexpected error ${err.code} ${JSON.stringify(err.message)}`);
      replies.push(...(err.parsed as Reply[]));
      error = err.message;
      break;
    }
  }
  if (error !== undefined) {
    let again: unknown;
    try {
      parser.push(Buffer.from('+OK\r\n'));
    } catch (err) {
      again = err;
    }
    check(again instanceof ProtocolError && again.message === error && again.parsed.length === 0, () => `a push after the error threw ${String(again)}`);
  }
  return { replies: repliesKey(replies), count: replies.length, items: replies, ...(error !== undefined ? { error } : { pending: parser.pendingBytes }) };
}

// ---- the reference decoder ----

/** A RESP integer, exactly: a number while safe, a bigint beyond (up to the signed 64-bit limits). */
function referenceExact(bytes: Buffer): number | bigint | undefined {
  const s = bytes.toString('latin1');
  if (!/^-?(0|[1-9][0-9]*)$/.test(s) || s === '-0' || s.length > 20) return undefined;
  const v = BigInt(s);
  if (v < -(2n ** 63n) || v > 2n ** 63n - 1n) return undefined;
  return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
}

/** A RESP length (rounded beyond 2^53, which no length check minds). */
function referenceInteger(bytes: Buffer): number | undefined {
  const v = referenceExact(bytes);
  return v === undefined ? undefined : Number(v);
}

/** A whole-buffer decoder of RESP2 replies, written from the grammar. */
function reference(input: Buffer, options: ReplyParserOptions = {}): Outcome {
  const maxBulk = options.maxBulkLength ?? DEFAULT_MAX_BULK;
  const maxLine = options.maxLineLength ?? DEFAULT_MAX_LINE;
  const out: Reply[] = [];
  const stack: { items: Reply[]; remaining: number }[] = [];
  const done = (extra: { error?: string; pending?: number }): Outcome => ({ replies: repliesKey(out), count: out.length, ...(extra.error !== undefined ? { error: extra.error } : { pending: extra.pending ?? 0 }) });
  const complete = (reply: Reply): void => {
    let r = reply;
    for (;;) {
      const top = stack.at(-1);
      if (!top) {
        out.push(r);
        return;
      }
      top.items.push(r);
      if (--top.remaining > 0) return;
      stack.pop();
      r = { type: 'array', items: top.items };
    }
  };
  let pos = 0;
  while (pos < input.length) {
    const type = input[pos]!;
    if (!'+-:$*'.includes(String.fromCharCode(type))) return done({ error: `unexpected reply type '${String.fromCharCode(type)}'` });
    const cr = input.indexOf(CR, pos);
    if ((cr < 0 ? input.length : cr) - pos > maxLine) return done({ error: 'too big reply line' });
    if (cr < 0 || cr + 1 >= input.length) return done({ pending: input.length - pos });
    if (input[cr + 1] !== LF) return done({ error: 'invalid line ending' });
    const body = input.subarray(pos + 1, cr);
    pos = cr + 2;
    const n = referenceInteger(body);
    switch (type) {
      case 0x2b:
        complete({ type: 'simple', value: body.toString('latin1') });
        break;
      case 0x2d:
        complete({ type: 'error', text: body.toString('latin1') });
        break;
      case 0x3a: {
        const exact = referenceExact(body);
        if (exact === undefined) return done({ error: 'invalid integer reply' });
        complete({ type: 'integer', value: exact });
        break;
      }
      case 0x24: {
        if (n === -1) {
          complete({ type: 'null-bulk' });
          break;
        }
        if (n === undefined || n < 0 || n > maxBulk) return done({ error: 'invalid bulk length' });
        const left = input.length - pos;
        if (left < n + 2) return left > n && input[pos + n] !== CR ? done({ error: 'invalid bulk length' }) : done({ pending: left });
        if (input[pos + n] !== CR || input[pos + n + 1] !== LF) return done({ error: 'invalid bulk length' });
        complete({ type: 'bulk', value: input.subarray(pos, pos + n) });
        pos += n + 2;
        break;
      }
      default:
        if (n === -1) complete({ type: 'null-array' });
        else if (n === undefined || n < 0 || !Number.isSafeInteger(n)) return done({ error: 'invalid multibulk length' });
        else if (n === 0) complete({ type: 'array', items: [] });
        else stack.push({ items: [], remaining: n });
    }
  }
  return done({ pending: 0 });
}

// ---- the oracle ----

function replyOracle(input: Buffer, rng: Rng, options?: ReplyParserOptions, measure = false): string {
  const whole = measure ? boundedAllocation(input.length, () => feed([input], options)) : feed([input], options);
  for (const chunks of chunkings(rng, input)) {
    const split = feed(chunks, options);
    check(key(split) === key(whole), () => `split into ${chunks.length} chunks gives ${key(split)}, whole gives ${key(whole)}`);
  }
  const ref = reference(input, options);
  check(key(ref) === key(whole), () => `the parser gives ${key(whole)}, the reference ${key(ref)}`);
  if (whole.count > 0 && input.length <= 1024) {
    // What the parser returns, a node may relay (ReplyWriter): it must read back the same.
    const bytes = written(whole.items!);
    check(bytes.toString('hex') === repliesKey(whole.items!, true), 'ReplyWriter writes other bytes than expected');
    const again = feed([bytes], undefined);
    check(again.error === undefined && again.replies === bytes.toString('hex'), () => `replies written back read as ${key(again)}`);
  }
  return whole.error !== undefined ? `error:${whole.error}:${whole.count}` : `ok:${whole.count}:pending=${whole.pending}`;
}

// ---- generators ----

const ALPHABET = Buffer.from('+-:$*\r\n\r\n0123456789 -aZ\0\xff', 'latin1');
const DICTIONARY = ['*', '$', ':', '+', '-', '\r\n', '\r', '\n', '-1', '0', '-0', '9223372036854775807', '9223372036854775808', '9007199254740992', '*1\r\n', '$-1\r\n'].map((s) => Buffer.from(s, 'latin1'));
const INTEGERS = [0, 1, -1, 42, -(2 ** 31), 2 ** 31 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 60, -(2 ** 63), 2 ** 63];
const NUMERALS = [
  '0', '-1', '-2', '-0', '00', '+1', ' 1', '1.0', '', '-', '2147483647', '536870912', '536870913', '9007199254740991', '9007199254740992',
  '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551616', '99999999999999999999',
];

function randomReply(rng: Rng, depth = 0): Reply {
  switch (rng.int(depth > 3 ? 6 : 8)) {
    case 0:
      return { type: 'simple', value: randomBytes(rng, smallLength(rng, 12), ALPHABET).toString('latin1').replace(/[\r\n]/g, ' ') };
    case 1:
      return { type: 'error', text: `ERR ${randomBytes(rng, smallLength(rng, 8)).toString('latin1').replace(/[\r\n]/g, ' ')}` };
    case 2:
      return { type: 'integer', value: rng.int(3) === 0 ? pick(rng, INTEGERS) : rng.int(2_000_001) - 1_000_000 };
    case 3:
      return { type: 'bulk', value: randomBytes(rng, rng.int(100) === 0 ? rng.int(2000) : smallLength(rng, 16), ALPHABET) };
    case 4:
      return { type: 'null-bulk' };
    case 5:
      return { type: 'null-array' };
    default:
      return { type: 'array', items: Array.from({ length: smallLength(rng, 5) }, () => randomReply(rng, depth + 1)) };
  }
}

function written(replies: Reply[]): Buffer {
  const w = new ReplyWriter();
  for (const r of replies) w.reply(r);
  return w.take();
}

function hostileHeaders(rng: Rng): Buffer {
  switch (rng.int(4)) {
    case 0: {
      // Arrays nested deep, maybe closed by a value.
      const depth = rng.int(16) === 0 ? 1 + rng.int(5_000) : 1 + rng.int(50);
      return Buffer.from(`${'*1\r\n'.repeat(depth)}${pick(rng, ['', ':1\r\n', '$1\r\nx\r\n', '*0\r\n', '+OK'])}`);
    }
    case 1:
      // A long line, around the limit (or a short one, with the small limits).
      return Buffer.concat([Buffer.from(pick(rng, ['+', '-', ':', '$', '*'])), Buffer.alloc(DEFAULT_MAX_LINE - 2 + rng.int(5), pick(rng, ['1', 'x'])), Buffer.from(rng.int(2) ? '\r\n' : '')]);
    default: {
      const parts: string[] = [];
      for (let i = 1 + rng.int(4); i > 0; i--) {
        parts.push(`${pick(rng, ['*', '$', ':', '$', '*'])}${pick(rng, NUMERALS)}${pick(rng, ['\r\n', '\r\n', '\n', '\r', ''])}`);
        if (rng.int(2) === 0) parts.push(`${'y'.repeat(smallLength(rng, 40))}\r\n`);
      }
      return Buffer.from(parts.join(''), 'latin1');
    }
  }
}

const SMALL_LIMITS: ReplyParserOptions = { maxBulkLength: 6, maxLineLength: 10 };

// ---- tests ----

t.test('corpus', async (t) => {
  replayCorpus(t, 'resp-reply', (input, rng) => replyOracle(input, rng, undefined, true));
});

t.test('every integer the parser returns is written back as a valid RESP integer', async (t) => {
  for (const text of ['9223372036854775807', '-9223372036854775808', '9007199254740993', '4611686018427387904']) {
    const input = Buffer.from(`:${text}\r\n`);
    const [reply] = new ReplyParser().push(input);
    const again = new ReplyParser().push(new ReplyWriter().reply(reply!).take());
    t.same(again, [reply], `:${text}`);
  }
  t.equal(new ReplyWriter().int(2 ** 63).take().toString(), ':9223372036854775807\r\n', '2^63 stands for INT64_MAX');
});

t.test('declared sizes never allocate in proportion to the declaration', async (t) => {
  const cases: [string, Buffer][] = [
    ['an array of 2^53 - 1 items', Buffer.from('*9007199254740991\r\n:1\r\n')],
    ['a bulk of 512 MiB, 1 KiB of it sent', Buffer.concat([Buffer.from('$536870912\r\n'), Buffer.alloc(1024, 'x')])],
    ['a bulk of 2^63 - 1 bytes', Buffer.from('$9223372036854775807\r\n')],
    ['arrays nested 100,000 deep', Buffer.from('*1\r\n'.repeat(100_000))],
  ];
  for (const [what, input] of cases) {
    const outcome = boundedAllocation(input.length, () => feed([input], undefined));
    t.ok(outcome.count === 0, what);
  }
  const bytes = Buffer.from(`${'*1\r\n'.repeat(100_000)}:7\r\n`);
  const deep = new ReplyParser().push(bytes);
  t.equal(deep.length, 1, 'a reply nested 100,000 deep completes without recursion');
  // ReplyWriter recursed, so relaying this reply overflowed the stack (a RangeError in the
  // connection's flush); it is now written back iteratively, byte for byte.
  t.ok(new ReplyWriter().reply(deep[0]!).take().equals(bytes), 'and is written back without recursion');
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'resp-reply/replies', (c) => {
    const replies = Array.from({ length: 1 + c.rng.int(3) }, () => randomReply(c.rng));
    const bytes = written(replies);
    if (c.rng.int(3) === 0) {
      c.input(bytes);
      const whole = feed([bytes], undefined);
      check(whole.error === undefined && whole.pending === 0 && whole.replies === bytes.toString('hex'), () => `written replies decode as ${key(whole)}`);
      replyOracle(bytes, c.rng);
      return;
    }
    const m = mutate(c.rng, bytes, { dictionary: DICTIONARY, other: written([randomReply(c.rng)]) });
    c.input(m.bytes);
    replyOracle(m.bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined, m.huge);
  });
  fuzz(t, 'resp-reply/hostile-header', (c) => {
    let bytes = hostileHeaders(c.rng);
    if (c.rng.int(3) === 0) bytes = mutate(c.rng, bytes, { dictionary: DICTIONARY }).bytes;
    c.input(bytes);
    replyOracle(bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined, true);
  });
  fuzz(t, 'resp-reply/random', (c) => {
    const bytes = c.input(randomBytes(c.rng, c.rng.int(257), c.rng.int(2) ? ALPHABET : undefined));
    replyOracle(bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined);
  });
});
