/**
 * The simulated network of the Raft simulator: in-order delivery without faults, delays
 * and reordering, drop and duplicate rates (lost messages are reported), partitions,
 * isolation and healing, fault validation, and determinism per seed.
 */
import t from 'tap';
import { NO_FAULTS, SimNetwork } from '../../../../src/core/raft/sim/network.js';
import type { Message } from '../../../../src/core/raft/types.js';
import { seededRng, type Rng } from '../../../../src/core/support/rng.js';

const msg = (from: string, to: string, context = 0): Message => ({ type: 'heartbeat', from, to, term: 1, commit: 0, context });
const contexts = (ms: readonly Message[]): number[] => ms.map((m) => (m.type === 'heartbeat' ? m.context : -1));

/** An Rng that replays fixed floats and ints, to force each fault. */
function scripted(floats: number[], ints: number[] = []): Rng {
  return {
    float: () => floats.shift() ?? 0.99,
    int: (n) => Math.min(ints.shift() ?? 0, n - 1),
  };
}

t.test('without faults, messages arrive in the step they were sent, in send order', async (t) => {
  const net = new SimNetwork(seededRng(1));
  t.same(net.faults, NO_FAULTS);
  t.same(net.takeDue(), [], 'nothing queued');
  for (let i = 0; i < 5; i++) net.send(msg('a', 'b', i));
  t.equal(net.inFlight, 5);
  t.same(contexts(net.takeDue()), [0, 1, 2, 3, 4]);
  t.equal(net.inFlight, 0);
  t.same(net.takeLost(), []);
  t.same(net.stats, { sent: 5, delivered: 5, dropped: 0, duplicated: 0, partitioned: 0 });
});

t.test('delays hold messages back and reorder them', async (t) => {
  const net = new SimNetwork(scripted([], [2, 0, 1]), { maxDelay: 2 });
  net.send(msg('a', 'b', 0)); // due at 2
  net.send(msg('a', 'b', 1)); // due at 0
  net.send(msg('a', 'b', 2)); // due at 1
  t.same(contexts(net.takeDue()), [1]);
  net.advance();
  t.equal(net.now, 1);
  t.same(contexts(net.takeDue()), [2]);
  net.advance(5);
  t.equal(net.now, 6);
  t.same(contexts(net.takeDue()), [0]);
});

t.test('messages due together come out by delivery step, then send order', async (t) => {
  const net = new SimNetwork(scripted([], [3, 1, 1]), { maxDelay: 3 });
  net.send(msg('a', 'b', 0)); // due at 3
  net.send(msg('a', 'b', 1)); // due at 1
  net.send(msg('a', 'b', 2)); // due at 1
  net.advance(10);
  t.same(contexts(net.takeDue()), [1, 2, 0]);
});

t.test('the drop rate loses messages and reports them', async (t) => {
  const net = new SimNetwork(scripted([0.1, 0.9]), { dropRate: 0.5 });
  const lost = msg('a', 'b', 7);
  net.send(lost);
  net.send(msg('a', 'b', 8));
  t.same(contexts(net.takeDue()), [8]);
  t.same(net.takeLost(), [{ msg: lost, reason: 'dropped' }]);
  t.same(net.takeLost(), [], 'reported once');
  t.equal(net.stats.dropped, 1);
});

t.test('the duplicate rate delivers a message twice', async (t) => {
  // drop draw 0.9 (kept), duplicate draw 0.1 (copied).
  const net = new SimNetwork(scripted([0.9, 0.1]), { dropRate: 0.5, duplicateRate: 0.5 });
  net.send(msg('a', 'b', 3));
  t.same(contexts(net.takeDue()), [3, 3]);
  t.equal(net.stats.duplicated, 1);
});

