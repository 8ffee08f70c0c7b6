/**
 * Tests of `bitraft status` against a real 3-node cluster: the table and --json (every
 * member, the leader, healthy, exit 0), a member down (unreachable, exit 1), --watch
 * printing again, and errors (a node that cannot be asked; a wrong password).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { ClusterStatus } from '../../src/core/cluster/index.js';
import { repoRoot, runCli } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/processes.js';

const c = await startCluster(t, { size: 3 });
const leader = await c.waitForLeader();
const [a, b, d] = c.nodes;
await c.waitForVoters([a!, b!, d!]);

t.test('every member, the leader marked, healthy: exit 0', async (t) => {
  let json: ClusterStatus | undefined;
  for (let i = 0; i < 50; i++) {
    // Right after an election a follower may not have applied the last entries yet.
    const r = runCli(['status', '--host', b!.addr, '--json']);
    json = JSON.parse(r.stdout) as ClusterStatus;
    if (r.status === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  t.equal(json!.healthy, true);
  t.equal(json!.host, b!.addr);
  t.equal(json!.leader, leader.addr);
  t.strictSame(json!.members.map((m) => m.address).sort(), [a!.addr, b!.addr, d!.addr].sort());
  for (const m of json!.members) {
    t.match(m, { suffrage: 'voter', health: 'ok', role: m.address === leader.addr ? 'Leader' : 'Follower', leader: leader.addr, lag: 0 }, m.address);
    t.ok(m.term! >= 2 && m.commitIndex! >= 4 && m.logBytes! > 0);
  }
  const table = runCli(['status', '--host', a!.addr]);
  t.equal(table.status, 0, table.stderr);
  t.match(table.stdout, /│ node +│ suffrage │ role +│ term │ commit │ applied │ last log │ snapshot │ log +│ lag │ health │/);
  t.match(table.stdout, new RegExp(`│ ${leader.addr} \\* +│ voter +│ Leader +│`));
  t.match(table.stdout, new RegExp(`\\nleader: ${leader.addr} \\(\\* above\\); healthy\\n$`));
});

/** Runs `bitraft status …args` until its output holds `enough`; returns the output. */
async function watchUntil(t: Test, args: string[], enough: (out: string) => boolean): Promise<string> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'status', ...args], { env: { ...process.env, NO_COLOR: '1' } });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only this after 15 s: ${out}`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (enough(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM ends the watch, exit status 0');
  return out;
}

t.test('--watch prints again every --interval; with --json one object per line', async (t) => {
  const json = await watchUntil(t, ['--host', a!.addr, '--watch', '--interval', '200', '--json'], (out) => out.split('\n').length > 3);
  for (const line of json.split('\n').slice(0, 3)) t.equal((JSON.parse(line) as ClusterStatus).members.length, 3);
  const tables = await watchUntil(t, ['--host', a!.addr, '--watch', '--interval', '200'], (out) => out.split('\nleader: ').length > 2);
  t.match(tables, /^\d{4}-\d\d-\d\dT[\d:.]+Z\n┌/, 'each print starts with the time');
  t.match(tables, /healthy\n\n\d{4}-\d\d-\d\dT[\d:.]+Z\n┌/, 'then the next');
});

t.test('a member down is unreachable; exit 1', async (t) => {
  const down = [a!, b!, d!].find((n) => n !== leader)!;
  await c.kill(down);
  const r = runCli(['status', '--host', leader.addr, '--timeout', '1000', '--json']);
  t.equal(r.status, 1);
  const s = JSON.parse(r.stdout) as ClusterStatus;
  t.equal(s.healthy, false);
  t.match(s.members.find((m) => m.address === down.addr), { health: 'unreachable', error: /ECONNREFUSED/ });
  const table = runCli(['status', '--host', leader.addr, '--timeout', '1000']);
  t.equal(table.status, 1);
  t.match(table.stdout, /unreachable: .*ECONNREFUSED/);
  t.match(table.stdout, /1 of 3 members needs attention\n$/);
});

t.test('a node that cannot be asked: an error, exit 1', async (t) => {
  const nobody = `127.0.0.1:${await freePort()}`;
  const r = runCli(['status', '--host', nobody, '--timeout', '500']);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`^Error: node ${nobody}: connect ECONNREFUSED`, 'm'));
  const watch = runCli(['status', '--host', nobody, '--timeout', '500', '--watch']);
  t.equal(watch.status, 1, 'also with --watch');
  const tls = runCli(['status', '--host', leader.addr, '--tls-ca', path.join(repoRoot, 'no-such-ca.pem')]);
  t.equal(tls.status, 1);
  t.match(tls.stderr, /^Error: .*no-such-ca\.pem/m);
});
