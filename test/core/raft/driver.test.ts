/**
 * Tests of the Raft driver (driver.ts): a 3-node cluster of real cores over an
 * in-process transport, ticked by hand — proposals resolve with the state machine's
 * result on the leader and are refused with the leader's name elsewhere, reads resolve
 * once applied, membership changes, transfers; and with a scripted core, the Ready
 * handling order, snapshot install, outcomes nobody waits for, unknown outcomes, reads
 * waiting for later applies, a failed write stopping the driver, and stop().
 */
import t from 'tap';
import {
  DroppedError,
  MemoryStorage,
  RaftDriver,
  RaftNode,
  type DurableLog,
  type Entry,
  type Message,
  type RaftCore,
  type Ready,
  type SnapshotMeta,
  type StateMachine,
  type Ticker,
} from '../../../src/core/raft/index.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng } from '../../../src/core/support/rng.js';

/** MemoryStorage with a `sync` that counts calls and can be made to fail. */
class SyncedStorage extends MemoryStorage implements DurableLog {
  syncs = 0;
  fail: Error | undefined;
  sync(): Promise<void> {
    this.syncs++;
    return this.fail ? Promise.reject(this.fail) : Promise.resolve();
  }
}

function bootstrapped(ids: string[]): SyncedStorage {
  const s = new SyncedStorage();
  const boot = MemoryStorage.bootstrap(ids);
  s.append(boot.entries(1, ids.length + 1, Infinity));
  s.setHardState(boot.initialState().hardState);
  s.setConf(boot.initialState().conf);
  return s;
}

/** A state machine that records what it applied and answers with the entry's text. */
class Recorder implements StateMachine<string> {
  applied: string[] = [];
  /** Per applied entry, whether a proposer on this node awaited it. */
  awaited: boolean[] = [];
  restored: SnapshotMeta[] = [];
  apply(e: Entry, awaited: boolean): string {
    const text = new TextDecoder().decode(e.data);
    this.applied.push(text);
    this.awaited.push(awaited);
    return `applied ${text} at ${e.index}`;
  }
  restore(meta: SnapshotMeta): Promise<void> {
    this.restored.push(meta);
    return Promise.resolve();
  }
}

class ManualTicker implements Ticker {
  tick: (() => void) | undefined;
  stops = 0;
  start(tick: () => void): void {
    this.tick = tick;
  }
  stop(): void {
    this.stops++;
    this.tick = undefined;
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

class Cluster {
  readonly drivers = new Map<string, RaftDriver<string>>();
  readonly nodes = new Map<string, RaftNode>();
  readonly fsms = new Map<string, Recorder>();
  readonly tickers = new Map<string, ManualTicker>();

  constructor(ids: string[]) {
    const rng = seededRng(7);
    for (const id of ids) {
      const node = new RaftNode({ id, storage: bootstrapped(ids), rng });
      const storage = (node as unknown as { storage: SyncedStorage }).storage;
      const fsm = new Recorder();
      const ticker = new ManualTicker();
      const transport = { send: (ms: readonly Message[]) => queueMicrotask(() => ms.forEach((m) => this.drivers.get(m.to)?.receive(m))) };
      const driver = new RaftDriver({ core: node, log: storage, fsm, transport, ticker });
      this.drivers.set(id, driver);
      this.nodes.set(id, node);
      this.fsms.set(id, fsm);
      this.tickers.set(id, ticker);
    }
    for (const d of this.drivers.values()) d.start();
  }

  async tick(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const ticker of this.tickers.values()) ticker.tick?.();
      await flush();
    }
  }

  leader(): string | undefined {
    return [...this.nodes.values()].find((n) => n.role === 'leader')?.id;
  }
}

