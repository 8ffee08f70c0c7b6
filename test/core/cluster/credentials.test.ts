import t from 'tap';
import { handshakeOf } from '../../../src/core/cluster/credentials.js';

t.test('the cluster secret goes with RAFTAUTH, else the password with AUTH, else nothing', async (t) => {
  t.equal(handshakeOf(undefined), undefined);
  t.equal(handshakeOf({}), undefined);
  t.equal(handshakeOf({ tls: {} }), undefined, 'TLS alone sends nothing first');
  t.same(handshakeOf({ password: 'pw' }), ['AUTH', 'pw']);
  t.same(handshakeOf({ clusterSecret: 'cs' }), ['RAFTAUTH', 'cs']);
  t.same(handshakeOf({ password: 'pw', clusterSecret: 'cs' }), ['RAFTAUTH', 'cs'], 'RAFTAUTH also passes the password gate');
  t.same(handshakeOf({ password: '' }), ['AUTH', ''], 'an empty password is still a password');
});
