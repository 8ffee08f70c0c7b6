/**
 * The simulator's safety checker on hand-made histories: a consistent history passes,
 * and every invariant — election safety (two leaders in a term, a term going back, a
 * changed vote), log matching (same index and term with other content, or another
 * previous term), leader completeness (a leader missing or overwriting a committed
 * entry), state machine safety (a gap, a repeat, two contents for one index, an
 * acknowledgement that disagrees), applied prefix (diverging state machines) and
 * linearizable reads (a read missing an earlier commit) — is shown to fail. A view that
 * throws becomes a `checker` violation instead of an exception.
 */
import t, { type Test } from 'tap';
import { InvariantChecker, sameBytes, showData, type HistoryEvent, type NodeView, type Violation } from '../../../../src/core/raft/sim/invariants.js';
import { MemoryStorage, type LogStorage } from '../../../../src/core/raft/storage.js';
import type { Entry, EntryType, Role } from '../../../../src/core/raft/types.js';

const CONF = { voters: ['a', 'b', 'c'], learners: [] };
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `v${index}`, type: EntryType = 'command'): Entry => ({ index, term, type, data: bytes(data) });

/** A node as the checker sees it, with a storage the test writes directly. */
class FakeNode {
  readonly storage = new MemoryStorage(CONF);
  applied: { index: number; data: Uint8Array }[] = [];
  live: { role: Role; term: number } | undefined = { role: 'follower', term: 0 };
  constructor(readonly id: string) {}
  view(): NodeView {
    return { id: this.id, live: this.live, storage: this.storage, applied: this.applied };
  }
  log(...entries: Entry[]): this {
    this.storage.append(entries);
    return this;
  }
  lead(term: number): this {
    this.live = { role: 'leader', term };
    return this;
  }
}

const apply = (node: string, e: Entry): HistoryEvent => ({ kind: 'apply', node, entry: e });

function expectViolation(t: Test, v: Violation | undefined, invariant: Violation['invariant'], pattern: RegExp): void {
  t.ok(v, `a ${invariant} violation is reported`);
  t.equal(v?.invariant, invariant);
  t.match(v?.message, pattern);
}

t.test('a consistent history passes every check, step after step', async (t) => {
  const chk = new InvariantChecker();
  const [a, b, c] = [new FakeNode('a'), new FakeNode('b'), new FakeNode('c')];
  const views = (): NodeView[] => [a.view(), b.view(), c.view()];
  t.equal(chk.check(views()), undefined, 'empty cluster');
  // a leads term 1 and replicates two entries to b.
  a.lead(1).log(entry(1, 1, '', 'noop'), entry(2, 1));
  a.storage.setHardState({ term: 1, vote: 'a', commit: 0 });
  b.storage.setHardState({ term: 1, vote: 'a', commit: 0 });
  b.log(entry(1, 1, '', 'noop'), entry(2, 1));
  t.equal(chk.check(views()), undefined);
  // Both apply; a acknowledges the proposal; a read starts after that.
  a.applied.push({ index: 2, data: bytes('v2') });
  b.applied.push({ index: 2, data: bytes('v2') });
  const ev: HistoryEvent[] = [
    apply('a', entry(1, 1, '', 'noop')),
    apply('a', entry(2, 1)),
    { kind: 'acked', node: 'a', index: 2, term: 1, type: 'command', data: bytes('v2') },
    apply('b', entry(1, 1, '', 'noop')),
    apply('b', entry(2, 1)),
    { kind: 'read-start', node: 'a', key: 'r1' },
    { kind: 'read-ready', node: 'a', key: 'r1', index: 2 },
    { kind: 'read-ready', node: 'a', key: 'never-started', index: 0 },
  ];
  t.equal(chk.check(views(), ev), undefined);
  t.equal(chk.commitIndex, 2);
  // a compacts; c, far behind, installs a's snapshot and then applies the next entry.
  a.storage.compact(2, CONF);
  a.log(entry(3, 1));
  c.storage.applySnapshot({ index: 2, term: 1, conf: CONF });
  c.applied = a.applied.slice();
  c.log(entry(3, 1));
  t.equal(chk.check(views(), [{ kind: 'install', node: 'c', index: 2 }]), undefined);
  c.applied.push({ index: 3, data: bytes('v3') });
  t.equal(chk.check(views(), [apply('c', entry(3, 1))]), undefined);
  // a crashes; b wins term 2 holding every committed entry; the same leader is seen again.
  a.live = undefined;
  b.lead(2).log(entry(3, 1), entry(4, 2, '', 'noop'));
  b.storage.setHardState({ term: 2, vote: 'b', commit: 3 });
  t.equal(chk.check(views()), undefined);
  b.log(entry(5, 2));
  t.equal(chk.check(views()), undefined);
  // A stale leader of term 1 with an older log is not held to a commit of term 2.
  b.applied.push({ index: 3, data: bytes('v3') });
  t.equal(chk.check(views(), [apply('b', entry(3, 1)), apply('b', entry(4, 2, '', 'noop'))]), undefined);
  a.live = { role: 'leader', term: 1 };
  t.equal(chk.check(views()), undefined);
});