t.test('a real cluster: proposals, refusals, reads, membership changes and stop', async (t) => {
  const c = new Cluster(['a', 'b', 'c']);
  await flush();
  c.drivers.get('a')!.campaign();
  await c.tick(3);
  t.equal(c.leader(), 'a');
  const a = c.drivers.get('a')!;
  t.equal(await a.propose(bytes('x')), 'applied x at 5', 'resolves with the state machine’s result');
  await c.tick(2);
  t.same(c.fsms.get('b')!.applied, ['x'], 'followers applied it too');
  t.same(c.fsms.get('a')!.awaited, [true], 'awaited on the node that proposed it');
  t.same(c.fsms.get('b')!.awaited, [false], 'and nowhere else');
  const refused = await c.drivers.get('b')!.propose(bytes('y')).catch((e: unknown) => e);
  t.ok(refused instanceof DroppedError);
  t.match(refused, { code: 'NOT_LEADER', reason: 'not-leader', leader: 'a', message: /the leader is a/ });
  await a.readIndex();
  t.ok(a.applied >= 5, 'a read resolves once applied up to its index');
  await t.rejects(c.drivers.get('c')!.readIndex(), { code: 'NOT_LEADER' });
  await a.proposeConfChange({ op: 'add-learner', node: 'd' });
  await t.rejects(a.proposeConfChange({ op: 'promote', node: 'zz' }), { code: 'DROPPED', reason: 'invalid-conf', message: 'dropped: invalid-conf' });
  a.transferLeadership('b');
  await c.tick(3);
  t.equal(c.leader(), 'b', 'leadership transferred');
  const pending = c.drivers.get('b')!.propose(bytes('late'));
  for (const d of c.drivers.values()) await d.stop();
  await t.rejects(pending, { code: 'CLOSED' }, 'what is pending at stop is rejected');
  await t.rejects(a.propose(bytes('z')), { code: 'CLOSED' }, 'requests after stop are refused');
  a.receive({ type: 'heartbeat', from: 'b', to: 'a', term: 99, commit: 0, context: 0 });
  t.equal(c.nodes.get('a')!.term < 99, true, 'messages after stop are ignored');
  await a.stop();
  t.equal(c.tickers.get('a')!.stops, 1, 'the ticker is stopped once');
  t.ok(a.isStopped);
});

/** A core whose Readies are scripted; records what the driver did with them. */
class ScriptedCore implements RaftCore {
  readies: Ready[] = [];
  advanced: Ready[] = [];
  nextId = 1;
  tick(): void {}
  step(): void {}
  propose(): number {
    return this.nextId++;
  }
  proposeConfChange(): number {
    return this.nextId++;
  }
  readIndex(): number {
    return this.nextId++;
  }
  immediate: number | undefined = undefined;
  immediateReadIndex(): number | undefined {
    return this.immediate;
  }
  campaign(): void {}
  transferLeadership(): void {}
  snapshotReports: [string, boolean][] = [];
  reportSnapshot(to: string, ok: boolean): void {
    this.snapshotReports.push([to, ok]);
  }
  hasReady(): boolean {
    return this.readies.length > 0;
  }
  ready(): Ready {
    return this.readies.shift()!;
  }
  advance(rd: Ready): void {
    this.advanced.push(rd);
  }
}

const empty: Ready = { softState: undefined, hardState: undefined, snapshot: undefined, entries: [], conf: undefined, messages: [], committed: [], proposals: [], reads: [] };
const entry = (index: number, type: Entry['type'] = 'command'): Entry => ({ index, term: 2, type, data: bytes(`e${index}`) });

function scripted(): { core: ScriptedCore; log: SyncedStorage; fsm: Recorder; sent: Message[]; driver: RaftDriver<string>; logger: ReturnType<typeof memoryLogger> } {
  const core = new ScriptedCore();
  const log = new SyncedStorage();
  const fsm = new Recorder();
  const sent: Message[] = [];
  const logger = memoryLogger();
  const driver = new RaftDriver({ core, log, fsm, transport: { send: (ms) => sent.push(...ms) }, ticker: new ManualTicker(), logger });
  return { core, log, fsm, sent, driver, logger };
}

