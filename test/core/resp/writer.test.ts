import t from 'tap';
import {
  arrayReply,
  bulkReply,
  errorReply,
  intReply,
  NULL_ARRAY,
  NULL_BULK,
  OK,
  ReplyParser,
  ReplyWriter,
  simpleReply,
  type Reply,
} from '../../../src/core/resp/index.js';
import { replies } from './fixtures/harness.js';

const bytes = (f: (w: ReplyWriter) => unknown): string => {
  const w = new ReplyWriter();
  f(w);
  return w.take().toString('latin1');
};

t.test('exact bytes of each reply type', async (t) => {
  t.equal(bytes((w) => w.simple('PONG')), '+PONG\r\n');
  t.equal(bytes((w) => w.ok()), '+OK\r\n');
  t.equal(bytes((w) => w.error("ERR unknown command 'foo'")), "-ERR unknown command 'foo'\r\n");
  t.equal(bytes((w) => w.error('WRONGTYPE Operation against a key holding the wrong kind of value')), '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n');
  t.equal(bytes((w) => w.int(0).int(-42).int(Number.MAX_SAFE_INTEGER)), ':0\r\n:-42\r\n:9007199254740991\r\n');
  t.equal(bytes((w) => w.int(-(2 ** 63)).int(2 ** 62)), ':-9223372036854775808\r\n:4611686018427387904\r\n', 'beyond 2^53 as rounded');
  t.equal(bytes((w) => w.int(9223372036854775807n).int(-9223372036854775808n).int(9007199254740993n)), ':9223372036854775807\r\n:-9223372036854775808\r\n:9007199254740993\r\n', 'a bigint exactly');
  t.equal(bytes((w) => w.int(2 ** 63)), ':9223372036854775807\r\n', '2^63, the double INT64_MAX rounds to, as INT64_MAX');
  t.equal(bytes((w) => w.bulk('hello')), '$5\r\nhello\r\n');
  t.equal(bytes((w) => w.bulk('')), '$0\r\n\r\n');
  t.equal(bytes((w) => w.bulk(Buffer.from([0, 13, 10, 255]))), '$4\r\n\x00\r\n\xff\r\n');
  t.equal(bytes((w) => w.bulk(Buffer.alloc(0))), '$0\r\n\r\n');
  t.equal(bytes((w) => w.nullBulk()), '$-1\r\n');
  t.equal(bytes((w) => w.arrayHeader(0)), '*0\r\n');
  t.equal(bytes((w) => w.arrayHeader(2).bulk('a').int(1)), '*2\r\n$1\r\na\r\n:1\r\n');
  t.equal(bytes((w) => w.nullArray()), '*-1\r\n');
});

t.test('utf-8 strings use byte lengths', async (t) => {
  t.equal(bytes((w) => w.bulk('é☃😀')), '$9\r\n\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80\r\n');
  t.equal(bytes((w) => w.simple('h\xc3\xa9llo')), '+h\xc3\xa9llo\r\n', 'simple strings are binary strings');
  t.equal(bytes((w) => w.error('ERR \xff')), '-ERR \xff\r\n', 'error texts too');
});

t.test('CR and LF in simple strings and errors become spaces', async (t) => {
  t.equal(bytes((w) => w.simple('a\r\nb\nc\rd')), '+a  b c d\r\n');
  t.equal(bytes((w) => w.error('ERR bad\r\ninput')), '-ERR bad  input\r\n');
  t.equal(bytes((w) => w.reply(simpleReply('x\ny'))), '+x y\r\n');
});

t.test('reply() encodes every Reply, arrays recursively', async (t) => {
  const r: Reply = arrayReply([
    OK,
    errorReply('ERR x'),
    intReply(7),
    bulkReply('v'),
    bulkReply(Buffer.from('w')),
    NULL_BULK,
    NULL_ARRAY,
    arrayReply([]),
    arrayReply([arrayReply([intReply(1), arrayReply([bulkReply('deep')])]), simpleReply('s')]),
  ]);
  const expected = '*9\r\n+OK\r\n-ERR x\r\n:7\r\n$1\r\nv\r\n$1\r\nw\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n*2\r\n:1\r\n*1\r\n$4\r\ndeep\r\n+s\r\n';
  t.equal(bytes((w) => w.reply(r)), expected);
  t.same(replies(t, expected), { items: [r], pending: 0 }, 'the reply parser reads it back');
});

t.test('take hands over the bytes and resets; the buffer grows as needed', async (t) => {
  const w = new ReplyWriter(1);
  t.equal(w.length, 0);
  t.equal(w.take().length, 0, 'nothing written');
  w.ok().int(5);
  t.equal(w.length, 9);
  const first = w.take();
  t.equal(first.toString(), '+OK\r\n:5\r\n');
  t.equal(w.length, 0);
  const big = Buffer.alloc(100_000, 0x61);
  for (let i = 0; i < 10; i++) w.bulk(big).simple('x'.repeat(i * 1000));
  t.equal(first.toString(), '+OK\r\n:5\r\n', 'a taken buffer is never overwritten');
  const second = w.take();
  t.equal(second.length, w.length + second.length);
  const parsed = new ReplyParser().push(second);
  t.equal(parsed.length, 20);
  t.same(parsed[18], bulkReply(big));
  t.same(parsed[19], simpleReply('x'.repeat(9000)));
  t.equal(w.bulk('s').take().toString(), '$1\r\ns\r\n');
});

t.test('programming mistakes are TypeErrors', async (t) => {
  const w = new ReplyWriter();
  t.throws(() => w.int(1.5), TypeError);
  t.throws(() => w.int(Number.NaN), TypeError);
  t.throws(() => w.int(2 ** 64), TypeError);
  t.throws(() => w.int(2n ** 63n), TypeError);
  t.throws(() => w.int(-(2n ** 63n) - 1n), TypeError);
  t.throws(() => w.int(Infinity), TypeError);
  t.throws(() => w.arrayHeader(-1), TypeError);
  t.throws(() => w.arrayHeader(0.5), TypeError);
  t.equal(w.length, 0, 'nothing was written');
});
