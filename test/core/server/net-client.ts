import net from 'node:net';
import { encodeCommand } from '../../../src/core/resp/index.js';

/** A raw loopback client for in-process server tests; destroyed in teardown. */
export interface RawClient {
  socket: net.Socket;
  /** Everything received so far, latin1. */
  received(): string;
  /** Whether the server ended or closed the connection. */
  closed(): boolean;
  send(...args: string[]): void;
  /** Resolves once `received()` satisfies `done` (rejects after `ms`). */
  until(done: (s: string) => boolean, ms?: number): Promise<string>;
  /** Resolves once the server closed the connection (rejects after `ms`). */
  untilClosed(ms?: number): Promise<void>;
}

export function connectRaw(t: { teardown(fn: () => void): void }, port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.teardown(() => socket.destroy());
    let data = '';
    let isClosed = false;
    const waiters = new Set<() => void>();
    const wake = () => [...waiters].forEach((w) => w());
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      wake();
    });
    const onClose = () => {
      isClosed = true;
      wake();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.once('error', reject);
    const wait = (cond: () => boolean, what: string, ms: number) =>
      new Promise<void>((res, rej) => {
        if (cond()) return res();
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`timed out waiting for ${what}; received ${JSON.stringify(data)}`));
        }, ms);
        const check = () => {
          if (!cond()) return;
          clearTimeout(timer);
          waiters.delete(check);
          res();
        };
        waiters.add(check);
      });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve({
        socket,
        received: () => data,
        closed: () => isClosed,
        send: (...args) => socket.write(encodeCommand(args.map((a) => Buffer.from(a, 'latin1')))),
        until: async (done, ms = 5000) => {
          await wait(() => done(data), 'a reply', ms);
          return data;
        },
        untilClosed: (ms = 5000) => wait(() => isClosed, 'the close', ms),
      });
    });
  });
}
