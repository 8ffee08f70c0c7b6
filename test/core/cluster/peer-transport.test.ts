/**
 * Tests of PeerTransport (peer-transport.ts) against fake peers on 127.0.0.1: the
 * messages of one send() for one peer arrive as one `RAFTMSG <batch>` that decodes to
 * the same messages; each peer gets its own connection, reused across sends; a node id
 * that is not an address is reported once and its messages dropped; AUTH goes first
 * when a password is set; after close() nothing is sent.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { PeerTransport, RAFT_MESSAGE_COMMAND } from '../../../src/core/cluster/peer-transport.js';
import { decodeMessages } from '../../../src/core/raft/message-codec.js';
import type { Message } from '../../../src/core/raft/types.js';
import { RequestParser } from '../../../src/core/resp/index.js';
import { memoryLogger } from '../../../src/core/support/logger.js';

const HOST = '127.0.0.1';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

interface FakePeer {
  /** `127.0.0.1:<port>`: the peer's node id. */
  id: string;
  /** Every command received, in order, across connections. */
  commands: Buffer[][];
  connections: number;
  closedConnections: number;
}

/** A Redis-protocol peer on 127.0.0.1 answering +OK to everything; closed in teardown. */
async function startPeer(t: Teardown): Promise<FakePeer> {
  const sockets = new Set<net.Socket>();
  const peer: FakePeer = { id: '', commands: [], connections: 0, closedConnections: 0 };
  const server = net.createServer((socket) => {
    peer.connections++;
    sockets.add(socket);
    const parser = new RequestParser();
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      peer.closedConnections++;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const cmd of parser.push(chunk)) {
        peer.commands.push(cmd.args);
        socket.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  peer.id = `${HOST}:${(server.address() as net.AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return peer;
}

function transport(t: Teardown, password?: string): { transport: PeerTransport; logger: ReturnType<typeof memoryLogger> } {
  const logger = memoryLogger();
  const tr = new PeerTransport({ logger, credentials: { password } });
  t.teardown(() => tr.close());
  return { transport: tr, logger };
}

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const names = (cmds: Buffer[][]): string[] => cmds.map((c) => c[0]!.toString('latin1'));

function heartbeat(to: string, commit: number): Message {
  return { type: 'heartbeat', from: 'me:1', to, term: 3, commit, context: 0 };
}

function append(to: string, data: number[]): Message {
  return {
    type: 'append',
    from: 'me:1',
    to,
    term: 3,
    prevIndex: 4,
    prevTerm: 2,
    commit: 4,
    entries: [
      { index: 5, term: 3, type: 'command', data: new Uint8Array(data) },
      { index: 6, term: 3, type: 'noop', data: new Uint8Array(0) },
    ],
  };
}

/** The messages of one RAFTMSG command. */
function batchOf(cmd: Buffer[]): Message[] {
  return decodeMessages(cmd[1]!);
}

t.test('the messages of one send for one peer arrive as one RAFTMSG batch', async (t) => {
  const peer = await startPeer(t);
  const { transport: tr, logger } = transport(t);
  const msgs: Message[] = [
    append(peer.id, [0, 0xff, 13, 10, 42]),
    heartbeat(peer.id, 4),
    { type: 'vote', from: 'me:1', to: peer.id, term: 4, pre: true, lastIndex: 6, lastTerm: 3, transfer: false },
  ];
  tr.send(msgs);
  await until(() => peer.commands.length === 1);
  const cmd = peer.commands[0]!;
  t.equal(RAFT_MESSAGE_COMMAND, 'RAFTMSG');
  t.equal(cmd.length, 2, 'the command and one blob');
  t.equal(cmd[0]!.toString(), RAFT_MESSAGE_COMMAND);
  t.strictSame(batchOf(cmd), msgs, 'the blob decodes to the same messages, in order');

  // A later send reuses the connection.
  tr.send([heartbeat(peer.id, 5)]);
  await until(() => peer.commands.length === 2);
  t.strictSame(batchOf(peer.commands[1]!), [heartbeat(peer.id, 5)]);
  t.equal(peer.connections, 1, 'one connection per peer');
  t.strictSame(logger.lines, []);
});

t.test('an empty send sends nothing', async (t) => {
  const peer = await startPeer(t);
  const { transport: tr } = transport(t);
  tr.send([]);
  await sleep(30);
  t.equal(peer.connections, 0);
});

t.test('messages to two peers go over two connections', async (t) => {
  const a = await startPeer(t);
  const b = await startPeer(t);
  const { transport: tr } = transport(t);
  tr.send([heartbeat(a.id, 1), heartbeat(b.id, 2), heartbeat(a.id, 3), append(b.id, [7])]);
  await until(() => a.commands.length === 1 && b.commands.length === 1);
  t.strictSame(batchOf(a.commands[0]!), [heartbeat(a.id, 1), heartbeat(a.id, 3)], 'a gets its two, in order');
  t.strictSame(batchOf(b.commands[0]!), [heartbeat(b.id, 2), append(b.id, [7])], 'b gets its two, in order');
  t.equal(a.connections, 1);
  t.equal(b.connections, 1);
  await sleep(20);
  t.equal(a.commands.length + b.commands.length, 2, 'nothing else');
});

t.test('a node id that is not an address is reported once and its messages dropped', async (t) => {
  const peer = await startPeer(t);
  const { transport: tr, logger } = transport(t);
  tr.send([heartbeat('node-b', 1), heartbeat(peer.id, 1)]);
  tr.send([heartbeat('node-b', 2)]);
  tr.send([heartbeat('node-b', 3), heartbeat(peer.id, 3)]);
  await until(() => peer.commands.length === 2);
  t.strictSame(logger.lines, ['warn: raft: cannot reach peer "node-b": not a host:port address'], 'warned once');
  t.strictSame(
    peer.commands.map((c) => batchOf(c)),
    [[heartbeat(peer.id, 1)], [heartbeat(peer.id, 3)]],
    'the other messages still go out',
  );
  tr.send([heartbeat('host:99999', 1)]);
  t.equal(logger.lines.length, 2, 'another bad id is reported too');
  t.match(logger.lines[1], /cannot reach peer "host:99999"/);
  tr.send([heartbeat('127.0.0.1:0', 1)]);
  t.match(logger.lines[2], /cannot reach peer "127\.0\.0\.1:0"/, 'port 0 is no address to reach either');
});

t.test('with a password, AUTH goes first on the connection', async (t) => {
  const peer = await startPeer(t);
  const { transport: tr } = transport(t, 's3cret');
  tr.send([heartbeat(peer.id, 1)]);
  await until(() => peer.commands.length === 2);
  t.strictSame(names(peer.commands), ['AUTH', RAFT_MESSAGE_COMMAND]);
  t.equal(peer.commands[0]![1]!.toString(), 's3cret');
  t.strictSame(batchOf(peer.commands[1]!), [heartbeat(peer.id, 1)]);
});

t.test('after close() nothing is sent', async (t) => {
  const peer = await startPeer(t);
  const { transport: tr } = transport(t);
  tr.send([heartbeat(peer.id, 1)]);
  await until(() => peer.commands.length === 1);
  tr.close();
  await until(() => peer.closedConnections === 1);
  t.pass('close() closes the peer connections');
  tr.send([heartbeat(peer.id, 2)]);
  await sleep(30);
  t.equal(peer.commands.length, 1, 'nothing more arrives');
  t.equal(peer.connections, 1, 'no new connection');
  tr.close();
  t.pass('close is idempotent');
});

t.test('close() with no connections', async (t) => {
  const { transport: tr, logger } = transport(t);
  tr.close();
  tr.send([heartbeat('node-b', 1)]);
  t.strictSame(logger.lines, [], 'a closed transport does not even look at the ids');
});
