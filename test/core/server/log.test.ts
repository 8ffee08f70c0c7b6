import t from 'tap';
import { streamLogger } from '../../../src/core/server/index.js';

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info |warn |error) (.*)\n$/;

function capture(level: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const log = streamLogger(level, { write: (s: string) => lines.push(s) });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  return lines;
}

t.test('one line per event: ISO time, padded level, message', async (t) => {
  const before = Date.now();
  const lines = capture('debug');
  t.equal(lines.length, 4);
  const parsed = lines.map((l) => LINE.exec(l));
  t.ok(parsed.every(Boolean), JSON.stringify(lines));
  t.strictSame(parsed.map((m) => [m![2], m![3]]), [
    ['debug', 'd'],
    ['info ', 'i'],
    ['warn ', 'w'],
    ['error', 'e'],
  ]);
  const at = Date.parse(parsed[0]![1]!);
  t.ok(at >= before - 1000 && at <= Date.now() + 1000, 'the current time');
});

t.test('events below the level are dropped', async (t) => {
  const words = (level: Parameters<typeof capture>[0]) => capture(level).map((l) => l.slice(-2, -1));
  t.strictSame(words('debug'), ['d', 'i', 'w', 'e']);
  t.strictSame(words('info'), ['i', 'w', 'e']);
  t.strictSame(words('warn'), ['w', 'e']);
  t.strictSame(words('error'), ['e']);
});

t.test('messages are written as given', async (t) => {
  const lines: string[] = [];
  streamLogger('info', { write: (s: string) => lines.push(s) }).info('a: b ☃');
  t.match(lines[0], / info  a: b ☃\n$/);
});

t.test('stderr by default', async (t) => {
  const log = streamLogger('error');
  const written: string[] = [];
  const original = process.stderr.write;
  process.stderr.write = ((s: string) => {
    written.push(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    log.warn('not shown');
    log.error('shown on stderr');
  } finally {
    process.stderr.write = original;
  }
  t.equal(written.length, 1);
  t.match(written[0], / error shown on stderr\n$/);
});
