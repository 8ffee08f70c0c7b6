import { PassThrough } from 'node:stream';
import t from 'tap';
import { startProgress } from '../../../src/core/cli/index.js';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string };
  let out = '';
  s.on('data', (d: Buffer) => {
    out += d.toString();
  });
  Object.assign(s, { isTTY, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, text: () => out });
  return s;
}

t.test('no output when the stream is not a terminal, or when disabled', async (t) => {
  for (const [tty, enabled] of [[false, true], [true, false]] as const) {
    const s = fakeStream(tty);
    const p = startProgress('working', enabled, s);
    p.update('still working');
    p.succeed('done');
    p.fail('failed');
    await new Promise((r) => setImmediate(r));
    t.equal(s.text(), '', `tty=${tty} enabled=${enabled}`);
  }
});

t.test('a spinner on a terminal, ending with the final text', async (t) => {
  const s = fakeStream(true);
  const p = startProgress('working', true, s);
  p.update('halfway');
  p.succeed('all done');
  const q = startProgress('again', true, s);
  q.fail('it broke');
  await new Promise((r) => setImmediate(r));
  t.match(s.text(), /all done/);
  t.match(s.text(), /it broke/);
});
