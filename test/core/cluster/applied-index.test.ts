/**
 * Tests of the applied-index checkpoint (applied-index.ts): reading and writing the
 * `applied` file with and without the store's durable position (missing and damaged
 * files read as 0 with a warning; the old format, an index alone, still reads), and
 * AppliedCheckpoint — saves only when the index moved, fsyncs the store first, logs and
 * skips a failed save, serialises concurrent saves, and runs on a timer until stop().
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { intervalsStartedBy } from '../../helpers/fault-injection.js';
import { APPLIED_FILE, AppliedCheckpoint, readApplied, readAppliedIndex, writeAppliedIndex, type AppliedCheckpointOptions } from '../../../src/core/cluster/applied-index.js';
import { crc32 } from '../../../src/core/support/crc32.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** Resolves once `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** The applied file's text, or undefined. */
function fileText(dir: string): string | undefined {
  const file = path.join(dir, APPLIED_FILE);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
}

/**
 * A store whose sync() records what the applied file held when it was called, can be
 * held open (`hold`) to observe overlapping saves, and can be made to fail.
 */
class FakeStore {
  /** The applied file's content at each sync() call, in order. */
  fileAtSync: (string | undefined)[] = [];
  syncs = 0;
  running = 0;
  maxRunning = 0;
  fail: unknown = undefined;
  hold: Promise<void> | undefined;
  constructor(private readonly dir: string) {}
  async sync(): Promise<void> {
    this.syncs++;
    this.fileAtSync.push(fileText(this.dir));
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.hold) await this.hold;
      if (this.fail !== undefined) throw this.fail;
    } finally {
      this.running--;
    }
  }
}

interface Fixture {
  dir: string;
  store: FakeStore;
  logger: ReturnType<typeof memoryLogger>;
  applied: { value: number };
  checkpoint: AppliedCheckpoint;
}

function fixture(t: Teardown, saved = 0, opts: Partial<AppliedCheckpointOptions> = {}): Fixture {
  const dir = tmpDir(t);
  const store = new FakeStore(dir);
  const logger = memoryLogger();
  const applied = { value: saved };
  const checkpoint = new AppliedCheckpoint({ dir, store, applied: () => applied.value, logger, intervalMs: 10, ...opts }, saved);
  t.teardown(() => checkpoint.stop());
  return { dir, store, logger, applied, checkpoint };
}

t.test('readAppliedIndex', async (t) => {
  t.test('a missing file reads as 0, silently', async (t) => {
    const dir = tmpDir(t);
    const logger = memoryLogger();
    t.equal(readAppliedIndex(dir, logger), 0);
    t.strictSame(logger.lines, []);
  });

  t.test('reads what writeAppliedIndex wrote', async (t) => {
    const dir = tmpDir(t);
    const logger = memoryLogger();
    writeAppliedIndex(dir, 12345);
    t.equal(readAppliedIndex(dir, logger), 12345);
    t.equal(fileText(dir), `12345 ${crc32(Buffer.from('12345'))}\n`, 'the index and its CRC-32');
    writeAppliedIndex(dir, 0);
    t.equal(readAppliedIndex(dir, logger), 0, 'replaced');
    writeAppliedIndex(dir, Number.MAX_SAFE_INTEGER);
    t.equal(readAppliedIndex(dir, logger), Number.MAX_SAFE_INTEGER);
    t.strictSame(fs.readdirSync(dir), [APPLIED_FILE], 'no temporary file is left');
    t.strictSame(logger.lines, []);
  });

  t.test('with the store position: written, read back; an index alone still reads', async (t) => {
    const dir = tmpDir(t);
    const logger = memoryLogger();
    writeAppliedIndex(dir, 42, { file: '0000000007.data', size: 1234 });
    t.equal(fileText(dir), `42 0000000007.data 1234 ${crc32(Buffer.from('42 0000000007.data 1234'))}\n`, 'index, file, size and the CRC-32 of them');
    t.strictSame(readApplied(dir, logger), { index: 42, position: { file: '0000000007.data', size: 1234 } });
    t.equal(readAppliedIndex(dir, logger), 42);
    writeAppliedIndex(dir, 43);
    t.strictSame(readApplied(dir, logger), { index: 43 }, 'the format without a position');
    t.strictSame(readApplied(tmpDir(t), logger), { index: 0, unknown: true }, 'no file: not known');
    t.strictSame(logger.lines, []);
    t.throws(() => writeAppliedIndex(dir, 1, { file: 'a b', size: 1 }), TypeError, 'a name with a space would not read back');
    t.equal(readAppliedIndex(dir, logger), 43, 'unchanged');
  });

  const damaged: [string, string | Buffer][] = [
    ['a position with a wrong CRC', `17 0000000001.data 5 ${crc32(Buffer.from('17 0000000001.data 5')) ^ 1}\n`],
    ['a position whose size changed', `17 0000000001.data 6 ${crc32(Buffer.from('17 0000000001.data 5'))}\n`],
    ['a wrong CRC', `17 ${crc32(Buffer.from('17')) ^ 1}\n`],
    ['a CRC of another number', `18 ${crc32(Buffer.from('17'))}\n`],
    ['garbage', 'hello world'],
    ['binary garbage', Buffer.from([0xff, 0x00, 0x13, 0x37])],
    ['no newline', `17 ${crc32(Buffer.from('17'))}`],
    ['an empty file', ''],
    ['a negative index', `-1 ${crc32(Buffer.from('-1'))}\n`],
  ];
  for (const [what, content] of damaged) {
    t.test(`${what} reads as 0, not known, with a warning`, async (t) => {
      const dir = tmpDir(t);
      const logger = memoryLogger();
      fs.writeFileSync(path.join(dir, APPLIED_FILE), content);
      t.strictSame(readApplied(dir, logger), { index: 0, unknown: true });
      t.strictSame(logger.lines, [`warn: ${path.join(dir, APPLIED_FILE)} is damaged: how much of the log the store holds is not known`]);
    });
  }
  t.end();
});

