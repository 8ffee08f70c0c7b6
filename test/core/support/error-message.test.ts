import t from 'tap';
import { messageOf } from '../../../src/core/support/error-message.js';

t.test("an Error's message, anything else as a string", async (t) => {
  t.equal(messageOf(new RangeError('out of range')), 'out of range');
  t.equal(messageOf('plain text'), 'plain text');
  t.equal(messageOf(42), '42');
  t.equal(messageOf(undefined), 'undefined');
});
