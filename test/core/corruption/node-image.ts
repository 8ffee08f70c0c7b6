/**
 * Small real data directories of a one-node cluster, built once with the real code and
 * kept in memory, for the corruption campaign to damage copies of.
 *
 * A node (an in-process `Cluster` over a `Bitcask` with 4 KiB data files, durability
 * `high`) applies about 130 seeded SET, MSET and DEL commands over 30 keys. With
 * `compacted`, it takes two snapshots along the way and compacts its log behind them
 * (keeping 60 entries, so both snapshots lie within the log); without, its log is whole.
 * Half-way through the last active data file it stops and restarts cleanly, which saves
 * the applied index with the store's durable position; then it writes more and stops.
 *
 * Two images of the final directory come out:
 * - `clean`: as the clean stop left it (every file has its hint, the applied index is
 *   the last one, everything fsynced);
 * - `crashed`: as a crash just before that stop would leave it — the active file has no
 *   hint, and the applied index and durable position are those saved at the restart, so
 *   the active file holds writes beyond its durable position that the log replays.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { readApplied, type StorePosition } from '../../../src/core/cluster/applied-index.js';
import { Cluster, RAFT_DIR } from '../../../src/core/cluster/cluster.js';
import { encodeCommand, KvMachine } from '../../../src/core/kv/index.js';
import { readStateFile, STATE_FILE } from '../../../src/core/raft/log-store.js';
import { manualClock } from '../../../src/core/support/clock.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { streamLogger } from '../../../src/core/server/log.js';

/** The node's id (its address). */
export const NODE_ID = '127.0.0.1:7101';
/** Data files rotate at this size. */
export const MAX_FILE_SIZE = 4096;
/** Snapshot settings of the node: none taken by itself, two kept, 60 entries of log kept behind one. */
export const SNAPSHOT_SETTINGS = { entries: 0, logBytes: 0, retain: 2, tail: 60 };

/** One variant of a node's directory. */
export interface Variant {
  readonly name: 'clean' | 'crashed';
  /** A directory holding `files`, never to be changed: trials link or copy from it. */
  readonly dir: string;
  /** Path relative to the directory → bytes. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** The applied index saved in it. */
  readonly applied: number;
  /** The highest index it knows committed: the applied index, or the commit index of the Raft state file. */
  readonly committed: number;
  /** The store's durable position saved with it. */
  readonly position: StorePosition;
}

/** The writes of one log entry: key (latin1) → value, or undefined for a delete. */
export interface EntryWrites {
  readonly index: number;
  readonly writes: readonly (readonly [string, Buffer | undefined])[];
}

/** A node's directory, in two variants, with the contents it must read back. */
export interface NodeImage {
  readonly name: string;
  readonly compacted: boolean;
  readonly clean: Variant;
  readonly crashed: Variant;
  /** Every live key (latin1) → its value after the last write. */
  readonly model: ReadonlyMap<string, Buffer>;
  /** The last log index. */
  readonly lastIndex: number;
  /** Every command entry's writes, in log order. */
  readonly history: readonly EntryWrites[];
}

/**
 * What a node whose store holds `image.model` reads after replaying its log from `from`
 * to `to`: the model with the writes of those entries applied again. Equal to the model
 * when `to` is the last index; otherwise the state a log that lost its end (entries the
 * store had applied) leaves.
 */
export function afterReplay(image: NodeImage, from: number, to: number): Map<string, Buffer> {
  const out = new Map(image.model);
  for (const e of image.history) {
    if (e.index <= from || e.index > to) continue;
    for (const [k, v] of e.writes) {
      if (v === undefined) out.delete(k);
      else out.set(k, v);
    }
  }
  return out;
}

/** Logs nothing (a `LevelLogger`). */
export const quietLogger = streamLogger('error', { write: () => true });

/** Options of the node's `Cluster` in `dir` over `store`. */
export function clusterOptions(dir: string, store: Bitcask, logger = quietLogger): ConstructorParameters<typeof Cluster>[0] {
  return {
    dir,
    id: NODE_ID,
    durability: 'high',
    // A one-node cluster: short timeouts spare the trials' waits (a node with entries left to apply campaigns only after a timeout).
    heartbeatMs: 5,
    electionMs: 10,
    store,
    machine: new KvMachine(store),
    transport: { send: () => {} },
    logger,
    join: false,
    checkpointMs: 3_600_000,
    snapshots: SNAPSHOT_SETTINGS,
  };
}

/** Resolves once `cond` holds, checking after every event-loop turn; rejects after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A running node over `dir` and the model of what it holds. */
class Writer {
  private store!: Bitcask;
  private cluster!: Cluster;

