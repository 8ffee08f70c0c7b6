import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS, LATENCY_BUCKETS } from './buckets.js';
import { registerCommandMetrics } from './command-metrics.js';
import { CommandTallies } from './command-tallies.js';
import { registerConnectionMetrics, type ConnectionReadings } from './connection-metrics.js';
import { registerRaftMetrics, type RaftReadings } from './raft-metrics.js';
import { registerStoreMetrics, type DiskReadings } from './store-metrics.js';

/** Which files an fsync made durable: the Raft log, or the Bitcask data files. */
export type SyncedFiles = 'log' | 'data';

/** What a running node reports to its metrics at each scrape. */
export interface NodeReadings extends DiskReadings {
  raft(): RaftReadings;
  connections(): ConnectionReadings;
}

/**
 * The metrics of one node, in their own prom-client registry (names prefixed `bitraft_`):
 * the process's (prom-client's default metrics), each command's count and latency,
 * fsyncs, snapshots and merges as they happen, and — once `watch` is given the running
 * node — its Raft state, store, disk use and connections, read at each scrape.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  /** Per-command counts and latencies, recorded by the connections (see `CommandTallies`). */
  readonly commands: CommandTallies;
  private readonly fsyncs: Histogram<'file'>;
  private readonly snapshots: Histogram;
  private readonly merges: Histogram;

  /** `commandNames`: the lower-case names the node knows; other names are counted as `unknown`. */
  constructor(commandNames: Iterable<string>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'bitraft_' });
    this.commands = new CommandTallies(commandNames);
    registerCommandMetrics(this.registry, this.commands);
    const registers = [this.registry];
    this.fsyncs = new Histogram({
      name: 'bitraft_fsync_duration_seconds',
      help: 'Seconds each fsync took, by the files it made durable: "log" (the Raft log) or "data" (the Bitcask data files).',
      labelNames: ['file'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    for (const file of ['log', 'data'] as const) this.fsyncs.zero({ file });
    this.snapshots = new Histogram({ name: 'bitraft_snapshot_duration_seconds', help: 'Seconds each snapshot took to write.', buckets: [...DURATION_BUCKETS], registers });
    this.merges = new Histogram({ name: 'bitraft_merge_duration_seconds', help: 'Seconds each merge of the data files took.', buckets: [...DURATION_BUCKETS], registers });
  }

  /** The callback to tell of each fsync of `file` and the seconds it took (an `onSync` of the store or the log). */
  fsyncObserver(file: SyncedFiles): (seconds: number) => void {
    return this.fsyncs.labels(file).observe;
  }

  /** Records a snapshot written in `seconds`. Bound: may be handed on as a callback. */
  readonly observeSnapshot = (seconds: number): void => {
    this.snapshots.observe(seconds);
  };

  /** Records a merge of the data files that took `seconds`; whatever runs a merge calls it once the merge is done. Bound: may be handed on as a callback. */
  readonly observeMerge = (seconds: number): void => {
    this.merges.observe(seconds);
  };

  /** Adds the metrics read from the running node at each scrape. Call once, when the node is open. */
  watch(readings: NodeReadings): void {
    registerRaftMetrics(this.registry, () => readings.raft());
    registerStoreMetrics(this.registry, readings);
    registerConnectionMetrics(this.registry, () => readings.connections());
  }
}
