import t from 'tap';
import { describeError } from '../../../src/core/cli/index.js';
import { BitraftError, LockedError } from '../../../src/core/support/errors.js';

t.test('domain errors are one line and exit 1', async (t) => {
  t.same(describeError(new LockedError('/d', 42)), { message: new LockedError('/d', 42).message, exit: 1 });
  t.same(describeError(new BitraftError('NOT_FOUND', 'no such thing')), { message: 'no such thing', exit: 1 });
});

t.test('operating-system errors a user can fix are one line too', async (t) => {
  for (const code of ['ENOENT', 'EACCES', 'EADDRINUSE', 'ENOSPC']) {
    const err = Object.assign(new Error(`${code}: something`), { code });
    t.same(describeError(err), { message: `${code}: something`, exit: 1 }, code);
  }
});

t.test('anything else is a bug and is rethrown with its stack', async (t) => {
  const bug = new TypeError('oops');
  t.throws(() => describeError(bug), bug);
  const odd = Object.assign(new Error('weird'), { code: 'EWEIRD' });
  t.throws(() => describeError(odd), odd);
  t.throws(() => describeError('a string'));
});
