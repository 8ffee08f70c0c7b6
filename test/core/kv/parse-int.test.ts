import t from 'tap';
import { parseInt64, parseInteger } from '../../../src/core/kv/parse-int.js';

const p = (s: string): number | undefined => parseInteger(Buffer.from(s, 'latin1'));

t.test('accepts what Redis string2ll accepts within the safe integer range', async (t) => {
  t.equal(p('0'), 0);
  t.equal(p('1'), 1);
  t.equal(p('-1'), -1);
  t.equal(p('42'), 42);
  t.equal(p('1000'), 1000);
  t.equal(p('9007199254740991'), Number.MAX_SAFE_INTEGER, '2^53 - 1');
  t.equal(p('-9007199254740991'), Number.MIN_SAFE_INTEGER, '-(2^53 - 1)');
  t.equal(p('1234567890123456'), 1234567890123456, '16 digits');
});

t.test('refuses everything else', async (t) => {
  for (const s of [
    '',
    '-',
    '-0',
    '00',
    '01',
    '-01',
    '+1',
    ' 1',
    '1 ',
    '1\r\n',
    '1.0',
    '1e3',
    '0x10',
    'abc',
    '１', // a full-width digit
    '9007199254740992', // 2^53: not a safe integer
    '-9007199254740992',
    '9999999999999999',
    '10000000000000000', // 17 digits
    '99999999999999999999999',
  ]) {
    t.equal(p(s), undefined, JSON.stringify(s));
  }
});

t.test('reads the bytes, not a decoding of them', async (t) => {
  t.equal(parseInteger(Buffer.from([0x31, 0x00])), undefined, 'a NUL after the digits');
  t.equal(parseInteger(Buffer.from([0xb9])), undefined, 'latin1 superscript one');
  t.equal(parseInteger(Buffer.from('7')), 7);
});

t.test('parseInt64: the same rules over the whole signed 64-bit range, exactly', async (t) => {
  const q = (s: string): bigint | undefined => parseInt64(Buffer.from(s, 'latin1'));
  t.equal(q('0'), 0n);
  t.equal(q('-1'), -1n);
  t.equal(q('9223372036854775807'), 2n ** 63n - 1n);
  t.equal(q('-9223372036854775808'), -(2n ** 63n));
  t.equal(q('9007199254740993'), 9007199254740993n, 'no rounding past 2^53');
  for (const s of ['', '-', '-0', '01', '+1', ' 1', '1.0', '9223372036854775808', '-9223372036854775809', '12345678901234567890']) {
    t.equal(q(s), undefined, JSON.stringify(s));
  }
});
