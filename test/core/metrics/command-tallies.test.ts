import t from 'tap';
import { LATENCY_BUCKETS } from '../../../src/core/metrics/buckets.js';
import { CommandTallies, CommandTally, UNKNOWN_COMMAND } from '../../../src/core/metrics/command-tallies.js';

t.test('the latency buckets run from 50 µs to 10 s, rising', async (t) => {
  t.equal(LATENCY_BUCKETS[0], 0.00005);
  t.equal(LATENCY_BUCKETS.at(-1), 10);
  t.ok(LATENCY_BUCKETS.every((b, i) => i === 0 || b > LATENCY_BUCKETS[i - 1]!));
});

t.test('a tally counts ok and error replies, adds up the seconds, and puts each in its bucket', async (t) => {
  const tally = new CommandTally('get');
  t.equal(tally.count, 0);
  tally.record(0.00001, false);
  tally.record(0.00005, false); // on a bound: that bucket
  tally.record(0.00006, true);
  tally.record(10, false);
  tally.record(11, true); // past the largest bound: the last slot
  t.equal(tally.ok, 3);
  t.equal(tally.errors, 2);
  t.equal(tally.count, 5);
  t.equal(tally.sum, 0.00001 + 0.00005 + 0.00006 + 10 + 11);
  const expected = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  expected[0] = 2;
  expected[1] = 1;
  expected[LATENCY_BUCKETS.length - 1] = 1;
  expected[LATENCY_BUCKETS.length] = 1;
  t.same([...tally.counts], expected);
});

t.test('known names have their own tally; every other name shares "unknown"', async (t) => {
  const tallies = new CommandTallies(['set', 'get']);
  t.equal(tallies.of('set').name, 'set');
  t.equal(tallies.of('set'), tallies.of('set'), 'one tally per name');
  t.not(tallies.of('set'), tallies.of('get'));
  t.equal(tallies.of('flushall').name, UNKNOWN_COMMAND);
  t.equal(tallies.of('flushall'), tallies.of('x'.repeat(100)), 'unknown names share one tally');
});

t.test('used() lists the tallies that recorded something, by name', async (t) => {
  const tallies = new CommandTallies(['set', 'get', 'del']);
  t.same(tallies.used(), []);
  tallies.of('set').record(0.001, false);
  tallies.of('nope').record(0.001, true);
  tallies.of('get').record(0.001, false);
  t.same(tallies.used().map((x) => x.name), ['get', 'set', 'unknown']);
});
