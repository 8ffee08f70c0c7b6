/**
 * Tests of src/core/raft/log-store.ts: DiskLogStore against MemoryStorage as a model
 * (seeded random appends with conflicts, hard state, membership, compactions, installed
 * snapshots and reopens, every read method compared), bootstrap, torn and corrupt tails
 * (cut with a warning), corruption in the middle and bad state files (refused), crashes in
 * the middle of a compaction or a snapshot install, the scanLog decoder, and I/O failures
 * (injected by patching `node:fs`, which the store calls through its default export).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  DiskLogStore,
  LOG_FILE,
  RECORD_OVERHEAD,
  STATE_FILE,
  TMP_SUFFIX,
  encodeRecords,
  readStateFile,
  scanLog,
  type LogRecord,
} from '../../../src/core/raft/log-store.js';
import { MemoryStorage, type LogStorage } from '../../../src/core/raft/storage.js';
import type { ConfState, Entry, EntryType } from '../../../src/core/raft/types.js';
import { crc32 } from '../../../src/core/support/crc32.js';
import { BitraftError, CorruptionError } from '../../../src/core/support/errors.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { seededRng, type Rng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { ioError, patch } from '../../helpers/fault-injection.js';

/** Opens a store that is closed when the test ends (unless closed before). */
function open(t: Test, dir: string, logger = memoryLogger()): DiskLogStore {
  const s = DiskLogStore.open(dir, { logger });
  t.teardown(() => {
    try {
      s.close();
    } catch {
      // already closed
    }
  });
  return s;
}

const TYPES: EntryType[] = ['command', 'noop', 'config'];
const ent = (index: number, term: number, size = 3, type: EntryType = 'command'): Entry => ({
  index,
  term,
  type,
  data: new Uint8Array(size).fill((index * 7) & 0xff),
});
const run = (lo: number, hi: number, term: number, size = 3): Entry[] => {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, term, size));
  return out;
};
const hex = (d: Uint8Array): string => Buffer.from(d).toString('hex');
const norm = (es: readonly Entry[]): unknown[] => es.map((e) => ({ index: e.index, term: e.term, type: e.type, data: hex(e.data) }));

/** The value of `fn`, or the code and message of what it threw. */
function attempt<T>(fn: () => T): { ok: T } | { code: string; message: string } {
  try {
    return { ok: fn() };
  } catch (err) {
    return { code: (err as BitraftError).code, message: (err as Error).message };
  }
}

/** Everything the read methods of `s` answer, at the probes `(lo, hi, maxBytes)` and around the model's bounds. */
function view(s: LogStorage, model: LogStorage, probes: [number, number, number][]): unknown {
  const terms: unknown[] = [];
  for (let i = Math.max(0, model.firstIndex() - 2); i <= model.lastIndex() + 1; i++) terms.push(attempt(() => s.term(i)));
  return {
    init: s.initialState(),
    first: s.firstIndex(),
    last: s.lastIndex(),
    snap: s.snapshot(),
    terms,
    entries: probes.map(([lo, hi, max]) => attempt(() => norm(s.entries(lo, hi, max)))),
  };
}

function probesFor(model: LogStorage, rng: Rng): [number, number, number][] {
  const first = model.firstIndex();
  const last = model.lastIndex();
  const out: [number, number, number][] = [[first, last + 1, Infinity]];
  for (let i = 0; i < 6; i++) {
    const lo = first - 1 + rng.int(last - first + 3);
    const hi = lo + rng.int(last + 3 - lo);
    out.push([lo, hi, rng.int(4) === 0 ? Infinity : rng.int(120)]);
  }
  return out;
}

function agree(t: Test, disk: LogStorage, model: LogStorage, rng: Rng, what: string): void {
  const probes = probesFor(model, rng);
  t.same(view(disk, model, probes), view(model, model, probes), what);
}

/**
 * The commit index is saved only when the state file is written for another reason, so a
 * reopened store may report an older one; the model adopts it (see the test of that rule).
 */
function adoptCommit(disk: LogStorage, model: MemoryStorage): void {
  model.setHardState({ ...model.initialState().hardState, commit: disk.initialState().hardState.commit });
}

const NODES = ['a', 'b', 'c', 'd'];
function randomConf(rng: Rng): ConfState {
  const voters = NODES.filter(() => rng.int(2) === 0);
  return { voters, learners: NODES.filter((n) => !voters.includes(n) && rng.int(3) === 0) };
}

