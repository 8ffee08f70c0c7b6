import fs from 'node:fs';
import path from 'node:path';
import type { Bitcask, StoreView } from '../bitcask/index.js';
import { decodeEntry, type KvMachine } from '../kv/index.js';
import { DiskLogStore, LOG_FILE, type DiskLogStoreOptions } from '../raft/log-store.js';
import { RaftDriver, type Transport } from '../raft/driver.js';
import { RaftNode, type RaftStatus } from '../raft/node.js';
import type { ConfChange, ConfState, Message, NodeId, SnapshotMeta, SoftState } from '../raft/types.js';
import type { Reply } from '../resp/types.js';
import { IncomingSnapshots, SnapshotStore, type StoredSnapshot } from '../snapshot/index.js';
import type { Durability } from '../server/config.js';
import type { LevelLogger } from '../server/log.js';
import { BitraftError, CorruptionError, hasCode } from '../support/errors.js';
import { cryptoRng, type Rng } from '../support/rng.js';
import { APPLIED_FILE, AppliedCheckpoint, readApplied, readAppliedIndex, writeAppliedIndex, type AppliedState } from './applied-index.js';
import { intervalTicker } from './interval-ticker.js';
import { KvStateMachine } from './kv-state-machine.js';
import { SnapshotSender, type InstallClient } from './snapshot-sender.js';
import { Snapshotter, type SnapshotPolicy } from './snapshotter.js';
import { messageOf } from '../support/error-message.js';
import type { NodeCredentials } from './credentials.js';
import { digestView, type StateDigest } from './state-digest.js';

/** The Raft directory inside a node's data directory. */
export const RAFT_DIR = 'raft';
/** The snapshots directory inside a node's data directory. */
export const SNAPSHOTS_DIR = 'snapshots';

/** When snapshots are taken, how many are kept, and how much log stays behind them. */
export interface SnapshotSettings extends SnapshotPolicy {
  /** How many snapshots are kept on disk (the newest). */
  retain: number;
}

/** Defaults of `SnapshotSettings`: every 100,000 entries or 512 MiB of log, 2 kept, 10,000 entries of tail. */
export const DEFAULT_SNAPSHOT_SETTINGS: SnapshotSettings = { entries: 100_000, logBytes: 512 << 20, retain: 2, tail: 10_000 };

/** Settings of a `Cluster`. */
export interface ClusterOptions {
  /** The node's data directory; Raft's files live in its `raft` subdirectory. */
  dir: string;
  /** This node's id: the address peers and clients reach it at (`host:port`). */
  id: NodeId;
  /**
   * `high`: entries are fsynced before anything depending on them is sent (a write is
   * acknowledged once fsynced on a majority); `medium`: entries are fsynced once a
   * second; `low`: left to the operating system. Term, vote and membership are always fsynced.
   */
  durability: Durability;
  heartbeatMs: number;
  /** Base election timeout; each election waits a random time in [electionMs, 2·electionMs). */
  electionMs: number;
  /** Longest a write or read waits to be committed or confirmed before it fails with `TIMEOUT` (default 10 s). */
  requestTimeoutMs?: number;
  store: Bitcask;
  machine: KvMachine;
  transport: Transport;
  logger: LevelLogger;
  /** Whether the node joins an existing cluster (only matters when it has no state yet). */
  join: boolean;
  /** How often the applied index is saved (default 1000 ms). */
  checkpointMs?: number;
  /** Snapshot and compaction settings (default `DEFAULT_SNAPSHOT_SETTINGS`). */
  snapshots?: SnapshotSettings;
  /** How to reach the other nodes, for the connections that stream snapshots. */
  credentials?: NodeCredentials;
  /** Opens the connection a snapshot is streamed to a follower over (default: a `RespClient` to its address). */
  installClient?: (to: NodeId) => InstallClient;
  rng?: Rng;
  /**
   * What the Raft directory's applied-index file held, when the caller read it already
   * (the host does, to roll the store back before opening it); `open` reads it when absent.
   */
  applied?: AppliedState;
  /** Told of every fsync of the Raft log's entries, with the seconds it took. */
  onLogSync?: (seconds: number) => void;
  /** Told of every snapshot this node writes, with the seconds it took. */
  onSnapshot?: (seconds: number) => void;
}

