/**
 * One trial of the corruption campaign: a fresh copy of a node's directory with one
 * damage, opened with the real code as `bitraft serve` opens it (`Bitcask.open`, then
 * `Cluster.open`, then the node runs until it has replayed its log), every key read back,
 * and the outcome classified. Anything the outcomes do not allow is a failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { Cluster } from '../../../src/core/cluster/cluster.js';
import { streamLogger } from '../../../src/core/server/log.js';
import { SnapshotStore } from '../../../src/core/snapshot/index.js';
import { CorruptionError } from '../../../src/core/support/errors.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { applyDamage, kindOf, type Damage } from './damage.js';
import { afterReplay, clusterOptions, MAX_FILE_SIZE, until, type NodeImage, type Variant } from './node-image.js';

/**
 * What may happen:
 * - `a intact`: opened, every key reads its value (the damage hit bytes nothing depends
 *   on, or a damaged hint was ignored for a scan of its data file);
 * - `b refused`: the open failed with a `CorruptionError` naming the damaged file and an
 *   offset at or before the damage — and fails the same way when tried again;
 * - `c read error`: opened, and keys whose record was damaged read as a `CorruptionError`
 *   naming the file (never a wrong value); every other key reads its value;
 * - `d repaired`: the store had lost durable data (or its whole self, see the snapshot
 *   trials) and was rebuilt from a snapshot and the log: every key reads its value, and
 *   again after a restart, which repairs nothing;
 * - `e torn tail cut`: the end of the active data file or of the log was cut as a torn
 *   write, only beyond what the saved durable position / applied index covers. After a
 *   cut of the data file the log replay restored every value; after a cut of the log,
 *   every key reads the value of the store with the entries left in the log after the
 *   applied index replayed onto it (`afterReplay`): entries the store had applied but the
 *   log lost are not undone, and not replayed;
 * - `f log loss reported`: the log lost entries at or below the saved applied (or
 *   commit) index; a single voter reports it as an error naming the file and offset and
 *   goes on with its store, every key reading its value.
 */
