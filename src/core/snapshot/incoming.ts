import fs from 'node:fs';
import path from 'node:path';
import { crc64, crc64Bytes } from '../support/crc64.js';
import { BitraftError, CorruptionError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { writeAll } from './file-io.js';
import { META_FILE, STATE_FILE, decodeSnapshotMeta, encodeSnapshotMeta, writeSnapshotMetaFile, type SnapshotFileMeta } from './meta.js';
import { INCOMING_PREFIX, type SnapshotStore, type StoredSnapshot } from './snapshot-store.js';

/** Options of `IncomingSnapshots`. */
export interface IncomingOptions {
  /** Default: the store's logger. */
  logger?: Logger;
}

/** The transfer in progress: its partial state.bin is open for appending. */
interface Transfer {
  meta: SnapshotFileMeta;
  dir: string;
  handle: fs.promises.FileHandle;
  /** Bytes of state.bin held (and written). */
  held: number;
  /** CRC-64 of those bytes. */
  crc: bigint;
}

const READ_CHUNK = 256 * 1024;

/**
 * A follower's side of a snapshot transfer: the leader's state.bin arrives as chunks over
 * several requests and is assembled in `<store dir>/.incoming-<id>/` (a partial state.bin
 * and the leader's meta.json), then checked and installed into the store. One transfer at
 * a time; memory holds no chunk beyond the call that writes it. Resumable: after a broken
 * stream (or a restart) `begin` tells the leader how many bytes are already held, and the
 * running CRC is recomputed from the partial file. Calls are serialized, so a late call
 * of a broken stream cannot interleave with the resumed one.
 */
export class IncomingSnapshots {
  private readonly logger: Logger;
  private current: Transfer | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: SnapshotStore,
    options: IncomingOptions = {},
  ) {
    this.logger = options.logger ?? store.logger;
  }

  /**
   * Starts or resumes receiving the snapshot `meta` (the leader's id, index, term, conf,
   * size and CRC) and returns how many bytes of its state.bin are already held: 0 for a new
   * transfer, `meta.size` when the store already has it (then `finish` returns it). A
   * partial file is resumed only if it was begun with the same meta; anything else is
   * started afresh. Every other incoming dir is removed. Throws INVALID_ARGUMENT for a
   * malformed `meta` (e.g. an id that is not `<term>-<index>-<ms>`).
   */
  begin(meta: SnapshotFileMeta): Promise<number> {
    return this.exclusive(async () => {
      const encoded = checkedEncoding(meta);
      const existing = this.stored(meta.id);
      await this.closeCurrent();
      const dir = path.join(this.store.dir, INCOMING_PREFIX + meta.id);
      for (const name of fs.readdirSync(this.store.dir)) {
        const other = path.join(this.store.dir, name);
        if (!name.startsWith(INCOMING_PREFIX) || (other === dir && !existing)) continue;
        fs.rmSync(other, { recursive: true, force: true });
        this.logger.info(`removed the unfinished snapshot transfer ${other}`);
      }
      if (existing) return existing.meta.size;
      if (!sameTransfer(dir, encoded)) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        await writeSnapshotMetaFile(dir, meta);
      }
      const file = path.join(dir, STATE_FILE);
      fs.closeSync(fs.openSync(file, 'a')); // creates it if missing, keeps it otherwise
      const handle = await fs.promises.open(file, 'r+');
      const t: Transfer = { meta, dir, handle, held: 0, crc: 0n };
      this.current = t;
      const { size } = await handle.stat();
      if (size > meta.size) {
        await handle.truncate(0);
      } else {
        for await (const chunk of handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK, autoClose: false })) t.crc = crc64(chunk as Buffer, t.crc);
        t.held = size;
      }
      if (t.held > 0) this.logger.info(`resuming the snapshot transfer ${meta.id} at byte ${t.held} of ${meta.size}`);
      return t.held;
    });
  }

  /**
   * Appends `chunk` to the transfer `id` at `offset` and returns the bytes now held.
   * `offset` must equal the bytes held (INVALID_ARGUMENT saying the expected offset), and
   * the file may not grow past the leader's size (INVALID_ARGUMENT). NOT_FOUND unless `id`
   * is the transfer in progress. A failed write (IO) ends the transfer; `begin` resumes it
   * from what reached the file.
   */
  write(id: string, offset: number, chunk: Uint8Array): Promise<number> {
    return this.exclusive(async () => {
      const t = this.transfer(id);
      if (offset !== t.held) throw new BitraftError('INVALID_ARGUMENT', `snapshot ${id}: a chunk at offset ${offset}, but the expected offset is ${t.held}`);
      if (t.held + chunk.length > t.meta.size) throw new BitraftError('INVALID_ARGUMENT', `snapshot ${id}: a chunk of ${chunk.length} bytes at offset ${offset} goes past its size of ${t.meta.size} bytes`);
      try {
        await writeAll(t.handle, chunk, offset);
      } catch (err) {
        await this.closeCurrent();
        throw new BitraftError('IO', `snapshot ${id}: cannot write ${path.join(t.dir, STATE_FILE)}: ${(err as Error).message}`, { cause: err });
      }
      t.crc = crc64(chunk, t.crc);
      t.held += chunk.length;
      return t.held;
    });
  }

  /**
   * Completes the transfer `id`: checks that all `size` bytes are held (INVALID_ARGUMENT
   * otherwise, the partial kept) and that their CRC is the leader's (on a mismatch the
   * partial is deleted, so the next `begin` starts from 0, and a `CorruptionError` thrown);
   * fsyncs state.bin, writes meta.json and installs the snapshot into the store (rename,
   * fsync, prune keeping it). Returns the stored snapshot; if the store already holds `id`,
   * returns that one. NOT_FOUND if `id` is neither in progress nor stored.
   */
  finish(id: string): Promise<StoredSnapshot> {
    return this.exclusive(async () => {
      if (this.current?.meta.id !== id) {
        const existing = this.stored(id);
        if (existing) return existing;
      }
      const t = this.transfer(id);
      if (t.held !== t.meta.size) throw new BitraftError('INVALID_ARGUMENT', `snapshot ${id} is incomplete: ${t.held} of ${t.meta.size} bytes received`);
      const crc = crc64Bytes(t.crc).toString('base64');
      if (crc !== t.meta.crc) {
        await this.closeCurrent();
        fs.rmSync(t.dir, { recursive: true, force: true });
        throw new CorruptionError(path.join(t.dir, STATE_FILE), 0, `the received snapshot's CRC-64 is ${crc}, but the leader's is ${t.meta.crc}; the partial snapshot is deleted`);
      }
      try {
        await t.handle.sync();
      } finally {
        await this.closeCurrent();
      }
      await writeSnapshotMetaFile(t.dir, t.meta);
      const s = this.store.install(t.dir, t.meta);
      this.logger.info(`received the snapshot ${id} (${t.meta.size} bytes)`);
      return s;
    });
  }

  /** Closes the transfer in progress, if any, keeping its partial file for a later `begin`. */
  close(): Promise<void> {
    return this.exclusive(() => this.closeCurrent());
  }

  private transfer(id: string): Transfer {
    const t = this.current;
    if (t?.meta.id !== id) throw new BitraftError('NOT_FOUND', `no transfer of snapshot ${id} is in progress (BEGIN it first)`);
    return t;
  }

  private stored(id: string): StoredSnapshot | undefined {
    return this.store.list().find((s) => s.meta.id === id);
  }

  private async closeCurrent(): Promise<void> {
    const t = this.current;
    this.current = undefined;
    await t?.handle.close();
  }

  /** Runs `fn` after every call before it has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** meta.json text of `meta`, after checking that it reads back (INVALID_ARGUMENT otherwise). */
function checkedEncoding(meta: SnapshotFileMeta): string {
  try {
    const encoded = encodeSnapshotMeta(meta);
    decodeSnapshotMeta(encoded, 'the snapshot meta');
    return encoded;
  } catch (err) {
    throw new BitraftError('INVALID_ARGUMENT', `bad snapshot meta: ${(err as Error).message}`, { cause: err });
  }
}

/** True if `dir` holds a partial transfer begun with the meta.json text `encoded`. */
function sameTransfer(dir: string, encoded: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, META_FILE), 'utf8') === encoded;
  } catch {
    return false;
  }
}
