/**
 * A full disk: a node whose data directory is on a small tmpfs (mounted for the test;
 * it needs root, as CI runs) refuses writes with a clear `-ERR disk full …` before the
 * disk is exhausted, keeps serving reads, loses none of the writes it acknowledged,
 * accepts writes again once space is freed, and restarts with everything.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { redisCli, sleep, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const MiB = 1 << 20;

/** Mounts an 8 MiB tmpfs on a fresh directory, unmounted in teardown; fails the test with the reason when it cannot. */
function smallDisk(t: Test): string {
  const dir = tmpDir(t, 'bitraft-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`this test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): mount failed: ${(err as Error).message}`);
  }
  t.teardown(() => {
    execFileSync('umount', ['-l', dir]);
  });
  return dir;
}

t.test('writes are refused before the disk fills, nothing acknowledged is lost, writes resume when space returns', async (t) => {
  const disk = smallDisk(t);
  const ballast = path.join(disk, 'ballast');
  fs.writeFileSync(ballast, Buffer.alloc(3 * MiB, 1));
  const dir = path.join(disk, 'data');
  const args = ['--min-free-space', String(2 * MiB), '--max-file-size', String(MiB), '--snapshot-entries', '0', '--snapshot-log-size', '0', '--cache-size', '0'];
  let server = await startServer(t, { dir, args });
  const value = (i: number): string => `${i}:`.padEnd(8192, String.fromCharCode(97 + (i % 26)));
  const acked: number[] = [];
  let refusal = '';
  for (let i = 0; i < 2000 && refusal === ''; i++) {
    const r = redisCli(server.port, ['SET', `k${i}`, value(i)]).stdout.trim();
    if (r === 'OK') acked.push(i);
    else refusal = r;
  }
  t.ok(acked.length > 50, `${acked.length} writes of 8 KiB acknowledged first`);
  t.match(refusal, /^ERR disk full: [\d.]+ MiB free in .*data, below --min-free-space 2\.0 MiB; writes are refused until space is freed$/, 'then a clear error');
  await sleep(200); // redisCli blocks this process: let the node's log lines arrive
  t.match(server.stderr(), /warn +disk nearly full: /, 'and a log line');
  t.match(redisCli(server.port, ['SET', 'more', 'x']).stdout, /disk full/, 'still refused');
  t.equal(redisCli(server.port, ['DBSIZE']).stdout.trim(), String(acked.length), 'reads go on: every acknowledged write is there');
  t.equal(redisCli(server.port, ['GET', `k${acked.at(-1)}`]).stdout.trim(), value(acked.at(-1)!));
  t.ok(server.alive(), 'the node keeps running');

  fs.rmSync(ballast);
  let resumed = '';
  for (let i = 0; i < 50 && resumed !== 'OK'; i++) {
    resumed = redisCli(server.port, ['SET', 'after', 'space returned']).stdout.trim();
    if (resumed !== 'OK') await sleep(100);
  }
  t.equal(resumed, 'OK', 'space freed: writes are accepted again');
  await sleep(200);
  t.match(server.stderr(), /info +disk space back: /);

  t.same((await server.stop()).code, 0, 'stops cleanly');
  server = await startServer(t, { dir, args });
  t.equal(redisCli(server.port, ['DBSIZE']).stdout.trim(), String(acked.length + 1), 'after a restart: every acknowledged write');
  let wrong = 0;
  for (const i of acked) if (redisCli(server.port, ['GET', `k${i}`]).stdout.trim() !== value(i)) wrong++;
  t.equal(wrong, 0, 'with its value');
  t.notMatch(server.stderr(), /corrupt|torn/i, 'nothing was cut on open');
  await server.stop();
});

t.test('a write the disk refuses stops Raft on the node; stopping it then still releases its directory, and serve exits 1', async (t) => {
  const disk = smallDisk(t);
  const dir = path.join(disk, 'data');
  const args = ['--min-free-space', '0', '--snapshot-entries', '0', '--snapshot-log-size', '0', '--cache-size', '0'];
  const server = await startServer(t, { dir, args });
  t.equal(redisCli(server.port, ['SET', 'before', 'the disk filled']).stdout.trim(), 'OK');
  // Fill the disk to the last byte.
  const ballast = path.join(disk, 'ballast');
  const fd = fs.openSync(ballast, 'w');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024, 1));
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full');
  } finally {
    fs.closeSync(fd);
  }
  let failed = '';
  for (let i = 0; i < 50 && failed === ''; i++) {
    const r = redisCli(server.port, ['SET', `k${i}`, 'x'.repeat(64 * 1024)]).stdout.trim();
    if (r !== 'OK') failed = r;
  }
  t.match(failed, /^ERR /, `a write failed: ${failed}`);
  await sleep(200);
  t.match(server.stderr(), /raft: stopping after a failed write/);
  const exit = await server.stop('SIGTERM');
  t.equal(exit.code, 1, 'serve exits 1: a step of stopping failed');
  t.match(server.stderr(), /stopping: closing the Raft log failed: [\s\S]*stopped, with errors/);
  fs.rmSync(ballast);
  const again = await startServer(t, { dir, args });
  t.equal(redisCli(again.port, ['GET', 'before']).stdout.trim(), 'the disk filled', 'the directory opens again, with every acknowledged write');
  await again.stop();
});