export const OUTCOMES = ['a intact', 'b refused', 'c read error', 'd repaired', 'e torn tail cut', 'f log loss reported'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * How a damaged snapshot fared when checked on its own (snapshot trials only): `detected`
 * (skipped when listed, or failing `verify`); `harmless` (it reads as the original, every
 * field and record); `undetected meta.json change` — a field no check covers changed (the
 * membership strings: meta.json has no checksum of its own). The last is counted, not
 * failed: its fix lies in the snapshot module, and the rebuilt store is still checked.
 */
export type SnapshotCheck = 'detected' | 'harmless' | 'undetected meta.json change';

/** The result of a trial: its outcome, or why it failed. */
export interface TrialResult {
  outcome?: Outcome;
  failure?: string;
  snapshot?: SnapshotCheck;
}

/** What an open of the node found: the refusal, or what it read back. */
type Opened =
  | { ok: false; refused: unknown; lines: string[] }
  | {
      ok: true;
      lines: string[];
      /** Per key ever written: the value read, undefined when absent, or the error. */
      read: Map<string, Buffer | undefined | Error>;
      /** Live keys never written. */
      extra: string[];
      /** What the store cut, and where the log ended, at open. */
      report: Bitcask['openReport'];
      lastIndex: number;
    };

/**
 * Opens the node in `dir` as a server does; with `replay`, runs it until the log is
 * replayed if entries are left to apply. Reads every key of `keys`, then stops it.
 */
async function openNode(dir: string, keys: ReadonlySet<string>, replay: boolean): Promise<Opened> {
  const lines: string[] = [];
  const logger = streamLogger('debug', { write: (s: string) => lines.push(s.replace(/^\S+ /, '').trimEnd()) });
  let store: Bitcask;
  try {
    store = await Bitcask.open(dir, { sync: 'none', maxFileSize: MAX_FILE_SIZE, cacheSize: 0, logger });
  } catch (err) {
    return { ok: false, refused: err, lines };
  }
  let cluster: Cluster;
  try {
    cluster = await Cluster.open(clusterOptions(dir, store, logger));
  } catch (err) {
    await store.close();
    return { ok: false, refused: err, lines };
  }
  const report = store.openReport;
  const lastIndex = cluster.status().lastIndex;
  try {
    // A node with entries left to apply runs until it has applied them all (a node with none would only elect itself).
    if (replay && cluster.driver.applied < lastIndex) {
      cluster.start();
      // A one-node cluster leads at once and commits a no-op after the log: all of it is applied then.
      await until('the log replay', () => cluster.driver.applied > lastIndex);
    }
    const read = new Map<string, Buffer | undefined | Error>();
    for (const key of keys) {
      try {
        read.set(key, store.get(Buffer.from(key, 'latin1')));
      } catch (err) {
        read.set(key, err as Error);
      }
    }
    const extra = [...store.keys()].map((k) => k.toString('latin1')).filter((k) => !keys.has(k));
    return { ok: true, lines, read, extra, report, lastIndex };
  } finally {
    await cluster.stop();
    await store.close();
  }
}

/**
 * Creates `dir` holding `variant`'s files with `damage`; snapshot trials leave the store's
 * files out. Files the node only reads, renames or deletes (sealed data files and hints,
 * snapshots, the Raft state and applied index, which are replaced by renames) are hard
 * links to the variant's directory; those it changes in place (the active data file and
 * its hint, the log) are copies.
 */
function materialize(dir: string, variant: Variant, damage: Damage): void {
  const active = variant.position.file;
  const inPlace = new Set([active, active.replace(/\.data$/, '.hint'), 'raft/log']);
  for (const [rel, bytes] of variant.files) {
    const kind = kindOf(rel);
    if (damage.kind === 'snapshot' && (kind === 'data' || kind === 'hint')) continue;
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (rel === damage.file) fs.writeFileSync(file, applyDamage(bytes, damage));
    else if (inPlace.has(rel)) fs.copyFileSync(path.join(variant.dir, rel), file);
    else fs.linkSync(path.join(variant.dir, rel), file);
  }
}

/**
 * Checks a damaged snapshot on its own: detected (not listed, or failing `verify`), or
 * equal in every decoded field and record to the one in `original` (an undamaged copy).
 */
async function checkSnapshot(dir: string, original: string, damage: Damage): Promise<SnapshotCheck> {
  const id = damage.file.split('/')[1]!;
  const store = new SnapshotStore(path.join(dir, 'snapshots'), { retain: 5, logger: silentLogger });
  const s = store.list().find((x) => x.meta.id === id);
  if (!s) return 'detected';
  try {
    await store.verify(s);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return 'detected';
  }
  const intact = new SnapshotStore(path.join(original, 'snapshots'), { retain: 5, logger: silentLogger }).list().find((x) => x.meta.id === id)!;
  if (JSON.stringify(s.meta) !== JSON.stringify(intact.meta)) return 'undetected meta.json change';
  const records = async (from: SnapshotStore, snap: typeof s): Promise<string> => {
    const out: string[] = [];
    for await (const batch of from.readBatches(snap)) for (const r of batch) out.push(`${Buffer.from(r.key).toString('hex')}=${Buffer.from(r.value).toString('hex')}`);
    return out.join(',');
  };
  if ((await records(store, s)) !== (await records(store, intact))) throw new Error('a snapshot that passed verify reads other records');
  return 'harmless';
}

/** Where the keys read differ from `model`: undefined when they match, apart from `CorruptionError`s naming `damaged` (listed in `corrupt`). */
function compare(opened: Extract<Opened, { ok: true }>, model: ReadonlyMap<string, Buffer>, damaged: string): { wrong?: string; corrupt: number } {
  let corrupt = 0;
  const show = (v: Buffer | undefined): string => (v === undefined ? 'nothing' : `${v.length} bytes ${v.subarray(0, 8).toString('hex')}…`);
  for (const [key, got] of opened.read) {
    const want = model.get(key);
    if (got instanceof CorruptionError && got.file === damaged && want !== undefined) {
      corrupt++;
      continue;
    }
    if (got instanceof Error) return { wrong: `key ${JSON.stringify(key)}: ${got.message}`, corrupt };
    if (got === undefined ? want !== undefined : want === undefined || !got.equals(want)) return { wrong: `key ${JSON.stringify(key)} reads ${show(got)}, not ${show(want)}`, corrupt };
  }
  if (opened.extra.length > 0) return { wrong: `keys that should not exist: ${opened.extra.map((k) => JSON.stringify(k)).join(', ')}`, corrupt };
  return { corrupt };
}

/** Whether a refusal is precise: a `CorruptionError` naming `file` at an offset at or before the damage. */
function preciseRefusal(err: unknown, file: string, damage: Damage): string | undefined {
  if (!(err instanceof CorruptionError)) return `refused with ${String(err)}`;
  if (err.file !== file) return `the refusal names ${err.file}, not ${file}: ${err.message}`;
  if (!Number.isSafeInteger(err.offset) || err.offset < 0 || err.offset > damage.offset) return `the refusal names offset ${err.offset}, after the damage: ${err.message}`;
  return undefined;
}

/** Runs one trial in `dir` (created; the caller removes it): `variant` of `image` with `damage`. */
export async function runTrial(image: NodeImage, variant: Variant, damage: Damage, dir: string): Promise<TrialResult> {
  materialize(dir, variant, damage);
  const snapshot = damage.kind === 'snapshot' ? await checkSnapshot(dir, variant.dir, damage) : undefined;
  const damaged = path.join(dir, damage.file);
  const keys = new Set(image.history.flatMap((e) => e.writes.map(([k]) => k)));
  const first = await openNode(dir, keys, true);
  const fail = (why: string): TrialResult => ({ failure: `${why}\n  log: ${first.lines.join('\n       ')}`, snapshot });

  if (!first.ok) {
    // Snapshot trials lost the store: a refusal names its lost active file.
    const named = damage.kind === 'snapshot' ? path.join(dir, variant.position.file) : damaged;
    const why = damage.kind === 'hint' ? `a damaged hint made the open fail: ${String(first.refused)}` : preciseRefusal(first.refused, named, damage.kind === 'snapshot' ? { ...damage, offset: 0 } : damage);
    if (why) return fail(why);
    const again = await openNode(dir, keys, false);
    if (again.ok) return fail('refused once, then opened: the refusal does not stick');
    const why2 = preciseRefusal(again.refused, (first.refused as CorruptionError).file, { ...damage, offset: Number.MAX_SAFE_INTEGER });
    if (why2) return fail(`the second refusal differs: ${why2}`);
    return { outcome: 'b refused', snapshot };
  }

  // A log that lost entries the store had applied replays only those left onto the store.
  const expected = afterReplay(image, variant.applied, first.lastIndex);
  const { wrong, corrupt } = compare(first, expected, damaged);
  if (wrong) return fail(wrong);
  const log = first.lines.join('\n');
  const repaired = /rebuilding the store|loading a snapshot/.test(log);
  const logLoss = /raft log ends at index/.test(log);
  const r = first.report!;
  const position = path.join(dir, variant.position.file);
  if (repaired && !['data', 'snapshot', 'raft-state'].includes(damage.kind)) return fail(`a repair after damage to a ${damage.kind} file`);
  if (!repaired && r.cut && r.file === position && r.kept < variant.position.size) return fail(`the store cut ${r.file} at ${r.kept}, below its durable size ${variant.position.size}, without a repair`);
  if (!repaired && r.hinted !== undefined && r.kept < r.hinted) return fail(`the store kept ${r.kept} bytes of ${r.file}, its hint says ${r.hinted} were durable, without a repair`);
  if (!logLoss && first.lastIndex < variant.committed) return fail(`the log ends at ${first.lastIndex}, below the index ${variant.committed} known committed, and nothing was reported`);
  if (logLoss && first.lastIndex >= variant.committed) return fail('a log loss was reported though the log holds every index known committed');

  if (repaired) {
    const again = await openNode(dir, keys, false);
    if (!again.ok) return fail(`after the repair, the next open failed: ${String(again.refused)}`);
    const second = compare(again, expected, damaged);
    if (second.wrong || second.corrupt > 0) return fail(`after the repair, the next open reads ${second.wrong ?? `${second.corrupt} corrupt keys`}`);
    if (/rebuilding the store|loading a snapshot/.test(again.lines.join('\n'))) return fail('the next open repaired again');
    return { outcome: 'd repaired', snapshot };
  }
  if (corrupt > 0) return { outcome: 'c read error', snapshot };
  if (logLoss) return { outcome: 'f log loss reported', snapshot };
  if (r.cut || first.lastIndex < image.lastIndex) return { outcome: 'e torn tail cut', snapshot };
  return { outcome: 'a intact', snapshot };
}
