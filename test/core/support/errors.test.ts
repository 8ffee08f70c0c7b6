import t from 'tap';
import {
  BitraftError,
  CorruptionError,
  LimitError,
  LockedError,
  hasCode,
  type ErrorCode,
} from '../../../src/core/support/errors.js';

const ALL_CODES: ErrorCode[] = [
  'CORRUPT',
  'LOCKED',
  'KEY_TOO_LARGE',
  'VALUE_TOO_LARGE',
  'CLOSED',
  'BUSY',
  'NOT_FOUND',
  'INVALID_ARGUMENT',
  'IO',
  'NOT_IMPLEMENTED',
];

t.test('BitraftError carries its code, cause and class name', async (t) => {
  for (const code of ALL_CODES) {
    const err = new BitraftError(code, 'something happened');
    t.ok(err instanceof Error, `${code} is an Error`);
    t.ok(err instanceof BitraftError);
    t.equal(err.code, code);
    t.equal(err.name, 'BitraftError');
    t.equal(err.cause, undefined);
    t.type(err.stack, 'string');
  }
  const cause = new Error('root');
  const wrapped = new BitraftError('IO', 'wrapped', { cause });
  t.equal(wrapped.cause, cause);
  t.equal(wrapped.code, 'IO');
});

t.test('CorruptionError locates the damage', async (t) => {
  const err = new CorruptionError('/data/0000000001.data', 4242, 'bad crc');
  t.ok(err instanceof BitraftError);
  t.ok(err instanceof CorruptionError);
  t.equal(err.code, 'CORRUPT');
  t.equal(err.name, 'CorruptionError');
  t.equal(err.file, '/data/0000000001.data');
  t.equal(err.offset, 4242);
  t.ok(hasCode(err, 'CORRUPT'));
});

t.test('LockedError names the directory and the holder', async (t) => {
  const err = new LockedError('/data', 1234);
  t.ok(err instanceof BitraftError);
  t.ok(err instanceof LockedError);
  t.equal(err.code, 'LOCKED');
  t.equal(err.name, 'LockedError');
  t.equal(err.dir, '/data');
  t.equal(err.pid, 1234);
});

t.test('LimitError for keys and values', async (t) => {
  const k = new LimitError('KEY_TOO_LARGE', 2000, 1024);
  t.ok(k instanceof BitraftError);
  t.equal(k.code, 'KEY_TOO_LARGE');
  t.equal(k.name, 'LimitError');
  t.equal(k.actual, 2000);
  t.equal(k.limit, 1024);
  const v = new LimitError('VALUE_TOO_LARGE', 7, 6);
  t.equal(v.code, 'VALUE_TOO_LARGE');
  t.equal(v.actual, 7);
  t.equal(v.limit, 6);
  // The two kinds must not read the same, whatever the exact words are.
  t.not(new LimitError('KEY_TOO_LARGE', 7, 6).message, v.message);
});

t.test('hasCode matches only BitraftErrors with that exact code', async (t) => {
  for (const code of ALL_CODES) {
    const err = new BitraftError(code, 'x');
    t.equal(hasCode(err, code), true, `${code} matches itself`);
    for (const other of ALL_CODES) if (other !== code) t.equal(hasCode(err, other), false);
  }
  t.equal(hasCode(new LockedError('/d', 1), 'LOCKED'), true);
  t.equal(hasCode(new LockedError('/d', 1), 'CORRUPT'), false);
  // Look-alikes are not BitraftErrors.
  t.equal(hasCode(Object.assign(new Error('x'), { code: 'LOCKED' }), 'LOCKED'), false);
  t.equal(hasCode({ code: 'LOCKED' }, 'LOCKED'), false);
  t.equal(hasCode(undefined, 'LOCKED'), false);
  t.equal(hasCode(null, 'LOCKED'), false);
  t.equal(hasCode('LOCKED', 'LOCKED'), false);
});
