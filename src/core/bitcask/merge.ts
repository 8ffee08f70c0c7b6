import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../support/logger.js';
import { BitraftError, CorruptionError } from '../support/errors.js';
import { DataFile, SCAN_CHUNK_SIZE, scanRecords } from './datafile.js';
import { compareFileIds, dataFileName, hintFileName, TEMP_SUFFIX, type FileId } from './file-id.js';
import { fsyncDirAsync } from './fs-util.js';
import { HintWriter } from './hint.js';
import { yieldToEventLoop, type MergePace } from './merge-throttle.js';
import { RECORD_HEADER_SIZE } from './record.js';
import { sortUint32 } from './store-view.js';
import type { KeyDir } from './keydir.js';

/**
 * The points of a merge at which its on-disk state changes. A crash right after any of
 * them leaves a directory that opens with the same contents as before the merge.
 */
export type MergeStep =
  /** Output data and hint files are written and fsynced under temporary names. */
  | 'outputs-written'
  /** One output data file was renamed into place and its hint finished. */
  | 'output-renamed'
  /** Every output is in place and the directory is fsynced. */
  | 'outputs-durable'
  /** The keydir points at the outputs; no reader uses the inputs any more. */
  | 'keydir-swapped'
  /** One input data file was deleted (oldest first). */
  | 'input-deleted'
  | 'done';

/** Options of a merge. */
export interface MergeOptions {
  /** Called after each step; a thrown error aborts the merge (used to inject faults in tests). */
  onStep?: (step: MergeStep) => void | Promise<void>;
  /** Bytes of input read between two calls of `pace` (default 4 MiB). */
  yieldEveryBytes?: number;
  /** Awaited after each `yieldEveryBytes` of input, e.g. to limit the rate (see `mergeThrottle`). Default: one turn of the event loop. */
  pace?: MergePace;
}

/** What a merge did. */
export interface MergeResult {
  inputFiles: number;
  inputBytes: number;
  outputFiles: number;
  outputBytes: number;
  /** Live records copied. */
  liveKeys: number;
  /** inputBytes - outputBytes. */
  reclaimedBytes: number;
}

/** The parts of a store a merge works on; `Bitcask` provides them. */
export interface MergeHost {
  readonly dir: string;
  readonly options: { maxFileSize: number; logger: Logger };
  readonly files: ({ file: DataFile; liveBytes: number; liveKeys: number } | undefined)[];
  readonly keydir: KeyDir;
  readonly activeFileOrdinal: number;
  /** Only files before this one are merged (see `Bitcask.protectFrom`); undefined: every file but the active one. */
  readonly mergeBefore?: FileId;
  readonly closing: boolean;
  addFile(file: DataFile): number;
  forget(slot: number): void;
  /** Resolves once every view (`StoreView`) open at the call is closed. */
  whenViewsClosed(): Promise<void>;
  /** Resolves once every write made before the call is on stable storage. */
  sync(): Promise<void>;
}

interface Output {
  id: FileId;
  tmpPath: string;
  finalPath: string;
  file: DataFile;
  hint: HintWriter;
  /** Set once `hint.finish` was called: it closes the hint's descriptor, so no abort after it. */
  hintFinishing: boolean;
}

/**
 * Record moves, kept column-wise in typed arrays sized once for every live record of the
 * inputs (none is copied twice): a large merge allocates a few arrays, never grows one.
 */
interface Moves {
  count: number;
  slots: Uint32Array;
  fromFile: Uint32Array;
  fromOffset: Uint32Array;
  toOutput: Uint32Array;
  toOffset: Uint32Array;
  size: Uint32Array;
}

/**
 * Compacts every immutable file of `host` (all but the active one) into new files.
 *
 * 1. Copy each live record (its keydir entry points at exactly that file and offset) to
 *    output files named `(M, n)` (see `file-id.ts`) under temporary names; tombstones
 *    are dropped, since no file older than the inputs remains. Yields to the event loop
 *    as it goes, so reads and writes continue.
 * 2. Fsync the outputs, rename them into place with their hints, fsync the directory.
 * 3. Point the keydir at the outputs, but only for keys not written since they were
 *    copied (a conditional update).
 * 4. Once the views opened before step 3 are closed (they read the inputs) and the
 *    writes that superseded records left uncopied are durable (`sync`), delete the
 *    inputs oldest first, each deletion made durable (directory fsync) before the next,
 *    then their hints.
 *
 * Outputs sort after the inputs and before newer files, so any mix of complete outputs
 * and remaining inputs opens to the same contents; deleting oldest first keeps every
 * remaining tombstone next to the older records it hides.
 */
