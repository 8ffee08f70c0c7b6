import t from 'tap';
import { globMatch, isLiteral, literalPrefix } from '../../../src/core/kv/glob.js';

const cases: [string, string, boolean][] = [
  // As stringmatchlen: a star needs the loop to run; KEYS special-cases the pattern "*".
  ['*', '', false],
  ['**', '', false],
  ['*', 'anything', true],
  ['', '', true],
  ['', 'a', false],
  ['a', '', false],
  ['h?llo', 'hello', true],
  ['h?llo', 'hllo', false],
  ['h*llo', 'hllo', true],
  ['h*llo', 'heeeello', true],
  ['h*llo', 'hello world', false],
  ['h[ae]llo', 'hello', true],
  ['h[ae]llo', 'hillo', false],
  ['h[^e]llo', 'hallo', true],
  ['h[^e]llo', 'hello', false],
  ['h[a-b]llo', 'hbllo', true],
  ['h[b-a]llo', 'hbllo', true],
  ['h[a-b]llo', 'hcllo', false],
  ['h\\*llo', 'h*llo', true],
  ['h\\*llo', 'hello', false],
  ['h[\\]]llo', 'h]llo', true],
  ['h[\\-]llo', 'h-llo', true],
  ['a\\', 'a\\', true],
  ['[abc', 'a', true],
  ['[abc', 'd', false],
  ['[', 'x', false],
  ['a**b', 'axxb', true],
  ['a*', 'a', true],
  ['a*b*c', 'aXbYc', true],
  ['a*b*c', 'aXbY', false],
  ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(60), false],
  ['\x00*\xff', '\x00middle\xff', true],
  ['?', '\xff', true],
  ['[\x00-\x10]', '\x05', true],
  ['user:*', 'user:1', true],
  ['user:*', 'users', false],
];

t.test('globMatch follows Redis stringmatchlen', async (t) => {
  for (const [pattern, subject, expected] of cases) {
    t.equal(globMatch(pattern, subject), expected, `${JSON.stringify(pattern)} ~ ${JSON.stringify(subject)}`);
  }
});

t.test('a pathological pattern gives up instead of overflowing the stack', async (t) => {
  t.equal(globMatch('*a'.repeat(1500), 'a'.repeat(1500)), false);
  t.equal(globMatch('*a'.repeat(10), 'a'.repeat(10)), true);
});

t.test('literalPrefix is what every match starts with', async (t) => {
  t.equal(literalPrefix('user:*'), 'user:');
  t.equal(literalPrefix('a?b'), 'a');
  t.equal(literalPrefix('a[bc]'), 'a');
  t.equal(literalPrefix('a\\*b*'), 'a*b');
  t.equal(literalPrefix('abc\\'), 'abc');
  t.equal(literalPrefix('*'), '');
  t.equal(literalPrefix('plain'), 'plain');
});

t.test('isLiteral only for patterns without special bytes', async (t) => {
  t.equal(isLiteral('plain'), true);
  t.equal(isLiteral(''), true);
  for (const p of ['a*', 'a?', 'a[', 'a\\b']) t.equal(isLiteral(p), false, p);
});