t.test('AppliedCheckpoint.save', async (t) => {
  t.test('saves only when the applied index moved', async (t) => {
    const f = fixture(t, 5);
    t.equal(f.checkpoint.savedIndex, 5, 'starts at the index given');
    await f.checkpoint.save();
    t.equal(f.store.syncs, 0, 'not moved: no fsync');
    t.equal(fileText(f.dir), undefined, 'not moved: nothing written');

    f.applied.value = 9;
    await f.checkpoint.save();
    t.equal(f.store.syncs, 1);
    t.equal(f.checkpoint.savedIndex, 9);
    t.equal(readAppliedIndex(f.dir, f.logger), 9);

    await f.checkpoint.save();
    t.equal(f.store.syncs, 1, 'not moved since: no fsync');

    f.applied.value = 3;
    await f.checkpoint.save();
    t.equal(f.store.syncs, 1, 'never saves an index below the saved one');
    t.equal(f.checkpoint.savedIndex, 9);
    t.strictSame(f.logger.lines, []);
  });

  t.test('fsyncs the store before writing the index', async (t) => {
    const f = fixture(t);
    f.applied.value = 4;
    await f.checkpoint.save();
    f.applied.value = 8;
    await f.checkpoint.save();
    t.equal(f.store.fileAtSync[0], undefined, 'nothing was written before the first fsync');
    t.equal(f.store.fileAtSync[1], `4 ${crc32(Buffer.from('4'))}\n`, 'the old index was still there during the second fsync');
    t.equal(readAppliedIndex(f.dir, f.logger), 8);
  });

  t.test('saves the position the store\'s appends had reached with the index (taken together), and protects it from merges', async (t) => {
    const f = fixture(t);
    let size = 0;
    let release!: () => void;
    const protectedFrom: unknown[] = [];
    const store = Object.assign(f.store, {
      appendedPosition: () => ({ file: '0000000003.data', size }),
      protectFrom: (p: unknown) => void protectedFrom.push(p),
    });
    const checkpoint = new AppliedCheckpoint({ dir: f.dir, store, applied: () => f.applied.value, logger: f.logger, intervalMs: 10 }, 0);
    f.applied.value = 4;
    size = 100;
    f.store.hold = new Promise<void>((r) => (release = r));
    const saving = checkpoint.save();
    await until(() => f.store.syncs === 1);
    size = 180; // appended while the fsync runs: after the position saved
    f.applied.value = 5;
    release();
    await saving;
    f.store.hold = undefined;
    t.strictSame(readApplied(f.dir, f.logger), { index: 4, position: { file: '0000000003.data', size: 100 } });
    t.strictSame(protectedFrom, [{ file: '0000000003.data', size: 100 }]);
    size = 250;
    await checkpoint.saveIndex(9);
    t.strictSame(readApplied(f.dir, f.logger), { index: 9, position: { file: '0000000003.data', size: 250 } });
    t.equal(protectedFrom.length, 2);
  });

  t.test('saves the index read before the fsync, not one applied during it', async (t) => {
    const f = fixture(t);
    let release!: () => void;
    f.store.hold = new Promise<void>((r) => (release = r));
    f.applied.value = 10;
    const saving = f.checkpoint.save();
    await until(() => f.store.syncs === 1);
    f.applied.value = 20; // applied while the fsync runs: not covered by it
    release();
    await saving;
    t.equal(f.checkpoint.savedIndex, 10);
    t.equal(readAppliedIndex(f.dir, f.logger), 10);
  });

  t.test('a failing fsync is logged and nothing is saved', async (t) => {
    const f = fixture(t, 2);
    writeAppliedIndex(f.dir, 2);
    f.applied.value = 7;
    f.store.fail = new Error('disk on fire');
    await t.resolves(f.checkpoint.save(), 'never rejects');
    t.equal(f.checkpoint.savedIndex, 2);
    t.equal(readAppliedIndex(f.dir, f.logger), 2, 'the file is unchanged');
    t.strictSame(f.logger.lines, ['warn: saving the applied index failed: disk on fire']);

    f.store.fail = 'a string';
    await f.checkpoint.save();
    t.equal(f.logger.lines[1], 'warn: saving the applied index failed: a string', 'a non-Error is reported as text');

    f.store.fail = undefined;
    await f.checkpoint.save();
    t.equal(f.checkpoint.savedIndex, 7, 'the next save succeeds');
    t.equal(readAppliedIndex(f.dir, f.logger), 7);
    t.equal(f.logger.lines.length, 2);
  });

  t.test('a failing write is logged and nothing is saved', async (t) => {
    const f = fixture(t);
    const missing = path.join(f.dir, 'missing');
    const checkpoint = new AppliedCheckpoint({ dir: missing, store: f.store, applied: () => 3, logger: f.logger, intervalMs: 10 }, 0);
    await checkpoint.save();
    t.equal(checkpoint.savedIndex, 0);
    t.equal(f.logger.lines.length, 1);
    t.match(f.logger.lines[0], /^warn: saving the applied index failed: ENOENT/);
  });

  t.test('concurrent saves are serialised', async (t) => {
    const f = fixture(t);
    let release!: () => void;
    f.store.hold = new Promise<void>((r) => (release = r));
    f.applied.value = 1;
    const first = f.checkpoint.save();
    f.applied.value = 2;
    const second = f.checkpoint.save();
    const third = f.checkpoint.save();
    await until(() => f.store.syncs === 1);
    await sleep(20);
    t.equal(f.store.syncs, 1, 'the second waits for the first');
    f.applied.value = 3;
    release();
    await Promise.all([first, second, third]);
    t.equal(f.store.maxRunning, 1, 'never two fsyncs at once');
    t.equal(f.store.syncs, 2, 'the third found nothing new to save');
    t.equal(f.checkpoint.savedIndex, 3);
    t.equal(readAppliedIndex(f.dir, f.logger), 3);
  });
  t.end();
});

