import t from 'tap';
import { memoryLogger, silentLogger } from '../../../src/core/support/logger.js';

t.test('silentLogger drops everything', async (t) => {
  t.equal(silentLogger.info('hello'), undefined);
  t.equal(silentLogger.warn('careful'), undefined);
});

t.test('memoryLogger keeps lines in order with their level', async (t) => {
  const log = memoryLogger();
  t.same(log.lines, []);
  log.info('opened store');
  log.warn('took over stale lock');
  log.info('');
  t.equal(log.lines.length, 3);
  t.match(log.lines[0], /^info: opened store$/);
  t.match(log.lines[1], /^warn: took over stale lock$/);
  t.match(log.lines[2], /^info: ?$/);
  const other = memoryLogger();
  other.warn('x');
  t.equal(log.lines.length, 3, 'loggers are independent');
  t.equal(other.lines.length, 1);
  t.match(other.lines[0], /^warn: x$/);
});