t.test('a Ready is handled in order: snapshot, writes and sync, send, apply, outcomes', async (t) => {
  const { core, log, fsm, sent, driver } = scripted();
  const p1 = driver.propose(bytes('p1')); // id 1
  const p2 = driver.propose(bytes('p2')); // id 2
  const p3 = driver.propose(bytes('p3')); // id 3
  const r1 = driver.readIndex(); // id 4
  const r2 = driver.readIndex(); // id 5: waits for index 9, applied later
  const snap: SnapshotMeta = { index: 4, term: 2, conf: { voters: ['a'], learners: [] } };
  const hb: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 2, commit: 4, context: 0 };
  core.readies.push({
    ...empty,
    snapshot: snap,
    entries: [entry(5), entry(6, 'noop'), entry(7, 'config')],
    hardState: { term: 2, vote: 'a', commit: 7 },
    conf: { voters: ['a', 'b'], learners: [] },
    messages: [hb],
    committed: [entry(5), entry(6, 'noop'), entry(7, 'config')],
    proposals: [
      { id: 1, kind: 'committed', index: 5, term: 2 },
      { id: 2, kind: 'dropped', reason: 'superseded', leader: 'b' },
      { id: 3, kind: 'unknown', index: 6 },
      { id: 99, kind: 'committed', index: 7, term: 2 },
    ],
    reads: [
      { id: 4, kind: 'ready', index: 7 },
      { id: 5, kind: 'ready', index: 9 },
      { id: 98, kind: 'ready', index: 1 },
    ],
  });
  driver.start();
  t.equal(await p1, 'applied e5 at 5');
  await t.rejects(p2, { code: 'DROPPED', reason: 'superseded', leader: 'b' });
  await t.rejects(p3, { code: 'UNKNOWN_OUTCOME' });
  await r1;
  t.same(fsm.restored, [snap], 'the snapshot was installed');
  t.equal(log.snapshot().index, 4);
  t.equal(log.lastIndex(), 7, 'entries written');
  t.same(log.initialState().hardState, { term: 2, vote: 'a', commit: 7 });
  t.same(log.initialState().conf, { voters: ['a', 'b'], learners: [] });
  t.equal(log.syncs, 1, 'one sync for the whole Ready');
  t.same(sent, [hb]);
  t.same(fsm.applied, ['e5'], 'only command entries reach the state machine');
  t.equal(driver.applied, 7);
  t.equal(core.advanced.length, 1, 'the Ready was acknowledged');
  // A later Ready with nothing to write: no sync; applying 8 and 9 releases the waiting read.
  let released = false;
  void r2.then(() => (released = true));
  core.readies.push({ ...empty, committed: [entry(8)] });
  driver.receive(hb);
  await flush();
  t.equal(released, false, 'the read waits until its index is applied');
  t.equal(log.syncs, 1, 'nothing written, nothing synced');
  core.readies.push({ ...empty, committed: [entry(9)], reads: [{ id: 77, kind: 'dropped', reason: 'not-leader', leader: undefined }] });
  driver.campaign();
  await flush();
  t.equal(released, true);
  const r3 = driver.readIndex(); // id 6
  core.readies.push({ ...empty, reads: [{ id: 6, kind: 'dropped', reason: 'transferring', leader: 'a' }] });
  driver.transferLeadership('b');
  await t.rejects(r3, { code: 'DROPPED', reason: 'transferring' });
  await driver.stop();
});

t.test('the log records an installed snapshot before the state machine restores it', async (t) => {
  const { core, log, driver } = scripted();
  const snap: SnapshotMeta = { index: 4, term: 2, conf: { voters: ['a'], learners: [] } };
  const seen: number[] = [];
  const fsm = new Recorder();
  fsm.restore = (meta) => {
    seen.push(log.snapshot().index);
    fsm.restored.push(meta);
    return Promise.resolve();
  };
  const d = new RaftDriver({ core, log, fsm, transport: { send: () => {} }, ticker: new ManualTicker() });
  core.readies.push({ ...empty, snapshot: snap });
  d.start();
  await flush();
  t.same(seen, [4], 'the log held the snapshot when restore ran');
  t.equal(d.applied, 4);
  await d.stop();
  await driver.stop();
});

