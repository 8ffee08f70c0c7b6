/**
 * Tests of the follower's side of a snapshot transfer (snapshot-receiver.ts), driven by a
 * real SnapshotSender whose connection calls `receiveInstall` in process: the leader's
 * snapshot arrives whole and checked in the follower's store, and a broken stream
 * resumes where it stopped. RAFTINSTALL's syntax and argument errors become error replies.
 */
import path from 'node:path';
import t from 'tap';
import { INSTALL_SYNTAX, receiveInstall } from '../../../src/core/cluster/snapshot-receiver.js';
import { INSTALL_COMMAND, SnapshotSender, type InstallClient } from '../../../src/core/cluster/snapshot-sender.js';
import type { NodeId, SnapshotMessage } from '../../../src/core/raft/types.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { encodeSnapshotMeta, IncomingSnapshots, SnapshotStore, type StateRecord, type StoredSnapshot } from '../../../src/core/snapshot/index.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

type Teardown = { teardown(fn: () => void): void };
const CONF = { voters: ['a:1', 'b:2'], learners: [] };

async function* records(n: number): AsyncGenerator<StateRecord[]> {
  for (let i = 0; i < n; i++) yield [{ key: Buffer.from(`key-${i}`), value: Buffer.alloc(i % 300, i & 0xff) }];
}

async function leaderSnapshot(t: Teardown): Promise<StoredSnapshot> {
  const store = new SnapshotStore(path.join(tmpDir(t), 'leader'), { retain: 2, logger: memoryLogger() });
  return store.create({ index: 500, term: 4, conf: CONF }, records(2000));
}

function followerStore(t: Teardown): { store: SnapshotStore; incoming: IncomingSnapshots } {
  const store = new SnapshotStore(path.join(tmpDir(t), 'follower'), { retain: 2, logger: memoryLogger() });
  const incoming = new IncomingSnapshots(store);
  t.teardown(() => void incoming.close());
  return { store, incoming };
}

const args = (...a: (string | Buffer)[]): Buffer[] => a.map((x) => (typeof x === 'string' ? Buffer.from(x) : x));
const offer: SnapshotMessage = { type: 'snapshot', from: 'a:1', to: 'b:2', term: 7, snapshot: { index: 1, term: 1, conf: CONF } };

/** Streams `snap` to `incoming` in process; `breakAfter` chunks makes the connection fail once. */
async function transfer(snap: StoredSnapshot, incoming: IncomingSnapshots, breakAfter = Infinity): Promise<{ ok: boolean; sent: SnapshotMessage[]; chunks: string[] }> {
  const sent: SnapshotMessage[] = [];
  const chunks: string[] = [];
  let budget = breakAfter;
  const connect = (): InstallClient => ({
    call: async (a: readonly (Buffer | string)[]): Promise<Reply> => {
      const buf = args(...a);
      if (buf[1]!.toString() === 'CHUNK') {
        if (budget-- <= 0) throw new BitraftError('UNAVAILABLE', 'connection broke');
        chunks.push(buf[3]!.toString());
      }
      return receiveInstall(incoming, buf);
    },
    close: () => {},
  });
  return new Promise((resolve) => {
    const sender = new SnapshotSender({
      newest: () => Promise.resolve(snap),
      send: (m) => sent.push(m),
      report: (_to: NodeId, ok: boolean) => resolve({ ok, sent, chunks }),
      connect,
      logger: memoryLogger(),
      chunkBytes: 4096,
    });
    sender.offer(offer);
  });
}

t.test("the leader's snapshot arrives whole and checked; a broken stream resumes", async (t) => {
  const snap = await leaderSnapshot(t);
  t.ok(snap.meta.size > 3 * 4096, 'several chunks');
  const { store, incoming } = followerStore(t);
  const broken = await transfer(snap, incoming, 2);
  t.equal(broken.ok, false, 'the first stream broke');
  t.same(store.list(), []);
  const resumed = await transfer(snap, incoming);
  t.equal(resumed.ok, true);
  t.equal(resumed.chunks[0], String(2 * 4096), 'resumed after the two chunks that arrived');
  const got = store.find(500, 4)!;
  t.same(got.meta, snap.meta);
  await store.verify(got);
  t.same(resumed.sent, [{ ...offer, snapshot: { index: 500, term: 4, conf: CONF } }]);
});

t.test('RAFTINSTALL answers errors for bad input', async (t) => {
  const snap = await leaderSnapshot(t);
  const { incoming } = followerStore(t);
  const run = (...a: string[]): Promise<Reply> => receiveInstall(incoming, args(INSTALL_COMMAND, ...a));
  t.same(await receiveInstall(incoming, args(INSTALL_COMMAND)), INSTALL_SYNTAX);
  t.same(await run('NOPE'), INSTALL_SYNTAX);
  t.same(await run('BEGIN'), INSTALL_SYNTAX, 'BEGIN without meta');
  t.same(await run('END'), INSTALL_SYNTAX);
  t.same(await run('CHUNK', snap.meta.id, '0'), INSTALL_SYNTAX);
  t.match(await run('BEGIN', '{"not":"meta"}'), { type: 'error', text: /^ERR / });
  t.same(await run('begin', encodeSnapshotMeta(snap.meta)), { type: 'integer', value: 0 }, 'subcommands in any case');
  t.same(await run('CHUNK', snap.meta.id, '-1', 'x'), { type: 'error', text: 'ERR invalid offset' });
  t.match(await run('CHUNK', snap.meta.id, '5', 'x'), { type: 'error', text: /offset/ }, 'not where the file ends');
  t.match(await run('CHUNK', 'no-such-id', '0', 'x'), { type: 'error' });
  t.match(await run('END', snap.meta.id), { type: 'error' }, 'END before every byte arrived');
});
