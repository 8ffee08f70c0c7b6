/**
 * Fuzzing of the RESP request decoders: `RequestParser` (multibulk and inline requests,
 * pipelined, streamed), `splitArgs` (inline arguments) and `parseOne`.
 *
 * Inputs: valid pipelines built with `encodeCommand` and an inline quoting encoder, then
 * mutated (bytes, RESP tokens, edge integers); headers declaring huge, negative or odd
 * lengths and counts; random bytes. Each input is decoded whole, byte by byte (or at a
 * second set of random points) and at random points, and must give one outcome: the
 * commands, then a ProtocolError with one of Redis's messages or the bytes left pending.
 * That outcome must equal a whole-buffer reference decoder written here from the
 * documented grammar, a valid pipeline must decode to exactly its commands, and headers
 * declaring huge sizes must not allocate in proportion to them.
 * (`test/core/resp/fuzz.test.ts` keeps the original split-invariance fuzzing.)
 */
import t from 'tap';
import { DEFAULT_REQUEST_LIMITS, MAX_HEADER_LENGTH, encodeCommand, parseOne, ProtocolError, RequestParser, splitArgs, type Command, type RequestParserOptions } from '../../../src/core/resp/index.js';
import type { Rng } from '../../../src/core/support/rng.js';
import { boundedAllocation, check, chunkings, fuzz, fuzzSummary, mutate, pick, randomBytes, replayCorpus, smallLength } from '../../helpers/fuzz.js';

const CR = 0x0d;
const LF = 0x0a;

/** What a decoder made of a byte stream. */
interface Outcome {
  /** Each command's args in hex, joined by ','; commands joined by ';'. */
  commands: string;
  count: number;
  error?: string;
  pending?: number;
  /** Without an error: whether the input ends inside a request. */
  mid?: boolean;
}

const key = (o: Outcome): string => `${o.count}:${o.commands}|${o.error ?? ''}|${o.pending ?? ''}|${o.mid ?? ''}`;
const commandKey = (args: readonly Uint8Array[]): string => args.map((a) => Buffer.from(a).toString('hex')).join(',');

/** The messages RequestParser may throw (Redis's texts). */
const MESSAGES = /^(too big inline request|unbalanced quotes in request|too big mbulk count string|invalid multibulk length|expected '\$', got '[\s\S]'|too big bulk count string|invalid bulk length)$/;

/** Feeds `chunks` to a fresh parser and checks the error contract along the way. */
function feed(chunks: Buffer[], limits: RequestParserOptions | undefined): Outcome {
  const parser = new RequestParser(limits);
  const commands: Command[] = [];
  let error: string | undefined;
  for (const c of chunks) {
    try {
      commands.push(...parser.push(c));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      check(err.code === 'PROTOCOL', 'a ProtocolError without code PROTOCOL');
      check(MESSAGES.test(err.message), () => `unexpected error message ${JSON.stringify(err.message)}`);
      check(parser.error === err, 'parser.error is not the error thrown');
      commands.push(...(err.parsed as Command[]));
      error = err.message;
      break;
    }
  }
  if (error !== undefined) {
    // Unusable from now on: the same message, no command ever delivered twice.
    let again: unknown;
    try {
      parser.push(Buffer.from('*1\r\n$1\r\nx\r\n'));
    } catch (err) {
      again = err;
    }
    check(again instanceof ProtocolError && again.message === error && again.parsed.length === 0, () => `a push after the error threw ${String(again)}`);
  }
  const max = limits?.maxBulkLength ?? DEFAULT_REQUEST_LIMITS.maxBulkLength;
  for (const cmd of commands) {
    check(cmd.args.length >= 1, 'a command without args');
    check(
      cmd.args.every((a) => Buffer.isBuffer(a) && a.length <= Math.max(max, limits?.maxInlineLength ?? DEFAULT_REQUEST_LIMITS.maxInlineLength)),
      'an arg that is not a Buffer or is over the limit',
    );
  }
  return {
    commands: commands.map((c) => commandKey(c.args)).join(';'),
    count: commands.length,
    ...(error !== undefined ? { error } : { pending: parser.pendingBytes, mid: parser.midRequest }),
  };
}

// ---- the reference decoder ----

/** Redis's `string2ll`: canonical decimal within the signed 64-bit range. */
function referenceInteger(bytes: Buffer): number | undefined {
  const s = bytes.toString('latin1');
  if (!/^-?(0|[1-9][0-9]*)$/.test(s) || s === '-0' || s.length > 20) return undefined;
  const v = BigInt(s);
  return v < -(2n ** 63n) || v > 2n ** 63n - 1n ? undefined : Number(v);
}

