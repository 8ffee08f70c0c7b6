/**
 * Tests of remote-snapshot.ts: RAFTSNAPSHOT's reply is built from a stored snapshot and
 * read back by `parseSnapshotReply` (anything else is a PROTOCOL error); `requestSnapshot`
 * asks a fake node, with AUTH, and turns error replies and unreachable nodes into errors.
 */
import path from 'node:path';
import t from 'tap';
import { parseSnapshotReply, requestSnapshot, snapshotReply } from '../../../src/core/cluster/remote-snapshot.js';
import { arrayReply, bulkReply, intReply, ReplyWriter, type ArrayReply } from '../../../src/core/resp/index.js';
import type { StoredSnapshot } from '../../../src/core/snapshot/index.js';
import { freePort, HOST, startFakeNode } from '../../helpers/fake-node.js';

const stored: StoredSnapshot = {
  path: '/data/snapshots/3-40-1700000000000',
  statePath: '/data/snapshots/3-40-1700000000000/state.bin',
  meta: { id: '3-40-1700000000000', index: 40, term: 3, conf: { voters: ['a:1', 'b:2'], learners: [] }, size: 1234, crc: 'd1cqDnZCIg8=' },
};
const remote = { path: stored.path, id: stored.meta.id, index: 40, term: 3, size: 1234, crc: 'd1cqDnZCIg8=', voters: ['a:1', 'b:2'], learners: [] };

t.test('the reply round-trips; anything else is a protocol error', async (t) => {
  t.same(parseSnapshotReply(snapshotReply(stored), 'n'), remote);
  t.equal(parseSnapshotReply(snapshotReply({ ...stored, path: 'd1/snapshots/x' }), 'n').path, path.resolve('d1/snapshots/x'), 'the path is made absolute');
  t.same(parseSnapshotReply(snapshotReply({ ...stored, meta: { ...stored.meta, conf: { voters: ['a:1'], learners: ['c:3'] } } }), 'n').learners, ['c:3']);
  t.throws(() => parseSnapshotReply(intReply(1), 'n:1'), { code: 'PROTOCOL', message: /n:1 answered RAFTSNAPSHOT without "path"/ });
  t.throws(() => parseSnapshotReply(arrayReply([bulkReply('path')]), 'n'), { code: 'PROTOCOL' });
  t.throws(() => parseSnapshotReply(arrayReply([intReply(1), intReply(2)]), 'n'), { code: 'PROTOCOL' });
  const bad = arrayReply([...(snapshotReply(stored) as ArrayReply).items.slice(0, 4), bulkReply('index'), bulkReply('x')]);
  t.throws(() => parseSnapshotReply(bad, 'n'), { code: 'PROTOCOL', message: /bad "index": x/ });
});

t.test('index, term and size must be exact: digits of at most 2^53 - 1', async (t) => {
  const withField = (name: string, value: string): ArrayReply => {
    const items = [...(snapshotReply(stored) as ArrayReply).items];
    const at = items.findIndex((i) => i.type === 'bulk' && i.value.toString() === name);
    items[at + 1] = bulkReply(value);
    return arrayReply(items);
  };
  for (const name of ['index', 'term', 'size']) {
    t.equal(parseSnapshotReply(withField(name, '9007199254740991'), 'n')[name as 'index'], Number.MAX_SAFE_INTEGER, `${name}: 2^53 - 1`);
    t.equal(parseSnapshotReply(withField(name, '007'), 'n')[name as 'index'], 7, `${name}: leading zeros`);
    for (const v of ['99999999999999999999', '9007199254740992', '9007199254740993', '1e3', '-1', '1.5', ' 7', '']) {
      t.throws(() => parseSnapshotReply(withField(name, v), 'n'), { code: 'PROTOCOL', message: `n answered RAFTSNAPSHOT with a bad "${name}": ${v}` }, `${name}: ${JSON.stringify(v)}`);
    }
  }
});

t.test('requestSnapshot asks the node, with AUTH', async (t) => {
  const node = await startFakeNode(t, (args) => (args[0] === 'AUTH' ? '+OK\r\n' : new ReplyWriter().reply(snapshotReply(stored)).take().toString('latin1')));
  t.same(await requestSnapshot({ target: node.addr, credentials: { password: 'pw' }, timeoutMs: 2000 }), remote);
  t.same(node.commands, [['AUTH', 'pw'], ['RAFTSNAPSHOT']]);
  const refusing = await startFakeNode(t, () => '-ERR nothing was applied yet\r\n');
  await t.rejects(requestSnapshot({ target: refusing.addr, timeoutMs: 2000 }), { code: 'INVALID_ARGUMENT', message: `${refusing.addr} refused RAFTSNAPSHOT: ERR nothing was applied yet` });
  await t.rejects(requestSnapshot({ target: `${HOST}:${await freePort()}`, timeoutMs: 2000 }), { code: 'UNAVAILABLE' });
  const silent = await startFakeNode(t, () => undefined);
  await t.rejects(requestSnapshot({ target: silent.addr, timeoutMs: 100 }), { code: 'TIMEOUT' });
});
