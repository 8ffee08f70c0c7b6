import { Registry } from 'prom-client';
import t from 'tap';
import { registerStoreMetrics } from '../../../src/core/metrics/store-metrics.js';
import { valueOf } from './exposition.js';

t.test('keys, live and dead bytes, and the bytes on disk by kind of file', async (t) => {
  const registry = new Registry();
  registerStoreMetrics(registry, {
    store: () => ({ keys: 3, liveBytes: 100, deadBytes: 40, dataBytes: 140 }),
    logBytes: () => 77,
    snapshotBytes: async () => 1234,
  });
  const text = await registry.metrics();
  t.equal(valueOf(text, 'bitraft_store_keys'), 3);
  t.equal(valueOf(text, 'bitraft_store_live_bytes'), 100);
  t.equal(valueOf(text, 'bitraft_store_dead_bytes'), 40);
  t.equal(valueOf(text, 'bitraft_disk_bytes{files="data"}'), 140);
  t.equal(valueOf(text, 'bitraft_disk_bytes{files="log"}'), 77);
  t.equal(valueOf(text, 'bitraft_disk_bytes{files="snapshots"}'), 1234);
});
