/**
 * Tests of src/core/raft/progress.ts (Progress): the initial state, the probe /
 * replicate / snapshot transitions and where each restarts `next`, the in-flight window
 * counted in messages and in bytes, acknowledgements (maybeUpdate) freeing the window,
 * and rejections (maybeDecrTo) including stale ones in every state.
 */
import t from 'tap';
import { Progress } from '../../../src/core/raft/progress.js';

/** The fields a test looks at, in one object. */
const view = (p: Progress): Record<string, unknown> => ({
  state: p.state,
  match: p.match,
  next: p.next,
  paused: p.paused,
  probeSent: p.probeSent,
  pendingSnapshot: p.pendingSnapshot,
  snapshotTicks: p.snapshotTicks,
});

/** A progress in `replicate` state matching up to `match`. */
function replicating(match: number, maxInflight = 3, maxBytes = 100): Progress {
  const p = new Progress(match + 1, maxInflight, maxBytes);
  p.maybeUpdate(match);
  p.becomeReplicate();
  return p;
}

t.test('a new progress probes from next', async (t) => {
  const p = new Progress(7, 4, 1000);
  t.same(view(p), { state: 'probe', match: 0, next: 7, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 });
  t.equal(p.recentActive, false);
});

t.test('probe: one append at a time', async (t) => {
  const p = new Progress(5, 4, 1000);
  p.sent(9, 40);
  t.same(view(p), { state: 'probe', match: 0, next: 5, paused: true, probeSent: true, pendingSnapshot: 0, snapshotTicks: 0 }, 'next does not move while probing');
  t.equal(p.maybeUpdate(0), false, 'no news');
  t.ok(p.paused, 'a stale acknowledgement does not end the probe');
  t.equal(p.maybeUpdate(4), true);
  t.same(view(p), { state: 'probe', match: 4, next: 5, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 });
  t.equal(p.maybeUpdate(4), false, 'the same index again is no news');
  t.equal(p.maybeUpdate(2), false);
  t.equal(p.match, 4, 'match never goes back');
  t.equal(p.maybeUpdate(8), true);
  t.same([p.match, p.next], [8, 9], 'next follows match');
});

t.test('maybeUpdate raises next even when match is not news', async (t) => {
  const p = new Progress(1, 4, 1000);
  p.maybeUpdate(5);
  p.next = 3;
  t.equal(p.maybeUpdate(5), false);
  t.equal(p.next, 6);
  t.equal(p.maybeUpdate(1), false);
  t.equal(p.next, 6, 'next is never lowered by an acknowledgement');
});

t.test('becomeReplicate and becomeProbe restart from match + 1', async (t) => {
  const p = new Progress(10, 4, 1000);
  p.maybeUpdate(3);
  t.equal(p.next, 10);
  p.sent(12, 1);
  p.becomeReplicate();
  t.same(view(p), { state: 'replicate', match: 3, next: 4, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 });
  p.sent(6, 1);
  p.sent(8, 1);
  t.equal(p.next, 9);
  p.snapshotTicks = 5;
  p.becomeProbe();
  t.same(view(p), { state: 'probe', match: 3, next: 4, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 });
  p.sent(8, 1);
  t.ok(p.paused);
  p.becomeProbe();
  t.notOk(p.paused, 'becoming probe again clears the outstanding probe');
});

t.test('replicate: the window by message count', async (t) => {
  const p = replicating(10, 3, 1000);
  t.same([p.state, p.next, p.paused], ['replicate', 11, false]);
  p.sent(12, 1);
  t.same([p.next, p.paused], [13, false], 'pipelined: next moves at once');
  p.sent(14, 1);
  t.notOk(p.paused);
  p.sent(15, 1);
  t.ok(p.paused, 'three in flight fill a window of three');
  t.equal(p.next, 16);
  t.equal(p.probeSent, false, 'sending in replicate is not a probe');

  t.equal(p.maybeUpdate(11), true, 'a partial acknowledgement');
  t.ok(p.paused, 'the append up to 12 is still in flight');
  t.equal(p.maybeUpdate(12), true);
  t.notOk(p.paused, 'one freed');
  p.sent(16, 1);
  t.ok(p.paused);
  t.equal(p.maybeUpdate(15), true, 'one acknowledgement frees every append it covers');
  t.notOk(p.paused);
  p.sent(17, 1);
  p.sent(18, 1);
  t.ok(p.paused, 'the append up to 16 is still counted');
  t.equal(p.maybeUpdate(12), false, 'stale');
  t.ok(p.paused);
  t.equal(p.maybeUpdate(100), true);
  t.notOk(p.paused);
  t.same([p.match, p.next], [100, 101]);
});