t.test('reportSnapshot reaches the core; atRest waits for the Ready being handled; afterReady runs after each', async (t) => {
  const core = new ScriptedCore();
  const log = new SyncedStorage();
  let release!: () => void;
  log.sync = () => new Promise<void>((resolve) => (release = resolve));
  const events: string[] = [];
  const driver: RaftDriver<string> = new RaftDriver<string>({
    core,
    log,
    fsm: new Recorder(),
    transport: { send: () => {} },
    ticker: new ManualTicker(),
    afterReady: (): void => {
      events.push(`after ${driver.applied}`);
    },
  });
  driver.atRest(() => events.push('idle: at once'));
  t.same(events, ['idle: at once'], 'at rest before anything runs');
  driver.reportSnapshot('b', true);
  core.readies.push({ ...empty, entries: [entry(1)], committed: [entry(1)] });
  driver.start();
  await flush();
  t.same(core.snapshotReports, [['b', true]]);
  driver.atRest(() => events.push(`rest ${driver.applied}`));
  t.same(events, ['idle: at once'], 'waits while the Ready is being handled');
  release();
  await flush();
  t.same(events, ['idle: at once', 'rest 1', 'after 1'], 'after the Ready was acknowledged');
  // A failed write also ends the Ready: waiting tasks still run.
  let fail!: (err: Error) => void;
  log.sync = () => new Promise<void>((_resolve, reject) => (fail = reject));
  core.readies.push({ ...empty, entries: [entry(2)] });
  driver.campaign();
  await flush();
  driver.atRest(() => events.push('after failure'));
  t.equal(events.at(-1), 'after 1', 'queued behind the Ready');
  fail(new Error('disk gone'));
  await flush();
  t.ok(driver.isStopped);
  t.equal(events.at(-1), 'after failure');
  await driver.stop();
});

t.test("a leader's appends and heartbeats leave before its sync; every other message after it", async (t) => {
  const { core, log, sent } = scripted();
  let release!: () => void;
  log.sync = () => {
    log.syncs++;
    return new Promise<void>((resolve) => (release = resolve));
  };
  const app: Message = { type: 'append', from: 'a', to: 'b', term: 2, prevIndex: 0, prevTerm: 0, entries: [entry(1)], commit: 0 };
  const hb: Message = { type: 'heartbeat', from: 'a', to: 'c', term: 2, commit: 0, context: 1 };
  const resp: Message = { type: 'vote-resp', from: 'a', to: 'c', term: 2, pre: false, granted: false };
  const onSoft: string[] = [];
  core.readies.push({ ...empty, entries: [entry(1)], softState: { role: 'leader', leader: 'a' }, messages: [app, resp, hb] });
  const watched = new RaftDriver({ core, log, fsm: new Recorder(), transport: { send: (ms) => sent.push(...ms) }, ticker: new ManualTicker(), onSoftState: (ss) => onSoft.push(ss.role) });
  watched.start();
  await flush();
  t.same(sent, [app, hb], 'sent while the sync is in flight');
  t.same(onSoft, [], 'role changes are reported once written');
  release();
  await flush();
  t.same(sent, [app, hb, resp]);
  t.same(onSoft, ['leader']);
  await watched.stop();
});

t.test('with a timeout, requests still waiting after that many ticks fail with TIMEOUT', async (t) => {
  const core = new ScriptedCore();
  const ticker = new ManualTicker();
  const driver = new RaftDriver({ core, log: new SyncedStorage(), fsm: new Recorder(), transport: { send: () => {} }, ticker, timeout: { ticks: 2, ms: 200 } });
  driver.start();
  const write = driver.propose(bytes('w')); // id 1: never committed
  const read = driver.readIndex(); // id 2: never confirmed
  const later = driver.readIndex(); // id 3: confirmed at index 9, never applied
  core.readies.push({ ...empty, reads: [{ id: 3, kind: 'ready', index: 9 }] });
  await flush();
  ticker.tick!();
  const young = driver.propose(bytes('y')); // id 4, one tick younger
  const settled: string[] = [];
  for (const [name, p] of [['write', write], ['read', read], ['later', later], ['young', young]] as const) {
    p.then(
      () => settled.push(`${name} ok`),
      (err: BitraftError) => settled.push(`${name} ${err.code}: ${err.message}`),
    );
  }
  await flush();
  t.same(settled, [], 'one tick: all still waiting');
  ticker.tick!();
  await flush();
  t.same(settled, [
    'write TIMEOUT: the write (its outcome is unknown: it may still be applied) timed out after 200 ms',
    'read TIMEOUT: the read timed out after 200 ms',
    'later TIMEOUT: the read timed out after 200 ms',
  ]);
  core.readies.push({ ...empty, committed: [entry(1)], proposals: [{ id: 1, kind: 'committed', index: 1, term: 2 }] });
  driver.receive({ type: 'heartbeat', from: 'b', to: 'a', term: 2, commit: 1, context: 0 });
  await flush();
  t.equal(settled.length, 3, 'an outcome after the timeout is dropped');
  ticker.tick!();
  await flush();
  t.match(settled[3], /^young TIMEOUT/, 'the younger request expires a tick later');
  await driver.stop();
});