t.test('model test: random writes, compactions, snapshots and reopens agree with MemoryStorage', async (t) => {
  for (let seed = 1; seed <= 12; seed++) {
    const rng = seededRng(seed);
    const dir = tmpDir(t);
    // Odd seeds keep a tiny in-memory tail, so it is trimmed often; even ones the default.
    const options = seed % 2 === 1 ? { tailEntries: 3 } : {};
    let disk = DiskLogStore.open(dir, options);
    const mem = new MemoryStorage();
    let term = 1;
    let reopens = 0;
    for (let step = 0; step < 300; step++) {
      const r = rng.int(100);
      if (r < 45) {
        const first = mem.firstIndex();
        const last = mem.lastIndex();
        let start = Math.max(1, first - 2 + rng.int(last - first + 4));
        if (rng.int(25) === 0) start = last + 2;
        if (rng.int(4) === 0) term++;
        const es: Entry[] = [];
        for (let i = 0, n = rng.int(7); i < n; i++) {
          const data = new Uint8Array(rng.int(40)).map(() => rng.int(256));
          es.push({ index: start + i, term, type: TYPES[rng.int(3)]!, data });
        }
        t.same(attempt(() => disk.append(es)), attempt(() => mem.append(es)), `seed ${seed} step ${step}: append`);
      } else if (r < 55) {
        const hs = { term, vote: ['', 'a', 'b'][rng.int(3)]!, commit: rng.int(mem.lastIndex() + 1) };
        disk.setHardState(hs);
        mem.setHardState(hs);
      } else if (r < 60) {
        const conf = randomConf(rng);
        disk.setConf(conf);
        mem.setConf(conf);
      } else if (r < 70) {
        disk.sync();
      } else if (r < 78) {
        const index = mem.firstIndex() - 2 + rng.int(mem.lastIndex() - mem.firstIndex() + 3);
        const conf = randomConf(rng);
        t.same(attempt(() => disk.compact(index, conf)), attempt(() => mem.compact(index, conf)), `seed ${seed} step ${step}: compact`);
      } else if (r < 81) {
        term++;
        const meta = { index: Math.max(1, mem.lastIndex() + rng.int(5) - 1), term, conf: randomConf(rng) };
        disk.applySnapshot(meta);
        mem.applySnapshot(meta);
      } else if (r < 92) {
        disk.sync();
        disk.close();
        disk = DiskLogStore.open(dir, options);
        reopens++;
        adoptCommit(disk, mem);
        agree(t, disk, mem, rng, `seed ${seed} step ${step}: after reopen`);
      } else {
        agree(t, disk, mem, rng, `seed ${seed} step ${step}`);
      }
    }
    disk.sync();
    disk.close();
    disk = DiskLogStore.open(dir);
    adoptCommit(disk, mem);
    agree(t, disk, mem, rng, `seed ${seed}: at the end, reopened`);
    t.ok(reopens > 10, `seed ${seed}: reopened ${reopens} times`);
    disk.close();
  }
});

t.test('a new store is empty; bootstrap writes the founding entries durably and refuses a used directory', async (t) => {
  const dir = path.join(tmpDir(t), 'x', 'y');
  const empty = open(t, dir);
  t.same(view(empty, new MemoryStorage(), [[1, 1, 0]]), view(new MemoryStorage(), new MemoryStorage(), [[1, 1, 0]]));
  t.same(scanLog(fs.readFileSync(path.join(dir, LOG_FILE)), 'log'), { size: 0, end: 0, torn: undefined });
  empty.close();

  const boot = tmpDir(t);
  const s = DiskLogStore.bootstrap(boot, ['a', 'b', 'c']);
  const model = MemoryStorage.bootstrap(['a', 'b', 'c']);
  const rng = seededRng(5);
  agree(t, s, model, rng, 'bootstrapped');
  s.close();
  const again = DiskLogStore.open(boot);
  agree(t, again, model, rng, 'reopened');
  again.close();
  t.throws(() => DiskLogStore.bootstrap(boot, ['a']), { code: 'INVALID_ARGUMENT' }, 'log not empty');

  const voted = tmpDir(t);
  const v = DiskLogStore.open(voted);
  v.setHardState({ term: 3, vote: 'a', commit: 0 });
  v.sync();
  v.close();
  t.throws(() => DiskLogStore.bootstrap(voted, ['a']), { code: 'INVALID_ARGUMENT' }, 'hard state not empty');
});

t.test('sync writes the state file only when it changed, and leaves no temp files', async (t) => {
  const dir = tmpDir(t);
  const s = open(t, dir);
  const renames: string[] = [];
  const renameSync = fs.renameSync;
  patch(t, fs, 'renameSync', ((a: fs.PathLike, b: fs.PathLike) => {
    renames.push(path.basename(String(b)));
    renameSync(a, b);
  }) as typeof fs.renameSync);
  s.sync();
  t.same(renames, [], 'nothing to write');
  t.notOk(fs.existsSync(path.join(dir, STATE_FILE)));
  s.append(run(1, 3, 1));
  s.sync();
  t.same(renames, [], 'entries only: no state write');
  s.setHardState({ term: 1, vote: 'a', commit: 2 });
  s.sync();
  s.sync();
  t.same(renames, [STATE_FILE], 'written once');
  t.same(readStateFile(path.join(dir, STATE_FILE)), {
    hardState: { term: 1, vote: 'a', commit: 2 },
    conf: { voters: [], learners: [] },
    snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } },
  });
  t.same(fs.readdirSync(dir).sort(), [LOG_FILE, STATE_FILE]);
});

/** A closed store in a new directory holding entries 1..3 (the last one `lastSize` bytes of data); returns the log path and where record 3 starts. */
function threeEntries(t: Test, lastSize = 10): { dir: string; log: string; lastStart: number; size: number } {
  const dir = tmpDir(t);
  const s = DiskLogStore.open(dir);
  s.append([ent(1, 1), ent(2, 1, 5), ent(3, 2, lastSize)]);
  s.setHardState({ term: 2, vote: 'a', commit: 3 });
  s.sync();
  s.close();
  const log = path.join(dir, LOG_FILE);
  const size = fs.statSync(log).size;
  return { dir, log, lastStart: size - RECORD_OVERHEAD - lastSize, size };
}

