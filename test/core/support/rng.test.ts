import t from 'tap';
import { cryptoRng, seededRng, type Rng } from '../../../src/core/support/rng.js';

const draw = (r: Rng, n: number, bound: number): number[] => Array.from({ length: n }, () => r.int(bound));

t.test('seededRng is deterministic per seed', async (t) => {
  t.same(draw(seededRng(1), 100, 1_000_000), draw(seededRng(1), 100, 1_000_000));
  const a = seededRng(12345);
  const b = seededRng(12345);
  for (let i = 0; i < 100; i++) t.equal(a.float(), b.float());
  t.notSame(draw(seededRng(1), 20, 1_000_000), draw(seededRng(2), 20, 1_000_000), 'different seeds differ');
  // The seed is taken as an unsigned 32-bit number.
  t.same(draw(seededRng(-1), 20, 1000), draw(seededRng(0xffffffff), 20, 1000));
  t.same(draw(seededRng(2 ** 32 + 7), 20, 1000), draw(seededRng(7), 20, 1000));
  // A float and an int draw consume the same underlying step.
  const c = seededRng(99);
  const d = seededRng(99);
  c.float();
  d.int(10);
  t.equal(c.float(), d.float());
});

t.test('seededRng ranges', async (t) => {
  const r = seededRng(7);
  const seen = new Set<number>();
  let sum = 0;
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const f = r.float();
    if (!(f >= 0 && f < 1)) t.fail(`float out of range: ${f}`);
    sum += f;
    const n = r.int(6);
    if (!(Number.isInteger(n) && n >= 0 && n < 6)) t.fail(`int out of range: ${n}`);
    seen.add(n);
  }
  t.same([...seen].sort(), [0, 1, 2, 3, 4, 5], 'every value of a small range appears');
  const mean = sum / N;
  t.ok(mean > 0.45 && mean < 0.55, `mean of floats near 0.5 (${mean})`);
  t.equal(r.int(1), 0);
  for (let i = 0; i < 1000; i++) {
    const big = r.int(2 ** 32);
    if (!(Number.isInteger(big) && big >= 0 && big < 2 ** 32)) t.fail(`big int out of range: ${big}`);
  }
  t.pass('ranges hold');
});

t.test('cryptoRng ranges', async (t) => {
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const n = cryptoRng.int(4);
    if (!(Number.isInteger(n) && n >= 0 && n < 4)) t.fail(`int out of range: ${n}`);
    seen.add(n);
    const f = cryptoRng.float();
    if (!(f >= 0 && f < 1)) t.fail(`float out of range: ${f}`);
  }
  t.equal(seen.size, 4);
  const floats = new Set(Array.from({ length: 50 }, () => cryptoRng.float()));
  t.ok(floats.size > 40, 'floats vary');
});