/** How a RAFTSTATE-style role is spelled for users. */
const ROLE_NAMES = { follower: 'Follower', 'pre-candidate': 'Candidate', candidate: 'Candidate', leader: 'Leader' } as const;

/**
 * One node's membership in a Raft cluster: the durable log under `<dir>/raft`, the Raft
 * core and its driver, the key/value state machine with its applied-index checkpoint,
 * and the membership operations built on them. A directory without Raft state starts as
 * the single voter of a new cluster — unless it is joining one, in which case it waits,
 * empty, for a leader to add it and replicate the log.
 */
export class Cluster {
  readonly id: NodeId;
  readonly driver: RaftDriver<Reply>;
  /** Whether the node had cluster state when it opened (`--join` is ignored then). */
  readonly hadState: boolean;
  private readonly core: RaftNode;
  private readonly log: DiskLogStore;
  private readonly checkpoint: AppliedCheckpoint;
  /** Snapshots on disk (`<dir>/snapshots`). */
  readonly snapshots: SnapshotStore;
  /** Snapshots being received from a leader (`RAFTINSTALL`). */
  readonly incoming: IncomingSnapshots;
  private readonly snapshotter: Snapshotter;
  private readonly sender: SnapshotSender;
  private readonly opts: ClusterOptions;
  private readonly logger: LevelLogger;
  private readonly syncTimer: NodeJS.Timeout | undefined;
  private soft: SoftState = { role: 'follower', leader: undefined };
  private newLeaders = 0;
  /** Each returns true once it is done (and is then forgotten). */
  private leaderWaiters: (() => boolean)[] = [];
  private stopping: Promise<void> | undefined;

  /**
   * Opens the Raft state of `opts.dir` and constructs the cluster; nothing runs until
   * `start`. First it checks what the disk lost: a log that no longer holds entries this
   * node knew were committed (see `checkLog`: a voter of a larger cluster with durability
   * `high` refuses to start), and a store that lost data it had made durable or has not
   * caught up with the start of the compacted log — which is rebuilt from a snapshot and
   * the log (see `recoverStore`), or, when it cannot be, refused with a `CorruptionError`
   * naming the file and offset.
   */
  static async open(opts: ClusterOptions): Promise<Cluster> {
    const raftDir = path.join(opts.dir, RAFT_DIR);
    const log = DiskLogStore.open(raftDir, logOptionsOf(opts));
    let applied: number;
    try {
      const saved = opts.applied ?? readApplied(raftDir, opts.logger);
      // Merges keep away from what a restart would roll back (see `AppliedCheckpoint`).
      if (saved.position) opts.store.protectFrom(saved.position);
      checkLog(opts, log, saved.index);
      applied = await recoverStore(opts, log, saved);
    } catch (err) {
      log.close();
      throw err;
    }
    return new Cluster(opts, log, applied);
  }

