import t from 'tap';
import { encodeCommand, ProtocolError, ReplyParser, ReplyWriter, RequestParser, type Reply, type RequestParserOptions } from '../../../src/core/resp/index.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { FUZZ_SEED, fuzzCount } from '../../helpers/fuzz.js';
import { feed, randomSplit, type Outcome } from './fixtures/harness.js';

/**
 * Random and mutated inputs fed to fresh parsers. The only exception allowed is
 * ProtocolError, and the same bytes split differently must give the same outcome.
 * Case i uses seededRng(BASE + i); BITRAFT_FUZZ_SEED (or RESP_FUZZ_SEED) replays another
 * run, and BITRAFT_FUZZ_INPUTS scales the counts as for `test/core/fuzz/` (which fuzzes
 * the same decoders against a reference decoder, with hostile headers and allocation checks).
 */
const BASE = Number(process.env.RESP_FUZZ_SEED ?? FUZZ_SEED);
const REQUEST_CASES = fuzzCount('resp-split/requests');
const REPLY_CASES = fuzzCount('resp-split/replies');

const INTERESTING = Buffer.from('*$\r\n\r\n0123456789-+:"\'\\x \t\0aZ');

function randomBytes(rng: Rng, max: number): Buffer {
  const n = rng.int(max + 1);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(3) === 0 ? rng.int(256) : INTERESTING[rng.int(INTERESTING.length)]!;
  return b;
}

function randomToken(rng: Rng): string {
  const words = ['GET', 'SET', 'k', 'v', '"a b"', "'c\\'d'", '"\\x41\\n"', '""', 'x"y z"', '\\'];
  return words[rng.int(words.length)]!;
}

/** A valid pipeline and, when known exactly, the commands it encodes. */
function validRequests(rng: Rng): { bytes: Buffer; expected?: string[] } {
  const parts: Buffer[] = [];
  const expected: string[] = [];
  let exact = true;
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    if (rng.int(4) === 0) {
      const line = Array.from({ length: 1 + rng.int(4) }, () => randomToken(rng)).join(rng.int(2) ? ' ' : '\t');
      parts.push(Buffer.from(line + (rng.int(2) ? '\r\n' : '\n')));
      exact = false;
    } else {
      const args = Array.from({ length: 1 + rng.int(4) }, () => randomBytes(rng, 12));
      parts.push(encodeCommand(args));
      expected.push(args.map((a) => a.toString('hex')).join(','));
    }
  }
  return { bytes: Buffer.concat(parts), expected: exact ? expected : undefined };
}

function mutate(input: Buffer, rng: Rng): Buffer {
  let b = input;
  const count = rng.int(5);
  for (let m = 0; m < count; m++) {
    const at = rng.int(b.length + 1);
    const byte = rng.int(2) ? rng.int(256) : INTERESTING[rng.int(INTERESTING.length)]!;
    switch (rng.int(5)) {
      case 0: // flip
        if (at < b.length) {
          b = Buffer.from(b);
          b[at] = byte;
        }
        break;
      case 1: // insert
        b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
        break;
      case 2: // delete
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 3: // duplicate a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(rng.int(b.length + 1), at + rng.int(8)), b.subarray(at)]);
        break;
      default: // truncate
        b = b.subarray(0, at);
    }
  }
  return b;
}

const SMALL_LIMITS: RequestParserOptions = { maxBulkLength: 8, maxMultibulkLength: 3, maxInlineLength: 24 };

function requestKey(o: Outcome<{ args: Buffer[] }>): string {
  return `${o.items.map((c) => c.args.map((a) => a.toString('hex')).join(',')).join(';')}|${o.error ?? ''}|${o.pending ?? ''}`;
}

function replyKey(o: Outcome<Reply>): string {
  const w = new ReplyWriter();
  for (const r of o.items) w.reply(r);
  return `${w.take().toString('hex')}|${o.error ?? ''}|${o.pending ?? ''}`;
}

