import fs from 'node:fs/promises';
import type { NodeId, SnapshotMessage } from '../raft/types.js';
import type { Reply } from '../resp/types.js';
import { encodeSnapshotMeta, type StoredSnapshot } from '../snapshot/index.js';
import { BitraftError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { RespClient } from './resp-client.js';
import { messageOf } from '../support/error-message.js';
import { dialAddress, type NodeCredentials } from './credentials.js';

/** The internal command a leader streams a snapshot to a follower with (`BEGIN`, `CHUNK`, `END`). */
export const INSTALL_COMMAND = 'RAFTINSTALL';

/** Bytes of state.bin per `RAFTINSTALL CHUNK`. */
export const INSTALL_CHUNK_BYTES = 1 << 20;

/** A connection to a follower, as the sender uses it (a `RespClient`). */
export type InstallClient = Pick<RespClient, 'call' | 'close'>;

/** Opens a `RespClient` to the node `to` (its id is its address). */
export function respInstallClient(to: NodeId, credentials: NodeCredentials | undefined, logger: Logger, replyTimeoutMs: number): InstallClient {
  const addr = dialAddress(to, credentials);
  return new RespClient({ host: addr.host, port: addr.port, credentials, logger, name: `snapshot to ${to}`, replyTimeoutMs });
}

/** What a `SnapshotSender` needs. */
export interface SnapshotSenderOptions {
  /** The snapshot to send: one the log continues after (the newest held, or a new one). */
  newest(): Promise<StoredSnapshot>;
  /** Sends a Raft message through the ordinary transport. */
  send(m: SnapshotMessage): void;
  /** Tells the core how the stream to `to` ended. */
  report(to: NodeId, ok: boolean): void;
  /** Called when a follower found the snapshot `s` damaged (its CRC did not match): check it, and drop it if so. */
  suspect?: (s: StoredSnapshot) => void;
  /** Opens the connection a stream to `to` goes over (default: `respInstallClient`). */
  connect?: (to: NodeId) => InstallClient;
  /** How to authenticate to the followers (and TLS). */
  credentials?: NodeCredentials;
  logger: Logger;
  /** Bytes per chunk (default `INSTALL_CHUNK_BYTES`). */
  chunkBytes?: number;
  /** Longest wait for one chunk's answer (default 30 s). */
  replyTimeoutMs?: number;
}

/**
 * Streams snapshots to followers that need entries the leader compacted away (the core
 * emits a `snapshot` message for them). Over a connection of its own to the follower,
 * the newest local snapshot's state.bin goes in chunks: `RAFTINSTALL BEGIN <meta.json>`
 * answers how many bytes the follower already holds of it (a broken stream resumes
 * there), then `CHUNK <id> <offset> <bytes>` one at a time (memory stays at one chunk),
 * then `END <id>`, after which the follower has checked the CRC and stored the
 * snapshot. Only then does the snapshot message itself go out — carrying the streamed
 * snapshot's index, term and membership — and the core hears that the stream ended. One
 * stream per follower at a time; offers for a follower being streamed to are ignored,
 * and a failed stream is reported so the core offers it again later.
 */
export class SnapshotSender {
  private readonly opts: SnapshotSenderOptions;
  private readonly streams = new Map<NodeId, InstallClient | undefined>();
  private closed = false;

  constructor(opts: SnapshotSenderOptions) {
    this.opts = opts;
  }

  /** Followers being streamed to now. */
  get active(): NodeId[] {
    return [...this.streams.keys()];
  }

  /** Streams the newest snapshot to `m.to` unless a stream to it is running. */
  offer(m: SnapshotMessage): void {
    if (this.closed || this.streams.has(m.to)) return;
    this.streams.set(m.to, undefined);
    void this.stream(m).then((ok) => {
      this.streams.delete(m.to);
      this.opts.report(m.to, ok);
    });
  }

  /** Stops every stream (they report failure). */
  close(): void {
    this.closed = true;
    for (const client of this.streams.values()) client?.close();
  }

  /** Streams the snapshot and sends the message; resolves with whether that succeeded (never rejects). */
  private async stream(m: SnapshotMessage): Promise<boolean> {
    const { logger } = this.opts;
    let file: fs.FileHandle | undefined;
    let client: InstallClient | undefined;
    let s: StoredSnapshot | undefined;
    let ok = false;
    try {
      s = await this.opts.newest();
      // Opened first: pruning the snapshot meanwhile cannot take the bytes away.
      file = await fs.open(s.statePath, 'r');
      client = this.opts.connect ? this.opts.connect(m.to) : respInstallClient(m.to, this.opts.credentials, logger, this.opts.replyTimeoutMs ?? 30_000);
      this.streams.set(m.to, client);
      if (this.closed) client.close();
      const { id, size } = s.meta;
      let offset = integer(await client.call([INSTALL_COMMAND, 'BEGIN', encodeSnapshotMeta(s.meta)]));
      if (offset > 0) logger.info(`raft: resuming the snapshot ${id} to ${m.to} at byte ${offset} of ${size}`);
      else logger.info(`raft: sending the snapshot ${id} (${size} bytes) to ${m.to}`);
      const buf = Buffer.allocUnsafe(Math.min(this.opts.chunkBytes ?? INSTALL_CHUNK_BYTES, Math.max(1, size)));
      while (offset < size) {
        const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, size - offset), offset);
        if (bytesRead === 0) throw new BitraftError('IO', `${s.statePath} ended at byte ${offset} of ${size}`);
        offset = integer(await client.call([INSTALL_COMMAND, 'CHUNK', id, String(offset), buf.subarray(0, bytesRead)]));
      }
      expectOk(await client.call([INSTALL_COMMAND, 'END', id]));
      this.opts.send({ ...m, snapshot: { index: s.meta.index, term: s.meta.term, conf: s.meta.conf } });
      logger.info(`raft: sent the snapshot ${id} to ${m.to}`);
      ok = true;
    } catch (err) {
      const message = messageOf(err);
      logger.warn(`raft: sending a snapshot to ${m.to} failed: ${message}`);
      if (s && /CRC/.test(message)) this.opts.suspect?.(s);
    }
    client?.close();
    await file?.close();
    return ok;
  }
}

/** The integer of an integer reply; any other reply is the follower refusing. */
function integer(reply: Reply): number {
  if (reply.type === 'integer') return Number(reply.value);
  throw refused(reply);
}

function expectOk(reply: Reply): void {
  if (reply.type !== 'simple') throw refused(reply);
}

function refused(reply: Reply): BitraftError {
  const text = reply.type === 'error' ? reply.text : `unexpected ${reply.type} reply`;
  return new BitraftError('UNAVAILABLE', `the follower refused: ${text}`);
}
