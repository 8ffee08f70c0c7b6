import t from 'tap';
import { DiskSpaceGuard, statfsFreeBytes } from '../../../src/core/cluster/disk-space.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const MiB = 1 << 20;

function guard(t: { teardown(fn: () => void): void }, free: { value: number | Error }, minFreeBytes = 10 * MiB, intervalMs?: number) {
  const logger = memoryLogger();
  const measured: number[] = [];
  const g = new DiskSpaceGuard({
    dir: 'data',
    minFreeBytes,
    intervalMs,
    logger,
    freeBytes: () => {
      if (free.value instanceof Error) throw free.value;
      measured.push(free.value);
      return free.value;
    },
  });
  t.teardown(() => g.close());
  return { g, logger, measured };
}

t.test('writes are let through while enough stays free, each counted twice (log and data)', async (t) => {
  const free = { value: 100 * MiB };
  const { g, measured } = guard(t, free);
  t.equal(g.freeBytes, 100 * MiB);
  t.equal(g.refuse(20 * MiB), undefined);
  t.equal(g.freeBytes, 60 * MiB, 'counted until the next measurement');
  t.equal(measured.length, 1, 'no measurement while far from the limit');
  t.equal(g.refuse(25 * MiB), undefined);
  t.equal(g.freeBytes, 10 * MiB);
});

t.test('near the limit: measured again, then refused with a DISK_FULL error, until a quarter more than the limit is free', async (t) => {
  const free = { value: 30 * MiB };
  const { g, logger, measured } = guard(t, free);
  t.equal(g.refuse(9 * MiB), undefined, 'the estimate: 12 MiB left');
  free.value = 13 * MiB;
  t.equal(g.refuse(MiB), undefined, '12 - 2 is not below 10: no measurement');
  t.equal(measured.length, 1);
  free.value = 11 * MiB;
  const err = g.refuse(2 * MiB);
  t.match(err, { code: 'DISK_FULL', message: 'disk full: 11.0 MiB free in data, below --min-free-space 10.0 MiB; writes are refused until space is freed' });
  t.equal(measured.length, 2, 'measured again before refusing');
  t.same(logger.lines, ['warn: disk nearly full: 11.0 MiB free in data, below --min-free-space 10.0 MiB; writes are refused']);
  t.ok(g.refuse(0), 'from then on even an empty write is refused');
  free.value = 12 * MiB;
  t.ok(g.refuse(1), 'also with a little more free than the limit');
  t.equal(logger.lines.length, 1, 'logged once');
  free.value = 12.5 * MiB;
  t.equal(g.refuse(1), undefined, 'a quarter more than the limit: writes resume');
  t.same(logger.lines.at(-1), 'info: disk space back: 12.5 MiB free in data; writes are accepted again');
});

t.test('free space is measured on a timer', async (t) => {
  const free = { value: 100 * MiB };
  const { g, measured } = guard(t, free, 10 * MiB, 5);
  t.ok(g.refuse(50 * MiB), 'refused');
  free.value = 100 * MiB;
  while (measured.length < 4) await new Promise((r) => setTimeout(r, 5));
  t.equal(g.freeBytes, 100 * MiB);
  t.equal(g.refuse(1), undefined, 'the timer found the space: writes resume');
  g.close();
  const n = measured.length;
  await new Promise((r) => setTimeout(r, 30));
  t.equal(measured.length, n, 'not after close');
});

t.test('off with 0; an unmeasurable disk refuses nothing and is logged once', async (t) => {
  const free = { value: 0 };
  const off = guard(t, free, 0);
  t.equal(off.g.refuse(1e12), undefined);
  t.equal(off.measured.length, 0, 'never measured');
  t.equal(off.g.freeBytes, Infinity);
  const broken = { value: new Error('ENOENT: no such directory') as number | Error };
  const { g, logger } = guard(t, broken);
  t.equal(g.refuse(1e12), undefined);
  g.refresh();
  t.same(logger.lines, ['warn: cannot measure free space in data: ENOENT: no such directory']);
  broken.value = 100 * MiB;
  g.refresh();
  broken.value = new Error('again');
  g.refresh();
  t.equal(logger.lines.length, 2, 'logged again after it was measurable in between');
});

t.test('statfsFreeBytes measures a real directory', async (t) => {
  const free = statfsFreeBytes(tmpDir(t));
  t.ok(Number.isSafeInteger(free) && free > 0, `${free} bytes free`);
  t.throws(() => statfsFreeBytes('/nonexistent/dir'), { code: 'ENOENT' });
});