/** Runs one case, turning any unexpected exception into a failure that names the seed. */
function check(t: Tap, seed: number, input: Buffer, body: () => string | undefined): boolean {
  let problem: string | undefined;
  try {
    problem = body();
  } catch (err) {
    problem = `threw ${err instanceof ProtocolError ? 'an escaped ProtocolError' : String((err as Error)?.stack ?? err)}`;
  }
  if (problem === undefined) return true;
  t.fail(`seed ${seed} (RESP_FUZZ_SEED=${BASE}): ${problem}; input ${input.toString('hex')}`);
  return false;
}

type Tap = Pick<typeof t, 'fail'>;

t.test(`${REQUEST_CASES} random and mutated requests`, async (t) => {
  t.comment(`base seed ${BASE}`);
  let errors = 0;
  let exactChecked = 0;
  for (let i = 0; i < REQUEST_CASES; i++) {
    const seed = BASE + i;
    const rng = seededRng(seed);
    const kind = rng.int(10);
    let input: Buffer;
    let expected: string[] | undefined;
    if (kind === 0) input = randomBytes(rng, 64);
    else {
      const valid = validRequests(rng);
      input = kind < 3 ? valid.bytes : mutate(valid.bytes, rng);
      if (kind < 3) expected = valid.expected;
    }
    const options = rng.int(4) === 0 ? SMALL_LIMITS : undefined;
    const ok = check(t, seed, input, () => {
      const whole = feed(new RequestParser(options), [input]);
      const split = feed(new RequestParser(options), randomSplit(input, rng));
      if (whole.error) errors++;
      if (requestKey(whole) !== requestKey(split)) return `split outcome ${requestKey(split)} differs from whole ${requestKey(whole)}`;
      if (expected && !options) {
        exactChecked++;
        const got = whole.items.map((c) => c.args.map((a) => a.toString('hex')).join(','));
        if (whole.error || whole.pending !== 0 || got.join(';') !== expected.join(';')) return `valid input decoded as ${requestKey(whole)}`;
      }
      return undefined;
    });
    if (!ok) break;
  }
  t.ok(errors > REQUEST_CASES / 10, `many inputs were rejected (${errors})`);
  t.ok(exactChecked > REQUEST_CASES / 20, `valid inputs decode exactly (${exactChecked})`);
});

function randomReply(rng: Rng, depth = 0): Reply {
  switch (rng.int(depth > 2 ? 6 : 7)) {
    case 0:
      return { type: 'simple', value: randomBytes(rng, 8).toString('latin1').replace(/[\r\n]/g, ' ') };
    case 1:
      return { type: 'error', text: `ERR ${rng.int(100)}` };
    case 2:
      return { type: 'integer', value: rng.int(2_000_000) - 1_000_000 };
    case 3:
      return { type: 'bulk', value: randomBytes(rng, 12) };
    case 4:
      return { type: 'null-bulk' };
    case 5:
      return { type: 'null-array' };
    default:
      return { type: 'array', items: Array.from({ length: rng.int(4) }, () => randomReply(rng, depth + 1)) };
  }
}

t.test(`${REPLY_CASES} random and mutated replies`, async (t) => {
  let errors = 0;
  for (let i = 0; i < REPLY_CASES; i++) {
    const seed = BASE + 1_000_000 + i;
    const rng = seededRng(seed);
    const w = new ReplyWriter();
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) w.reply(randomReply(rng));
    const valid = w.take();
    const kind = rng.int(10);
    const input = kind === 0 ? randomBytes(rng, 64) : kind < 3 ? valid : mutate(valid, rng);
    const options = rng.int(4) === 0 ? { maxBulkLength: 6, maxLineLength: 10 } : undefined;
    const ok = check(t, seed, input, () => {
      const whole = feed(new ReplyParser(options), [input]);
      const split = feed(new ReplyParser(options), randomSplit(input, rng));
      if (whole.error) errors++;
      if (replyKey(whole) !== replyKey(split)) return `split outcome ${replyKey(split)} differs from whole ${replyKey(whole)}`;
      if (input === valid && !options && replyKey(whole) !== `${valid.toString('hex')}||0`) return `valid input decoded as ${replyKey(whole)}`;
      return undefined;
    });
    if (!ok) break;
  }
  t.ok(errors > REPLY_CASES / 10, `many inputs were rejected (${errors})`);
});
