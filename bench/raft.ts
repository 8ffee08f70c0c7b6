/**
 * The Raft suite: the pure core's own speed, in the simulator (no disk, no sockets),
 * so that it is known never to be the bottleneck of a node.
 *
 * - commit: a 3-node cluster with every message delivered at once; the leader gets
 *   proposals of 100 bytes in batches of 256 between two Ready rounds (as a busy server
 *   would), and proposals committed per second of wall time are counted. Logs are
 *   compacted as they go, as a node would after snapshots.
 * - speed-up: a 3-node cluster run for simulated time — one tick is 100 ms, as in
 *   `bitraft serve` — with a proposal every tick; simulated seconds per wall second.
 */
import { MemoryStorage, RaftNode, type Message, type Ready } from '../src/core/raft/index.js';
import { seededRng } from '../src/core/support/rng.js';
import { now, type BenchConfig, type Metric, type Suite } from './harness.js';
import { formatCount } from './table.js';

/** Proposals committed per second the core must sustain (issue target). */
export const COMMIT_TARGET = 500_000;
const BATCH = 256;
const PAYLOAD = new Uint8Array(100).fill(120);
const TICK_SECONDS = 0.1;
const COMPACT_EVERY = 20_000;

/** A 3-node cluster whose messages are delivered immediately and in order. */
class BenchCluster {
  readonly nodes = new Map<string, RaftNode>();
  readonly storages = new Map<string, MemoryStorage>();
  committed = 0;
  private queue: Message[] = [];

  constructor(seed: number) {
    const ids = ['n1', 'n2', 'n3'];
    const rng = seededRng(seed);
    for (const id of ids) {
      const storage = MemoryStorage.bootstrap(ids);
      this.storages.set(id, storage);
      this.nodes.set(id, new RaftNode({ id, storage, rng, maxInflightMsgs: 4096 }));
    }
    // The bootstrap entries are handed out first: a node campaigns only once it applied what it knows is committed.
    this.settle();
    this.nodes.get('n1')!.campaign();
    this.settle();
    if (this.leader.role !== 'leader') throw new Error('n1 did not become the leader');
  }

  get leader(): RaftNode {
    return this.nodes.get('n1')!;
  }

  /** Handles every Ready and delivers every message until nothing moves. */
  settle(): void {
    for (;;) {
      let moved = false;
      for (const [id, node] of this.nodes) {
        while (node.hasReady()) {
          moved = true;
          this.handle(id, node, node.ready());
        }
      }
      const q = this.queue;
      this.queue = [];
      for (const m of q) this.nodes.get(m.to)!.step(m);
      if (!moved && q.length === 0) return;
    }
  }

  /** Compacts every log up to what its node applied. */
  compact(): void {
    for (const [id, node] of this.nodes) {
      const st = node.status();
      this.storages.get(id)!.compact(st.applied, st.conf);
    }
  }

  private handle(id: string, node: RaftNode, rd: Ready): void {
    const storage = this.storages.get(id)!;
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    if (rd.conf) storage.setConf(rd.conf);
    for (const m of rd.messages) this.queue.push(m);
    for (const p of rd.proposals) if (p.kind === 'committed') this.committed++;
    node.advance(rd);
  }
}

function measureCommits(total: number): { rate: number; seconds: number } {
  const cluster = new BenchCluster(1);
  const start = now();
  let proposed = 0;
  while (proposed < total) {
    for (let i = 0; i < BATCH; i++) cluster.leader.propose(PAYLOAD);
    proposed += BATCH;
    cluster.settle();
    if (proposed % COMPACT_EVERY < BATCH) cluster.compact();
  }
  const seconds = now() - start;
  if (cluster.committed !== proposed) throw new Error(`only ${cluster.committed} of ${proposed} proposals committed`);
  return { rate: proposed / seconds, seconds };
}

function measureSpeedup(ticks: number): { speedup: number; seconds: number } {
  const cluster = new BenchCluster(2);
  const start = now();
  for (let t = 0; t < ticks; t++) {
    for (const node of cluster.nodes.values()) node.tick();
    cluster.leader.propose(PAYLOAD);
    cluster.settle();
    if (t % COMPACT_EVERY === 0) cluster.compact();
  }
  const seconds = now() - start;
  if (cluster.leader.role !== 'leader') throw new Error('the leader lost its leadership in a fault-free run');
  return { speedup: (ticks * TICK_SECONDS) / seconds, seconds };
}

/** The Raft core suite of `npm run bench`. */
export const raftSuite: Suite = {
  name: 'raft',
  title: () => 'raft: the pure core in the simulator, 3 nodes, 100-byte proposals, messages delivered at once',
  run: async (config: BenchConfig): Promise<Metric[]> => {
    const total = config.quick ? 200_000 : 2_000_000;
    const ticks = config.quick ? 20_000 : 100_000;
    config.log(`raft: committing ${formatCount(total)} proposals in batches of ${BATCH}`);
    measureCommits(Math.min(total, 100_000)); // warm-up
    const commit = measureCommits(total);
    config.log(`  ${formatCount(commit.rate)}/s (${commit.seconds.toFixed(2)} s)`);
    config.log(`raft: ${formatCount(ticks)} ticks of ${TICK_SECONDS * 1000} ms with a proposal each`);
    const speed = measureSpeedup(ticks);
    config.log(`  ${formatCount(speed.speedup)}× real time (${speed.seconds.toFixed(2)} s)`);
    return [
      {
        id: 'raft.commit',
        name: 'proposals committed, 3 nodes, batches of 256',
        unit: 'ops/s',
        better: 'higher',
        value: commit.rate,
        target: { op: '>=', value: COMMIT_TARGET },
        details: { proposals: total, seconds: commit.seconds },
      },
      {
        id: 'raft.speedup',
        name: `simulated time vs real time (tick = ${TICK_SECONDS * 1000} ms)`,
        unit: '×',
        better: 'higher',
        value: speed.speedup,
        details: { ticks, seconds: speed.seconds },
      },
    ];
  },
};
