import net from 'node:net';
import { Gauge, Registry } from 'prom-client';
import t from 'tap';
import { serveMetrics, type MetricsEndpoint } from '../../../src/core/metrics/metrics-server.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';

function registryWith(value: () => number): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'test_gauge',
    help: 'a test gauge',
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
  return registry;
}

async function serve(t: { teardown(fn: () => Promise<void>): void }, registry: Registry, host = '127.0.0.1') {
  const logger = memoryLogger();
  const endpoint = await serveMetrics(registry, host, 0, logger);
  t.teardown(() => endpoint.close());
  return { endpoint, logger, url: (p: string) => `http://${host}:${endpoint.port}${p}` };
}

t.test('GET /metrics: the registry in the Prometheus text format; the bound port is logged', async (t) => {
  const { endpoint, logger, url } = await serve(t, registryWith(() => 42));
  t.ok(endpoint.port > 0);
  t.same(logger.lines, [`info: serving metrics on http://127.0.0.1:${endpoint.port}/metrics`]);
  const res = await fetch(url('/metrics'));
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.equal(await res.text(), '# HELP test_gauge a test gauge\n# TYPE test_gauge gauge\ntest_gauge 42\n');
  t.equal((await fetch(url('/metrics?x=1'))).status, 200, 'a query string is ignored');
});

t.test('other paths: 404; other methods: 405', async (t) => {
  const { url } = await serve(t, registryWith(() => 1));
  for (const p of ['/', '/metrics/', '/metricsx', '/favicon.ico']) {
    const res = await fetch(url(p));
    t.equal(res.status, 404, p);
    t.equal(await res.text(), 'not found: metrics are served at /metrics\n');
  }
  const post = await fetch(url('/metrics'), { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET');
});

t.test('a collection that fails answers 500 and is logged; the next scrape works', async (t) => {
  let fail = true;
  const { url, logger } = await serve(
    t,
    registryWith(() => {
      if (fail) throw new Error('boom');
      return 7;
    }),
  );
  const res = await fetch(url('/metrics'));
  t.equal(res.status, 500);
  t.equal(await res.text(), 'collecting the metrics failed: boom\n');
  t.match(logger.lines, ['info: serving metrics on', 'warn: metrics: collecting failed: boom']);
  fail = false;
  t.match(await (await fetch(url('/metrics'))).text(), /test_gauge 7/);
});

t.test('an address it cannot listen on: INVALID_ARGUMENT naming it', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as net.AddressInfo).port;
  const logger = memoryLogger();
  const err: unknown = await serveMetrics(new Registry(), '127.0.0.1', port, logger).catch((e: unknown) => e);
  t.type(err, BitraftError);
  t.equal((err as BitraftError).code, 'INVALID_ARGUMENT');
  t.match((err as Error).message, new RegExp(`^cannot serve metrics on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`));
  t.match(logger.lines, [/^warn: metrics endpoint: listen EADDRINUSE/]);
});

t.test('an IPv6 host is written in brackets', async (t) => {
  const logger = memoryLogger();
  let endpoint: MetricsEndpoint | undefined;
  try {
    endpoint = await serveMetrics(new Registry(), '::1', 0, logger);
  } catch (err) {
    // No IPv6 loopback here: the error names the address the same way.
    t.match((err as Error).message, /^cannot serve metrics on \[::1\]:0: /);
    return;
  }
  t.teardown(() => endpoint.close());
  t.same(logger.lines, [`info: serving metrics on http://[::1]:${endpoint.port}/metrics`]);
});

t.test('close() stops listening, drops kept-alive connections, and is idempotent', async (t) => {
  const logger = memoryLogger();
  const endpoint = await serveMetrics(registryWith(() => 1), '127.0.0.1', 0, logger);
  const socket = net.connect(endpoint.port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const first = endpoint.close();
  t.equal(endpoint.close(), first, 'a second close is the first');
  await first;
  await closed;
  t.pass('the kept-alive connection was closed');
  await t.rejects(fetch(`http://127.0.0.1:${endpoint.port}/metrics`), 'nothing listens any more');
});