t.test('election safety', async (t) => {
  await t.test('two leaders in one term', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').lead(3);
    const b = new FakeNode('b');
    t.equal(chk.check([a.view(), b.view()]), undefined);
    a.live = { role: 'follower', term: 3 };
    b.lead(3);
    expectViolation(t, chk.check([a.view(), b.view()]), 'election-safety', /a and b were both leaders of term 3/);
  });
  await t.test('a persisted term going back', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    a.storage.setHardState({ term: 5, vote: '', commit: 0 });
    t.equal(chk.check([a.view()]), undefined);
    a.storage.setHardState({ term: 4, vote: '', commit: 0 });
    expectViolation(t, chk.check([a.view()]), 'election-safety', /a's persisted term went back from 5 to 4/);
  });
  await t.test('a vote changed within a term', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    a.storage.setHardState({ term: 2, vote: '', commit: 0 });
    t.equal(chk.check([a.view()]), undefined);
    a.storage.setHardState({ term: 2, vote: 'b', commit: 0 });
    t.equal(chk.check([a.view()]), undefined, 'a first vote in the term');
    a.storage.setHardState({ term: 2, vote: 'c', commit: 0 });
    expectViolation(t, chk.check([a.view()]), 'election-safety', /a voted for b and then for "c" in term 2/);
  });
  await t.test('a vote forgotten within a term', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    a.storage.setHardState({ term: 2, vote: 'b', commit: 0 });
    t.equal(chk.check([a.view()]), undefined);
    a.storage.setHardState({ term: 3, vote: '', commit: 0 });
    t.equal(chk.check([a.view()]), undefined, 'a new term clears the vote');
    a.storage.setHardState({ term: 3, vote: 'c', commit: 0 });
    t.equal(chk.check([a.view()]), undefined);
    a.storage.setHardState({ term: 3, vote: '', commit: 0 });
    expectViolation(t, chk.check([a.view()]), 'election-safety', /a voted for c and then for "" in term 3/);
  });
});