interface Reference extends Outcome {
  /** Where each command ends. */
  ends: number[];
}

/**
 * A whole-buffer decoder of the request grammar, written from the documentation: what the
 * streaming parser must make of `input` once it has all of it.
 */
function reference(input: Buffer, limits: RequestParserOptions = {}): Reference {
  const maxBulk = limits.maxBulkLength ?? DEFAULT_REQUEST_LIMITS.maxBulkLength;
  const maxCount = limits.maxMultibulkLength ?? DEFAULT_REQUEST_LIMITS.maxMultibulkLength;
  const maxInline = limits.maxInlineLength ?? DEFAULT_REQUEST_LIMITS.maxInlineLength;
  const commands: string[] = [];
  const ends: number[] = [];
  const done = (extra: { error?: string; pending?: number; mid?: boolean }): Reference => ({
    commands: commands.join(';'),
    count: commands.length,
    ends,
    ...(extra.error !== undefined ? { error: extra.error } : { pending: extra.pending ?? 0, mid: extra.mid ?? (extra.pending ?? 0) > 0 }),
  });
  /** A header line at `at`: its integer and where the next element starts, or incomplete, or an error. */
  const header = (at: number, tooBig: string, invalid: string): { n: number; next: number } | 'incomplete' | { error: string } => {
    const cr = input.indexOf(CR, at);
    if ((cr < 0 ? input.length : cr) - at > MAX_HEADER_LENGTH) return { error: tooBig };
    if (cr < 0 || cr + 1 >= input.length) return 'incomplete';
    if (input[cr + 1] !== LF) return { error: invalid };
    const n = referenceInteger(input.subarray(at + 1, cr));
    return n === undefined ? { error: invalid } : { n, next: cr + 2 };
  };
  let pos = 0;
  while (pos < input.length) {
    if (input[pos] === 0x2a) {
      const h = header(pos, 'too big mbulk count string', 'invalid multibulk length');
      if (h === 'incomplete') return done({ pending: input.length - pos });
      if ('error' in h) return done(h);
      if (h.n > maxCount) return done({ error: 'invalid multibulk length' });
      pos = h.next;
      if (h.n <= 0) continue;
      const args: Buffer[] = [];
      for (let k = 0; k < h.n; k++) {
        if (pos === input.length) return done({ pending: 0, mid: true });
        if (input[pos] !== 0x24) return done({ error: `expected '$', got '${String.fromCharCode(input[pos]!)}'` });
        const b = header(pos, 'too big bulk count string', 'invalid bulk length');
        if (b === 'incomplete') return done({ pending: input.length - pos, mid: true });
        if ('error' in b) return done(b);
        if (b.n < 0 || b.n > maxBulk) return done({ error: 'invalid bulk length' });
        pos = b.next;
        const left = input.length - pos;
        if (left < b.n + 2) {
          if (left > b.n && input[pos + b.n] !== CR) return done({ error: 'invalid bulk length' });
          return done({ pending: left, mid: true });
        }
        if (input[pos + b.n] !== CR || input[pos + b.n + 1] !== LF) return done({ error: 'invalid bulk length' });
        args.push(input.subarray(pos, pos + b.n));
        pos += b.n + 2;
      }
      commands.push(commandKey(args));
      ends.push(pos);
    } else {
      const lf = input.indexOf(LF, pos);
      if ((lf < 0 ? input.length : lf) - pos > maxInline) return done({ error: 'too big inline request' });
      if (lf < 0) return done({ pending: input.length - pos });
      let line = input.subarray(pos, lf);
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      const args = splitArgs(line);
      if (args === undefined) return done({ error: 'unbalanced quotes in request' });
      pos = lf + 1;
      if (args.length > 0) {
        commands.push(commandKey(args));
        ends.push(pos);
      }
    }
  }
  return done({ pending: 0 });
}

// ---- the oracle ----

/**
 * Decodes `input` whole and in other chunkings, compares them with each other and with
 * the reference, and returns a summary: `ok:<commands>:pending=<n>` or `error:<message>:<commands>`.
 */
