import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fsyncDir, mkdirDurable } from '../bitcask/fs-util.js';
import { systemClock, type Clock } from '../support/clock.js';
import { crc64, crc64Bytes } from '../support/crc64.js';
import { BitraftError, CorruptionError, hasCode } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { StateRecord } from './decoder.js';
import { META_FILE, STATE_FILE, decodeSnapshotMeta, parseSnapshotId, snapshotId, writeSnapshotMetaFile, type SnapshotFileMeta } from './meta.js';
import { writeAll } from './file-io.js';
import { readStateBatches, writeStateFile } from './state-file.js';
import { withExpiries, type ExpiringStateRecord } from './expiry-records.js';

/** Prefix of the directory a snapshot is written in before it is renamed into place. */
export const TEMP_PREFIX = '.tmp-';
/** Prefix of the directory a snapshot received from the leader is assembled in (see `IncomingSnapshots`). */
export const INCOMING_PREFIX = '.incoming-';

/** A snapshot on disk. */
export interface StoredSnapshot {
  meta: SnapshotFileMeta;
  /** The snapshot's directory. */
  path: string;
  /** Its state.bin. */
  statePath: string;
}

/** Options of `SnapshotStore`. */
export interface SnapshotStoreOptions {
  /** How many snapshots to keep (at least 1); older ones are deleted after each new one. */
  retain: number;
  logger: Logger;
  /** Source of the `<ms>` part of new snapshot ids; default the system clock. */
  clock?: Clock;
}

/** What a snapshot is taken at. */
export interface SnapshotInfo {
  index: number;
  term: number;
  conf: { readonly voters: readonly string[]; readonly learners: readonly string[] };
}

const READ_CHUNK = 256 * 1024;

/**
 * The snapshots of a node, in `<dataDir>/snapshots`: one directory per snapshot,
 * `<term>-<index>-<ms>/{meta.json,state.bin}`, with state.bin in the Go bitraft format and
 * meta.json carrying its size and CRC-64 (see meta.ts). A snapshot appears under its final
 * name only once complete and fsynced (written in a temp dir, then renamed), and the newest
 * `retain` are kept. Pruning deletes whole directories; a reader streaming a snapshot opens
 * its state.bin first, so pruning it meanwhile is harmless on POSIX (the open file lives
 * on until closed).
 */
export class SnapshotStore {
  /** The directory holding the snapshots. */
  readonly dir: string;
  /** How many snapshots are kept. */
  readonly retain: number;
  readonly logger: Logger;
  private readonly clock: Clock;