t.test('log matching', async (t) => {
  await t.test('same index and term, other content', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').log(entry(1, 1, 'x'), entry(2, 1, 'y'));
    const b = new FakeNode('b').log(entry(1, 1, 'z'), entry(2, 1, 'y'));
    expectViolation(t, chk.check([a.view(), b.view()]), 'log-matching', /a and b both hold index 1 of term 1, as command "x" and term 1 command "z"/);
  });
  await t.test('same index and term, other type', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').log(entry(1, 1, '', 'noop'));
    const b = new FakeNode('b').log(entry(1, 1, '', 'command'));
    expectViolation(t, chk.check([a.view(), b.view()]), 'log-matching', /both hold index 1 of term 1, as noop/);
  });
  await t.test('same entry, different entries before it', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').log(entry(1, 1, 'p'), entry(2, 1, 'q'), entry(3, 3, 'r'));
    const b = new FakeNode('b').log(entry(1, 1, 'p'), entry(2, 2, 'q'), entry(3, 3, 'r'));
    expectViolation(t, chk.check([a.view(), b.view()]), 'log-matching', /a and b both hold index 3 of term 3, but index 2 has term 1 on a and 2 on b/);
  });
  await t.test('behind a snapshot, the snapshot term counts as the previous term', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').log(entry(1, 1), entry(2, 1), entry(3, 2));
    const b = new FakeNode('b');
    b.storage.applySnapshot({ index: 2, term: 1, conf: CONF });
    b.log(entry(3, 2));
    t.equal(chk.check([a.view(), b.view()]), undefined);
    const c = new FakeNode('c');
    c.storage.applySnapshot({ index: 2, term: 2, conf: CONF });
    c.log(entry(3, 2));
    expectViolation(t, chk.check([a.view(), b.view(), c.view()]), 'log-matching', /index 2 has term 1 on a and 2 on c/);
  });
  await t.test('an entry rewritten in place on one node, later', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a').log(entry(1, 1, 'old'));
    t.equal(chk.check([a.view()]), undefined);
    a.log(entry(1, 1, 'new'));
    expectViolation(t, chk.check([a.view()]), 'log-matching', /a and a both hold index 1 of term 1/);
  });
  await t.test('a storage handing out an entry at the wrong position', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    const storage: LogStorage = Object.assign(Object.create(a.storage) as MemoryStorage, {
      lastIndex: () => 1,
      entries: () => [entry(7, 1)],
    });
    expectViolation(t, chk.check([{ ...a.view(), storage }]), 'log-matching', /a's log holds index 7 at position 1/);
  });
});

t.test('leader completeness', async (t) => {
  const committedAt1 = (): InvariantChecker => {
    const chk = new InvariantChecker();
    t.equal(chk.check([], [{ kind: 'acked', node: 'x', index: 1, term: 1, type: 'command', data: bytes('v1') }]), undefined);
    return chk;
  };
  await t.test('a later leader lacking a committed entry', async (t) => {
    const chk = committedAt1();
    const b = new FakeNode('b').lead(2);
    expectViolation(t, chk.check([b.view()]), 'leader-completeness', /b, leader of term 2, lacks committed index 1 \(its log ends at 0\)/);
  });
  await t.test('a later leader holding another term at a committed index', async (t) => {
    const chk = committedAt1();
    const b = new FakeNode('b').lead(2).log(entry(1, 2));
    expectViolation(t, chk.check([b.view()]), 'leader-completeness', /b, leader of term 2, holds term 2 at index 1, committed with term 1 \(acknowledged by x\)/);
  });
  await t.test('an entry committed after the leader was first checked', async (t) => {
    const chk = new InvariantChecker();
    const b = new FakeNode('b').lead(2);
    t.equal(chk.check([b.view()]), undefined);
    expectViolation(t, chk.check([b.view()], [apply('c', entry(1, 1))]), 'leader-completeness', /lacks committed index 1/);
  });
  await t.test('an index acknowledged before it is applied is checked once known', async (t) => {
    const chk = new InvariantChecker();
    const b = new FakeNode('b').lead(2).log(entry(1, 1), entry(2, 1));
    t.equal(chk.check([b.view()], [{ kind: 'acked', node: 'x', index: 2, term: 1, type: 'command', data: bytes('v2') }]), undefined);
    // Index 1 becomes known committed with a term b does not hold there.
    expectViolation(t, chk.check([b.view()], [apply('c', entry(1, 0, 'v1'))]), 'leader-completeness', /holds term 1 at index 1, committed with term 0/);
  });
  await t.test('a stale leader is not held to an entry committed once a higher term was seen', async (t) => {
    // n3 leads term 5 cut off from the others; n1, leader of term 6, commits n3's
    // predecessor's entry 19 of term 4, which n3 overwrote with its own of term 5.
    const chk = new InvariantChecker();
    const n3 = new FakeNode('n3').lead(5).log(...Array.from({ length: 18 }, (_, i) => entry(i + 1, 4)), entry(19, 5, '', 'noop'));
    const n1 = new FakeNode('n1').lead(6).log(...Array.from({ length: 18 }, (_, i) => entry(i + 1, 4)), entry(19, 4, 'promote'), entry(20, 6, '', 'noop'));
    t.equal(chk.check([n3.view(), n1.view()], [{ kind: 'acked', node: 'n1', index: 19, term: 4, type: 'command', data: bytes('promote') }]), undefined);
    // A leader of term 6 or above is held to it.
    const n2 = new FakeNode('n2').lead(7).log(entry(1, 4), entry(2, 4));
    n1.live = { role: 'follower', term: 7 };
    n3.live = { role: 'follower', term: 7 };
    expectViolation(t, chk.check([n3.view(), n1.view(), n2.view()]), 'leader-completeness', /n2, leader of term 7, lacks committed index 19 \(its log ends at 2\)/);
  });
  await t.test('entries compacted into the leader snapshot are not required', async (t) => {
    const chk = committedAt1();
    const b = new FakeNode('b').lead(2);
    b.storage.applySnapshot({ index: 1, term: 1, conf: CONF });
    t.equal(chk.check([b.view()]), undefined);
  });
});

