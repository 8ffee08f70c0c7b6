/**
 * Tests of SnapshotSender (snapshot-sender.ts) against fake followers on 127.0.0.1 that
 * speak RAFTINSTALL: the snapshot goes in chunks from the offset BEGIN answered (a
 * resume), then END, then the snapshot message with the streamed snapshot's meta, and
 * the core hears success; refusals, unreachable followers, a missing or short file and
 * `close()` are reported as failures; one stream per follower at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { INSTALL_CHUNK_BYTES, INSTALL_COMMAND, respInstallClient, SnapshotSender, type SnapshotSenderOptions } from '../../../src/core/cluster/snapshot-sender.js';
import type { NodeId, SnapshotMessage } from '../../../src/core/raft/types.js';
import { decodeSnapshotMeta, type StoredSnapshot } from '../../../src/core/snapshot/index.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { freePort, HOST, startFakeNode, type Respond } from '../../helpers/fake-node.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const DATA = Buffer.from(Array.from({ length: 50 }, (_, i) => i));

/** A stored snapshot whose state.bin holds `data`, and whose meta says `size`. */
function snapshotOf(dir: string, data = DATA, size = data.length): StoredSnapshot {
  const statePath = path.join(dir, 'state.bin');
  fs.writeFileSync(statePath, data);
  return {
    path: dir,
    statePath,
    meta: { id: '3-40-1700000000000', index: 40, term: 3, conf: { voters: ['a:1', 'b:2'], learners: ['c:3'] }, size, crc: 'AAAAAAAAAAA=' },
  };
}

/** A follower that keeps what it is sent; `held` bytes are there before BEGIN. */
function follower(held = 0): { received: Buffer; respond: Respond } {
  const state = { received: DATA.subarray(0, held) };
  return {
    get received() {
      return state.received;
    },
    respond: (args, _n, raw) => {
      if (args[0] !== INSTALL_COMMAND) return '-ERR unexpected\r\n';
      if (args[1] === 'BEGIN') {
        decodeSnapshotMeta(args[2]!, 'test');
        return `:${state.received.length}\r\n`;
      }
      if (args[1] === 'CHUNK') {
        if (Number(args[3]) !== state.received.length) return '-ERR offset\r\n';
        state.received = Buffer.concat([state.received, raw[4]!]);
        return `:${state.received.length}\r\n`;
      }
      return '+OK\r\n';
    },
  };
}

interface Harness {
  sender: SnapshotSender;
  sent: SnapshotMessage[];
  reports: [NodeId, boolean][];
  logger: ReturnType<typeof memoryLogger>;
  /** Resolves once the core heard how the next stream ended. */
  reported(): Promise<void>;
}