  /**
   * Opens (or creates) the Raft state of `opts.dir`, or takes `log` opened by `open`
   * with the applied index saved (`applied`; read here when absent). Synchronous: nothing
   * runs until `start`. Use `open` unless the store is known to be current with the log.
   */
  constructor(opts: ClusterOptions, opened?: DiskLogStore, applied?: number) {
    this.opts = opts;
    this.id = opts.id;
    this.logger = opts.logger;
    const raftDir = path.join(opts.dir, RAFT_DIR);
    const logOptions = logOptionsOf(opts);
    let log = opened ?? DiskLogStore.open(raftDir, logOptions);
    this.hadState = log.lastIndex() > 0 || log.snapshot().index > 0;
    let savedIndex = applied;
    if (!this.hadState && !opts.join) {
      log.close();
      log = DiskLogStore.bootstrap(raftDir, [opts.id], logOptions);
      writeAppliedIndex(raftDir, 1, opts.store.durablePosition());
      savedIndex = 1;
      opts.logger.info(`raft: started a new single-node cluster as ${opts.id}`);
    } else if (this.hadState) {
      adoptAddress(log, opts.id, opts.logger);
    }
    this.log = log;
    const saved = Math.min(savedIndex ?? readAppliedIndex(raftDir, opts.logger), log.lastIndex());
    const hs = log.initialState().hardState;
    // The commit index is saved lazily; what the store applied was committed.
    if (saved > hs.commit) log.setHardState({ ...hs, commit: saved });
    const settings = opts.snapshots ?? DEFAULT_SNAPSHOT_SETTINGS;
    this.snapshots = new SnapshotStore(path.join(opts.dir, SNAPSHOTS_DIR), { retain: settings.retain, logger: opts.logger });
    this.incoming = new IncomingSnapshots(this.snapshots, { logger: opts.logger });
    const ticks = Math.max(2, Math.round(opts.electionMs / opts.heartbeatMs));
    this.core = new RaftNode({ id: opts.id, storage: log, rng: opts.rng ?? cryptoRng, electionTicks: ticks, heartbeatTicks: 1, applied: saved });
    this.driver = new RaftDriver<Reply>({
      core: this.core,
      log: {
        append: (entries) => log.append(entries),
        setHardState: (hs) => log.setHardState(hs),
        setConf: (conf) => log.setConf(conf),
        applySnapshot: (meta) => log.applySnapshot(meta),
        sync: () => log.syncAsync(),
      },
      fsm: new KvStateMachine(opts.machine, (meta) => this.install(meta)),
      transport: { send: (messages) => this.send(messages) },
      ticker: intervalTicker(opts.heartbeatMs),
      logger: opts.logger,
      applied: saved,
      onSoftState: (ss) => this.onSoftState(ss),
      timeout: { ticks: Math.ceil((opts.requestTimeoutMs ?? 10_000) / opts.heartbeatMs), ms: opts.requestTimeoutMs ?? 10_000 },
      afterReady: () => this.snapshotter.maybeSnapshot(),
    });
    this.checkpoint = new AppliedCheckpoint(
      { dir: raftDir, store: opts.store, applied: () => this.driver.applied, logger: opts.logger, intervalMs: opts.checkpointMs ?? 1000 },
      saved,
    );
    this.snapshotter = new Snapshotter({
      openView: () => opts.store.openView(),
      snapshots: this.snapshots,
      log,
      driver: this.driver,
      conf: () => this.core.status().conf,
      checkpoint: this.checkpoint,
      policy: settings,
      logger: opts.logger,
      onSnapshot: opts.onSnapshot,
    });
    this.sender = new SnapshotSender({
      newest: () => this.snapshotter.forFollower(),
      send: (m) => opts.transport.send([m]),
      report: (to, ok) => this.driver.reportSnapshot(to, ok),
      suspect: (s) => void this.dropIfCorrupt(s),
      credentials: opts.credentials,
      connect: opts.installClient,
      logger: opts.logger,
    });
    if (opts.durability === 'medium') {
      this.syncTimer = setInterval(() => {
        try {
          log.sync(true);
        } catch (err) {
          opts.logger.warn(`raft: fsync of the log failed: ${(err as Error).message}`);
        }
      }, 1000);
      this.syncTimer.unref();
    }
  }

  /** Starts ticking, applying and (as the only voter of a new cluster) leading. */
  start(): void {
    this.driver.start();
    this.checkpoint.start();
    const conf = this.core.status().conf;
    if (conf.voters.length === 1 && conf.voters[0] === this.id) this.driver.campaign();
  }

  /** The node's Raft state now. */
  status(): RaftStatus {
    return this.core.status();
  }

  /** The role as RAFTSTATE shows it: `Leader`, `Follower`, `Candidate` or `Shutdown`. */
  get roleName(): string {
    return this.stopping || this.driver.isStopped ? 'Shutdown' : ROLE_NAMES[this.core.role];
  }

  /** Whether this node leads now. */
  get isLeader(): boolean {
    return this.core.role === 'leader' && !this.driver.isStopped;
  }

  /** How many times since it opened this node came to know a new leader (itself included). */
  get leaderChanges(): number {
    return this.newLeaders;
  }

  /** The leader this node knows of (itself when leading), or undefined. */
  get leader(): NodeId | undefined {
    return this.driver.isStopped ? undefined : this.core.leader;
  }