t.test('state machine safety', async (t) => {
  await t.test('an apply skipping an index', async (t) => {
    const chk = new InvariantChecker();
    expectViolation(t, chk.check([], [apply('a', entry(1, 1)), apply('a', entry(3, 1))]), 'state-machine-safety', /a applied index 3 right after index 1/);
  });
  await t.test('an index applied twice', async (t) => {
    const chk = new InvariantChecker();
    expectViolation(t, chk.check([], [apply('a', entry(1, 1)), apply('a', entry(1, 1))]), 'state-machine-safety', /a applied index 1 right after index 1/);
  });
  await t.test('after an install, applies continue from the snapshot', async (t) => {
    const chk = new InvariantChecker();
    t.equal(chk.check([], [{ kind: 'install', node: 'a', index: 5 }, apply('a', entry(6, 2))]), undefined);
  });
  await t.test('two nodes applying different entries at one index', async (t) => {
    const chk = new InvariantChecker();
    expectViolation(
      t,
      chk.check([], [apply('a', entry(1, 1, 'x')), apply('b', entry(1, 1, 'y'))]),
      'state-machine-safety',
      /index 1 committed as term 1 command "x" \(applied by a\) but later as term 1 command "y" \(applied by b\)/,
    );
  });
  await t.test('a committed entry replaced by one of another term', async (t) => {
    const chk = new InvariantChecker();
    t.equal(chk.check([], [apply('a', entry(1, 1))]), undefined);
    expectViolation(t, chk.check([], [apply('b', entry(1, 2))]), 'state-machine-safety', /as term 1 command "v1" \(applied by a\) but later as term 2/);
  });
  await t.test('an acknowledgement that disagrees with what was applied', async (t) => {
    const chk = new InvariantChecker();
    expectViolation(
      t,
      chk.check([], [apply('a', entry(1, 1, '', 'noop')), { kind: 'acked', node: 'a', index: 1, term: 1, type: 'command', data: bytes('lost write') }]),
      'state-machine-safety',
      /committed as term 1 noop "" \(applied by a\) but later as term 1 command "lost write" \(acknowledged by a\)/,
    );
  });
});