function expectTwoKept(t: Test, dir: string, log: string, lastStart: number, what: string): void {
  const logger = memoryLogger();
  const s = DiskLogStore.open(dir, { logger });
  t.equal(s.lastIndex(), 2, `${what}: entries 1..2 kept`);
  t.same(norm(s.entries(1, 3, Infinity)), norm([ent(1, 1), ent(2, 1, 5)]), `${what}: data intact`);
  t.equal(fs.statSync(log).size, lastStart, `${what}: tail cut`);
  t.match(logger.lines, [/^warn: raft log .* torn last record at offset \d+/], `${what}: warned`);
  s.append([ent(3, 3)]);
  s.sync();
  s.close();
  const again = DiskLogStore.open(dir);
  t.same(norm(again.entries(1, 4, Infinity)), norm([ent(1, 1), ent(2, 1, 5), ent(3, 3)]), `${what}: appends after the cut survive a reopen`);
  again.close();
}

t.test('a torn last record is cut at every byte offset, the rest kept', async (t) => {
  const { dir, log, lastStart, size } = threeEntries(t);
  const whole = fs.readFileSync(log);
  for (let cut = lastStart + 1; cut < size; cut++) {
    fs.writeFileSync(log, whole.subarray(0, cut));
    expectTwoKept(t, dir, log, lastStart, `cut at ${cut}`);
  }
  fs.writeFileSync(log, whole.subarray(0, lastStart));
  const logger = memoryLogger();
  const s = DiskLogStore.open(dir, { logger });
  t.equal(s.lastIndex(), 2, 'cut exactly at a record boundary');
  t.same(logger.lines, [], 'nothing to warn about');
  s.close();
});

t.test('a flipped bit anywhere in the last record cuts it', async (t) => {
  const { dir, log, lastStart, size } = threeEntries(t);
  const whole = fs.readFileSync(log);
  for (let at = lastStart; at < size; at++) {
    for (const bit of [0, 7]) {
      const bad = Buffer.from(whole);
      bad[at]! ^= 1 << bit;
      fs.writeFileSync(log, bad);
      expectTwoKept(t, dir, log, lastStart, `bit ${bit} of byte ${at}`);
    }
  }
});

t.test('garbage after the last record is cut: zeros, a partial header, an unknown type', async (t) => {
  const { dir, log, size } = threeEntries(t);
  const whole = fs.readFileSync(log);
  const badType = encodeRecords([ent(4, 2)]);
  badType[24] = 7;
  badType.writeUInt32LE(0, 4);
  badType.writeUInt32LE(crc32(badType.subarray(8)), 4);
  const reasons: [Buffer, RegExp][] = [
    [Buffer.alloc(40), /impossible length 0/],
    [Buffer.alloc(5, 1), /incomplete header/],
    [badType, /unknown entry type 7/],
  ];
  for (const [tail, reason] of reasons) {
    fs.writeFileSync(log, Buffer.concat([whole, tail]));
    const logger = memoryLogger();
    const s = DiskLogStore.open(dir, { logger });
    t.equal(s.lastIndex(), 3);
    t.equal(fs.statSync(log).size, size);
    t.match(logger.lines, [reason]);
    s.close();
  }
});

