import net from 'node:net';
import t from 'tap';
import { RespServer } from '../../../src/core/server/server.js';
import { connectRaw } from './net-client.js';
import { makeServer, type ServerFixtureOptions } from './server-fixture.js';

/** A RespServer over the hand-built context, listening on 127.0.0.1:0, closed in teardown. */
async function start(t: Parameters<typeof makeServer>[0], opts: ServerFixtureOptions = {}) {
  const f = await makeServer(t, opts);
  const { port: _port, sessions: _sessions, ...ctx } = f.ctx;
  const server = new RespServer(ctx);
  const port = await server.listen('127.0.0.1', 0);
  let closed = false;
  t.teardown(async () => {
    if (!closed) await server.close();
  });
  return {
    f,
    server,
    port,
    close: async () => {
      closed = true;
      await server.close();
    },
  };
}

t.test('listens, answers, and reports the bound port and its clients', async (t) => {
  const { f, server, port } = await start(t);
  const { port: _p, sessions: _s, ...ctx } = f.ctx;
  t.equal(new RespServer(ctx).port, 0, 'no port before listening');
  t.ok(port > 0);
  t.equal(server.port, port);
  const c = await connectRaw(t, port);
  c.send('PING');
  c.send('CONFIG', 'GET', 'port');
  await c.until((s) => s.endsWith(`$${String(port).length}\r\n${port}\r\n`));
  t.equal(c.received(), `+PONG\r\n*2\r\n$4\r\nport\r\n$${String(port).length}\r\n${port}\r\n`);
  t.equal(server.clientCount, 1);
  t.equal(f.stats.connectionsReceived, 1);
  const d = await connectRaw(t, port);
  d.send('CLIENT', 'LIST');
  const list = await d.until((s) => /\n\r\n$/.test(s) && (s.match(/id=/g) ?? []).length === 2);
  t.match(list, /id=1 addr=127\.0\.0\.1:\d+ .*cmd=config/);
  t.match(list, /id=2 addr=127\.0\.0\.1:\d+ .*cmd=client/);
  c.socket.end();
  await c.untilClosed();
  for (let i = 0; i < 500 && server.clientCount > 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(server.clientCount, 1, 'a closed connection is forgotten');
});

t.test('past maxclients, Redis\'s error and the connection is closed', async (t) => {
  const { f, server, port } = await start(t, { config: { maxclients: 1 } });
  const first = await connectRaw(t, port);
  first.send('PING');
  await first.until((s) => s === '+PONG\r\n');
  const second = await connectRaw(t, port);
  await second.untilClosed();
  t.equal(second.received(), '-ERR max number of clients reached\r\n');
  t.equal(f.stats.rejectedConnections, 1);
  t.equal(f.stats.connectionsReceived, 2);
  t.equal(server.clientCount, 1);
  first.send('PING');
  await first.until((s) => s === '+PONG\r\n+PONG\r\n');
});

t.test('requirepass: sessions start unauthenticated', async (t) => {
  const { port } = await start(t, { config: { requirepass: 'pw' } });
  const c = await connectRaw(t, port);
  c.send('GET', 'k');
  c.send('AUTH', 'pw');
  c.send('GET', 'k');
  await c.until((s) => s.endsWith('$-1\r\n'));
  t.equal(c.received(), '-NOAUTH Authentication required.\r\n+OK\r\n$-1\r\n');
});

t.test('close() ends every connection and stops listening', async (t) => {
  const { server, port, close } = await start(t);
  const a = await connectRaw(t, port);
  const b = await connectRaw(t, port);
  a.send('PING');
  await a.until((s) => s === '+PONG\r\n');
  await close();
  await a.untilClosed();
  await b.untilClosed();
  t.equal(server.port, 0);
  await t.rejects(
    new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.on('error', reject);
    }),
    { code: 'ECONNREFUSED' },
  );
});

t.test('listen rejects when the address is taken', async (t) => {
  const { port } = await start(t);
  const f = await makeServer(t);
  const { port: _p, sessions: _s, ...ctx } = f.ctx;
  const other = new RespServer(ctx);
  await t.rejects(other.listen('127.0.0.1', port), { code: 'EADDRINUSE' });
});

t.test('server and client socket errors are logged', async (t) => {
  const { f, server, port } = await start(t);
  (server as unknown as { server: net.Server }).server.emit('error', new Error('accept failed'));
  t.match(f.logs.at(-1), / error server error: accept failed\n$/);
  const c = await connectRaw(t, port);
  c.send('PING');
  await c.until((s) => s === '+PONG\r\n');
  // An RST from the client makes the server's socket fail with ECONNRESET.
  c.socket.write('*2\r\n$4\r\nECHO\r\n$100000\r\n');
  await new Promise((r) => setTimeout(r, 20));
  c.socket.resetAndDestroy();
  for (let i = 0; i < 500 && !f.logs.some((l) => / debug client /.test(l)); i++) await new Promise((r) => setTimeout(r, 10));
  t.match(f.logs.find((l) => / debug client /.test(l)), /^\S+ debug client 127\.0\.0\.1:\d+: /);
});