function requestOracle(input: Buffer, rng: Rng, limits?: RequestParserOptions, measure = false): string {
  const whole = measure ? boundedAllocation(input.length, () => feed([input], limits)) : feed([input], limits);
  for (const chunks of chunkings(rng, input)) {
    const split = feed(chunks, limits);
    check(key(split) === key(whole), () => `split into ${chunks.length} chunks gives ${key(split)}, whole gives ${key(whole)}`);
  }
  const ref = reference(input, limits);
  check(key(ref) === key(whole), () => `the parser gives ${key(whole)}, the reference ${key(ref)}`);
  return whole.error !== undefined ? `error:${whole.error}:${whole.count}` : `ok:${whole.count}:pending=${whole.pending}`;
}

/** Same decision as the reference for `parseOne`, and the same command when it accepts. */
function parseOneOracle(input: Buffer): string {
  const ref = reference(input);
  let got: Command | undefined;
  let message: string | undefined;
  try {
    got = parseOne(input);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    message = err.message;
  }
  let expected: string;
  if (ref.count >= 1) expected = ref.count === 1 && ref.ends[0] === input.length && ref.error === undefined ? 'ok' : 'trailing bytes after the command';
  else if (ref.error !== undefined) expected = ref.error;
  else expected = ref.mid ? 'incomplete command' : 'no command';
  const actual = got ? 'ok' : message!;
  check(actual === expected, () => `parseOne gives ${actual}, expected ${expected}`);
  if (got) check(commandKey(got.args) === ref.commands, 'parseOne returned other args than the reference');
  return actual;
}

// ---- generators ----

const SPACES = [0x20, 0x09];
const RESP_ALPHABET = Buffer.from('*$\r\n\r\n0123456789-+: "\'\\x\t\0aZ');
const DICTIONARY = ['*', '$', '\r\n', '\r', '\n', '-1', '0', '-5', '2147483647', '1048577', '536870913', '9223372036854775808', '"', "'", '\\x4', ' '].map((s) => Buffer.from(s, 'latin1'));
const NUMERALS = [
  '0', '1', '-1', '-0', '00', '01', '+1', ' 1', '1 ', '1.5', '1e3', '0x10', '', '-', '--1', '- 1',
  '2147483647', '-2147483648', '4294967296', '1048576', '1048577', '536870912', '536870913', '1000000000',
  '999999999999999', '1000000000000000', '9007199254740993', '9223372036854775807', '9223372036854775808',
  '-9223372036854775808', '-9223372036854775809', '18446744073709551615', '18446744073709551616', '99999999999999999999',
  '100000000000000000000',
];

/** Random args: binary, sometimes empty, holding CRLF or quotes, occasionally long. */
function randomArgs(rng: Rng, max = 5): Buffer[] {
  return Array.from({ length: 1 + rng.int(max) }, () => {
    const n = rng.int(200) === 0 ? rng.int(3000) : smallLength(rng, 24);
    return randomBytes(rng, n, RESP_ALPHABET);
  });
}

const BARE_FORBIDDEN = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c, 0x22, 0x27]);

/** `arg` in double quotes, each byte literal or escaped at random. */
function doubleQuoted(rng: Rng, arg: Buffer): string {
  let s = '"';
  for (const c of arg) {
    const named: Record<number, string> = { 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x07: '\\a', 0x22: '\\"', 0x5c: '\\\\' };
    if (c === 0x0a || c === 0x22 || c === 0x5c || rng.int(4) === 0) {
      const hex = c.toString(16).padStart(2, '0');
      s += named[c] !== undefined && rng.int(2) === 0 ? named[c] : `\\x${rng.int(2) ? hex : hex.toUpperCase()}`;
    } else if (c === 0x71 && rng.int(2) === 0) s += '\\q';
    else s += String.fromCharCode(c);
  }
  return `${s}"`;
}

/** `arg` in single quotes, or undefined when they cannot carry it. */
function singleQuoted(arg: Buffer): string | undefined {
  if (arg.includes(LF) || arg[arg.length - 1] === 0x5c) return undefined;
  return `'${arg.toString('latin1').replace(/'/g, "\\'")}'`;
}

/**
 * One inline request line for `args` (latin1, line ending included), written with bare,
 * single- or double-quoted or half-quoted (`a"b c"`) arguments and random blanks.
 */