function harness(snapshot: () => Promise<StoredSnapshot>, more: Partial<SnapshotSenderOptions> = {}): Harness {
  const logger = memoryLogger();
  const sent: SnapshotMessage[] = [];
  const reports: [NodeId, boolean][] = [];
  let waiting: (() => void)[] = [];
  const sender = new SnapshotSender({
    newest: snapshot,
    send: (m) => sent.push(m),
    report: (to, ok) => {
      reports.push([to, ok]);
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
    logger,
    chunkBytes: 7,
    ...more,
  });
  return { sender, sent, reports, logger, reported: () => new Promise<void>((resolve) => waiting.push(resolve)) };
}

const offer = (to: string): SnapshotMessage => ({ type: 'snapshot', from: 'me:1', to, term: 9, snapshot: { index: 30, term: 2, conf: { voters: [], learners: [] } } });

t.test('streams the snapshot in chunks, then sends the message with its meta and reports success', async (t) => {
  const f = follower();
  const node = await startFakeNode(t, f.respond);
  const snap = snapshotOf(tmpDir(t));
  const h = harness(() => Promise.resolve(snap));
  const done = h.reported();
  h.sender.offer(offer(node.addr));
  t.same(h.sender.active, [node.addr]);
  h.sender.offer(offer(node.addr));
  await done;
  t.same(h.reports, [[node.addr, true]]);
  t.same(f.received, DATA, 'every byte arrived');
  const chunks = node.commands.filter((c) => c[1] === 'CHUNK');
  t.equal(chunks.length, Math.ceil(DATA.length / 7), 'in chunks of chunkBytes, one stream despite two offers');
  t.same(node.commands.at(-1), [INSTALL_COMMAND, 'END', snap.meta.id]);
  t.same(h.sent, [{ ...offer(node.addr), snapshot: { index: 40, term: 3, conf: snap.meta.conf } }], "the message carries the streamed snapshot's meta");
  t.match(h.logger.lines.join('\n'), /sending the snapshot 3-40-1700000000000 \(50 bytes\)/);
  t.same(h.sender.active, []);
});

t.test('resumes at the offset the follower already holds', async (t) => {
  const f = follower(21);
  const node = await startFakeNode(t, f.respond);
  const h = harness(() => Promise.resolve(snapshotOf(tmpDir(t))));
  const done = h.reported();
  h.sender.offer(offer(node.addr));
  await done;
  t.same(h.reports, [[node.addr, true]]);
  t.equal(node.commands.find((c) => c[1] === 'CHUNK')![3], '21', 'the first chunk starts at 21');
  t.same(f.received, DATA);
  t.match(h.logger.lines.join('\n'), /resuming the snapshot .* at byte 21 of 50/);
});

t.test('failures are reported, and the next offer streams again', async (t) => {
  const dir = tmpDir(t);
  await t.test('a refused chunk', async (t) => {
    const node = await startFakeNode(t, (args) => (args[1] === 'BEGIN' ? ':0\r\n' : '-ERR disk full\r\n'));
    const h = harness(() => Promise.resolve(snapshotOf(dir)));
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    await done;
    t.same(h.reports, [[node.addr, false]]);
    t.same(h.sent, [], 'no message without the data');
    t.match(h.logger.lines.join('\n'), /sending a snapshot to .* failed: the follower refused: ERR disk full/);
    const again = h.reported();
    h.sender.offer(offer(node.addr));
    await again;
    t.equal(h.reports.length, 2, 'offered again after a failure');
  });
  await t.test('an END that is not OK', async (t) => {
    const node = await startFakeNode(t, (args) => (args[1] === 'END' ? ':1\r\n' : follower().respond(args, 0, [])));
    const h = harness(() => Promise.resolve(snapshotOf(dir, Buffer.alloc(0))));
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    await done;
    t.same(h.reports, [[node.addr, false]]);
    t.match(h.logger.lines.join('\n'), /unexpected integer reply/);
  });
  await t.test('a follower that finds the CRC wrong makes the leader suspect its snapshot', async (t) => {
    const node = await startFakeNode(t, (args) => (args[1] === 'END' ? "-ERR the received snapshot's CRC-64 is x, but the leader's is y\r\n" : follower().respond(args, 0, [])));
    const suspects: StoredSnapshot[] = [];
    const snap = snapshotOf(dir, Buffer.alloc(0));
    const h = harness(() => Promise.resolve(snap), { suspect: (s) => suspects.push(s) });
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    await done;
    t.same(h.reports, [[node.addr, false]]);
    t.same(suspects, [snap]);
  });
  await t.test('a connection that cannot be made: the file is closed, the failure reported', async (t) => {
    const h = harness(() => Promise.resolve(snapshotOf(dir, Buffer.alloc(0))), {
      connect: () => {
        throw new Error('no route');
      },
    });
    const done = h.reported();
    h.sender.offer(offer(`${HOST}:1`));
    await done;
    t.same(h.reports, [[`${HOST}:1`, false]]);
    t.match(h.logger.lines.join('\n'), /no route/);
  });
  await t.test('closing the sender ends a stream that waits for its follower', async (t) => {
    const node = await startFakeNode(t, () => undefined);
    const h = harness(() => Promise.resolve(snapshotOf(dir, DATA)));
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    while (node.commands.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    h.sender.close();
    await done;
    t.same(h.reports, [[node.addr, false]]);
  });
  await t.test('a CRC failure with nobody to tell is only reported', async (t) => {
    const node = await startFakeNode(t, (args) => (args[1] === 'END' ? "-ERR the received snapshot's CRC-64 is x, but the leader's is y\r\n" : follower().respond(args, 0, [])));
    const h = harness(() => Promise.resolve(snapshotOf(dir, Buffer.alloc(0))));
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    await done;
    t.same(h.reports, [[node.addr, false]]);
    t.match(h.logger.lines.join('\n'), /CRC-64/);
  });
  await t.test('a state.bin shorter than its meta says', async (t) => {
    const f = follower();
    const node = await startFakeNode(t, f.respond);
    const h = harness(() => Promise.resolve(snapshotOf(dir, DATA, 80)));
    const done = h.reported();
    h.sender.offer(offer(node.addr));
    await done;
    t.same(h.reports, [[node.addr, false]]);
    t.match(h.logger.lines.join('\n'), /ended at byte 50 of 80/);
  });
  await t.test('no snapshot to send', async (t) => {
    const h = harness(() => Promise.reject(new Error('nothing applied')));
    const done = h.reported();
    h.sender.offer(offer(`${HOST}:1`));
    await done;
    t.same(h.reports, [[`${HOST}:1`, false]]);
  });
  await t.test('an unreachable follower', async (t) => {
    const port = await freePort();
    const h = harness(() => Promise.resolve(snapshotOf(dir)));
    const done = h.reported();
    h.sender.offer(offer(`${HOST}:${port}`));
    await done;
    t.same(h.reports, [[`${HOST}:${port}`, false]]);
  });
});

t.test('close() ends running streams as failures and ignores later offers', async (t) => {
  const node = await startFakeNode(t, () => undefined);
  const h = harness(() => Promise.resolve(snapshotOf(tmpDir(t))));
  const done = h.reported();
  h.sender.offer(offer(node.addr));
  while (node.commands.length === 0) await new Promise((r) => setTimeout(r, 5));
  h.sender.close();
  await done;
  t.same(h.reports, [[node.addr, false]]);
  h.sender.offer(offer(node.addr));
  t.same(h.sender.active, []);
  // Closing before the connection exists: the stream still fails.
  let release!: (s: StoredSnapshot) => void;
  const late = harness(() => new Promise<StoredSnapshot>((resolve) => (release = resolve)));
  const lateDone = late.reported();
  late.sender.offer(offer(node.addr));
  late.sender.close();
  release(snapshotOf(tmpDir(t)));
  await lateDone;
  t.same(late.reports, [[node.addr, false]]);
});

t.test('respInstallClient connects to the address a node id names', async (t) => {
  const node = await startFakeNode(t, () => '+PONG\r\n');
  const client = respInstallClient(node.addr, undefined, memoryLogger(), 1000);
  t.same(await client.call(['PING']), { type: 'simple', value: 'PONG' });
  client.close();
  t.equal(INSTALL_CHUNK_BYTES, 1 << 20);
});
