/**
 * A fake Redis-protocol node on 127.0.0.1 for tests of code that talks to peers: it
 * records every command and answers what `respond` returns (raw RESP text), or stays
 * silent. Closed in teardown.
 */
import net from 'node:net';
import { RequestParser } from '../../src/core/resp/index.js';

export const HOST = '127.0.0.1';

/** The subset of a tap test the helpers need. */
export type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** What a fake node answers to a command (latin1 args, and the raw ones): raw reply text, or undefined for silence. */
export type Respond = (args: string[], n: number, raw: Buffer[]) => string | undefined;

/** A running fake node. */
export interface FakeNode {
  addr: string;
  port: number;
  /** Every command received (AUTH included), args as latin1. */
  commands: string[][];
  respond: Respond;
  /** Destroys every connection (the server keeps listening). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** Starts a fake node (`port` 0: ephemeral). */
export async function startFakeNode(t: Teardown, respond: Respond, port = 0): Promise<FakeNode> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const parser = new RequestParser();
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      for (const cmd of parser.push(chunk)) {
        const args = cmd.args.map((a) => a.toString('latin1'));
        node.commands.push(args);
        const answer = node.respond(args, node.commands.length, cmd.args.map((a) => Buffer.from(a)));
        if (answer !== undefined) socket.write(answer);
      }
    });
  });
  let closed = false;
  const node: FakeNode = {
    addr: '',
    port: 0,
    commands: [],
    respond,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port }, resolve);
  });
  node.port = (server.address() as net.AddressInfo).port;
  node.addr = `${HOST}:${node.port}`;
  t.teardown(() => node.close());
  return node;
}

/** A port on 127.0.0.1 where nothing listens (just released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