function inlineLine(rng: Rng, args: Buffer[]): string {
  const parts: string[] = [];
  let lastBare = false;
  args.forEach((arg, i) => {
    const canBare = arg.length > 0 && !arg.some((c) => BARE_FORBIDDEN.has(c)) && !(i === 0 && arg[0] === 0x2a);
    let text: string;
    const choice = rng.int(4);
    if (canBare && choice === 0) {
      const cut = 1 + rng.int(arg.length);
      text = arg.subarray(0, cut).toString('latin1') + doubleQuoted(rng, arg.subarray(cut));
      lastBare = false;
    } else if (canBare && choice !== 3) {
      text = arg.toString('latin1');
      lastBare = true;
    } else {
      const single = rng.int(2) === 0 ? singleQuoted(arg) : undefined;
      text = single ?? doubleQuoted(rng, arg);
      lastBare = false;
    }
    if (i > 0) parts.push(Array.from({ length: 1 + rng.int(2) }, () => String.fromCharCode(pick(rng, SPACES))).join(''));
    parts.push(text);
  });
  const lead = rng.int(4) === 0 ? pick(rng, [' ', '\t', '\x0b ', '\x0c']) : '';
  const trail = rng.int(4) === 0 ? (lastBare ? ' ' : pick(rng, [' ', '\t', '\x0b'])) : '';
  return `${lead}${parts.join('')}${trail}${rng.int(2) ? '\r\n' : '\n'}`;
}

/** Args an inline line can carry and a fuzzer should try: printable, quotes, escapes, high bytes. */
function inlineArgs(rng: Rng): Buffer[] {
  const alphabet = Buffer.from('abcXYZ019*$-_:"\'\\ \t\r\x0b\x0c\x00\x07\x08\xe9\xff', 'latin1');
  return Array.from({ length: 1 + rng.int(5) }, () => randomBytes(rng, smallLength(rng, 12), alphabet));
}

/** A valid pipeline: multibulk and inline requests, `*0`/`*-n` and blank lines; with its commands. */
function pipeline(rng: Rng): { bytes: Buffer; expected: string[] } {
  const parts: Buffer[] = [];
  const expected: string[] = [];
  const n = 1 + rng.int(5);
  for (let i = 0; i < n; i++) {
    switch (rng.int(8)) {
      case 0: {
        const args = inlineArgs(rng);
        parts.push(Buffer.from(inlineLine(rng, args), 'latin1'));
        expected.push(commandKey(args));
        break;
      }
      case 1:
        parts.push(Buffer.from(pick(rng, ['*0\r\n', '*-1\r\n', '*-7\r\n', '\r\n', '\n', ' \t\r\n']), 'latin1'));
        break;
      default: {
        const args = randomArgs(rng);
        parts.push(encodeCommand(args));
        expected.push(commandKey(args));
      }
    }
  }
  return { bytes: Buffer.concat(parts), expected };
}

/** A header stream declaring odd, huge or negative counts and lengths, then a few bytes. */
function hostileHeaders(rng: Rng): Buffer {
  const parts: string[] = [`*${pick(rng, NUMERALS)}${pick(rng, ['\r\n', '\r\n', '\r', '\n', '\r\r\n', ''])}`];
  const bulks = rng.int(4);
  for (let i = 0; i < bulks; i++) {
    parts.push(`$${pick(rng, NUMERALS)}${pick(rng, ['\r\n', '\r\n', '\n', ''])}`);
    if (rng.int(2) === 0) parts.push(`${'x'.repeat(smallLength(rng, 64))}\r\n`);
  }
  let bytes = Buffer.from(parts.join(''), 'latin1');
  if (rng.int(8) === 0) bytes = Buffer.concat([Buffer.from(rng.int(2) ? '*' : '*1\r\n$', 'latin1'), Buffer.alloc(MAX_HEADER_LENGTH - 2 + rng.int(5), rng.int(2) ? '1' : '9')]);
  return bytes;
}

const SMALL_LIMITS: RequestParserOptions = { maxBulkLength: 8, maxMultibulkLength: 3, maxInlineLength: 24 };

// ---- tests ----

t.test('corpus', async (t) => {
  replayCorpus(t, 'resp-request', (input, rng) => requestOracle(input, rng, undefined, true));
  replayCorpus(t, 'resp-parse-one', (input) => parseOneOracle(input));
});