  /**
   * Opens (creating it if needed) the store at `dir` and removes the temp dirs a crash
   * left behind. Throws INVALID_ARGUMENT unless `retain` is an integer ≥ 1.
   */
  constructor(dir: string, options: SnapshotStoreOptions) {
    if (!Number.isSafeInteger(options.retain) || options.retain < 1) throw new BitraftError('INVALID_ARGUMENT', `snapshot retain must be an integer of at least 1, got ${options.retain}`);
    this.dir = dir;
    this.retain = options.retain;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    mkdirDurable(dir);
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      this.logger.info(`removed ${path.join(dir, name)}, an unfinished snapshot left by a crash`);
    }
  }

  /**
   * Writes a snapshot of `records` taken at `info`: state.bin (gzip, Go format) and
   * meta.json in `<dir>/.tmp-<id>`, both fsynced, the temp dir renamed to `<dir>/<id>` and
   * `dir` fsynced; Size and CRC are computed while writing. Then prunes to the newest
   * `retain` (never the new one). Resolves with the new snapshot; on failure the temp dir
   * is removed and the error rethrown. The id's `<ms>` is the clock's time, moved forward
   * if a directory of that name exists.
   */
  async create(info: SnapshotInfo, records: AsyncIterable<StateRecord[]>): Promise<StoredSnapshot> {
    const taken = (id: string): boolean => fs.existsSync(path.join(this.dir, id)) || fs.existsSync(path.join(this.dir, TEMP_PREFIX + id));
    let ms = this.clock.now();
    while (taken(snapshotId(info.term, info.index, ms))) ms++;
    const id = snapshotId(info.term, info.index, ms);
    const temp = path.join(this.dir, TEMP_PREFIX + id);
    fs.mkdirSync(temp);
    try {
      const { size, crc } = await writeChecksummed(path.join(temp, STATE_FILE), records);
      const meta: SnapshotFileMeta = { id, index: info.index, term: info.term, conf: { voters: [...info.conf.voters], learners: [...info.conf.learners] }, size, crc };
      await writeSnapshotMetaFile(temp, meta);
      return this.install(temp, meta);
    } catch (err) {
      fs.rmSync(temp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Moves `from` (a directory in this store holding a complete, fsynced state.bin and
   * meta.json of `meta`) to `<dir>/<meta.id>`, fsyncs both directories and prunes, keeping
   * it. If a snapshot of that id is already there, `from` is removed and that one returned.
   */
  install(from: string, meta: SnapshotFileMeta): StoredSnapshot {
    const final = path.join(this.dir, meta.id);
    if (fs.existsSync(final)) {
      fs.rmSync(from, { recursive: true, force: true });
    } else {
      fsyncDir(from);
      fs.renameSync(from, final);
      fsyncDir(this.dir);
    }
    this.prune(meta.id);
    return stored(final, meta);
  }

  /**
   * Snapshots present, newest first (by index, then term, then ms). meta.json is parsed and
   * checked, state.bin is not read. A snapshot whose meta.json is missing, corrupt or names
   * another id is reported (warn) and skipped. Temp and incoming dirs and names that are
   * not snapshot ids are ignored.
   */
  list(): StoredSnapshot[] {
    const out: { s: StoredSnapshot; ms: number }[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const parsed = parseSnapshotId(name);
      if (parsed === undefined) continue;
      const dir = path.join(this.dir, name);
      const file = path.join(dir, META_FILE);
      try {
        const meta = decodeSnapshotMeta(fs.readFileSync(file, 'utf8'), file);
        if (meta.id !== name) throw new CorruptionError(file, 0, `its ID ${meta.id} is not its directory's name`);
        out.push({ s: stored(dir, meta), ms: parsed.ms });
      } catch (err) {
        this.logger.warn(`skipping snapshot ${dir}: ${(err as Error).message}`);
      }
    }
    out.sort((a, b) => b.s.meta.index - a.s.meta.index || b.s.meta.term - a.s.meta.term || b.ms - a.ms);
    return out.map((x) => x.s);
  }

  /** The snapshot with this index and term (the newest if several), if present; its CRC is not checked. */
  find(index: number, term: number): StoredSnapshot | undefined {
    return this.list().find((s) => s.meta.index === index && s.meta.term === term);
  }

  /**
   * Reads `s`'s state.bin fully and checks it against meta.json's Size and CRC. Throws a
   * `CorruptionError` naming the file when it is missing, of another size or another CRC;
   * other read errors are rethrown.
   */
  async verify(s: StoredSnapshot): Promise<void> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(s.statePath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptionError(s.statePath, 0, 'missing');
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size !== s.meta.size) throw new CorruptionError(s.statePath, Math.min(size, s.meta.size), `${size} bytes, but meta.json says ${s.meta.size}`);
      let crc = 0n;
      for await (const chunk of handle.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false })) crc = crc64(chunk as Buffer, crc);
      const actual = crc64Bytes(crc).toString('base64');
      if (actual !== s.meta.crc) throw new CorruptionError(s.statePath, 0, `CRC-64 is ${actual}, but meta.json says ${s.meta.crc}`);
    } finally {
      await handle.close();
    }
  }

  /** The newest snapshot that passes `verify`; corrupt ones are reported (warn) and skipped, never returned. */
  async newestValid(): Promise<StoredSnapshot | undefined> {
    for (const s of this.list()) {
      try {
        await this.verify(s);
        return s;
      } catch (err) {
        if (!hasCode(err, 'CORRUPT')) throw err;
        this.logger.warn(`skipping snapshot ${s.path}: ${err.message}`);
      }
    }
    return undefined;
  }

  /**
   * The key/value records of `s`'s state.bin in batches (see `readStateBatches`), each with
   * its expiry (see `withExpiries`), returning the count of all records. The file is opened
   * on the first `next()`, so a concurrent prune cannot cut the read short. Throws a
   * `CorruptionError` on a bad file; does not check the CRC (`verify` does).
   */
  async *readBatches(s: StoredSnapshot): AsyncGenerator<ExpiringStateRecord[], number> {
    const handle = await fs.promises.open(s.statePath, 'r');
    const stream = handle.createReadStream({ highWaterMark: READ_CHUNK });
    try {
      return yield* withExpiries(readStateBatches(stream, { file: s.statePath }), s.statePath);
    } finally {
      stream.destroy();
    }
  }

  /**
   * Deletes every snapshot but the newest `retain` and `keep` (an id, kept even when
   * older). Snapshots that `list` skips are left alone. Each is first renamed to a temp
   * dir, durably, then removed (rm -r): a crash in the middle leaves a temp dir that the
   * next open removes, never a half-deleted snapshot under its name.
   */
  prune(keep?: string): void {
    const all = this.list();
    for (const s of all.slice(this.retain)) {
      if (s.meta.id === keep) continue;
      const trash = path.join(this.dir, `${TEMP_PREFIX}${s.meta.id}.pruned`);
      fs.renameSync(s.path, trash);
      fsyncDir(this.dir);
      fs.rmSync(trash, { recursive: true, force: true });
      this.logger.info(`deleted snapshot ${s.path} (keeping the newest ${this.retain})`);
    }
  }
}

function stored(dir: string, meta: SnapshotFileMeta): StoredSnapshot {
  return { meta, path: dir, statePath: path.join(dir, STATE_FILE) };
}

/** Writes the state.bin of `records` to `file` (new), fsyncs it, and returns its size and CRC. */
async function writeChecksummed(file: string, records: AsyncIterable<StateRecord[]>): Promise<{ size: number; crc: string }> {
  const handle = await fs.promises.open(file, 'wx');
  let size = 0;
  let crc = 0n;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      crc = crc64(chunk, crc);
      size += chunk.length;
      writeAll(handle, chunk, size - chunk.length).then(() => callback(), callback);
    },
    final(callback) {
      handle.sync().then(() => callback(), callback);
    },
  });
  try {
    await writeStateFile(flatten(records), output);
  } finally {
    output.destroy();
    await handle.close();
  }
  return { size, crc: crc64Bytes(crc).toString('base64') };
}

async function* flatten(batches: AsyncIterable<StateRecord[]>): AsyncGenerator<StateRecord> {
  for await (const batch of batches) yield* batch;
}