  /**
   * Hands messages from a peer to the core. A snapshot message whose snapshot was not
   * streamed to this node first (see `SnapshotSender`) is dropped: the leader offers it
   * again.
   */
  receive(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.to !== this.id) continue;
      if (m.type === 'snapshot' && !this.snapshots.find(m.snapshot.index, m.snapshot.term)) {
        this.logger.warn(`raft: ignored the snapshot at index ${m.snapshot.index} from ${m.from}: it was not received`);
        continue;
      }
      this.driver.receive(m);
    }
  }

  /**
   * A digest of the key/value state at the applied index (`RAFTDIGEST`): captured at rest
   * (a point-in-time view), then read while the node goes on. Nodes that applied the same
   * index must have the same digest.
   */
  stateDigest(): Promise<StateDigest> {
    return new Promise((resolve, reject) => {
      this.driver.atRest(() => {
        let view: StoreView;
        try {
          view = this.opts.store.openView();
        } catch (err) {
          return reject(err as Error);
        }
        digestView(view, this.driver.applied).then(resolve, reject);
      });
    });
  }

  /**
   * Takes a snapshot of the state applied so far (`RAFTSNAPSHOT`), or returns the newest
   * one if nothing was applied since; the log is then compacted behind it.
   */
  snapshotNow(): Promise<StoredSnapshot> {
    return this.snapshotter.snapshotNow();
  }

  /** Compacts the log behind the newest snapshot, keeping `tail` entries (default: the setting); resolves with the number dropped. */
  shrinkLog(tail?: number): Promise<number> {
    return this.snapshotter.shrinkLog(tail);
  }

  /** Index of the newest snapshot this node holds (or of the compacted log's start). */
  get lastSnapshotIndex(): number {
    return this.snapshotter.lastSnapshotIndex;
  }

  /** Entries and bytes of the Raft log on disk. */
  logSize(): { entries: number; bytes: number } {
    const first = this.log.snapshot().index;
    return { entries: this.log.lastIndex() - first, bytes: this.log.bytesAfter(first) };
  }

  /**
   * Resolves with the leader once one other than `except` is known, or with undefined
   * after `ms` (or when the node stops).
   */
  waitForLeader(ms: number, except?: NodeId): Promise<NodeId | undefined> {
    const found = (): NodeId | undefined => {
      const leader = this.leader;
      return leader === except ? undefined : leader;
    };
    if (found() !== undefined) return Promise.resolve(found());
    return new Promise((resolve) => {
      const waiter = (): boolean => {
        if (found() === undefined && !this.driver.isStopped) return false;
        clearTimeout(timer);
        resolve(found());
        return true;
      };
      const timer = setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((w) => w !== waiter);
        resolve(found());
      }, ms);
      timer.unref();
      this.leaderWaiters.push(waiter);
    });
  }

  /**
   * Adds `addr` as a voter (run on the leader): first as a learner, then — once it has
   * caught up with the log as it was when it was added, within `catchUpMs` — promoted,
   * so a new node never counts towards the quorum before it holds the log. Idempotent:
   * an existing voter is left alone, an existing learner is promoted.
   */
  async addPeer(addr: NodeId, catchUpMs: number): Promise<void> {
    let conf = this.status().conf;
    if (conf.voters.includes(addr)) return;
    if (!conf.learners.includes(addr)) {
      await this.changeConf({ op: 'add-learner', node: addr, context: addr });
      this.logger.info(`raft: added ${addr} as a learner`);
    }
    const target = this.status().commit;
    const deadline = Date.now() + catchUpMs;
    for (;;) {
      const st = this.status();
      if (st.role !== 'leader') throw new BitraftError('NOT_LEADER', 'leadership was lost while adding the node');
      const match = st.progress[addr]?.match ?? 0;
      if (match >= target) break;
      if (Date.now() > deadline) {
        throw new BitraftError('TIMEOUT', `${addr} did not catch up with the log within ${catchUpMs} ms (at ${match} of ${target}); it stays a learner, retry to promote it`);
      }
      await sleep(Math.min(50, this.opts.heartbeatMs));
    }
    conf = this.status().conf;
    if (conf.learners.includes(addr)) await this.changeConf({ op: 'promote', node: addr });
    this.logger.info(`raft: ${addr} is a voter`);
  }

  /** Removes `addr` from the cluster (run on the leader); resolves once committed. */
  async removePeer(addr: NodeId): Promise<void> {
    const conf = this.status().conf;
    if (!conf.voters.includes(addr) && !conf.learners.includes(addr)) {
      throw new BitraftError('NOT_FOUND', `${addr} is not a member of the cluster`);
    }
    await this.changeConf({ op: 'remove', node: addr });
    this.logger.info(`raft: removed ${addr}`);
  }

  /**
   * Hands leadership to `to` (by default the voter with the most of the log) and waits
   * up to `ms` for this node to stop leading. Resolves with the new leader, or undefined
   * when there is no other voter or the transfer did not happen in time.
   */
  async transferLeadership(to: NodeId | undefined, ms: number): Promise<NodeId | undefined> {
    const st = this.status();
    if (st.role !== 'leader') throw new BitraftError('NOT_LEADER', 'only the leader can transfer leadership');
    const candidates = st.conf.voters.filter((v) => v !== this.id);
    const target = to ?? candidates.sort((a, b) => (st.progress[b]?.match ?? 0) - (st.progress[a]?.match ?? 0))[0];
    if (target === undefined) return undefined;
    if (!candidates.includes(target)) throw new BitraftError('INVALID_ARGUMENT', `${target} is not a voter of the cluster`);
    this.driver.transferLeadership(target);
    const deadline = Date.now() + ms;
    while (this.core.role === 'leader' && Date.now() < deadline) await sleep(10);
    if (this.core.role === 'leader') return undefined;
    // It stepped down on the transferee's vote request: the new leader is known from its first append.
    return this.waitForLeader(Math.max(0, deadline - Date.now()));
  }

  /** Stops the node: no more ticks or messages, pending requests fail with `CLOSED`, the log is synced and closed, the applied index saved. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.syncTimer);
      this.sender.close();
      this.snapshotter.stop();
      await this.driver.stop();
      await this.incoming.close();
      await this.checkpoint.stop();
      try {
        this.log.sync(true);
      } finally {
        this.log.close();
      }
      this.leaderWaiters = this.leaderWaiters.filter((w) => !w());
    })();
    return this.stopping;
  }

  /**
   * Proposes `cc`; while another change is in progress, retries every 100 ms, 50 times at
   * most. When the change that was in progress did what `cc` asks (an earlier leader's
   * copy of the same request, committed by this one), the retry's refusal is success.
   */
  private async changeConf(cc: ConfChange, attempt = 0): Promise<void> {
    try {
      await this.driver.proposeConfChange(cc);
    } catch (err) {
      const dropped = err instanceof BitraftError && err.code === 'DROPPED';
      if (dropped && attempt > 0 && err.message.includes('invalid-conf') && confReached(this.status().conf, cc)) return;
      if (!dropped || !err.message.includes('conf-pending') || attempt >= 50) throw err;
      await sleep(100);
      await this.changeConf(cc, attempt + 1);
    }
  }

  /** Sends messages through the transport; snapshot messages go through the sender, which streams the snapshot first. */
  private send(messages: readonly Message[]): void {
    if (!messages.some((m) => m.type === 'snapshot')) return this.opts.transport.send(messages);
    for (const m of messages) if (m.type === 'snapshot') this.sender.offer(m);
    this.opts.transport.send(messages.filter((m) => m.type !== 'snapshot'));
  }

  /**
   * Replaces the store with the snapshot `meta` the leader streamed here (the log was
   * replaced already): checked against its CRC, loaded into the store atomically — no
   * key survives that the snapshot lacks — and the applied index saved.
   */
  private async install(meta: SnapshotMeta): Promise<void> {
    const s = this.snapshots.find(meta.index, meta.term);
    if (!s) throw new BitraftError('NOT_FOUND', `the snapshot at index ${meta.index} (term ${meta.term}) is not on disk`);
    const started = Date.now();
    await this.snapshots.verify(s);
    const keys = await this.opts.store.replaceAll(this.snapshots.readBatches(s));
    await this.checkpoint.saveIndex(meta.index);
    this.snapshotter.installed(meta.index);
    this.logger.info(`raft: installed the snapshot ${s.meta.id}: ${keys} keys in ${Date.now() - started} ms`);
  }

  /** Checks a snapshot a follower found damaged; a corrupt one is deleted, so the next transfer sends another. */
  private async dropIfCorrupt(s: StoredSnapshot): Promise<void> {
    const problem: unknown = await this.snapshots.verify(s).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!hasCode(problem, 'CORRUPT')) return;
    this.logger.warn(`raft: deleting the damaged snapshot ${s.meta.id}: ${problem.message}`);
    fs.rmSync(s.path, { recursive: true, force: true });
  }

  private onSoftState(ss: SoftState): void {
    const prev = this.soft;
    this.soft = ss;
    if (ss.role !== prev.role) {
      const term = this.core.term;
      if (ss.role === 'leader') this.logger.info(`raft: became the leader at term ${term}`);
      else if (prev.role === 'leader') this.logger.info(`raft: stepped down at term ${term}`);
    }
    if (ss.leader !== prev.leader && ss.leader !== undefined) {
      this.newLeaders++;
      if (ss.leader !== this.id) this.logger.info(`raft: the leader is ${ss.leader}`);
    }
    this.leaderWaiters = this.leaderWaiters.filter((w) => !w());
  }
}

