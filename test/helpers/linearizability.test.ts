/**
 * Tests of the register linearizability checker (linearizability.ts) on known-good and
 * known-bad histories: sequential and concurrent operations, stale reads, values never
 * written, reads going back in time, writes with an unknown outcome, per-key checking,
 * and seeded random histories generated from a real register (always linearizable),
 * then corrupted (never).
 */
import t from 'tap';
import { seededRng } from '../../src/core/support/rng.js';
import { checkHistory, isLinearizable, type Operation } from './linearizability.js';

const w = (value: string, invoke: number, complete: number, key = 'k'): Operation => ({ key, kind: 'write', value, invoke, complete });
const r = (value: string | null, invoke: number, complete: number, key = 'k'): Operation => ({ key, kind: 'read', value, invoke, complete });

t.test('sequential histories', async (t) => {
  t.ok(isLinearizable([]), 'the empty history');
  t.ok(isLinearizable([r(null, 0, 1)]), 'reading an absent key');
  t.ok(isLinearizable([w('a', 0, 1), r('a', 2, 3), w('b', 4, 5), r('b', 6, 7)]));
  t.notOk(isLinearizable([w('a', 0, 1), r(null, 2, 3)]), 'a read after a completed write must see it');
  t.notOk(isLinearizable([w('a', 0, 1), w('b', 2, 3), r('a', 4, 5)]), 'a stale read');
  t.notOk(isLinearizable([r('x', 0, 1)]), 'a value nobody wrote');
  t.ok(isLinearizable([r('x', 0, 1)], 'x'), 'unless it is the initial value');
});

t.test('concurrent operations may take effect in either order', async (t) => {
  t.ok(isLinearizable([w('a', 0, 10), r(null, 1, 2)]), 'a read during a write may miss it');
  t.ok(isLinearizable([w('a', 0, 10), r('a', 1, 2)]), 'or see it');
  t.ok(isLinearizable([w('a', 0, 10), r('a', 1, 2), r('a', 3, 4)]));
  t.notOk(isLinearizable([w('a', 0, 10), r('a', 1, 2), r(null, 3, 4)]), 'once seen, a write cannot be unseen');
  t.ok(isLinearizable([w('a', 0, 5), w('b', 0, 5), r('a', 6, 7), r('a', 8, 9)]), 'concurrent writes: either may win');
  t.notOk(isLinearizable([w('a', 0, 5), w('b', 0, 5), r('a', 6, 7), r('b', 8, 9)]), 'but the winner does not change afterwards');
  t.ok(isLinearizable([w('a', 0, 5), w('b', 0, 5), r('b', 1, 2), r('a', 3, 4)]), 'reads during both writes may see b then a');
});

t.test('writes with an unknown outcome may or may not have happened', async (t) => {
  const lost = w('a', 0, Infinity);
  t.ok(isLinearizable([lost, r(null, 5, 6)]), 'never applied');
  t.ok(isLinearizable([lost, r('a', 5, 6)]), 'applied');
  t.ok(isLinearizable([lost, r(null, 5, 6), r('a', 7, 8)]), 'applied late');
  t.notOk(isLinearizable([lost, r('a', 5, 6), r(null, 7, 8)]), 'but not un-applied');
  t.notOk(isLinearizable([w('a', 0, Infinity), w('b', 1, 2), r('a', 3, 4), r('b', 5, 6)]), 'and only once');
});

t.test('equal times: a call at the moment of a return counts as concurrent with it', async (t) => {
  t.ok(isLinearizable([w('a', 0, 5), r(null, 5, 6)]));
});

t.test('checkHistory checks each key on its own and names the first bad key', async (t) => {
  t.same(checkHistory([w('1', 0, 1, 'x'), r('1', 2, 3, 'x'), w('2', 0, 1, 'y'), r('2', 2, 3, 'y')]), { ok: true });
  const bad = checkHistory([w('1', 0, 1, 'x'), r('1', 2, 3, 'x'), w('2', 0, 1, 'y'), r('1', 2, 3, 'y')]);
  t.match(bad, { ok: false, key: 'y', operations: 2, explanation: /"y"/ });
});

t.test('an operation completing before it starts is a RangeError', async (t) => {
  t.throws(() => isLinearizable([w('a', 5, 4)]), RangeError);
  t.throws(() => isLinearizable([w('a', Number.NaN, 4)]), RangeError);
});

/**
 * A history of `clients` clients on one register: each operation takes effect at a
 * random instant inside its [invoke, complete] window, applied in that order to a real
 * register, so the history is linearizable by construction.
 */
function randomHistory(seed: number, clients: number, perClient: number): Operation[] {
  const rng = seededRng(seed);
  const planned: { op: Operation; at: number }[] = [];
  for (let c = 0; c < clients; c++) {
    let time = rng.int(5);
    for (let i = 0; i < perClient; i++) {
      const invoke = time;
      const complete = invoke + 1 + rng.int(20);
      const at = invoke + rng.float() * (complete - invoke);
      const kind = rng.int(2) === 0 ? 'write' : 'read';
      planned.push({ op: { key: 'k', kind, value: kind === 'write' ? `c${c}-${i}` : null, invoke, complete }, at });
      time = complete + rng.int(5);
    }
  }
  planned.sort((a, b) => a.at - b.at);
  let register: string | null = null;
  for (const p of planned) {
    if (p.op.kind === 'write') register = p.op.value;
    else p.op.value = register;
  }
  return planned.map((p) => p.op);
}

t.test('random linearizable histories pass; a read of a value never written fails them', async (t) => {
  let failures = 0;
  let caught = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const history = randomHistory(seed, 4, 12);
    if (!isLinearizable(history)) failures++;
    const reads = history.filter((o) => o.kind === 'read');
    reads[seed % reads.length]!.value = 'never-written';
    if (!isLinearizable(history)) caught++;
  }
  t.equal(failures, 0, 'every history built from a real register passes');
  t.equal(caught, 60, 'every corrupted history fails');
});
