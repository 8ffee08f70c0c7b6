/**
 * The history checks of the fault runs (history-check.ts): how client operations become
 * per-key register operations, the verdict-preserving rewrites of indeterminate writes,
 * and that lost writes, stale reads and resurrected deletes are caught.
 */
import t from 'tap';
import { checkKeys, finalValueProblems, keyOperations, linearizableIfFailedWritesCounted, prune } from './history-check.js';
import type { ClientOp } from './workload.js';

let clock = 0;
/** An operation on `keys` from `invoke` to `complete` (defaults: one after the last). */
function op(cmd: ClientOp['cmd'], keys: string[], value: string | null, outcome: ClientOp['outcome'] = 'ok', invoke = ++clock, complete = ++clock): ClientOp {
  return { client: 0, node: 'n0', cmd, keys, value, invoke, complete, outcome };
}

t.test('keyOperations: per key, failed operations left out, indeterminate writes open-ended', async (t) => {
  const ops = keyOperations([op('mset', ['a', 'b'], 'v1'), op('set', ['a'], 'v2', 'failed'), op('set', ['b'], 'v3', 'indeterminate'), op('get', ['a'], null, 'failed'), op('del', ['a'], null)]);
  t.same(
    ops.get('a')!.map((o) => [o.kind, o.value, o.complete === Infinity]),
    [
      ['write', 'v1', false],
      ['write', null, false],
    ],
  );
  t.same(
    ops.get('b')!.map((o) => [o.kind, o.value, o.complete === Infinity]),
    [
      ['write', 'v1', false],
      ['write', 'v3', true],
    ],
  );
});

t.test('prune drops indeterminate writes nobody read and bounds the ones that were read', async (t) => {
  const ops = keyOperations([
    op('set', ['a'], 'unread', 'indeterminate', 1, 2),
    op('set', ['a'], 'read', 'indeterminate', 3, 4),
    op('get', ['a'], 'read', 'ok', 10, 20),
    op('get', ['a'], 'read', 'ok', 5, 8),
    op('del', ['a'], null, 'indeterminate', 30, 31),
  ]).get('a')!;
  const pruned = prune(ops);
  t.same(
    pruned.map((o) => [o.kind, o.value, o.complete]),
    [
      ['write', 'read', 8],
      ['read', 'read', 20],
      ['read', 'read', 8],
      ['write', null, Infinity],
    ],
  );
});

t.test('checkKeys accepts a correct history with indeterminate writes, and names the bad keys', async (t) => {
  clock = 0;
  const good = [op('set', ['a'], 'x'), op('set', ['a'], 'y', 'indeterminate'), op('get', ['a'], 'y'), op('del', ['a'], null), op('get', ['a'], null), op('set', ['b'], 'z', 'indeterminate'), op('get', ['b'], null)];
  t.same(checkKeys(keyOperations(good)), { checked: 6, dropped: 1, failedKeys: [] });

  clock = 0;
  // A lost acknowledged write: the final read shows the value before it.
  const lost = [op('set', ['a'], 'x'), op('set', ['a'], 'y'), op('get', ['a'], 'x')];
  // A resurrected delete.
  const resurrected = [op('set', ['b'], 'x'), op('del', ['b'], null), op('get', ['b'], 'x')];
  // The value of a write that failed definitely, read.
  const phantom = [op('set', ['c'], 'x', 'failed'), op('get', ['c'], 'x')];
  t.same(checkKeys(keyOperations([...lost, ...resurrected, ...phantom])).failedKeys, ['a', 'b', 'c']);
  t.equal(linearizableIfFailedWritesCounted(phantom, 'c'), true, 'the phantom read would be explained by the failed write');
  t.equal(linearizableIfFailedWritesCounted(lost, 'a'), false);
});

t.test('finalValueProblems: the end state is the value of a write that may have taken effect', async (t) => {
  const history = [op('set', ['a'], 'x'), op('set', ['a'], 'y', 'failed'), op('set', ['b'], 'z'), op('del', ['c'], null, 'indeterminate'), op('set', ['c'], 'w')];
  const problems = finalValueProblems(
    history,
    new Map<string, (string | null)[]>([
      ['a', ['x', 'y']],
      ['b', [null]],
      ['c', [null]],
      ['d', [null]],
    ]),
  );
  t.equal(problems.length, 3, problems.join('\n'));
  t.match(problems[0], /^a: final value "y" is not the value of a write that may have taken effect \(written by 1 definitely failed/);
  t.match(problems[1], /^a: nodes disagree/);
  t.match(problems[2], /^b: final value null/);
});