/**
 * A one-node cluster whose address changed since it last ran (a new port): its only
 * voter is renamed to the new address. Nobody else holds its log, so this cannot split
 * a cluster; a node with peers must keep its address (or be removed and added again).
 */
function adoptAddress(log: DiskLogStore, id: NodeId, logger: LevelLogger): void {
  const conf = log.initialState().conf;
  if (conf.voters.includes(id) || conf.learners.includes(id)) return;
  if (conf.voters.length === 1 && conf.learners.length === 0) {
    logger.warn(`raft: this single-node cluster was ${conf.voters[0]}; it is now ${id}`);
    log.setConf({ voters: [id], learners: [] });
    const hs = log.initialState().hardState;
    log.setHardState({ ...hs, vote: hs.vote === conf.voters[0] ? id : hs.vote });
    log.sync();
    return;
  }
  logger.warn(`raft: ${id} is not a member of this directory's cluster (${[...conf.voters, ...conf.learners].join(', ') || 'none'}); waiting to be added`);
}

function logOptionsOf(opts: ClusterOptions): DiskLogStoreOptions {
  return { logger: opts.logger, syncEntries: opts.durability === 'high', onSync: opts.onLogSync };
}

/**
 * Checks that the log still holds every entry this node knew was committed: the saved
 * applied index and the saved commit index. Fewer means the end of the log was cut on
 * open (a record that failed its checksum or was cut short, with nothing valid after it)
 * or the file was truncated, and entries written durably are gone. With durability
 * `high` an entry is fsynced before it is acknowledged or applied, so that is damage, not
 * a crash: a voter of a cluster of several voters then refuses to start
 * (`CorruptionError` naming the log file and where it now ends) — it may have
 * acknowledged those entries towards a commit, and voting without them could elect a
 * leader that lacks them (etcd refuses likewise). The node must be removed and added
 * again. A learner, a single voter (no other copy exists; its store still holds what it
 * applied) and the lower durability levels (which apply entries before fsyncing them, so
 * a power failure may legitimately lose them) log the loss as an error and go on: the
 * leader sends the entries again, and a single voter continues from its store.
 */
