import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../support/clock.js';
import { BitraftError, LimitError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { DataFile } from './datafile.js';
import { dataFileName, hintFileName, TEMP_SUFFIX, type FileId } from './file-id.js';
import { fsyncDir } from './fs-util.js';
import { HintWriter } from './hint.js';
import { KeyDir } from './keydir.js';
import { recordSize } from './record.js';
import { deleteReplacedFiles, readReplaceMarker, removeReplaceMarker, settleReplaceMarker, writeReplaceMarker } from './replace-marker.js';

/**
 * The points of a replace at which its on-disk state changes. A crash right after a step
 * before `committed` leaves a directory that opens to the old contents; from `committed`
 * on, to the new contents.
 */
export type ReplaceStep =
  /** The `writing` marker is durable; no new file exists yet. */
  | 'marker-writing'
  /** One new data file is complete: fsynced, with its hint. */
  | 'file-written'
  /** Every new file, and the new (empty) active file, is durable. */
  | 'outputs-durable'
  /** The `done` marker is durable and the store serves the new contents. */
  | 'committed'
  /** The old files are deleted. */
  | 'old-deleted'
  /** The marker is removed. */
  | 'done';

/** Options of `Bitcask.replaceAll`. */
export interface ReplaceOptions {
  /** Called after each step; a thrown error aborts the replace (used to inject faults in tests). */
  onStep?: (step: ReplaceStep) => void | Promise<void>;
}

/** A key and value to store; `Bitcask.replaceAll` takes batches of them. */
export interface ReplaceRecord {
  key: Uint8Array;
  value: Uint8Array;
  /** When the key expires, ms since the epoch; 0 or absent: never. */
  expiresAt?: number;
}

/** A data file of the new contents with its live counters (the store's `FileSlot`). */
export interface ReplacementFile {
  file: DataFile;
  liveBytes: number;
  liveKeys: number;
}

/** The new contents, ready to be swapped in: the last file is the new, empty active file. */
export interface Replacement {
  keydir: KeyDir;
  files: ReplacementFile[];
}

/** What the store hands back when it swaps a replacement in. */
export interface Adopted {
  /** Resolves once nothing reads the old files any more (views opened before the swap, an fsync in flight). */
  idle: Promise<void>;
  /** Closes the old files (each failure logged); call once `idle` resolved. */
  closeOld(): void;
}

/** The parts of a store a replace works with; `Bitcask` provides them. */
export interface ReplaceHost {
  readonly dir: string;
  readonly options: { maxFileSize: number; maxKeySize: number; maxValueSize: number; clock: Clock; logger: Logger };
  /** Whether close was requested; a replace still writing stops. */
  readonly closing: boolean;
  /** Id of the active file: the new files are numbered after it. */
  readonly activeFileId: FileId;
  /** Switches the store to `r` (synchronously) and accepts writes again. */
  adoptReplacement(r: Replacement): Adopted;
  /** Makes writes fail from now on: a failed replace could not remove its files (`cause`). */
  refuseWrites(cause: unknown): void;
}

/**
 * Replaces the whole contents of `host` with the records of `batches` (the last of
 * duplicate keys wins); returns the number of live keys. Crash-safe at every step:
 *
 * 1. Let M be the active file's major number + 1. Write the `writing` marker (see
 *    `replace-marker.ts`): from now on, a crash means files numbered M and up are
 *    deleted at the next open.
 * 2. Write the records into new data files (M, 0), (M+1, 0)… with hints, rotating at
 *    `maxFileSize`, and a new empty active file after them; fsync all, and the directory.
 * 3. Write the `done` marker: the commit point. Swap the new keydir and files in.
 * 4. Once no view opened before the swap reads them, close and delete the files below
 *    M, then remove the marker.
 *
 * A failure before the commit (an I/O error, a key or value over the limits, the input
 * failing, the store closing) removes the new files and the marker and rethrows: the old
 * contents stand. If that cleanup fails too, the store refuses writes (the marker makes
 * the next open finish the cleanup). A failure after the commit is only logged: the new
 * contents are in place and durable, and the next open (or replace) deletes what is
 * left of the old ones; a `done` marker left that way is settled before anything else.
 */
export async function runReplace(host: ReplaceHost, batches: AsyncIterable<ReplaceRecord[]>, opts: ReplaceOptions = {}): Promise<number> {
  const step = opts.onStep ?? (() => undefined);
  const leftover = readReplaceMarker(host.dir);
  if (leftover) settleReplaceMarker(host.dir, leftover);
  const from = host.activeFileId.major + 1;
  const writer = new ReplacementWriter(host, from);
  let committing = false;
  try {
    writeReplaceMarker(host.dir, { from, phase: 'writing' });
    await step('marker-writing');
    for await (const batch of batches) {
      for (const { key, value, expiresAt } of batch) if (writer.add(key, value, expiresAt)) await step('file-written');
      // Reads go on during a replace: let them in between batches.
      await new Promise((resolve) => setImmediate(resolve));
      if (host.closing) throw new BitraftError('CLOSED', 'the store was closed during the replace');
    }
    if (writer.finish()) await step('file-written');
    await step('outputs-durable');
    committing = true;
    writeReplaceMarker(host.dir, { from, phase: 'done' });
  } catch (err) {
    try {
      // The rename of a `done` marker may have happened: the new files must not go before it does.
      if (committing) writeReplaceMarker(host.dir, { from, phase: 'writing' });
      writer.discard();
      removeReplaceMarker(host.dir);
    } catch (cleanupErr) {
      host.refuseWrites(cleanupErr);
    }
    throw err;
  }
  const replacement = writer.result();
  const adopted = host.adoptReplacement(replacement);
  let failure: unknown;
  try {
    await step('committed');
  } catch (err) {
    failure = err;
  }
  await adopted.idle;
  adopted.closeOld();
  if (failure === undefined) {
    try {
      deleteReplacedFiles(host.dir, { from, phase: 'done' });
      await step('old-deleted');
      removeReplaceMarker(host.dir);
      await step('done');
    } catch (err) {
      failure = err;
    }
  }
  if (failure !== undefined) {
    host.options.logger.warn(`replace: the new contents are in place, but removing the old files failed (the next open finishes it): ${String(failure)}`);
  }
  return replacement.keydir.size;
}

interface Output {
  file: DataFile;
  hint: HintWriter | undefined;
  ordinal: number;
}

/** Writes the new contents into data files numbered from `from` on, building their keydir. */
class ReplacementWriter {
  private readonly keydir = new KeyDir();
  private readonly files: ReplacementFile[] = [];
  private readonly opened: Output[] = [];
  private current: Output | undefined;
  private nextMajor: number;

  constructor(
    private readonly host: ReplaceHost,
    from: number,
  ) {
    this.nextMajor = from;
  }

  /**
   * Appends one record, expiring at `expiresAt` (ms since the epoch; 0: never);
   * `LimitError` when the key or value is too large. Returns whether a full file was sealed first.
   */
  add(key: Uint8Array, value: Uint8Array, expiresAt = 0): boolean {
    const { maxKeySize, maxValueSize, maxFileSize, clock } = this.host.options;
    if (key.length > maxKeySize) throw new LimitError('KEY_TOO_LARGE', key.length, maxKeySize);
    if (value.length > maxValueSize) throw new LimitError('VALUE_TOO_LARGE', value.length, maxValueSize);
    const size = recordSize(key.length, value.length, expiresAt);
    const full = this.current !== undefined && this.current.file.size > 0 && this.current.file.size + size > maxFileSize;
    if (full) this.sealCurrent();
    const out = this.current ?? this.open(true);
    const tstamp = Math.floor(clock.now() / 1000);
    const offset = out.file.appendRecord(key, value, false, tstamp, expiresAt);
    out.hint!.add(false, tstamp, key, offset, size, expiresAt);
    let slot = this.keydir.slot(key);
    if (slot >= 0) {
      const old = this.files[this.keydir.fileOf(slot)]!;
      old.liveBytes -= this.keydir.sizeOf(slot);
      old.liveKeys--;
      this.keydir.update(slot, out.ordinal, offset, size);
    } else {
      slot = this.keydir.insert(key, 0, key.length, out.ordinal, offset, size);
    }
    this.keydir.setExpiry(slot, expiresAt);
    const target = this.files[out.ordinal]!;
    target.liveBytes += size;
    target.liveKeys++;
    return full;
  }

  /**
   * Seals the last data file, creates the empty active file after it, and fsyncs the
   * directory. Returns whether there was a data file to seal.
   */
  finish(): boolean {
    const sealed = this.sealCurrent();
    this.open(false);
    fsyncDir(this.host.dir);
    return sealed;
  }

  /** The new keydir and files, once `finish` is done. */
  result(): Replacement {
    return { keydir: this.keydir, files: this.files };
  }

  /** Closes and removes every file written so far: each step is tried, the first error thrown at the end. */
  discard(): void {
    let first: unknown;
    const attempt = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        first ??= err;
      }
    };
    for (const out of this.opened) {
      const hintPath = path.join(this.host.dir, hintFileName(out.file.id));
      attempt(() => out.hint?.abort());
      attempt(() => out.file.close());
      attempt(() => fs.rmSync(out.file.path, { force: true }));
      attempt(() => fs.rmSync(hintPath, { force: true }));
      attempt(() => fs.rmSync(hintPath + TEMP_SUFFIX, { force: true }));
    }
    attempt(() => fsyncDir(this.host.dir));
    if (first !== undefined) throw first;
  }

  /** Opens the next data file (with a hint writer, unless it is the new active file). */
  private open(withHint: boolean): Output {
    const id = { major: this.nextMajor++, minor: 0 };
    const file = DataFile.openAppendable(id, path.join(this.host.dir, dataFileName(id)), 0);
    const out: Output = { file, hint: undefined, ordinal: this.files.length };
    this.opened.push(out);
    this.files.push({ file, liveBytes: 0, liveKeys: 0 });
    if (withHint) {
      out.hint = new HintWriter(path.join(this.host.dir, hintFileName(id)));
      this.current = out;
    }
    return out;
  }

  /** Fsyncs the data file being written, finishes its hint and stops appends to it; false when there is none. */
  private sealCurrent(): boolean {
    const out = this.current;
    if (!out) return false;
    this.current = undefined;
    out.file.syncNow();
    const hint = out.hint!;
    // finish closes its descriptor even when it fails: no abort after it (discard removes the files).
    out.hint = undefined;
    hint.finish(out.file.size);
    out.file.seal();
    return true;
  }
}
