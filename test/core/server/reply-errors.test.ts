import t from 'tap';
import { NOAUTH, replyForError, WRONGPASS } from '../../../src/core/server/reply-errors.js';
import { BitraftError, CorruptionError, LimitError } from '../../../src/core/support/errors.js';

t.test('fixed replies, worded as Redis', async (t) => {
  t.strictSame(NOAUTH, { type: 'error', text: 'NOAUTH Authentication required.' });
  t.strictSame(WRONGPASS, { type: 'error', text: 'WRONGPASS invalid username-password pair or user is disabled.' });
});

t.test('domain errors keep their message under a prefix chosen by code', async (t) => {
  t.strictSame(replyForError(new BitraftError('BUSY', 'a merge is already running')), { type: 'error', text: 'BUSY a merge is already running' });
  t.strictSame(replyForError(new BitraftError('CLOSED', 'the store is closed')), { type: 'error', text: 'ERR server is shutting down: the store is closed' });
  t.strictSame(replyForError(new BitraftError('IO', 'disk full')), { type: 'error', text: 'ERR disk full' });
  t.strictSame(replyForError(new BitraftError('INVALID_ARGUMENT', 'bad')), { type: 'error', text: 'ERR bad' });
  t.strictSame(replyForError(new LimitError('KEY_TOO_LARGE', 9, 8)), { type: 'error', text: 'ERR key of 9 bytes exceeds the limit of 8 bytes' });
  t.strictSame(replyForError(new CorruptionError('f.data', 12, 'bad crc')), { type: 'error', text: 'ERR corrupt data in f.data at offset 12: bad crc' });
});

t.test('anything else is an internal error, without its stack', async (t) => {
  const e = new TypeError('x is not a function');
  t.ok(e.stack);
  t.strictSame(replyForError(e), { type: 'error', text: 'ERR internal error: x is not a function' });
  t.strictSame(replyForError('a string'), { type: 'error', text: 'ERR internal error: a string' });
  t.strictSame(replyForError(42), { type: 'error', text: 'ERR internal error: 42' });
  t.strictSame(replyForError(undefined), { type: 'error', text: 'ERR internal error: undefined' });
  t.strictSame(replyForError(null), { type: 'error', text: 'ERR internal error: null' });
});

t.test('line breaks become one space per run', async (t) => {
  t.strictSame(replyForError(new Error('a\r\nb\n\nc\rd')), { type: 'error', text: 'ERR internal error: a b c d' });
  t.strictSame(replyForError(new BitraftError('BUSY', 'x\ny')), { type: 'error', text: 'BUSY x y' });
  for (const err of [new Error('multi\nline\r\n'), new BitraftError('CLOSED', '\n'), 'str\r\n']) {
    const text = replyForError(err).text;
    t.notMatch(text, /[\r\n]/, JSON.stringify(text));
    t.notMatch(text, /\bat /, 'no stack frames');
  }
});