function throwsCorrupt(t: Test, fn: () => unknown, file: string, offset: number, reason: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: expected CorruptionError`);
  } catch (err) {
    t.type(err, CorruptionError, what);
    t.match(err, { code: 'CORRUPT', file, offset, message: reason }, what);
  }
}

t.test('corruption followed by valid records is refused with the file and offset', async (t) => {
  const { dir, log, lastStart } = threeEntries(t);
  const whole = fs.readFileSync(log);
  const second = RECORD_OVERHEAD + 3;
  for (const at of [second, second + 4, second + 10, second + RECORD_OVERHEAD + 2]) {
    const bad = Buffer.from(whole);
    bad[at]! ^= 0x10;
    fs.writeFileSync(log, bad);
    throwsCorrupt(t, () => DiskLogStore.open(dir), log, second, /followed by valid records/, `flip at ${at}`);
  }
  fs.writeFileSync(log, whole);
  t.equal(open(t, dir).lastIndex(), 3, 'the intact file opens');
  t.ok(lastStart > second);
});

t.test('indexes must be contiguous, terms non-decreasing, and the log must follow the snapshot', async (t) => {
  const dir = tmpDir(t);
  const log = path.join(dir, LOG_FILE);
  fs.writeFileSync(log, encodeRecords([ent(1, 1), ent(3, 1)]));
  throwsCorrupt(t, () => DiskLogStore.open(dir), log, RECORD_OVERHEAD + 3, /index 3 follows index 1/, 'a gap');
  fs.writeFileSync(log, encodeRecords([ent(1, 2), ent(2, 1)]));
  throwsCorrupt(t, () => DiskLogStore.open(dir), log, RECORD_OVERHEAD + 3, /term 1 follows term 2/, 'a term going back');
  fs.writeFileSync(log, encodeRecords([ent(5, 1), ent(6, 1)]));
  throwsCorrupt(t, () => DiskLogStore.open(dir), log, 0, /log resumes at index 5, after a snapshot at 0/, 'a log beyond the snapshot');
  t.same(
    fs.readdirSync(dir).filter((n) => n !== LOG_FILE),
    [],
    'nothing else created',
  );
});

t.test('a bad state file is refused', async (t) => {
  const dir = tmpDir(t);
  const state = path.join(dir, STATE_FILE);
  const cases: [string, RegExp][] = [
    ['{"crc":1,"st', /not JSON/],
    ['{"crc":1,"state":{"hardState":{}}}', /checksum mismatch/],
    ['{"crc":1}', /checksum mismatch/],
    ['null', /checksum mismatch/],
  ];
  for (const [text, reason] of cases) {
    fs.writeFileSync(state, text);
    throwsCorrupt(t, () => DiskLogStore.open(dir), state, 0, reason, text);
  }
  const s = DiskLogStore.open(path.join(dir, 'ok'));
  s.setHardState({ term: 4, vote: 'b', commit: 0 });
  s.sync();
  s.close();
  const good = fs.readFileSync(path.join(dir, 'ok', STATE_FILE), 'utf8');
  fs.writeFileSync(path.join(dir, 'ok', STATE_FILE), good.replace('"term":4', '"term":5'));
  throwsCorrupt(t, () => DiskLogStore.open(path.join(dir, 'ok')), path.join(dir, 'ok', STATE_FILE), 0, /checksum mismatch/, 'an edited term');
  fs.rmSync(state);
  fs.mkdirSync(state);
  t.throws(() => DiskLogStore.open(dir), { code: 'EISDIR' }, 'an unreadable state file is an I/O error');
});

/** A state file holding the JSON `json` under a matching checksum, as the store writes one. */
const withCrc = (json: string): string => `{"crc":${crc32(Buffer.from(json))},"state":${json}}\n`;

t.test('a state file of the wrong shape is refused even when its checksum matches', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, STATE_FILE);
  const conf = { voters: ['a', 'b'], learners: ['c'] };
  const good = { hardState: { term: 4, vote: 'b', commit: 7 }, conf, snapshot: { index: 3, term: 2, conf: { voters: ['a'], learners: [] } } };
  /** The good state with the member at `keys` set to `value` (left out when undefined), as JSON. */
  const edit = (keys: string[], value: unknown): string => {
    const s = structuredClone(good) as Record<string, unknown>;
    let o = s;
    for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
    o[keys.at(-1)!] = value;
    return JSON.stringify(s);
  };
  const cases: [string, string, RegExp][] = [
    ['an empty state (the corpus case)', '{}', /malformed state: hardState/],
    ['a string snapshot index (the corpus case)', edit(['snapshot', 'index'], 'x'), /malformed state: snapshot$/],
    ['an array', '[]', /malformed state: not an object/],
    ['null', 'null', /malformed state: not an object/],
    ['no hard state', edit(['hardState'], undefined), /hardState/],
    ['a negative term', edit(['hardState', 'term'], -1), /hardState/],
    ['a fractional commit', edit(['hardState', 'commit'], 1.5), /hardState/],
    ['a term beyond 2^53', edit(['hardState', 'term'], 2 ** 53), /hardState/],
    ['a vote that is no string', edit(['hardState', 'vote'], 3), /hardState/],
    ['no conf', edit(['conf'], undefined), /malformed state: conf$/],
    ['voters not an array', edit(['conf', 'voters'], 'a,b'), /malformed state: conf$/],
    ['a learner that is no string', edit(['conf', 'learners'], [1]), /malformed state: conf$/],
    ['a snapshot that is an array', edit(['snapshot'], [3, 2]), /malformed state: snapshot$/],
    ['a snapshot term that is a string of digits', edit(['snapshot', 'term'], '2'), /malformed state: snapshot$/],
    ['no snapshot conf', edit(['snapshot', 'conf'], undefined), /malformed state: snapshot.conf/],
    ['a snapshot voter that is null', edit(['snapshot', 'conf', 'voters'], [null]), /malformed state: snapshot.conf/],
  ];
  for (const [what, json, reason] of cases) {
    fs.writeFileSync(file, withCrc(json));
    throwsCorrupt(t, () => readStateFile(file), file, 0, reason, what);
    throwsCorrupt(t, () => DiskLogStore.open(dir), file, 0, reason, `${what}: open`);
  }
  // Nested deeper than JSON.stringify can go: refused, not a RangeError.
  const deep = `${'['.repeat(12_000)}0${']'.repeat(12_000)}`;
  fs.writeFileSync(file, `{"crc":1,"state":${deep}}`);
  throwsCorrupt(t, () => DiskLogStore.open(dir), file, 0, /nested too deeply/, 'deep nesting');
  fs.writeFileSync(file, `{"crc":1,"state":{"hardState":{"term":1,"vote":"","commit":0},"extra":${deep}}}`);
  throwsCorrupt(t, () => readStateFile(file), file, 0, /nested too deeply/, 'deep nesting in a member it does not know');

  // Members it does not know are ignored; what it returns is a copy of the known fields.
  fs.writeFileSync(file, withCrc(JSON.stringify({ ...good, hardState: { ...good.hardState, extra: true }, later: { x: [1] } })));
  t.same(readStateFile(file), good);
  t.notOk('later' in readStateFile(file)!, 'an unknown member is not returned');
  fs.writeFileSync(file, withCrc(JSON.stringify(good)));
  const s = open(t, dir);
  t.same(s.initialState(), { hardState: good.hardState, conf });
  t.same(s.snapshot(), good.snapshot);
  t.equal(s.firstIndex(), 4);
});

/** A closed store holding entries 1..10 (terms 1, then 2 from 6 on), synced; returns its log bytes. */
function tenEntries(t: Test): { dir: string; log: string; old: Buffer } {
  const dir = tmpDir(t);
  const s = DiskLogStore.open(dir);
  s.append([...run(1, 5, 1), ...run(6, 10, 2)]);
  s.setHardState({ term: 2, vote: '', commit: 10 });
  s.sync();
  s.close();
  const log = path.join(dir, LOG_FILE);
  return { dir, log, old: fs.readFileSync(log) };
}
const allTen = [...run(1, 5, 1), ...run(6, 10, 2)];

t.test('a crash in the middle of a compaction reopens correctly', async (t) => {
  const conf = { voters: ['a'], learners: [] };

  // Crash before the new state was renamed into place: leftovers of both temp files.
  {
    const { dir, log, old } = tenEntries(t);
    fs.writeFileSync(path.join(dir, STATE_FILE + TMP_SUFFIX), '{"half');
    fs.writeFileSync(log + TMP_SUFFIX, old.subarray(0, 30));
    const s = open(t, dir);
    t.equal(s.firstIndex(), 1);
    t.same(norm(s.entries(1, 11, Infinity)), norm(allTen), 'untouched');
    t.same(fs.readdirSync(dir).sort(), [LOG_FILE, STATE_FILE], 'temp files removed');
  }

  // Crash after the state was written, before the new log replaced the old one.
  {
    const { dir, log, old } = tenEntries(t);
    const s = DiskLogStore.open(dir);
    s.compact(6, conf);
    s.close();
    fs.writeFileSync(log, old);
    fs.writeFileSync(log + TMP_SUFFIX, old.subarray(100));
    const model = new MemoryStorage();
    model.append(allTen);
    model.setHardState({ term: 2, vote: '', commit: 10 });
    model.compact(6, conf);
    const re = open(t, dir);
    const rng = seededRng(9);
    agree(t, re, model, rng, 'old log, new state');
    t.equal(fs.statSync(log).size, old.length, 'the covered prefix stays until the next compaction');
    for (const batch of [[ent(9, 3)], [ent(10, 3), ent(11, 3)], [ent(3, 3), ent(4, 3)]]) {
      re.append(batch);
      model.append(batch);
    }
    re.sync();
    re.close();
    const again = open(t, dir);
    agree(t, again, model, rng, 'appends after the skipped prefix');
    again.compact(9, conf);
    model.compact(9, conf);
    again.close();
    agree(t, open(t, dir), model, rng, 'compacted again');
  }

  // The same crash when the snapshot covers the whole old log: the log is emptied.
  {
    const { dir, log, old } = tenEntries(t);
    const s = DiskLogStore.open(dir);
    s.compact(10, conf);
    t.equal(fs.statSync(log).size, 0, 'compacting everything leaves an empty log');
    s.close();
    fs.writeFileSync(log, old);
    const re = open(t, dir);
    t.equal(re.firstIndex(), 11);
    t.equal(re.lastIndex(), 10);
    t.equal(re.term(10), 2);
    t.equal(fs.statSync(log).size, 0, 'emptied on open');
    re.append([ent(11, 2)]);
    re.sync();
    re.close();
    t.same(norm(open(t, dir).entries(11, 12, 0)), norm([ent(11, 2)]));
  }
});

t.test('a crash while installing a snapshot: stale entries dropped, matching ones kept', async (t) => {
  {
    const { dir, log, old } = tenEntries(t);
    const s = DiskLogStore.open(dir);
    s.applySnapshot({ index: 7, term: 3, conf: { voters: ['b'], learners: [] } });
    t.equal(fs.statSync(log).size, 0);
    s.close();
    fs.writeFileSync(log, old);
    const logger = memoryLogger();
    const re = open(t, dir, logger);
    t.equal(re.firstIndex(), 8);
    t.equal(re.lastIndex(), 7);
    t.same(re.initialState().conf, { voters: ['b'], learners: [] });
    t.match(logger.lines, [/^info: .*dropped entries that an installed snapshot at index 7 replaced/]);
    t.equal(fs.statSync(log).size, 0);
  }
  {
    const { dir, log, old } = tenEntries(t);
    const s = DiskLogStore.open(dir);
    s.applySnapshot({ index: 7, term: 2, conf: { voters: ['b'], learners: [] } });
    s.close();
    fs.writeFileSync(log, old);
    const re = open(t, dir);
    t.equal(re.firstIndex(), 8);
    t.same(norm(re.entries(8, 11, Infinity)), norm(run(8, 10, 2)), 'the old log matches the snapshot: its tail is kept');
  }
});

t.test('scanLog decodes a buffer or a file descriptor and reports a torn tail', async (t) => {
  const entries = [ent(1, 1, 0, 'noop'), ent(2, 1, 4, 'config'), ent(3, 2, 2)];
  const buf = encodeRecords(entries);
  const seen: LogRecord[] = [];
  const scan = scanLog(Buffer.concat([buf, Buffer.alloc(3)]), 'mem', (r) => seen.push({ ...r, data: Uint8Array.from(r.data) }));
  t.same(scan, { size: buf.length + 3, end: buf.length, torn: { offset: buf.length, reason: 'incomplete header' } });
  t.same(
    seen.map((r) => [r.offset, r.size, r.index, r.term, r.type, hex(r.data)]),
    [
      [0, 25, 1, 1, 'noop', ''],
      [25, 29, 2, 1, 'config', hex(entries[1]!.data)],
      [54, 27, 3, 2, 'command', hex(entries[2]!.data)],
    ],
  );
  const dir = tmpDir(t);
  const file = path.join(dir, 'l');
  fs.writeFileSync(file, buf);
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  t.same(scanLog(fd, file), { size: buf.length, end: buf.length, torn: undefined });
  const big = [ent(1, 2 ** 40), ent(2, 2 ** 40 + 1)];
  t.same(scanLog(encodeRecords(big), 'x'), { size: 56, end: 56, torn: undefined });
});

t.test('large records: chunked reads, a byte budget, a multi-chunk compaction and a corrupt big tail', async (t) => {
  const dir = tmpDir(t);
  const mb = 1 << 20;
  const s = open(t, dir);
  const es = [ent(1, 1), ent(2, 1, 700_000), ent(3, 1, 700_000), ent(4, 1, 1_500_000), ent(5, 1, 10)];
  s.append(es);
  t.same(norm(s.entries(2, 6, mb)), norm([es[1]!]), 'the budget cuts after the first entry that exceeds it');
  t.same(norm(s.entries(2, 6, 1_400_000)), norm(es.slice(1, 3)));
  s.compact(1, { voters: [], learners: [] });
  s.sync();
  s.close();
  const log = path.join(dir, LOG_FILE);
  const re = open(t, dir);
  t.same(norm(re.entries(2, 6, Infinity)), norm(es.slice(1)), 'reopened after a compaction copying several chunks');
  re.close();
  // A flipped bit in the big last-but-one record, with a valid small record after it.
  const whole = fs.readFileSync(log);
  const bad = Buffer.from(whole);
  bad[whole.length - RECORD_OVERHEAD - 10 - 100]! ^= 1;
  fs.writeFileSync(log, bad);
  throwsCorrupt(t, () => DiskLogStore.open(dir), log, whole.length - RECORD_OVERHEAD - 10 - RECORD_OVERHEAD - 1_500_000, /checksum mismatch/, 'big record');
  // The same with the big record last: cut.
  fs.writeFileSync(log, bad.subarray(0, whole.length - RECORD_OVERHEAD - 10));
  const cut = open(t, dir);
  t.equal(cut.lastIndex(), 3);
});

t.test('entries() checks what it reads back', async (t) => {
  const { dir, log } = threeEntries(t);
  const s = open(t, dir);
  const fd = fs.openSync(log, 'r+');
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, RECORD_OVERHEAD + 3 + RECORD_OVERHEAD + 1);
  fs.closeSync(fd);
  t.same(norm(s.entries(1, 2, 0)), norm([ent(1, 1)]), 'the intact entry reads');
  throwsCorrupt(t, () => s.entries(1, 3, Infinity), log, RECORD_OVERHEAD + 3, /checksum mismatch/, 'the damaged one does not');
  // A valid record, but of another entry (or of an index beyond 2^53 - 1): the file changed under the store.
  for (const other of [encodeRecords([ent(7, 1, 5)]), encodeRecords([{ ...ent(2, 1, 5), index: 2 ** 53 + 2 }])]) {
    const w = fs.openSync(log, 'r+');
    fs.writeSync(w, other, 0, other.length, RECORD_OVERHEAD + 3);
    fs.closeSync(w);
    throwsCorrupt(t, () => s.entries(2, 3, Infinity), log, RECORD_OVERHEAD + 3, /not entry 2/, 'another entry');
  }
  const readSync = fs.readSync;
  patch(t, fs, 'readSync', ((fd: number, buf: NodeJS.ArrayBufferView, off: number, len: number, pos: number) =>
    readSync(fd, buf, off, len - 1, pos)) as typeof fs.readSync);
  t.throws(() => s.entries(1, 2, 0), { code: 'IO', message: /short read/ }, 'a short read');
});

t.test('I/O failures stop writes until the store is reopened', async (t) => {
  const fail =
    <F>(name: string) =>
    (() => {
      throw ioError(name);
    }) as F;

  await t.test('a failed write', async (t) => {
    const { dir, log, size } = threeEntries(t);
    const s = open(t, dir);
    const restore = patch(t, fs, 'writeSync', fail<typeof fs.writeSync>('EIO'));
    t.throws(() => s.append([ent(4, 2)]), { code: 'EIO' });
    restore();
    t.throws(() => s.append([ent(4, 2)]), { code: 'IO', message: /failed earlier; reopen/ }, 'refused afterwards');
    t.throws(() => s.sync(), { code: 'IO' }, 'sync refused too');
    t.equal(s.lastIndex(), 3, 'nothing appended');
    s.close();
    t.equal(fs.statSync(log).size, size);
    const re = open(t, dir);
    re.append([ent(4, 2)]);
    t.equal(re.lastIndex(), 4);
  });

  await t.test('a failed truncation when replacing a suffix', async (t) => {
    const { dir } = threeEntries(t);
    const s = open(t, dir);
    patch(t, fs, 'ftruncateSync', fail<typeof fs.ftruncateSync>('EIO'));
    t.throws(() => s.append([ent(2, 3)]), { code: 'EIO' });
  });

  await t.test('a failed flush', async (t) => {
    const { dir } = threeEntries(t);
    const s = open(t, dir);
    s.append([ent(4, 2)]);
    const restore = patch(t, fs, 'fdatasyncSync', fail<typeof fs.fdatasyncSync>('EIO'));
    t.throws(() => s.sync(), { code: 'EIO' });
    restore();
    t.throws(() => s.compact(2, { voters: [], learners: [] }), { code: 'IO' });
    t.throws(() => s.applySnapshot({ index: 9, term: 9, conf: { voters: [], learners: [] } }), { code: 'IO' });
  });

  await t.test('a failed state write', async (t) => {
    const { dir } = threeEntries(t);
    const s = open(t, dir);
    s.setHardState({ term: 7, vote: '', commit: 3 });
    patch(t, fs, 'renameSync', fail<typeof fs.renameSync>('ENOSPC'));
    t.throws(() => s.sync(), { code: 'ENOSPC' });
    s.close();
    t.equal(open(t, dir).initialState().hardState.term, 2, 'the old state stays');
  });

  await t.test('a failed log rewrite during compaction', async (t) => {
    const { dir } = tenEntries(t);
    const s = open(t, dir);
    const renameSync = fs.renameSync;
    patch(t, fs, 'renameSync', ((a: fs.PathLike, b: fs.PathLike) => {
      if (String(a).endsWith(LOG_FILE + TMP_SUFFIX)) throw ioError('EIO');
      renameSync(a, b);
    }) as typeof fs.renameSync);
    t.throws(() => s.compact(4, { voters: [], learners: [] }), { code: 'EIO' });
    t.throws(() => s.append([ent(11, 2)]), { code: 'IO' });
    s.close();
    const re = open(t, dir);
    t.equal(re.firstIndex(), 5, 'the state was written first');
    t.same(norm(re.entries(5, 11, Infinity)), norm(allTen.slice(4)));
  });

  await t.test('a failed truncation when installing a snapshot', async (t) => {
    const { dir } = tenEntries(t);
    const s = open(t, dir);
    const restore = patch(t, fs, 'ftruncateSync', fail<typeof fs.ftruncateSync>('EIO'));
    t.throws(() => s.applySnapshot({ index: 20, term: 4, conf: { voters: [], learners: [] } }), { code: 'EIO' });
    restore();
    s.close();
    const re = open(t, dir);
    t.equal(re.lastIndex(), 20, 'the state was written first; the old log is skipped on open');
  });
});

t.test('a conflicting suffix is cut durably before new records are written over it', async (t) => {
  const { dir } = threeEntries(t);
  const s = open(t, dir);
  const calls: string[] = [];
  const record = <K extends 'ftruncateSync' | 'fdatasyncSync' | 'writeSync'>(name: K): void => {
    const original = fs[name] as (...args: unknown[]) => unknown;
    patch(t, fs, name, ((...args: unknown[]) => {
      calls.push(name);
      return original(...args);
    }) as unknown as (typeof fs)[K]);
  };
  record('ftruncateSync');
  record('fdatasyncSync');
  record('writeSync');
  s.append([ent(4, 2)]);
  t.same(calls, ['writeSync'], 'an append at the end only writes');
  calls.length = 0;
  s.append([ent(3, 3), ent(4, 3)]);
  t.same(calls, ['ftruncateSync', 'fdatasyncSync', 'writeSync'], 'the cut is made durable first');
  s.sync();
  s.close();
  t.same(norm(open(t, dir).entries(1, 5, Infinity)), norm([ent(1, 1), ent(2, 1, 5), ent(3, 3), ent(4, 3)]));
});

t.test('a commit index change alone writes nothing; it is saved with the next term, vote or membership change', async (t) => {
  const dir = tmpDir(t);
  const s = DiskLogStore.bootstrap(dir, ['a']);
  const stateFile = path.join(dir, STATE_FILE);
  const before = fs.readFileSync(stateFile, 'utf8');
  s.append([{ index: 2, term: 1, type: 'noop', data: new Uint8Array() }]);
  s.setHardState({ term: 1, vote: '', commit: 2 });
  s.sync();
  t.equal(fs.readFileSync(stateFile, 'utf8'), before, 'the state file is untouched');
  s.close();
  const reopened = DiskLogStore.open(dir);
  t.equal(reopened.initialState().hardState.commit, 1, 'a reopened store reports the commit index last saved');
  reopened.setHardState({ term: 2, vote: 'a', commit: 2 });
  reopened.sync();
  reopened.close();
  const again = DiskLogStore.open(dir);
  t.same(again.initialState().hardState, { term: 2, vote: 'a', commit: 2 }, 'saved with the term change');
  again.close();
});

t.test('syncEntries: false leaves entries to the operating system but still saves term and vote', async (t) => {
  const dir = tmpDir(t);
  DiskLogStore.bootstrap(dir, ['a']).close();
  const s = DiskLogStore.open(dir, { syncEntries: false });
  const synced: number[] = [];
  const real = fs.fdatasyncSync;
  const restore = patch(t, fs, 'fdatasyncSync', ((fd: number) => {
    synced.push(fd);
    real(fd);
  }) as typeof fs.fdatasyncSync);
  const logSynced = (): boolean => synced.includes((s as unknown as { fd: number }).fd);
  s.append([{ index: 2, term: 1, type: 'noop', data: new Uint8Array() }]);
  s.setHardState({ term: 3, vote: 'a', commit: 1 });
  s.sync();
  t.notOk(logSynced(), 'the log was not fsynced');
  s.sync(true);
  t.ok(logSynced(), 'sync(true) flushes the entries');
  restore();
  s.close();
  const again = DiskLogStore.open(dir);
  t.same(again.initialState().hardState, { term: 3, vote: 'a', commit: 1 });
  t.equal(again.lastIndex(), 2);
  again.close();
});

t.test('syncAsync: the fsync runs on the threadpool; a failure stops later writes like sync()', async (t) => {
  const dir = tmpDir(t);
  DiskLogStore.bootstrap(dir, ['a']).close();
  const s = DiskLogStore.open(dir);
  const calls: number[] = [];
  const real = fs.fdatasync;
  patch(t, fs, 'fdatasync', ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    calls.push(fd);
    real(fd, cb);
  }) as typeof fs.fdatasync);
  s.append([{ index: 2, term: 1, type: 'noop', data: new Uint8Array() }]);
  s.setHardState({ term: 2, vote: 'a', commit: 1 });
  await s.syncAsync();
  t.equal(calls.length, 1, 'the entries were fsynced asynchronously');
  await s.syncAsync();
  t.equal(calls.length, 1, 'nothing new: no fsync');
  s.append([{ index: 3, term: 2, type: 'noop', data: new Uint8Array() }]);
  await s.syncAsync(false);
  t.equal(calls.length, 1, 'entries left to the operating system when asked');
  s.close();
  const again = DiskLogStore.open(dir);
  t.same(again.initialState().hardState, { term: 2, vote: 'a', commit: 1 });
  t.equal(again.lastIndex(), 3);
  patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(ioError('EIO'))) as typeof fs.fdatasync);
  again.append([{ index: 4, term: 2, type: 'noop', data: new Uint8Array() }]);
  await t.rejects(again.syncAsync(), { code: 'EIO' });
  await t.rejects(again.syncAsync(), { code: 'IO' }, 'later syncs refuse');
  t.throws(() => again.append([{ index: 5, term: 2, type: 'noop', data: new Uint8Array() }]), { code: 'IO' }, 'and so do writes');
  again.close();
});

t.test('onSync is told of each fsync of entries, by sync and syncAsync, with its seconds; not of one that failed', async (t) => {
  const dir = tmpDir(t);
  DiskLogStore.bootstrap(dir, ['a']).close();
  const seconds: number[] = [];
  const s = DiskLogStore.open(dir, { onSync: (x) => seconds.push(x) });
  t.teardown(() => s.close());
  s.sync();
  t.same(seconds, [], 'nothing appended: no fsync, nothing told');
  s.append([{ index: 2, term: 1, type: 'noop', data: new Uint8Array() }]);
  s.sync();
  s.append([{ index: 3, term: 1, type: 'noop', data: new Uint8Array() }]);
  await s.syncAsync();
  await s.syncAsync();
  t.equal(seconds.length, 2, 'one per fsync');
  t.ok(seconds.every((x) => x >= 0 && x < 60), 'in seconds');
  patch(t, fs, 'fdatasync', ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(ioError('EIO'))) as typeof fs.fdatasync);
  s.append([{ index: 4, term: 1, type: 'noop', data: new Uint8Array() }]);
  await t.rejects(s.syncAsync(), { code: 'EIO' });
  t.equal(seconds.length, 2, 'a failed fsync is not told');
});

t.test('bytesAfter counts the log bytes of the entries after an index', async (t) => {
  const dir = tmpDir(t);
  const s = open(t, dir);
  s.append(run(1, 10, 1, 5));
  s.sync();
  const per = RECORD_OVERHEAD + 5;
  t.equal(s.bytesAfter(0), 10 * per, 'everything');
  t.equal(s.bytesAfter(4), 6 * per);
  t.equal(s.bytesAfter(10), 0, 'nothing after the last');
  t.equal(s.bytesAfter(99), 0);
  s.compact(6, { voters: ['a'], learners: [] });
  t.equal(s.bytesAfter(3), 4 * per, 'a compacted index counts the whole log');
  t.equal(s.bytesAfter(8), 2 * per);
});