function checkLog(opts: ClusterOptions, log: DiskLogStore, applied: number): void {
  const { hardState, conf } = log.initialState();
  const known = Math.max(applied, hardState.commit);
  const last = log.lastIndex();
  if (known <= last) return;
  const file = path.join(log.dir, LOG_FILE);
  const end = log.bytesAfter(log.snapshot().index);
  const what = `the raft log ends at index ${last}, but index ${known} was ${applied >= hardState.commit ? 'applied' : 'committed'} here: entries ${last + 1} to ${known}, written durably, are gone`;
  if (opts.durability === 'high' && conf.voters.length > 1 && conf.voters.includes(opts.id)) {
    throw new CorruptionError(
      file,
      end,
      `${what}. This node votes in the cluster and may have acknowledged them, so it does not start: remove it from the cluster (bitraft leave), ` +
        `delete its data directory and add it again (bitraft serve --join), so that it receives the log or a snapshot from the leader`,
    );
  }
  opts.logger.error(`raft: corrupt data in ${file} at offset ${end}: ${what}; going on with the entries that are left`);
}

/** Whether `conf` already has what `cc` asks for. */
function confReached(conf: ConfState, cc: ConfChange): boolean {
  const voter = conf.voters.includes(cc.node);
  if (cc.op === 'add-learner') return voter || conf.learners.includes(cc.node);
  if (cc.op === 'remove') return !voter && !conf.learners.includes(cc.node);
  return voter;
}

