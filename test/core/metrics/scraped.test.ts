import { Registry } from 'prom-client';
import t from 'tap';
import { counterFrom, gaugeFrom, gaugesFrom } from '../../../src/core/metrics/scraped.js';
import { valueOf } from './exposition.js';

t.test('a gauge is read at each scrape, from a sync or an async reading', async (t) => {
  const registry = new Registry();
  let n = 1;
  gaugeFrom(registry, 'g_sync', 'a sync gauge', () => n);
  gaugeFrom(registry, 'g_async', 'an async gauge', async () => n * 10);
  let text = await registry.metrics();
  t.match(text, /# HELP g_sync a sync gauge\n# TYPE g_sync gauge\n/);
  t.equal(valueOf(text, 'g_sync'), 1);
  t.equal(valueOf(text, 'g_async'), 10);
  n = 2;
  text = await registry.metrics();
  t.equal(valueOf(text, 'g_sync'), 2);
  t.equal(valueOf(text, 'g_async'), 20);
});

t.test('a reading that fails gives NaN, and the others are still read', async (t) => {
  const registry = new Registry();
  gaugeFrom(registry, 'g_bad', 'fails', () => {
    throw new Error('EIO');
  });
  gaugesFrom(registry, 'g_kinds', 'by kind', 'kind', { good: () => 3, bad: () => Promise.reject(new Error('EIO')) });
  const text = await registry.metrics();
  t.ok(Number.isNaN(valueOf(text, 'g_bad')), 'NaN');
  t.equal(valueOf(text, 'g_kinds{kind="good"}'), 3);
  t.ok(Number.isNaN(valueOf(text, 'g_kinds{kind="bad"}')));
});

t.test('a counter reports the total kept elsewhere, never adding scrapes up', async (t) => {
  const registry = new Registry();
  let total = 0;
  counterFrom(registry, 'c_total', 'a count kept elsewhere', () => total);
  t.equal(valueOf(await registry.metrics(), 'c_total'), 0);
  total = 5;
  t.equal(valueOf(await registry.metrics(), 'c_total'), 5);
  t.equal(valueOf(await registry.metrics(), 'c_total'), 5, 'a second scrape does not add it again');
  t.match(await registry.metrics(), /# TYPE c_total counter/);
});
