import t from 'tap';
import { dialAddress, parsePeerRoutes } from '../../../src/core/cluster/credentials.js';

t.test('parsePeerRoutes: id=host:port pairs, normalised', async (t) => {
  t.equal(parsePeerRoutes(undefined), undefined);
  t.equal(parsePeerRoutes([]), undefined);
  t.same([...parsePeerRoutes(['127.0.0.1:4921=127.0.0.1:6001', '[::1]:5=007'])!], [
    ['127.0.0.1:4921', '127.0.0.1:6001'],
    ['[::1]:5', '127.0.0.1:7'],
  ]);
  t.throws(() => parsePeerRoutes(['127.0.0.1:1']), { code: 'INVALID_ARGUMENT', message: /expected <node id>=<host:port>/ });
  t.throws(() => parsePeerRoutes(['a:1=b:2', 'a:1=c:3']), { message: '--peer-route: a:1 is routed twice' });
  t.throws(() => parsePeerRoutes(['a:1=b:x']), { code: 'INVALID_ARGUMENT' });
});

t.test('dialAddress: the route when there is one, else the id itself', async (t) => {
  const routes = new Map([['10.0.0.1:4920', '127.0.0.1:6001']]);
  t.same(dialAddress('10.0.0.1:4920', { routes }), { host: '127.0.0.1', port: 6001 });
  t.same(dialAddress('10.0.0.2:4920', { routes }), { host: '10.0.0.2', port: 4920 });
  t.same(dialAddress('h:1', undefined), { host: 'h', port: 1 });
});