t.test('canReadNow: only when the core confirms at once and the state is applied up to that index', async (t) => {
  const { core, driver } = scripted();
  driver.start();
  t.equal(driver.canReadNow(), false, 'the core cannot confirm at once');
  core.immediate = 1;
  t.equal(driver.canReadNow('local'), false, 'confirmed, but index 1 is not applied yet');
  core.readies.push({ ...empty, committed: [entry(1)] });
  driver.campaign();
  await flush();
  t.equal(driver.canReadNow(), true, 'applied up to it');
  await driver.stop();
  t.equal(driver.canReadNow(), false, 'never once stopped');
});

t.test('DroppedError names the leader when one is known', async (t) => {
  t.match(new DroppedError('not-leader', undefined), { code: 'NOT_LEADER', message: 'not the leader', leader: undefined });
  t.match(new DroppedError('not-leader', 'n2'), { message: 'not the leader; the leader is n2' });
  t.match(new DroppedError('conf-pending', 'n1'), { code: 'DROPPED', message: 'dropped: conf-pending' });
});

t.test('inputs arriving while a Ready is being handled are handled after it', async (t) => {
  const { core, log, driver } = scripted();
  let releaseSync!: () => void;
  log.sync = () => {
    log.syncs++;
    return new Promise<void>((resolve) => (releaseSync = resolve));
  };
  core.readies.push({ ...empty, entries: [entry(1)] });
  driver.start();
  await flush();
  t.equal(core.advanced.length, 0, 'waiting for the sync');
  core.readies.push({ ...empty, committed: [entry(1)] });
  driver.receive({ type: 'heartbeat', from: 'b', to: 'a', term: 2, commit: 1, context: 0 });
  releaseSync();
  await flush();
  t.equal(core.advanced.length, 2, 'the second Ready was handled after the first');
  await driver.stop();
});

t.test('a failed write stops the driver and rejects everything pending', async (t) => {
  const { core, log, driver, logger } = scripted();
  const p = driver.propose(bytes('x'));
  log.fail = new Error('disk full');
  core.readies.push({ ...empty, entries: [entry(1)] });
  driver.start();
  const err = await p.catch((e: unknown) => e);
  t.ok(err instanceof BitraftError);
  t.match(err, { code: 'CLOSED', message: /failed write/ });
  t.equal((err as Error).cause, log.fail);
  t.ok(driver.isStopped);
  t.equal(core.advanced.length, 0, 'the Ready was not acknowledged');
  t.match(logger.lines, [/warn: raft: stopping after a failed write: disk full/]);
  log.fail = undefined;
  const { core: core2, log: log2, driver: d2, logger: logger2 } = scripted();
  log2.sync = () => Promise.reject('not an Error');
  core2.readies.push({ ...empty, hardState: { term: 1, vote: '', commit: 0 } });
  d2.start();
  await flush();
  t.match(logger2.lines, [/not an Error/]);
  await d2.stop();
  await driver.stop();
});

t.test('an entry the state machine cannot apply (its disk failed) stops the driver like a failed write', async (t) => {
  const { core, fsm, driver, logger } = scripted();
  const p = driver.propose(bytes('x'));
  const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  fsm.apply = () => {
    throw enospc;
  };
  core.readies.push({ ...empty, hardState: { term: 1, vote: 'a', commit: 1 }, committed: [entry(1)], proposals: [{ id: 1, kind: 'committed', index: 1, term: 1 }] });
  driver.start();
  const err = await p.catch((e: unknown) => e);
  t.match(err, { code: 'CLOSED', message: /failed write/ });
  t.equal((err as Error).cause, enospc);
  t.equal(driver.applied, 0, 'the entry is not counted as applied');
  t.equal(core.advanced.length, 0, 'the Ready was not acknowledged');
  t.match(logger.lines, [/warn: raft: stopping after a failed write: ENOSPC/]);
});
