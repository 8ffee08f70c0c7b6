import t from 'tap';
import { SortedKeysBuild } from '../../../src/core/bitcask/sorted-keys-build.js';
import { seededRng } from '../../../src/core/support/rng.js';

/** Runs a build to the end with `budget`, counting the steps. */
function finish(build: SortedKeysBuild, budget: number): { keys: string[]; steps: number } {
  for (let steps = 1; ; steps++) {
    const keys = build.step(budget);
    if (keys) return { keys, steps };
  }
}

const codeUnitSort = (keys: string[]): string[] => [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

t.test('no slots: an empty list at the first step, and again after', async (t) => {
  const build = new SortedKeysBuild(0, () => 'x');
  t.same(build.step(10), []);
  t.same(build.step(10), []);
});

t.test('free slots are skipped', async (t) => {
  const slots = ['b', undefined, 'a', undefined, 'c'];
  const { keys } = finish(new SortedKeysBuild(slots.length, (s) => slots[s]), 2);
  t.same(keys, ['a', 'b', 'c']);
  t.same(finish(new SortedKeysBuild(4, () => undefined), 1).keys, [], 'only free slots');
  const one = ['x', undefined, undefined];
  t.same(finish(new SortedKeysBuild(3, (s) => one[s]), 1).keys, ['x'], 'one run: nothing to merge');
});

t.test('random keys in random slots, for budgets from 1 to all at once', async (t) => {
  const rng = seededRng(7);
  for (const n of [1, 2, 3, 17, 500, 2000]) {
    const slots = Array.from({ length: n }, () => (rng.int(5) === 0 ? undefined : Buffer.from([rng.int(256), rng.int(256), rng.int(256)]).toString('latin1')));
    // Distinct keys, as a key table holds them.
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      if (slots[i] !== undefined && seen.has(slots[i]!)) slots[i] = undefined;
      else if (slots[i] !== undefined) seen.add(slots[i]!);
    }
    const expected = codeUnitSort(slots.filter((s): s is string => s !== undefined));
    for (const budget of [0, 1, 7, 64, Infinity]) {
      const { keys, steps } = finish(new SortedKeysBuild(n, (s) => slots[s]), budget);
      t.same(keys, expected, `${n} slots, budget ${budget}`);
      if (budget === Infinity) t.ok(steps <= 2, 'without a budget: read all, then done');
    }
  }
});

t.test('a step is bounded: reading takes budget slots, merging budget keys', async (t) => {
  let reads = 0;
  const build = new SortedKeysBuild(100, (s) => {
    reads++;
    return String(1000 + s);
  });
  t.equal(build.step(10), undefined);
  t.equal(reads, 10, 'ten slots read');
  const { steps } = finish(build, 10);
  // 9 more reads; then merging the 10 runs of 10 moves 100 keys, at most 10 a step.
  t.ok(steps >= 9 + 10, `${steps} more steps`);
  t.equal(reads, 100);
});

t.test('a key met twice (it moved to a slot read later) comes out once', async (t) => {
  const slots: (string | undefined)[] = ['m', 'a', undefined, 'z', undefined, undefined];
  const build = new SortedKeysBuild(slots.length, (s) => slots[s]);
  t.equal(build.step(2), undefined);
  // 'a' moves from slot 1 (read) to slot 4 (not yet), 'm' to slot 5.
  slots[1] = undefined;
  slots[4] = 'a';
  slots[0] = undefined;
  slots[5] = 'm';
  t.same(finish(build, 1).keys, ['a', 'm', 'z']);
});