t.test('applied prefix', async (t) => {
  await t.test('diverging state machines', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    const b = new FakeNode('b');
    a.applied = [{ index: 1, data: bytes('x') }, { index: 2, data: bytes('y') }];
    b.applied = [{ index: 1, data: bytes('x') }];
    t.equal(chk.check([a.view(), b.view()]), undefined, 'a prefix is fine');
    b.applied.push({ index: 2, data: bytes('z') });
    expectViolation(t, chk.check([a.view(), b.view()]), 'applied-prefix', /b's command #2 is index 2 "z", another node's is index 2 "y"/);
  });
  await t.test('the same command at another index', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    const b = new FakeNode('b');
    a.applied = [{ index: 1, data: bytes('x') }];
    b.applied = [{ index: 2, data: bytes('x') }];
    expectViolation(t, chk.check([a.view(), b.view()]), 'applied-prefix', /b's command #1 is index 2 "x", another node's is index 1 "x"/);
  });
  await t.test('a state machine replaced by a snapshot is checked again from the start', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    const b = new FakeNode('b');
    a.applied = [{ index: 1, data: bytes('x') }, { index: 2, data: bytes('y') }];
    b.applied = [{ index: 1, data: bytes('x') }];
    t.equal(chk.check([a.view(), b.view()]), undefined);
    b.applied = [{ index: 1, data: bytes('bad') }, { index: 2, data: bytes('y') }];
    expectViolation(t, chk.check([a.view(), b.view()]), 'applied-prefix', /b's command #1 is index 1 "bad"/);
  });
  await t.test('a state machine that shrank in place is checked again from the start', async (t) => {
    const chk = new InvariantChecker();
    const a = new FakeNode('a');
    a.applied = [{ index: 1, data: bytes('x') }, { index: 2, data: bytes('y') }];
    t.equal(chk.check([a.view()]), undefined);
    a.applied.length = 0;
    a.applied.push({ index: 1, data: bytes('w') });
    expectViolation(t, chk.check([a.view()]), 'applied-prefix', /a's command #1 is index 1 "w", another node's is index 1 "x"/);
  });
});

t.test('linearizable reads', async (t) => {
  await t.test('a read confirmed below a write acknowledged before it started', async (t) => {
    const chk = new InvariantChecker();
    const ev: HistoryEvent[] = [
      { kind: 'acked', node: 'a', index: 5, term: 1, type: 'command', data: bytes('w') },
      { kind: 'read-start', node: 'b', key: 'b#1:7' },
      { kind: 'read-ready', node: 'b', key: 'b#1:7', index: 4 },
    ];
    expectViolation(t, chk.check([], ev), 'linearizable-read', /read b#1:7 on b was confirmed at index 4, but index 5 was committed before it started/);
  });
  await t.test('a read confirmed below an entry applied anywhere before it started', async (t) => {
    const chk = new InvariantChecker();
    t.equal(chk.check([], [apply('c', entry(1, 1)), apply('c', entry(2, 1))]), undefined);
    t.equal(chk.check([], [{ kind: 'read-start', node: 'a', key: 'r' }]), undefined);
    expectViolation(t, chk.check([], [{ kind: 'read-ready', node: 'a', key: 'r', index: 1 }]), 'linearizable-read', /index 2 was committed before it started/);
  });
  await t.test('a write acknowledged after the read started does not count', async (t) => {
    const chk = new InvariantChecker();
    const ev: HistoryEvent[] = [
      { kind: 'read-start', node: 'b', key: 'r' },
      { kind: 'acked', node: 'a', index: 5, term: 1, type: 'command', data: bytes('w') },
      { kind: 'read-ready', node: 'b', key: 'r', index: 0 },
    ];
    t.equal(chk.check([], ev), undefined);
  });
});

t.test('a view that throws is reported, never thrown', async (t) => {
  const a = new FakeNode('a');
  const broken = (thrown: unknown): NodeView => ({
    ...a.view(),
    storage: Object.assign(Object.create(a.storage) as MemoryStorage, {
      firstIndex: () => {
        throw thrown;
      },
    }),
  });
  expectViolation(t, new InvariantChecker().check([broken(new Error('disk on fire'))]), 'checker', /could not check the cluster: disk on fire/);
  expectViolation(t, new InvariantChecker().check([broken('just a string')]), 'checker', /could not check the cluster: just a string/);
});

t.test('helpers', async (t) => {
  t.ok(sameBytes(bytes('ab'), bytes('ab')));
  t.notOk(sameBytes(bytes('ab'), bytes('abc')));
  t.notOk(sameBytes(bytes('ab'), bytes('ac')));
  t.equal(showData(bytes('short')), '"short"');
  t.equal(showData(bytes('x'.repeat(30))), `"${'x'.repeat(24)}…"`);
});