/**
 * Rebuilds the store when it cannot simply replay the log after its saved applied index:
 *
 * - It lost data it had made durable (`Bitcask.lostSince` the position saved with the
 *   applied index: a cut below it, a shorter or missing file). Replaying the log after
 *   the applied index would not bring those writes back, so the store is rebuilt to that
 *   index from scratch: from the newest fitting snapshot — or from nothing, if the log was
 *   never compacted — plus the log's command entries after it, applied here as the
 *   driver would apply them. The saved applied index stays (now with the new position),
 *   so Raft goes on as before: membership changes are not replayed. Without a snapshot
 *   or the whole log, it refuses with a `CorruptionError` naming the file and offset and
 *   saying how to recover.
 * - It fell behind the start of the compacted log: the saved applied index is below the
 *   index the log was compacted (or replaced by an installed snapshot) at, so the entries
 *   in between are gone from the log — after a crash in the middle of installing a
 *   snapshot, or when the store files were lost without a position to tell. It is loaded
 *   from the newest fitting snapshot; without one the node cannot start (`CORRUPT`).
 * - Its applied index is not known (the file is missing or damaged) while it holds keys
 *   and the log starts at index 1: it is rebuilt as after a loss, up to the commit index
 *   the log saved.
 *
 * A fitting snapshot covers the log's start, lies within the log, agrees with its term and
 * passes its CRC check; corrupt ones are reported and skipped. Returns the applied index
 * saved once done (the one read, when nothing needed rebuilding).
 */
