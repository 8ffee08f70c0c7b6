/**
 * The snapshot suite: what snapshots cost on `keys` keys (`key:<i>` → a 100-byte value,
 * loaded through `redis-cli --pipe`, one SET per key, as the restart suite loads them).
 *
 * Set-up: a 1-node bitraft (durability high, `--snapshot-entries 0 --snapshot-log-size 0`,
 * so only RAFTSNAPSHOT snapshots) loaded with the keys; afterwards, a redis-server
 * (`--save ''`) loaded the same way. Measured:
 *
 * - parse-snapshot: whole CLI runs, spawn → exit, of `node bin/run.js parse-snapshot
 *   <state.bin>` on the state.bin the node wrote for the RAFTSNAPSHOT below: RESP (the
 *   default) and `--format json` with stdout to /dev/null, and `--count` (which must print
 *   the key count); keys ÷ seconds, median of `RUNS` rounds, each round running every
 *   command once. Reference: `gzip -dc <state.bin>` to /dev/null in the same rounds, as
 *   keys/s — the decompression every reader of the format pays. The rounds also time
 *   `node bin/run.js --version` (what any start of the CLI costs), shown in the notes.
 * - online snapshot: `RAFTSNAPSHOT` on the loaded node, request → reply, ms, once.
 *   Reference: `SAVE` (an RDB on disk) on the loaded redis-server.
 * - catch-up: after `RAFTSHRINKLOG 0` (RAFTSTATS must then show `first_log_index` > 1, so
 *   a new node can only catch up from the snapshot), a second `bitraft serve --join`
 *   (`--consistency low`, so it answers DBSIZE from its own store; the same snapshot
 *   flags), spawn → `DBSIZE` = keys on a fresh connection (probed every 10 ms), once; it
 *   must then become a voter. The notes say which snapshot the leader sent (its newest,
 *   as the log continues after it; a new one only if the log had been compacted past it).
 *   Reference: `redis-server --replicaof` the loaded redis-server (a full resync; the
 *   master runs with `--repl-diskless-sync-delay 0` so it starts at once), spawn →
 *   `DBSIZE` = keys. On both, `SPOT_CHECKS` random keys must then have their values.
 *
 * Every process listens on 127.0.0.1 on a port picked at run time and is stopped by pid
 * (SIGTERM, which must exit 0), or SIGKILLed when the suite fails; every file is under
 * the run's scratch directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bulkLoad, loadKey, loadValue } from '../test/helpers/bulk-load.js';
import { REPO_ROOT, spawnChild, tail, type Child } from '../test/helpers/processes.js';
import { logLineAfter, timeToReply, type FirstRead } from './first-read.js';
import { median, now, type BenchConfig, type Metric, type Suite } from './harness.js';
import { HOST, freePort, killPid, runToolTo, startBitraftNode, startRedis, stopChild } from './procs.js';
import { command, ReplyError, type Reply } from './resp-client.js';
import { redisVersion, requireTool } from './server.js';
import { formatCount } from './table.js';

/** The spec's target for `parse-snapshot` with RESP output, keys/s. */
export const PARSE_TARGET_KEYS_PER_S = 1_000_000;
/** Rounds of the timed parse-snapshot and gzip runs. */
export const RUNS = 3;
/** Random keys whose values are checked on the node that caught up. */
export const SPOT_CHECKS = 5;

const BIN = path.join(REPO_ROOT, 'bin/run.js');
const SNAPSHOT_FLAGS = ['--snapshot-entries', '0', '--snapshot-log-size', '0'];
const MASTER_ARGS = ['--repl-diskless-sync-delay', '0'];
const SLOW_MS = 600_000;
const MiB = 1024 * 1024;

/** The snapshot benchmark suite. */
export const snapshotSuite: Suite = {
  name: 'snapshot',
  title: (config) =>
    `snapshot: ${formatCount(config.keys)} keys — parse-snapshot ×${RUNS} vs gzip -dc; RAFTSNAPSHOT vs redis-server SAVE; ` +
    `a new node catching up from the snapshot vs a redis-server replica's full resync`,
  run: runSnapshotSuite,
};