export async function runMerge(host: MergeHost, opts: MergeOptions = {}): Promise<MergeResult> {
  const step = opts.onStep ?? (() => undefined);
  const yieldEvery = opts.yieldEveryBytes ?? 4 << 20;
  const pace = opts.pace ?? yieldToEventLoop;
  const inputs = host.files
    .map((slot, ordinal) => ({ slot, ordinal }))
    .filter(
      (x): x is { slot: NonNullable<typeof x.slot>; ordinal: number } =>
        x.slot !== undefined && x.ordinal !== host.activeFileOrdinal && (host.mergeBefore === undefined || compareFileIds(x.slot.file.id, host.mergeBefore) < 0),
    )
    .sort((a, b) => compareFileIds(a.slot.file.id, b.slot.file.id));
  const result: MergeResult = { inputFiles: inputs.length, inputBytes: 0, outputFiles: 0, outputBytes: 0, liveKeys: 0, reclaimedBytes: 0 };
  if (inputs.length === 0) return result;

  const lastId = inputs.at(-1)!.slot.file.id;
  let nextMinor = lastId.minor + 1;
  const outputs: Output[] = [];
  const live = liveSlotsByFile(host, new Set(inputs.map((x) => x.ordinal)));
  const liveCount = [...live.values()].reduce((n, l) => n + l.slots.length, 0);
  const column = (): Uint32Array => new Uint32Array(liveCount);
  const moves: Moves = { count: 0, slots: column(), fromFile: column(), fromOffset: column(), toOutput: column(), toOffset: column(), size: column() };
  // One read buffer for the whole scan, not one per slice.
  const scratch = Buffer.allocUnsafe(SCAN_CHUNK_SIZE);
  const newOutput = (): Output => {
    const id = { major: lastId.major, minor: nextMinor++ };
    const finalPath = path.join(host.dir, dataFileName(id));
    const tmpPath = finalPath + TEMP_SUFFIX;
    const file = DataFile.openAppendable(id, tmpPath, 0);
    const hint = new HintWriter(path.join(host.dir, hintFileName(id)));
    const out: Output = { id, tmpPath, finalPath, file, hint, hintFinishing: false };
    outputs.push(out);
    return out;
  };

  try {
    for (const { slot, ordinal } of inputs) {
      const file = slot.file;
      result.inputBytes += file.size;
      // Live records of this file in offset order, walked alongside the scan: no key
      // lookups, and a record whose key moved on since is simply not copied.
      const { slots: liveSlots, offsets: liveOffsets } = byOffset(live.get(ordinal)!);
      let next = 0;
      let pos = 0;
      while (pos < file.size) {
        const scanned = scanRecords(
          file.fd,
          file.size,
          ({ offset, record, buf }) => {
            // Live offsets are record starts, met in order: the next one is this record or later.
            if (liveOffsets[next] !== offset) return;
            const kslot = liveSlots[next++]!;
            // Still live now? Writes made while the merge yielded may have moved the key on.
            if (host.keydir.fileOf(kslot) !== ordinal || host.keydir.offsetOf(kslot) !== offset) return;
            let out = outputs.at(-1);
            if (!out || (out.file.size > 0 && out.file.size + record.size > host.options.maxFileSize)) out = newOutput();
            // The record is copied byte for byte: same header, timestamp and checksums.
            const at = out.file.appendEncoded(buf.subarray(record.keyStart - RECORD_HEADER_SIZE, record.end));
            out.hint.add(false, record.tstamp, buf.subarray(record.keyStart, record.keyEnd), at, record.size, record.expiresAt);
            const m = moves.count++;
            moves.slots[m] = kslot;
            moves.fromFile[m] = ordinal;
            moves.fromOffset[m] = offset;
            moves.toOutput[m] = outputs.length - 1;
            moves.toOffset[m] = at;
            moves.size[m] = record.size;
          },
          pos,
          yieldEvery,
          scratch,
        );
        if (scanned.problem) throw new CorruptionError(file.path, scanned.problem.offset, scanned.problem.reason);
        await pace(scanned.next - pos);
        pos = scanned.next;
        if (host.closing) throw new BitraftError('CLOSED', 'the store was closed during the merge');
      }
    }
    // On the thread pool: the outputs may hold many MiB not yet on disk.
    for (const out of outputs) await syncOutput(out.file);
    await step('outputs-written');
    for (const out of outputs) {
      fs.renameSync(out.tmpPath, out.finalPath);
      out.hintFinishing = true;
      out.hint.finish(out.file.size);
      await step('output-renamed');
    }
    await fsyncDirAsync(host.dir);
    await step('outputs-durable');
    if (host.closing) throw new BitraftError('CLOSED', 'the store was closed during the merge');
  } catch (err) {
    discardOutputs(outputs);
    throw err;
  }

  // From here on the outputs are durable copies: no await until the keydir points at them.
  const outOrdinals = outputs.map((out) => {
    out.file.close();
    result.outputBytes += out.file.size;
    return host.addFile(DataFile.openReadOnly(out.id, out.finalPath));
  });
  result.outputFiles = outputs.length;
  for (let i = 0; i < moves.count; i++) {
    // A slot still at its old place holds the same record; a freed or reused one points elsewhere.
    const slot = moves.slots[i]!;
    if (host.keydir.fileOf(slot) !== moves.fromFile[i] || host.keydir.offsetOf(slot) !== moves.fromOffset[i]) continue;
    const to = outOrdinals[moves.toOutput[i]!]!;
    host.forget(slot);
    host.keydir.update(slot, to, moves.toOffset[i]!, moves.size[i]!);
    const target = host.files[to]!;
    target.liveBytes += moves.size[i]!;
    target.liveKeys++;
    result.liveKeys++;
  }
  const stillLive = inputs.filter(({ slot }) => slot.liveKeys !== 0);
  if (stillLive.length > 0) {
    // Cannot happen unless a record escaped the copy; keeping the inputs is always safe.
    host.options.logger.warn(`merge kept its inputs: ${stillLive.length} files still hold live keys`);
    return result;
  }
  // Views opened before the switch read the inputs: they go once those views are closed.
  const inputsUnread = host.whenViewsClosed();
  await step('keydir-swapped');
  await inputsUnread;
  // A record not copied was superseded by a newer write, maybe not yet synced: that write
  // must be durable before the input holding the last durable older value goes.
  await host.sync();

  for (const { slot, ordinal } of inputs) {
    host.files[ordinal] = undefined;
    slot.file.close();
    fs.rmSync(slot.file.path, { force: true });
    // Durable before the next (newer) input goes: a newer input may hold the tombstone
    // hiding a deleted key's value in this one, and must not be gone while this one stays.
    // On the thread pool: a journal commit that frees a large file's blocks takes a while.
    await fsyncDirAsync(host.dir);
    await step('input-deleted');
  }
  for (const { slot } of inputs) fs.rmSync(path.join(host.dir, hintFileName(slot.file.id)), { force: true });
  await fsyncDirAsync(host.dir);
  result.reclaimedBytes = result.inputBytes - result.outputBytes;
  await step('done');
  return result;
}