t.test('AppliedCheckpoint.start and stop', async (t) => {
  t.test('saves every intervalMs while the index moves, and once more on stop', async (t) => {
    const f = fixture(t, 0, { intervalMs: 10 });
    f.checkpoint.start();
    f.applied.value = 5;
    await until(() => f.checkpoint.savedIndex === 5);
    t.equal(readAppliedIndex(f.dir, f.logger), 5);
    f.applied.value = 6;
    await until(() => f.checkpoint.savedIndex === 6);
    const syncs = f.store.syncs;
    await sleep(40);
    t.equal(f.store.syncs, syncs, 'no fsync while the index stands still');

    await f.checkpoint.stop();
    f.applied.value = 7;
    await f.checkpoint.stop();
    t.equal(f.checkpoint.savedIndex, 7, 'stop saves the latest index');
    t.equal(readAppliedIndex(f.dir, f.logger), 7);
    const after = f.store.syncs;
    f.applied.value = 8;
    await sleep(40);
    t.equal(f.store.syncs, after, 'stopped: the timer no longer saves');
    t.equal(f.checkpoint.savedIndex, 7);
  });

  t.test('stop without start just saves', async (t) => {
    const f = fixture(t, 1);
    f.applied.value = 4;
    await f.checkpoint.stop();
    t.equal(f.checkpoint.savedIndex, 4);
    t.equal(f.store.syncs, 1);
  });

  t.test('the timer does not keep the process alive', async (t) => {
    const f = fixture(t, 0, { intervalMs: 60_000 });
    const timers = intervalsStartedBy(() => f.checkpoint.start());
    t.equal(timers.length, 1);
    t.equal(timers[0]!.hasRef(), false, 'unref\'d');
  });
  t.end();
});
