import t from 'tap';
import { arrayReply, bulkReply, errorReply, intReply, NULL_ARRAY, NULL_BULK, OK, ProtocolError, ReplyParser, simpleReply } from '../../../src/core/resp/index.js';
import { replies } from './fixtures/harness.js';

t.test('each reply type', async (t) => {
  t.same(replies(t, '+OK\r\n+\r\n'), { items: [OK, simpleReply('')], pending: 0 });
  t.same(replies(t, "-ERR unknown command 'foo'\r\n"), { items: [errorReply("ERR unknown command 'foo'")], pending: 0 });
  t.same(replies(t, ':0\r\n:-12\r\n:9223372036854775807\r\n'), { items: [intReply(0), intReply(-12), intReply(9223372036854775807n)], pending: 0 });
  t.same(
    replies(t, ':9007199254740991\r\n:9007199254740992\r\n:-9223372036854775808\r\n'),
    { items: [intReply(Number.MAX_SAFE_INTEGER), intReply(9007199254740992n), intReply(-9223372036854775808n)], pending: 0 },
    'exact: a number while safe, a bigint beyond',
  );
  t.same(replies(t, '$5\r\nhello\r\n$0\r\n\r\n$-1\r\n'), { items: [bulkReply('hello'), bulkReply(''), NULL_BULK], pending: 0 });
  t.same(replies(t, '*-1\r\n*0\r\n'), { items: [NULL_ARRAY, arrayReply([])], pending: 0 });
  t.same(replies(t, '+h\xc3\xa9\r\n'), { items: [simpleReply('h\xc3\xa9')], pending: 0 }, 'simple strings are binary strings, one char per byte');
});

t.test('binary bulk values', async (t) => {
  const bin = Buffer.from([13, 10, 0, 255, 13]);
  t.same(replies(t, Buffer.concat([Buffer.from('$5\r\n'), bin, Buffer.from('\r\n')])), { items: [bulkReply(bin)], pending: 0 });
});

t.test('nested arrays, including nulls and empties inside', async (t) => {
  const input = '*3\r\n*2\r\n:1\r\n*0\r\n$-1\r\n*2\r\n*-1\r\n*1\r\n*1\r\n+deep\r\n:9\r\n';
  t.same(replies(t, input), {
    items: [arrayReply([arrayReply([intReply(1), arrayReply([])]), NULL_BULK, arrayReply([NULL_ARRAY, arrayReply([arrayReply([simpleReply('deep')])])])]), intReply(9)],
    pending: 0,
  });
  t.same(replies(t, '*2\r\n:1\r\n'), { items: [], pending: 0 }, 'an open array waits for its items');
  t.same(replies(t, '*2\r\n$3\r\nab'), { items: [], pending: 2 });
});

t.test('errors, with the replies completed before them', async (t) => {
  const err = (s: string): string | undefined => replies(t, s).error;
  t.equal(err('?\r\n'), "unexpected reply type '?'");
  t.equal(err('\r\n'), "unexpected reply type '\r'");
  t.equal(err('?'), "unexpected reply type '?'", 'without waiting for the line end');
  t.equal(err(':x\r\n'), 'invalid integer reply');
  t.equal(err(':\r\n'), 'invalid integer reply');
  t.equal(err('$-2\r\n'), 'invalid bulk length');
  t.equal(err('$x\r\n'), 'invalid bulk length');
  t.equal(err('$3\r\nabcd'), 'invalid bulk length');
  t.equal(err('$3\r\nabc\rd'), 'invalid bulk length');
  t.equal(err('*-2\r\n'), 'invalid multibulk length');
  t.equal(err('*\r\n'), 'invalid multibulk length');
  t.equal(err('*9223372036854775807\r\n'), 'invalid multibulk length');
  t.equal(err('+OK\rX'), 'invalid line ending');
  t.equal(err(`+${'x'.repeat(64 * 1024)}`), 'too big reply line');
  t.equal(err(`+${'x'.repeat(64 * 1024)}\r\n`), 'too big reply line');
  t.equal(replies(t, '+abcd\r\n', { maxLineLength: 4 }).error, 'too big reply line');
  t.equal(replies(t, '$4\r\nabcd\r\n', { maxBulkLength: 3 }).error, 'invalid bulk length');
  t.same(replies(t, '+OK\r\n*2\r\n:1\r\n:2\r\n*1\r\n:3\r\n!'), { items: [OK, arrayReply([intReply(1), intReply(2)]), arrayReply([intReply(3)])], error: "unexpected reply type '!'" });
});

t.test('after an error the parser is dead', async (t) => {
  const p = new ReplyParser();
  const e1 = t.throws(() => p.push(Buffer.from(':1\r\n?\r\n'))) as ProtocolError;
  t.equal(e1.code, 'PROTOCOL');
  t.same(e1.parsed, [intReply(1)]);
  const e2 = t.throws(() => p.push(Buffer.from(':2\r\n'))) as ProtocolError;
  t.equal(e2.message, e1.message);
  t.same(e2.parsed, []);
});

t.test('a large bulk reply in many chunks', async (t) => {
  const size = 8 * 1024 * 1024;
  const body = Buffer.alloc(size, 0x5a);
  const p = new ReplyParser();
  t.same(p.push(Buffer.from(`*2\r\n$${size}\r\n`)), []);
  let early = 0;
  for (let at = 0; at < size; at += 65536) early += p.push(body.subarray(at, at + 65536)).length;
  t.equal(early, 0);
  t.equal(p.pendingBytes, size);
  const out = p.push(Buffer.from('\r\n:1\r\n'));
  t.same(out, [arrayReply([bulkReply(body), intReply(1)])]);
});

t.test('errors that are not protocol errors propagate unchanged', async (t) => {
  const hostile = { length: 3, 0: 0x2b, indexOf: () => { throw new RangeError('boom'); } } as unknown as Buffer;
  t.throws(() => new ReplyParser().push(hostile), RangeError);
});