async function recoverStore(opts: ClusterOptions, log: DiskLogStore, saved: AppliedState): Promise<number> {
  const raftDir = path.join(opts.dir, RAFT_DIR);
  const start = log.snapshot().index;
  const loss = opts.store.lostSince(saved.position);
  const behind = start > 0 && saved.index < start;
  // No applied index, a log from index 1 and a store holding keys: it holds some prefix
  // of the log's effects, but which is not known, so no replay could be right.
  const unknown = saved.unknown === true && !behind && log.lastIndex() > 0 && opts.store.size > 0;
  if (!loss && !behind && !unknown) return saved.index;
  const snapshotsDir = path.join(opts.dir, SNAPSHOTS_DIR);
  if (unknown) {
    opts.logger.error(
      `raft: the applied index is not known (${path.join(raftDir, APPLIED_FILE)} is missing or damaged) and the store holds ${opts.store.size} keys: ` +
        'replaying the log onto them would apply some entries twice; rebuilding the store from a snapshot and the log',
    );
  } else if (loss) {
    opts.logger.error(
      `raft: the store lost data it had made durable: ${loss.bytes} bytes of ${loss.file} from offset ${loss.offset} are gone (${loss.reason}), ` +
        `though the applied index ${saved.index} saved with them counts them in; rebuilding the store from a snapshot and the log`,
    );
  } else {
    opts.logger.warn(`raft: the store has applied up to index ${saved.index} but the log starts after ${start}: loading a snapshot`);
  }
  const snapshot = await fittingSnapshot(opts, log);
  if (behind && !loss) {
    if (!snapshot) throw new BitraftError('CORRUPT', `the store has applied up to index ${saved.index}, the log starts after ${start}, and no valid snapshot in ${snapshotsDir} covers the gap`);
    const keys = await opts.store.replaceAll(snapshot.readBatches());
    writeAppliedIndex(raftDir, snapshot.index, opts.store.durablePosition());
    opts.logger.info(`raft: loaded the snapshot ${snapshot.id}: ${keys} keys`);
    return snapshot.index;
  }
  if (loss && !snapshot && start > 0) {
    throw new CorruptionError(
      loss.file,
      loss.offset,
      `${loss.bytes} bytes the store had made durable are gone (${loss.reason}), and the store cannot be rebuilt here: no valid snapshot in ${snapshotsDir} ` +
        `covers the log, which starts after index ${start}. Restore the directory from a backup, or, in a cluster, remove this node (bitraft leave), ` +
        `delete its data directory and add it again (bitraft serve --join), so that it receives a fresh snapshot from the leader`,
    );
  }
  const base = snapshot?.index ?? 0;
  const keys = await opts.store.replaceAll(snapshot ? snapshot.readBatches() : noRecords());
  // Up to the applied index saved; when it is unknown, up to the commit index saved (what
  // the store held may have gone further: the driver applies the rest as it learns it committed).
  const target = unknown ? log.initialState().hardState.commit : saved.index;
  const upTo = Math.max(base, Math.min(target, log.lastIndex()));
  const commands = replayLog(opts.machine, log, base, upTo);
  await opts.store.sync();
  writeAppliedIndex(raftDir, upTo, opts.store.durablePosition());
  const from = snapshot ? `the snapshot ${snapshot.id} (${keys} keys)` : 'nothing';
  opts.logger.info(`raft: rebuilt the store up to index ${upTo} from ${from} and ${commands} commands of the log after index ${base}`);
  return upTo;
}

/** Entries read from the log at a time while rebuilding the store: at most this many bytes (one entry at least). */
const REPLAY_BATCH_BYTES = 4 << 20;

/**
 * Applies the command entries `from + 1` … `to` of `log` to `machine`, as the driver
 * applies committed entries (a malformed one changes nothing), and returns how many
 * there were. The caller knows them committed. Throws what `KvMachine.apply` throws (a
 * storage failure).
 */
function replayLog(machine: KvMachine, log: DiskLogStore, from: number, to: number): number {
  let commands = 0;
  for (let next = from + 1; next <= to; ) {
    for (const e of log.entries(next, to + 1, REPLAY_BATCH_BYTES)) {
      next = e.index + 1;
      if (e.type !== 'command') continue;
      // What KvStateMachine.apply does: a malformed entry is a reply everywhere, no change.
      const decoded = decodeEntry(e.data);
      if (decoded) machine.apply(decoded.args, undefined, decoded.at);
      commands++;
    }
  }
  return commands;
}

/**
 * The newest snapshot in the node's snapshots directory that the store can be rebuilt
 * from, followed by the log: it covers the log's start, lies within the log, agrees with
 * the log's term at its index, and passes its CRC check. Corrupt ones are logged and skipped.
 */
async function fittingSnapshot(
  opts: ClusterOptions,
  log: DiskLogStore,
): Promise<{ id: string; index: number; readBatches: () => AsyncIterable<{ key: Uint8Array; value: Uint8Array }[]> } | undefined> {
  const settings = opts.snapshots ?? DEFAULT_SNAPSHOT_SETTINGS;
  const snapshots = new SnapshotStore(path.join(opts.dir, SNAPSHOTS_DIR), { retain: settings.retain, logger: opts.logger });
  const start = log.snapshot().index;
  for (const s of snapshots.list()) {
    const { index, term } = s.meta;
    if (index < start || index > log.lastIndex() || log.term(index) !== term) continue;
    try {
      await snapshots.verify(s);
    } catch (err) {
      opts.logger.warn(`raft: skipped the snapshot ${s.meta.id}: ${messageOf(err)}`);
      continue;
    }
    return { id: s.meta.id, index, readBatches: () => snapshots.readBatches(s) };
  }
  return undefined;
}

/** An input of no records, for `replaceAll` to empty the store. */
async function* noRecords(): AsyncGenerator<never[]> {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
