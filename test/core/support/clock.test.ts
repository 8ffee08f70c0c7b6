import t from 'tap';
import { manualClock, systemClock } from '../../../src/core/support/clock.js';

t.test('systemClock reads Date.now', async (t) => {
  const before = Date.now();
  const now = systemClock.now();
  const after = Date.now();
  t.ok(Number.isInteger(now));
  t.ok(now >= before && now <= after, 'between two Date.now readings');
});

t.test('manualClock moves only when told', async (t) => {
  const c = manualClock();
  t.equal(c.now(), 0, 'starts at 0 by default');
  t.equal(c.now(), 0, 'does not move by itself');
  c.advance(1500);
  t.equal(c.now(), 1500);
  c.advance(1);
  t.equal(c.now(), 1501);
  c.advance(0);
  t.equal(c.now(), 1501);
  c.set(42);
  t.equal(c.now(), 42, 'set may move backwards');
  c.advance(8);
  t.equal(c.now(), 50);

  const d = manualClock(1_700_000_000_000);
  t.equal(d.now(), 1_700_000_000_000);
  d.advance(1000);
  t.equal(d.now(), 1_700_000_001_000);
  t.equal(c.now(), 50, 'clocks are independent');
});