t.test('partitions cut links between groups; unlisted nodes form one more group', async (t) => {
  const net = new SimNetwork(seededRng(2));
  net.partition(['a', 'b'], ['c']);
  t.ok(net.split);
  t.ok(net.connected('a', 'b'));
  t.notOk(net.connected('a', 'c'));
  t.notOk(net.connected('c', 'd'));
  t.ok(net.connected('d', 'e'), 'both unlisted');
  t.notOk(net.connected('a', 'd'));
  const cut = msg('a', 'c', 1);
  net.send(cut);
  net.send(msg('a', 'b', 2));
  t.same(contexts(net.takeDue()), [2]);
  t.same(net.takeLost(), [{ msg: cut, reason: 'partitioned' }]);
  t.equal(net.stats.partitioned, 1);
  // A new partition replaces the old one.
  net.partition(['a', 'c']);
  t.ok(net.connected('a', 'c'));
  t.notOk(net.connected('a', 'b'));
  net.heal();
  t.notOk(net.split);
  t.ok(net.connected('a', 'b'));
});

t.test('a link is judged when the message is due, not when it is sent', async (t) => {
  const net = new SimNetwork(scripted([], [1, 1]), { maxDelay: 1 });
  net.send(msg('a', 'b', 1));
  net.isolate('b');
  net.advance();
  t.same(net.takeDue(), [], 'cut by then');
  t.equal(net.takeLost().length, 1);
  net.send(msg('a', 'b', 2));
  net.heal();
  net.advance();
  t.same(contexts(net.takeDue()), [2], 'healed by then');
});

t.test('isolation cuts every link of a node and survives a new partition', async (t) => {
  const net = new SimNetwork(seededRng(3));
  net.isolate('a');
  t.ok(net.split);
  t.notOk(net.connected('a', 'b'));
  t.notOk(net.connected('b', 'a'));
  t.ok(net.connected('b', 'c'));
  net.partition(['a', 'b']);
  t.notOk(net.connected('a', 'b'), 'still isolated');
  net.heal();
  t.ok(net.connected('a', 'b'));
});

t.test('faults are validated and merged', async (t) => {
  const net = new SimNetwork(seededRng(4), { dropRate: 0.1 });
  net.setFaults({ maxDelay: 2 });
  t.same(net.faults, { dropRate: 0.1, duplicateRate: 0, maxDelay: 2 });
  t.throws(() => net.setFaults({ dropRate: 1.5 }), RangeError);
  t.throws(() => net.setFaults({ duplicateRate: -0.1 }), RangeError);
  t.throws(() => net.setFaults({ dropRate: Number.NaN }), RangeError);
  t.throws(() => net.setFaults({ maxDelay: 1.5 }), RangeError);
  t.throws(() => net.setFaults({ maxDelay: -1 }), RangeError);
  t.throws(() => new SimNetwork(seededRng(4), { duplicateRate: 2 }), RangeError);
  t.same(net.faults, { dropRate: 0.1, duplicateRate: 0, maxDelay: 2 }, 'a rejected change changes nothing');
});

t.test('the same seed gives the same deliveries', async (t) => {
  const run = (seed: number): string[] => {
    const net = new SimNetwork(seededRng(seed), { dropRate: 0.2, duplicateRate: 0.2, maxDelay: 3 });
    const out: string[] = [];
    for (let step = 0; step < 50; step++) {
      net.send(msg('a', 'b', step));
      net.advance();
      out.push(contexts(net.takeDue()).join(','));
    }
    out.push(`lost ${net.takeLost().length}`);
    return out;
  };
  t.same(run(9), run(9));
  t.notSame(run(9), run(10));
  const net = new SimNetwork(seededRng(11), { dropRate: 0.2, duplicateRate: 0.2, maxDelay: 3 });
  for (let i = 0; i < 1000; i++) net.send(msg('a', 'b', i));
  net.advance(3);
  const delivered = net.takeDue().length;
  const { dropped, duplicated } = net.stats;
  t.ok(dropped > 100 && dropped < 300, `about 20% dropped (${dropped})`);
  t.ok(duplicated > 100 && duplicated < 250, `about 20% of the rest duplicated (${duplicated})`);
  t.equal(delivered, 1000 - dropped + duplicated, 'everything else arrives within maxDelay');
});