/** The commands timed on state.bin; each round runs them in this order. */
const READERS = [
  { id: 'gzip', command: 'gzip', args: (file: string) => ['-dc', file] },
  { id: 'resp', command: process.execPath, args: (file: string) => [BIN, 'parse-snapshot', file] },
  { id: 'json', command: process.execPath, args: (file: string) => [BIN, 'parse-snapshot', file, '--format', 'json'] },
  { id: 'count', command: process.execPath, args: (file: string) => [BIN, 'parse-snapshot', file, '--count'] },
  { id: 'cli', command: process.execPath, args: () => [BIN, '--version'] },
] as const;
type ReaderId = (typeof READERS)[number]['id'];

const replyText = (r: Reply): string => (r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Field/value pairs of a flat array reply (RAFTSTATS, RAFTSNAPSHOT). */
function pairs(reply: Reply, what: string): Record<string, string> {
  if (!Array.isArray(reply)) throw new Error(`${what} answered ${replyText(reply)}`);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** Sends `args` to `port` and returns the reply, or throws if it is an error reply. */
async function ask(port: number, args: string[], timeoutMs = 10_000): Promise<Reply> {
  const reply = await command(port, args, timeoutMs);
  if (reply instanceof ReplyError) throw new Error(`${args.join(' ')} on port ${port} answered -${reply.message}`);
  return reply;
}

async function expectDbsize(port: number, keys: number, what: string): Promise<void> {
  const n = await command(port, ['DBSIZE'], 30_000);
  if (n !== keys) throw new Error(`${what} answered DBSIZE with ${replyText(n)}, expected ${keys}`);
}

/** What `timedRaftSnapshot` measured. */
export interface TimedSnapshot {
  /** Request → reply, ms. */
  ms: number;
  /** RAFTSNAPSHOT's name/value pairs (`path`, `id`, …). */
  snap: Record<string, string>;
  /** The snapshot's state.bin and its size in bytes. */
  stateBin: string;
  bytes: number;
}

/** Sends RAFTSNAPSHOT to the node on `port`, timed; throws on an error reply or when its path holds no state.bin. */
export async function timedRaftSnapshot(port: number, timeoutMs: number): Promise<TimedSnapshot> {
  const s0 = now();
  const snap = pairs(await ask(port, ['RAFTSNAPSHOT'], timeoutMs), 'RAFTSNAPSHOT');
  const ms = (now() - s0) * 1000;
  const stateBin = path.join(snap['path'] ?? '', 'state.bin');
  if (!fs.existsSync(stateBin)) throw new Error(`RAFTSNAPSHOT answered path ${snap['path']}, which holds no state.bin`);
  return { ms, snap, stateBin, bytes: fs.statSync(stateBin).size };
}

/** `RUNS` rounds of every reader on `file`: spawn → exit, ms; checks what `--count` printed. */
async function timeReaders(file: string, keys: number, scratch: string, log: (m: string) => void): Promise<Record<ReaderId, number[]>> {
  const times = Object.fromEntries(READERS.map((r) => [r.id, [] as number[]])) as Record<ReaderId, number[]>;
  const countOut = path.join(scratch, 'count.out');
  for (let round = 1; round <= RUNS; round++) {
    for (const r of READERS) {
      const t0 = now();
      await runToolTo(r.id === 'count' ? countOut : '/dev/null', r.command, r.args(file), { timeoutMs: SLOW_MS });
      times[r.id].push((now() - t0) * 1000);
      if (r.id === 'count') {
        const printed = fs.readFileSync(countOut, 'utf8').trim();
        if (printed !== String(keys)) throw new Error(`parse-snapshot --count ${file} printed ${JSON.stringify(printed)}, expected ${keys}`);
      }
    }
    log(`round ${round}/${RUNS}: ${READERS.map((r) => `${r.id} ${times[r.id].at(-1)!.toFixed(0)} ms`).join(', ')}`);
  }
  return times;
}

/** Checks `SPOT_CHECKS` random keys' values on `port` (with `--consistency low`, its own store). */
async function spotCheck(port: number, keys: number): Promise<void> {
  for (let n = 0; n < SPOT_CHECKS; n++) {
    const i = Math.floor(Math.random() * keys);
    const got = await command(port, ['GET', loadKey(i)], 10_000);
    if (got !== loadValue(i)) throw new Error(`GET ${loadKey(i)} on port ${port} answered ${replyText(got)}, expected ${JSON.stringify(loadValue(i))}`);
  }
}

/** The message of the first bitraft log line (`<ISO time> <level> <message>`) matching `re`, or ''. */
function logMessage(log: string, re: RegExp): string {
  return (log.split('\n').find((l) => re.test(l)) ?? '').replace(/^\S+\s+\S+\s+/, '');
}

/** Polls the leader's RAFTPEERS until `id` is a voter; ms waited. */
async function waitForVoter(leaderPort: number, id: string, giveUpMs = 120_000): Promise<number> {
  const t0 = now();
  let last: Reply = null;
  while ((now() - t0) * 1000 < giveUpMs) {
    last = await ask(leaderPort, ['RAFTPEERS']);
    if (Array.isArray(last) && last.some((row) => Array.isArray(row) && row[0] === id && row[1] === 'voter')) return (now() - t0) * 1000;
    await sleep(100);
  }
  throw new Error(`${id} was not a voter within ${giveUpMs} ms of holding every key; RAFTPEERS: ${replyText(last)}`);
}

/** What the bitraft half of the suite measured. */
interface BitraftResult {
  loadSeconds: number;
  snapshotMs: number;
  snapshotBytes: number;
  readers: Record<ReaderId, number[]>;
  catchUp: FirstRead;
  /** The joiner's log: spawn → listening, → snapshot installed; the install as it logged it. */
  listeningMs: number;
  installedMs: number;
  installLine: string;
  /** Which snapshot the leader sent, and how it wrote it when it was not RAFTSNAPSHOT's. */
  sentLine: string;
  voterAfterMs: number;
}

/** What the redis-server half measured. */
interface RedisResult {
  version: string;
  loadSeconds: number;
  saveMs: number;
  rdbBytes: number;
  catchUp: FirstRead;
}

async function runSnapshotSuite(config: BenchConfig): Promise<Metric[]> {
  for (const tool of ['redis-cli', 'redis-server', 'gzip']) requireTool(tool);
  const root = path.join(config.tmpRoot, 'snapshot');
  const dirs = { leader: path.join(root, 'leader'), joiner: path.join(root, 'joiner'), master: path.join(root, 'master'), replica: path.join(root, 'replica') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const running = new Set<Child>();
  const track = (proc: Child): Child => (running.add(proc), proc);
  const stop = async (proc: Child): Promise<void> => {
    await stopChild(proc);
    running.delete(proc);
  };
  try {
    const bitraft = await measureBitraft(config, dirs, root, track, stop);
    const redis = await measureRedis(config, dirs, track, stop);
    return buildMetrics(config.keys, bitraft, redis);
  } finally {
    for (const proc of running) {
      killPid(proc.pid, 'SIGKILL');
      await proc.exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

type Dirs = Record<'leader' | 'joiner' | 'master' | 'replica', string>;
type Track = (proc: Child) => Child;
type Stop = (proc: Child) => Promise<void>;

/** Loads the leader, snapshots it, times parse-snapshot on its state.bin and a joiner catching up. */
async function measureBitraft(config: BenchConfig, dirs: Dirs, scratch: string, track: Track, stop: Stop): Promise<BitraftResult> {
  const { log, keys } = config;
  const leader = await startBitraftNode(dirs.leader, { args: SNAPSHOT_FLAGS, what: 'bitraft serve (snapshot leader)' });
  track(leader.proc);
  const t0 = Date.now();
  await bulkLoad(leader.port, { count: keys, perCommand: 1, timeoutMs: SLOW_MS });
  const loadSeconds = (Date.now() - t0) / 1000;
  await expectDbsize(leader.port, keys, 'bitraft after the load');
  log(`bitraft: loaded ${formatCount(keys)} keys (one SET each) in ${loadSeconds.toFixed(1)} s`);

  const { ms: snapshotMs, snap, stateBin: file, bytes: snapshotBytes } = await timedRaftSnapshot(leader.port, SLOW_MS);
  const dropped = await ask(leader.port, ['RAFTSHRINKLOG', '0']);
  const stats = pairs(await ask(leader.port, ['RAFTSTATS']), 'RAFTSTATS');
  log(
    `bitraft: RAFTSNAPSHOT ${snap['id']} (${(snapshotBytes / MiB).toFixed(1)} MiB) in ${snapshotMs.toFixed(0)} ms; RAFTSHRINKLOG 0 dropped ${replyText(dropped)} entries; ` +
      `log now ${stats['first_log_index']}…${stats['last_log_index']}`,
  );
  if (!(Number(stats['first_log_index']) > 1)) throw new Error(`after RAFTSHRINKLOG 0 the log still starts at index 1: ${JSON.stringify(stats)}`);

  const readers = await timeReaders(file, keys, scratch, log);

  const port = await freePort();
  const id = `${HOST}:${port}`;
  const args = [BIN, 'serve', '--dir', dirs.joiner, '--bind', id, '--join', `${HOST}:${leader.port}`, '--consistency', 'low', ...SNAPSHOT_FLAGS];
  const { proc, read: catchUp } = await timeToReply(() => track(spawnChild(process.execPath, args, { what: 'bitraft serve --join (snapshot joiner)' })), port, ['DBSIZE'], keys, SLOW_MS);
  await spotCheck(port, keys);
  const voterAfterMs = await waitForVoter(leader.port, id);
  const joinLog = proc.stderr();
  const installLine = logMessage(joinLog, / installed the snapshot /);
  if (installLine === '') throw new Error(`the joiner holds every key but logged no snapshot install:\n${tail(joinLog)}`);
  // The leader sends its newest snapshot, or takes a new one if its log no longer continues after it.
  const sentId = / sending the snapshot (\S+) /.exec(leader.proc.stderr())?.[1] ?? '?';
  const result: BitraftResult = {
    loadSeconds,
    snapshotMs,
    snapshotBytes,
    readers,
    catchUp,
    listeningMs: logLineAfter(joinLog, / listening on /, catchUp.spawnedAtMs),
    installedMs: logLineAfter(joinLog, / installed the snapshot /, catchUp.spawnedAtMs),
    installLine,
    sentLine: sentId === snap['id'] ? `the leader sent RAFTSNAPSHOT's ${sentId}` : `the leader sent ${sentId}, taken for the join: "${logMessage(leader.proc.stderr(), new RegExp(` snapshot ${sentId} written`))}"`,
    voterAfterMs,
  };
  log(`bitraft joiner: DBSIZE = ${formatCount(keys)} after ${catchUp.ms.toFixed(0)} ms (${installLine}; ${result.sentLine}); a voter ${voterAfterMs.toFixed(0)} ms later`);
  await stop(proc);
  await stop(leader.proc);
  return result;
}

/** Loads a redis-server, times SAVE, and a replica's full resync. */
async function measureRedis(config: BenchConfig, dirs: Dirs, track: Track, stop: Stop): Promise<RedisResult> {
  const { log, keys } = config;
  const version = redisVersion();
  const master = await startRedis(dirs.master, MASTER_ARGS);
  track(master.proc);
  const t0 = Date.now();
  await bulkLoad(master.port, { count: keys, perCommand: 1, timeoutMs: SLOW_MS });
  const loadSeconds = (Date.now() - t0) / 1000;
  await expectDbsize(master.port, keys, 'redis-server after the load');
  const s0 = now();
  const saved = await ask(master.port, ['SAVE'], SLOW_MS);
  const saveMs = (now() - s0) * 1000;
  if (saved !== 'OK') throw new Error(`redis-server SAVE answered ${replyText(saved)}`);
  const rdbBytes = fs.statSync(path.join(dirs.master, 'dump.rdb')).size;
  log(`redis-server: loaded ${formatCount(keys)} keys in ${loadSeconds.toFixed(1)} s; SAVE (${(rdbBytes / MiB).toFixed(1)} MiB) in ${saveMs.toFixed(0)} ms`);

  const port = await freePort();
  const argv = ['--port', String(port), '--bind', HOST, '--dir', dirs.replica, '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', ''];
  argv.push('--replicaof', HOST, String(master.port));
  const { proc, read: catchUp } = await timeToReply(() => track(spawnChild('redis-server', argv, { cwd: dirs.replica, what: 'redis-server --replicaof (snapshot)' })), port, ['DBSIZE'], keys, SLOW_MS);
  await spotCheck(port, keys);
  log(`redis-server replica: DBSIZE = ${formatCount(keys)} after ${catchUp.ms.toFixed(0)} ms`);
  await stop(proc);
  await stop(master.proc);
  return { version, loadSeconds, saveMs, rdbBytes, catchUp };
}

function buildMetrics(keys: number, b: BitraftResult, r: RedisResult): Metric[] {
  const list = (values: number[]): string => values.map((x) => x.toFixed(0)).join(' ');
  const rate = (ms: number[]): number => keys / (median(ms) / 1000);
  const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
  const t = b.readers;
  const parseGroup = 'parse-snapshot: node bin/run.js parse-snapshot <state.bin>, spawn → exit, vs gzip -dc <state.bin>';
  const gzipRef = {
    value: rate(t.gzip),
    what:
      `gzip -dc on the same state.bin (${mib(b.snapshotBytes)}) to /dev/null, spawn → exit, as ${formatCount(keys)} keys ÷ its time: ` +
      `the decompression every reader of the format pays; same rounds, median of ${RUNS}`,
  };
  const parse = (id: 'resp' | 'json' | 'count', name: string, out: string): Metric => ({
    id: `snapshot.parse.${id}`,
    group: parseGroup,
    name,
    unit: 'ops/s',
    better: 'higher',
    value: rate(t[id]),
    reference: gzipRef,
    ...(id === 'resp' ? { target: { op: '>=' as const, value: PARSE_TARGET_KEYS_PER_S } } : {}),
    note: `${out}; each run: ${list(t[id])} ms; gzip -dc ${list(t.gzip)} ms; \`node bin/run.js --version\` alone ${list(t.cli)} ms`,
    details: { keys, runsMs: list(t[id]), gzipMs: list(t.gzip), cliStartMs: median(t.cli), stateBinBytes: b.snapshotBytes },
  });
  return [
    parse('resp', `RESP to /dev/null: keys/s, median of ${RUNS}`, 'SET commands (the default) to /dev/null'),
    parse('json', `--format json to /dev/null: keys/s`, 'JSON lines to /dev/null'),
    parse('count', `--count: keys/s`, `--count, which printed ${keys} each time`),
    {
      id: 'snapshot.online',
      group: `online snapshot: bitraft RAFTSNAPSHOT vs redis-server ${r.version} SAVE`,
      name: `request → reply, ms (one run)`,
      unit: 'ms',
      better: 'lower',
      value: b.snapshotMs,
      reference: { value: r.saveMs, what: `redis-server ${r.version} SAVE: an RDB (${mib(r.rdbBytes)}) of the same keys, loaded the same way, written to disk; one run` },
      note:
        `a state.bin of ${mib(b.snapshotBytes)} for ${formatCount(keys)} keys loaded one SET each in ${b.loadSeconds.toFixed(1)} s ` +
        `(redis-server: ${r.loadSeconds.toFixed(1)} s); RAFTSNAPSHOT ${b.snapshotMs.toFixed(0)} ms, SAVE ${r.saveMs.toFixed(0)} ms`,
      details: { keys, stateBinBytes: b.snapshotBytes, rdbBytes: r.rdbBytes, bitraftLoadSeconds: b.loadSeconds, redisLoadSeconds: r.loadSeconds },
    },
    {
      id: 'snapshot.catchup',
      group: `catch-up: a new bitraft node --join, from the snapshot, vs a redis-server ${r.version} --replicaof, full resync`,
      name: `spawn → DBSIZE = ${formatCount(keys)} on the new node, ms (one run)`,
      unit: 'ms',
      better: 'lower',
      value: b.catchUp.ms,
      reference: {
        value: r.catchUp.ms,
        what: `redis-server ${r.version} --replicaof the loaded redis-server (${MASTER_ARGS.join(' ')}), spawn → DBSIZE = ${formatCount(keys)} on the replica; one run`,
      },
      note:
        `bitraft ${b.catchUp.ms.toFixed(0)} ms (listening at ${b.listeningMs.toFixed(0)} ms, snapshot installed at ${b.installedMs.toFixed(0)} ms: "${b.installLine}"; ${b.sentLine}; ` +
        `${b.catchUp.probes} probes; a voter ${b.voterAfterMs.toFixed(0)} ms later); redis-server ${r.catchUp.ms.toFixed(0)} ms (${r.catchUp.probes} probes). ` +
        `${SPOT_CHECKS} random keys checked on each`,
      details: {
        keys,
        bitraftProbes: b.catchUp.probes,
        redisProbes: r.catchUp.probes,
        listeningMs: b.listeningMs,
        installedMs: b.installedMs,
        voterAfterMs: b.voterAfterMs,
      },
    },
  ];
}