t.test('replicate: the window by bytes', async (t) => {
  const p = replicating(0, 100, 100);
  p.sent(1, 60);
  t.notOk(p.paused);
  p.sent(2, 39);
  t.notOk(p.paused, '99 bytes of 100');
  p.sent(3, 1);
  t.ok(p.paused, '100 bytes of 100');
  p.maybeUpdate(1);
  t.notOk(p.paused, '40 bytes left in flight');
  p.sent(4, 0);
  p.sent(5, 0);
  t.notOk(p.paused, 'empty appends add no bytes');
  p.sent(6, 100);
  t.ok(p.paused);
  p.maybeUpdate(5);
  t.ok(p.paused, '100 bytes still in flight');
  p.maybeUpdate(6);
  t.notOk(p.paused);
  p.sent(7, 500);
  t.ok(p.paused, 'a single append may exceed the window');
  p.becomeProbe();
  p.becomeReplicate();
  t.notOk(p.paused, 'a new replicate round starts with an empty window');
  t.equal(p.next, 7);
});

t.test('snapshot state', async (t) => {
  const p = replicating(4);
  p.sent(8, 10);
  p.becomeSnapshot(20);
  t.same(view(p), { state: 'snapshot', match: 4, next: 9, paused: true, probeSent: false, pendingSnapshot: 20, snapshotTicks: 0 });
  p.sent(9, 1);
  t.equal(p.next, 9, 'sending in snapshot state does not move next');
  t.ok(p.paused);
  p.snapshotTicks = 3;
  t.equal(p.maybeUpdate(10), true, 'acknowledgements still count');
  t.same([p.state, p.match, p.next, p.paused], ['snapshot', 10, 11, true]);
  p.becomeProbe();
  t.same(view(p), { state: 'probe', match: 10, next: 21, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 }, 'probe after the snapshot');

  const q = replicating(4);
  q.becomeSnapshot(20);
  q.maybeUpdate(30);
  q.becomeProbe();
  t.equal(q.next, 31, 'or after match, when that is further');

  const r = replicating(4);
  r.becomeSnapshot(20);
  r.maybeUpdate(20);
  r.becomeReplicate();
  t.same(view(r), { state: 'replicate', match: 20, next: 21, paused: false, probeSent: false, pendingSnapshot: 0, snapshotTicks: 0 });
});

t.test('maybeDecrTo in replicate', async (t) => {
  const p = replicating(5);
  p.sent(8, 1);
  p.sent(10, 1);
  t.equal(p.next, 11);
  t.equal(p.maybeDecrTo(5, 0), false, 'a rejection at or below match is stale');
  t.equal(p.maybeDecrTo(3, 0), false);
  t.equal(p.next, 11);
  t.equal(p.maybeDecrTo(8, 2), true);
  t.equal(p.next, 6, 'back to match + 1, whatever the hint');
  t.equal(p.state, 'replicate', 'the caller decides to probe');
  t.equal(p.match, 5);
});

t.test('maybeDecrTo in probe', async (t) => {
  const probe = (match: number, next: number): Progress => {
    const p = new Progress(next, 4, 1000);
    if (match > 0) p.maybeUpdate(match);
    p.next = next;
    p.sent(next, 1);
    return p;
  };

  {
    const p = probe(0, 10);
    t.equal(p.maybeDecrTo(8, 3), false, 'not the rejection of the last probe: stale');
    t.equal(p.maybeDecrTo(10, 3), false);
    t.same([p.next, p.probeSent], [10, true], 'a stale rejection changes nothing');
    t.equal(p.maybeDecrTo(9, 3), true);
    t.same([p.next, p.probeSent, p.paused], [4, false, false], 'the hint + 1');
  }
  {
    const p = probe(0, 10);
    t.equal(p.maybeDecrTo(9, 20), true);
    t.equal(p.next, 9, 'never beyond the rejected index');
  }
  {
    const p = probe(0, 10);
    t.equal(p.maybeDecrTo(9, 9), true);
    t.equal(p.next, 9, 'a hint at the rejected index itself');
  }
  {
    const p = probe(5, 10);
    t.equal(p.maybeDecrTo(9, 2), true);
    t.equal(p.next, 6, 'never below match + 1');
  }
  {
    const p = probe(0, 1);
    t.equal(p.maybeDecrTo(0, 0), true);
    t.equal(p.next, 1, 'never below 1');
  }
  {
    const p = probe(0, 1);
    t.equal(p.maybeDecrTo(0, -5), true);
    t.equal(p.next, 1, 'not even with a nonsensical hint');
  }
});

t.test('maybeDecrTo in snapshot state', async (t) => {
  const p = replicating(4);
  p.becomeSnapshot(20);
  t.equal(p.next, 5);
  t.equal(p.maybeDecrTo(7, 2), false, 'stale');
  t.same([p.state, p.next], ['snapshot', 5]);
  t.equal(p.maybeDecrTo(4, 2), true, 'the rejection of the append before the snapshot');
  t.same([p.state, p.next, p.paused], ['snapshot', 5, true], 'still waiting for the snapshot');
});
