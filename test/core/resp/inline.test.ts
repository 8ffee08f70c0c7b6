import t from 'tap';
import { splitArgs } from '../../../src/core/resp/index.js';
import { requests } from './fixtures/harness.js';

const split = (s: string): string[] | undefined => splitArgs(Buffer.from(s, 'latin1'))?.map((b) => b.toString('latin1'));

t.test('inline commands end with LF or CRLF', async (t) => {
  t.same(requests(t, 'PING\r\n'), { items: [['PING']], pending: 0 });
  t.same(requests(t, 'SET k v\nGET k\r\nDEL k\n'), { items: [['SET', 'k', 'v'], ['GET', 'k'], ['DEL', 'k']], pending: 0 });
  t.same(requests(t, 'a\r\r\n'), { items: [['a']], pending: 0 }, 'only one CR is part of the line ending; the other separates');
});

t.test('blank inline lines are ignored', async (t) => {
  t.same(requests(t, '\r\n\n   \r\n\t\nPING\r\n \n'), { items: [['PING']], pending: 0 });
  t.same(requests(t, '\n'), { items: [], pending: 0 });
});

t.test('spaces and tabs separate arguments', async (t) => {
  t.same(requests(t, '  SET\t\tkey   value \t\r\n'), { items: [['SET', 'key', 'value']], pending: 0 });
  t.same(split(' a  b\tc \x0b d\x0be\x0c'), ['a', 'b', 'c', 'd\x0be\x0c'], 'VT and FF are blanks between args but, as in Redis, do not end one');
});

t.test('double quotes and their escapes', async (t) => {
  t.same(split('SET "hello world" ""'), ['SET', 'hello world', '']);
  t.same(split('"\\n\\r\\t\\b\\a\\\\\\"\\q"'), ['\n\r\t\b\x07\\"q']);
  t.same(split('"\\x41\\x4a\\x7e\\xff\\x00"'), ['AJ~\xff\x00']);
  t.same(split('"\\xAf\\xaF"'), ['\xaf\xaf'], 'hex digits in either case');
  t.same(split('"\\x4g" "\\x" "\\x4"'), ['x4g', 'x', 'x4'], 'an incomplete \\x is a plain escaped x');
  t.same(split('a"b c"'), ['ab c'], 'a quote may open mid-argument');
  t.same(split('"a"\t"b"'), ['a', 'b']);
  t.same(requests(t, 'SET k "a\\r\\nb"\r\n'), { items: [['SET', 'k', 'a\r\nb']], pending: 0 });
});

t.test('single quotes understand only \\\'', async (t) => {
  t.same(split("'it\\'s' 'a\\nb' ''"), ["it's", 'a\\nb', '']);
  t.same(split("x'y z'"), ['xy z']);
});

t.test('NUL is an ordinary byte', async (t) => {
  t.same(split('a\x00b "c\x00"'), ['a\x00b', 'c\x00']);
  t.same(requests(t, 'SET \x00 \x00\x00\r\n'), { items: [['SET', '\x00', '\x00\x00']], pending: 0 });
});

t.test('unbalanced quotes', async (t) => {
  for (const s of ['"abc', "'abc", '"abc"def', "'abc'def", '"a\\"', '"\\', "'\\'", 'a "b" "c']) {
    t.equal(split(s), undefined, JSON.stringify(s));
  }
  t.equal(requests(t, 'SET "k v\r\n').error, 'unbalanced quotes in request');
  t.equal(requests(t, "GET 'k'x\n").error, 'unbalanced quotes in request');
  t.same(requests(t, 'PING\nGET "x\n').items, [['PING']], 'commands before the bad line are kept');
  t.same(split(''), []);
});

t.test('too big inline request', async (t) => {
  const max = 64 * 1024;
  t.equal(requests(t, 'x'.repeat(max + 1)).error, 'too big inline request', 'no newline yet');
  t.equal(requests(t, `${'x'.repeat(max + 1)}\n`).error, 'too big inline request', 'even once the newline is there');
  t.same(requests(t, 'x'.repeat(max)), { items: [], pending: max }, 'at the limit it waits');
  t.same(requests(t, `${'x'.repeat(max)}\n`).items, [['x'.repeat(max)]]);
  t.equal(requests(t, 'PING\r\nPING\r\n', { maxInlineLength: 4 }).error, 'too big inline request', 'CR counts toward the limit');
  t.same(requests(t, 'PING\nPING\n', { maxInlineLength: 4 }).items, [['PING'], ['PING']]);
  t.same(requests(t, 'PING\nPINGPONG', { maxInlineLength: 4 }), { items: [['PING']], error: 'too big inline request' });
});
