import { Registry } from 'prom-client';
import t from 'tap';
import { registerConnectionMetrics } from '../../../src/core/metrics/connection-metrics.js';
import { valueOf } from './exposition.js';

t.test('connected clients, connections received and rejected', async (t) => {
  const registry = new Registry();
  const c = { connected: 2, received: 9, rejected: 1 };
  registerConnectionMetrics(registry, () => c);
  let text = await registry.metrics();
  t.equal(valueOf(text, 'bitraft_connected_clients'), 2);
  t.equal(valueOf(text, 'bitraft_connections_received_total'), 9);
  t.equal(valueOf(text, 'bitraft_connections_rejected_total'), 1);
  c.connected = 0;
  c.received = 10;
  text = await registry.metrics();
  t.equal(valueOf(text, 'bitraft_connected_clients'), 0);
  t.equal(valueOf(text, 'bitraft_connections_received_total'), 10);
});