  constructor(
    readonly dir: string,
    readonly rng: Rng,
    readonly model: Map<string, Buffer>,
    readonly history: EntryWrites[],
  ) {}

  async start(): Promise<void> {
    this.store = await Bitcask.open(this.dir, { sync: 'none', maxFileSize: MAX_FILE_SIZE, cacheSize: 0, clock: manualClock(1_700_000_000_000), logger: silentLogger });
    this.cluster = await Cluster.open(clusterOptions(this.dir, this.store));
    this.cluster.start();
    await until('leadership', () => this.cluster.isLeader);
  }

  async stop(): Promise<void> {
    await this.cluster.stop();
    await this.store.close();
  }

  /** `n` seeded commands, values of up to `maxValue` bytes; each applied before the next. */
  async write(n: number, maxValue: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = this.rng.int(10);
      const key = (): string => (this.rng.int(16) === 0 ? '\x00\xff' : `k${String(this.rng.int(30)).padStart(2, '0')}`);
      const val = (): Buffer => Buffer.from(Array.from({ length: this.rng.int(maxValue + 1) }, () => this.rng.int(256)));
      const live = [...this.model.keys()];
      if (r === 0 && live.length > 0) {
        const k = live[this.rng.int(live.length)]!;
        await this.run([[k, undefined]], 'DEL', k);
      } else if (r === 1) {
        const pairs: [string, Buffer][] = [
          [key(), val()],
          [key(), val()],
        ];
        await this.run(pairs, 'MSET', ...pairs.flat());
      } else {
        const [k, v] = [key(), val()];
        await this.run([[k, v]], 'SET', k, v);
      }
    }
  }

  async snapshot(): Promise<void> {
    await this.cluster.snapshotNow();
  }

  rotate(): void {
    this.store.rotate();
  }

  get lastIndex(): number {
    return this.cluster.status().lastIndex;
  }

  /** Proposes the command `args`, whose effect is `writes`, and waits until it is applied. */
  private async run(writes: [string, Buffer | undefined][], ...args: (string | Buffer)[]): Promise<void> {
    const reply = await this.cluster.driver.propose(encodeCommand(args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a))));
    if (reply.type === 'error') throw new Error(`${String(args[0])} failed: ${reply.text}`);
    for (const [k, v] of writes) {
      if (v === undefined) this.model.delete(k);
      else this.model.set(k, v);
    }
    // One command at a time: it is the last entry of the log.
    this.history.push({ index: this.cluster.status().lastIndex, writes });
  }
}

/** Every file under `dir` (relative path → bytes). */
function capture(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else out.set(r, fs.readFileSync(path.join(dir, r)));
    }
  };
  walk('');
  return out;
}

/** Builds the image `name` in a directory under `root` (left there), from `seed`. */
export async function buildImage(root: string, name: string, compacted: boolean, seed: number): Promise<NodeImage> {
  const dir = path.join(root, name);
  const model = new Map<string, Buffer>();
  const history: EntryWrites[] = [];
  const w = new Writer(dir, seededRng(seed), model, history);
  await w.start();
  await w.write(70, 300);
  if (compacted) await w.snapshot();
  await w.write(40, 300);
  if (compacted) await w.snapshot();
  w.rotate();
  await w.write(8, 60);
  await w.stop();
  const raftDir = path.join(dir, RAFT_DIR);
  const restart = readApplied(raftDir, silentLogger);
  const restartApplied = fs.readFileSync(path.join(raftDir, 'applied'));
  await w.start();
  await w.write(8, 60);
  const lastIndex = w.lastIndex;
  await w.stop();
  const end = readApplied(raftDir, silentLogger);
  if (!restart.position || !end.position || end.position.file !== restart.position.file || end.position.size <= restart.position.size) {
    throw new Error(`test bug: the last writes left the active file ${JSON.stringify(restart.position)} (now ${JSON.stringify(end.position)})`);
  }
  const files = capture(dir);
  const commit = readStateFile(path.join(raftDir, STATE_FILE))!.hardState.commit;
  const crashed = new Map(files);
  crashed.delete(end.position.file.replace(/\.data$/, '.hint'));
  crashed.set(`${RAFT_DIR}/applied`, restartApplied);
  const crashedDir = `${dir}-crashed`;
  for (const [rel, bytes] of crashed) {
    fs.mkdirSync(path.dirname(path.join(crashedDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(crashedDir, rel), bytes);
  }
  return {
    name,
    compacted,
    clean: { name: 'clean', dir, files, applied: end.index, committed: Math.max(end.index, commit), position: end.position },
    crashed: { name: 'crashed', dir: crashedDir, files: crashed, applied: restart.index, committed: Math.max(restart.index, commit), position: restart.position },
    model,
    lastIndex,
    history,
  };
}