t.test('declared sizes never allocate in proportion to the declaration', async (t) => {
  const cases: [string, Buffer][] = [
    ['the largest count and bulk length accepted, then 1 KiB', Buffer.concat([Buffer.from('*1048576\r\n$536870912\r\n'), Buffer.alloc(1024, 'x')])],
    ['a count of 10^9', Buffer.from('*1000000000\r\n')],
    ['a count of 2^31 - 1', Buffer.from('*2147483647\r\n$1\r\n')],
    ['a bulk length of 2^63 - 1', Buffer.from('*1\r\n$9223372036854775807\r\n')],
    ['a bulk length of 2^64', Buffer.from('*1\r\n$18446744073709551616\r\n')],
  ];
  for (const [what, input] of cases) {
    const outcome = boundedAllocation(input.length, () => feed([input], undefined));
    t.ok(outcome.error !== undefined || (outcome.pending ?? 0) <= input.length, what);
  }
  // A 512 MiB bulk announced and then fed 1 KiB at a time keeps only what arrived.
  const p = new RequestParser();
  p.push(Buffer.from('*1\r\n$536870912\r\n'));
  boundedAllocation(64 * 1024, () => {
    for (let i = 0; i < 64; i++) p.push(Buffer.alloc(1024, 'y'));
  });
  t.equal(p.pendingBytes, 64 * 1024);
  t.ok(p.midRequest);
  t.notOk(new RequestParser().midRequest, 'a fresh parser is between requests');
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'resp-request/pipeline', (c) => {
    const { bytes, expected } = pipeline(c.rng);
    const kind = c.rng.int(3);
    if (kind === 0) {
      c.input(bytes);
      const whole = feed([bytes], undefined);
      check(whole.error === undefined && whole.pending === 0 && whole.commands === expected.join(';'), () => `a valid pipeline decodes as ${key(whole)}, expected ${expected.join(';')}`);
      requestOracle(bytes, c.rng);
      return;
    }
    const m = mutate(c.rng, bytes, { dictionary: DICTIONARY, other: encodeCommand(randomArgs(c.rng, 2)) });
    c.input(m.bytes);
    requestOracle(m.bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined, m.huge);
  });
  fuzz(t, 'resp-request/hostile-header', (c) => {
    let bytes = hostileHeaders(c.rng);
    if (c.rng.int(3) === 0) bytes = mutate(c.rng, bytes, { dictionary: DICTIONARY }).bytes;
    c.input(bytes);
    requestOracle(bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined, true);
  });
  fuzz(t, 'resp-request/inline', (c) => {
    const args = inlineArgs(c.rng);
    const line = Buffer.from(inlineLine(c.rng, args), 'latin1');
    if (c.rng.int(2) === 0) {
      c.input(line);
      const end = line[line.length - 2] === CR ? line.length - 2 : line.length - 1;
      const got = splitArgs(line.subarray(0, end));
      check(got !== undefined && commandKey(got) === commandKey(args), () => `splitArgs gives ${got ? commandKey(got) : 'undefined'}, expected ${commandKey(args)}`);
      requestOracle(line, c.rng);
      return;
    }
    const m = mutate(c.rng, line, { dictionary: DICTIONARY, maxOps: 3 });
    c.input(m.bytes);
    const got = splitArgs(m.bytes);
    check(got === undefined || got.every((a) => Buffer.isBuffer(a) && a.length <= m.bytes.length), 'splitArgs returned something else than Buffers no longer than the line');
    // Without quotes and backslashes, splitting is plain: blanks (SP, TAB, CR, LF) separate.
    // VT and FF are blanks only before an argument: they end none.
    if (!m.bytes.some((b) => b === 0x22 || b === 0x27 || b === 0x5c)) {
      const plain = m.bytes
        .toString('latin1')
        .split(/[ \t\r\n]+/)
        .map((s) => s.replace(/^[\x0b\x0c]+/, ''))
        .filter((s) => s.length > 0);
      check(got !== undefined && got.map((a) => a.toString('latin1')).join('\u0001') === plain.join('\u0001'), () => `splitArgs of a quote-free line gives ${got?.map((a) => JSON.stringify(a.toString('latin1'))).join(' ')}`);
    }
    requestOracle(m.bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined);
  });
  fuzz(t, 'resp-request/random', (c) => {
    const bytes = c.input(randomBytes(c.rng, c.rng.int(257), c.rng.int(2) ? RESP_ALPHABET : undefined));
    requestOracle(bytes, c.rng, c.rng.int(4) === 0 ? SMALL_LIMITS : undefined);
  });
  fuzz(t, 'resp-request/parse-one', (c) => {
    const args = randomArgs(c.rng);
    const raw = encodeCommand(args);
    if (c.rng.int(3) === 0) {
      c.input(raw);
      check(commandKey(parseOne(raw).args) === commandKey(args), 'parseOne(encodeCommand(args)) is not args');
      return;
    }
    const m = mutate(c.rng, raw, { dictionary: DICTIONARY, other: encodeCommand(randomArgs(c.rng, 2)) });
    parseOneOracle(c.input(m.bytes));
  });
});
