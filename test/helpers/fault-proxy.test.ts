/**
 * The fault-injecting network of the fault runs (fault-proxy.ts, fault-network.ts),
 * against a local echo server: forwarding, blackholing on a cut (nothing delivered, not
 * even later), connections ended on cut and heal, and which links a partition cuts.
 */
import net from 'node:net';
import t, { type Test as Tap } from 'tap';
import { FaultNetwork } from './fault-network.js';
import { LinkProxy } from './fault-proxy.js';
import { HOST } from './processes.js';
import { sleep } from './server.js';

/** An echo server that also records every byte it received. */
async function echoServer(t: Tap): Promise<{ port: number; received: () => string }> {
  let received = '';
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      received += d.toString();
      s.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const addr = server.address() as net.AddressInfo;
  return { port: addr.port, received: () => received };
}

/** A client connection with what it received and whether it closed. */
async function dial(t: Tap, port: number): Promise<{ socket: net.Socket; data: () => string; closed: () => boolean }> {
  const socket = net.connect({ host: HOST, port });
  t.teardown(() => void socket.destroy());
  let data = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data: () => data, closed: () => closed };
}

async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

t.test('a link forwards, blackholes while cut and forwards again once healed', async (t) => {
  const echo = await echoServer(t);
  const link = new LinkProxy(echo.port);
  const port = await link.listen();
  t.teardown(() => link.close());
  t.equal(link.port, port);

  const a = await dial(t, port);
  a.socket.write('one');
  t.ok(await until(() => a.data() === 'one'), 'forwarded both ways');

  link.setCut(true);
  t.ok(link.isCut);
  t.ok(await until(a.closed), 'a forwarded connection ends when the link is cut');
  const b = await dial(t, port);
  b.socket.write('lost');
  await sleep(200);
  t.equal(b.data(), '', 'no reply while cut');
  t.notOk(b.closed(), 'the connection stays open, silent');

  link.setCut(false);
  t.ok(await until(b.closed), 'a blackholed connection ends when the link heals');
  const c = await dial(t, port);
  c.socket.write('two');
  t.ok(await until(() => c.data() === 'two'), 'new connections are forwarded again');
  t.equal(echo.received(), 'onetwo', 'bytes sent while cut never arrive');
  t.same(link.counts, { accepted: 3, forwarded: 2, blackholed: 1 });
});

t.test('a link to a closed port closes the connection', async (t) => {
  const link = new LinkProxy(1);
  await link.listen();
  t.teardown(() => link.close());
  const a = await dial(t, link.port);
  t.ok(await until(a.closed), 'closed when the target refuses');
});

t.test('a network cuts exactly the links between groups, both ways', async (t) => {
  const nodes = ['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003', '127.0.0.1:1004'].map((addr) => ({ addr, port: Number(addr.split(':')[1]) }));
  const [a, b, c, d] = nodes.map((n) => n.addr) as [string, string, string, string];
  const network = await FaultNetwork.start(t, nodes);
  const routes = network.routeArgs(a);
  t.equal(routes.length, 6, 'a route to each other node');
  t.match(routes.join(' '), new RegExp(`--peer-route ${b.replace(/\./g, '\\.')}=127\\.0\\.0\\.1:\\d+`));
  const matrix = (): string =>
    nodes
      .map((f) =>
        nodes
          .map((to) => (network.connected(f.addr, to.addr) ? '1' : '0'))
          .join(''),
      )
      .join(' ');
  t.equal(matrix(), '1111 1111 1111 1111');
  network.partition([[a], [b, c]]);
  t.equal(matrix(), '1001 0111 0111 1111', 'd is in no group and keeps its links');
  t.equal(network.current, `{${a}} | {${b},${c}}`);
  network.bridge([a], b, [c, d]);
  t.equal(matrix(), '1100 1111 0111 0111', 'b reaches both sides');
  network.heal();
  t.equal(matrix(), '1111 1111 1111 1111');
  t.equal(network.current, '');
  t.same(network.counts(), { accepted: 0, forwarded: 0, blackholed: 0 });
});