/** Flushes `file` and fdatasyncs it without blocking the event loop. */
function syncOutput(file: DataFile): Promise<void> {
  file.flush();
  return new Promise((resolve, reject) => fs.fdatasync(file.fd, (err) => (err ? reject(err) : resolve())));
}

function discardOutputs(outputs: Output[]): void {
  for (const out of outputs) {
    for (const cleanup of [
      () => out.file.close(),
      // A hint whose finish ran has closed its descriptor, whose number the process may
      // have reused since (say, for a new active file): closing it again would close that.
      () => (out.hintFinishing ? fs.rmSync(out.hint.path + TEMP_SUFFIX, { force: true }) : out.hint.abort()),
      () => fs.rmSync(out.tmpPath, { force: true }),
      () => fs.rmSync(out.finalPath, { force: true }),
      () => fs.rmSync(out.hint.path, { force: true }),
    ]) {
      try {
        cleanup();
      } catch {
        // Best effort: what remains is a redundant copy that the next open reads or removes.
      }
    }
  }
}

/** Live records of one input file: keydir slots and the offsets of their records. */
interface LiveRecords {
  slots: Uint32Array;
  offsets: Uint32Array;
}

/**
 * For each input file, its live records when the merge starts, in slot order. Reads a
 * copy of the keydir's locations in slot order (sequential, where a walk of the hash
 * table's buckets jumps about) into typed arrays: tens of ms for a million keys, where
 * a walk of the buckets and a sort with a comparator took over half a second.
 */
function liveSlotsByFile(host: MergeHost, inputs: ReadonlySet<number>): Map<number, LiveRecords> {
  const { files, offsets } = host.keydir.snapshotLocations();
  const isInput = new Uint8Array(host.files.length);
  for (const ordinal of inputs) isInput[ordinal] = 1;
  const counts = new Uint32Array(host.files.length);
  // A free slot's NO_FILE is past the end: compared first, as reading out of range is slow.
  for (let slot = 0; slot < files.length; slot++) if (files[slot]! < isInput.length && isInput[files[slot]!] === 1) counts[files[slot]!]!++;
  const out = new Map<number, LiveRecords>();
  for (const ordinal of inputs) out.set(ordinal, { slots: new Uint32Array(counts[ordinal]!), offsets: new Uint32Array(counts[ordinal]!) });
  counts.fill(0);
  for (let slot = 0; slot < files.length; slot++) {
    const file = files[slot]!;
    if (file >= isInput.length || isInput[file] !== 1) continue;
    const live = out.get(file)!;
    live.slots[counts[file]!] = slot;
    live.offsets[counts[file]!++] = offsets[slot]!;
  }
  return out;
}

/**
 * `live` ordered by offset, as the scan meets the records. Sorted one file at a time, as
 * the merge reaches it (a radix sort): the offsets of a file are distinct, so each
 * slot's place is the rank of its offset among them.
 */
function byOffset(live: LiveRecords): LiveRecords {
  const offsets = live.offsets.slice();
  sortUint32(offsets, new Uint32Array(offsets.length));
  const slots = new Uint32Array(live.slots.length);
  for (let i = 0; i < slots.length; i++) slots[rankOf(offsets, live.offsets[i]!)] = live.slots[i]!;
  return { slots, offsets };
}

/** Index of `value` in `sorted` (ascending, distinct values; `value` is one of them). */
function rankOf(sorted: Uint32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
