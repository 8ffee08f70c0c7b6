/**
 * Tests of `bitraft snapshot`: offline, the real CLI on the data directory of a real
 * node — refused while the node runs unless --force-read, then a state.bin whose every
 * record matches what was written; standard output; errors. Online (--host), a running
 * node snapshots and the path and meta are printed (table or JSON); usage errors.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { readStateRecords } from '../../src/core/snapshot/index.js';
import { repoRoot, runCli } from '../helpers/cli.js';
import { redisCli, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

/** Every record of a state.bin, as latin1 key → value. */
async function contents(bin: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const it = readStateRecords([bin]);
  for (;;) {
    const next = await it.next();
    if (next.done) return out;
    out[next.value.key.toString('latin1')] = next.value.value.toString('latin1');
  }
}

const server = await startServer(t);
const expected: Record<string, string> = {};
for (let i = 0; i < 50; i++) {
  redisCli(server.port, ['SET', `key:${i}`, `value ${i}`]);
  expected[`key:${i}`] = `value ${i}`;
}
redisCli(server.port, ['SET', 'empty', '']);
expected.empty = '';
redisCli(server.port, ['DEL', 'key:7']);
delete expected['key:7'];
const out = path.join(tmpDir(t), 'state.bin');

t.test('refused while a node runs; --force-read reads it anyway', async (t) => {
  const refused = runCli(['snapshot', '--dir', server.dir, '--out', out]);
  t.equal(refused.status, 1);
  t.match(refused.stderr, new RegExp(`^Error: .* is in use by running process ${server.pid}; stop it first`, 'm'));
  t.notOk(fs.existsSync(out) || fs.existsSync(`${out}.tmp`), 'nothing written');
  const forced = runCli(['snapshot', '--dir', server.dir, '--out', out, '--force-read', '--json']);
  t.equal(forced.status, 0, forced.stderr);
  t.same(JSON.parse(forced.stdout), { dir: server.dir, out, records: 50, bytes: fs.statSync(out).size });
});

t.test('a stopped node: every key and value, byte for byte', async (t) => {
  await server.stop();
  const r = runCli(['snapshot', '--dir', server.dir, '--out', out]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^wrote 50 records \\(.+\\) to ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n$`));
  t.same(await contents(fs.readFileSync(out)), expected);
  t.notOk(fs.existsSync(`${out}.tmp`), 'no temporary file left');
  const count = runCli(['parse-snapshot', out, '--count']);
  t.equal(count.stdout, '50\n', 'parse-snapshot reads it');
});

t.test('--out - writes the snapshot to standard output', async (t) => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'snapshot', '--dir', server.dir, '--out', '-'], { timeout: 30_000 });
  t.equal(r.status, 0, r.stderr.toString());
  t.same(await contents(r.stdout), expected);
  const both = runCli(['snapshot', '--dir', server.dir, '--out', '-', '--json']);
  t.not(both.status, 0);
  t.match(JSON.parse(both.stdout), { error: { message: /--json cannot be used with --out -/ } }, 'with --json, the error is JSON too');
});

t.test('a torn tail in the store is reported as a warning and left alone', async (t) => {
  const copy = tmpDir(t);
  fs.cpSync(server.dir, copy, { recursive: true });
  const data = fs.readdirSync(copy).filter((f) => f.endsWith('.data')).sort().at(-1)!;
  fs.appendFileSync(path.join(copy, data), Buffer.from([1, 2, 3, 4, 5]));
  const before = fs.statSync(path.join(copy, data)).size;
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'snapshot', '--dir', copy, '--out', '-'], { timeout: 30_000 });
  t.equal(r.status, 0, r.stderr.toString());
  t.match(r.stderr.toString(), /^warning: /m);
  t.same(await contents(r.stdout), expected, 'every whole record');
  t.equal(fs.statSync(path.join(copy, data)).size, before, 'the directory is not changed');
});

t.test('errors: a missing directory, an unwritable output', async (t) => {
  const missing = runCli(['snapshot', '--dir', path.join(tmpDir(t), 'nope'), '--out', out]);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /^Error: .*nope does not exist/m);
  const unwritable = runCli(['snapshot', '--dir', server.dir, '--out', path.join(tmpDir(t), 'no', 'such', 'dir', 'x.bin')]);
  t.equal(unwritable.status, 1);
  t.match(unwritable.stderr, /^Error: ENOENT/m);
  t.notMatch(unwritable.stderr, /\n\s+at /, 'no stack');
});

t.test('online: --host makes a running node snapshot and prints the path and meta', async (t) => {
  const node = await startServer(t, { args: ['--requirepass', 'pw'] });
  for (let i = 0; i < 20; i++) redisCli(node.port, ['-a', 'pw', '--no-auth-warning', 'SET', `k${i}`, `v${i}`]);
  const host = `127.0.0.1:${node.port}`;
  const json = runCli(['snapshot', '--host', host, '--password', 'pw', '--json']);
  t.equal(json.status, 0, json.stderr);
  const snap = JSON.parse(json.stdout) as { path: string; id: string; index: number; size: number; voters: string[]; learners: string[] };
  t.match(snap, { id: /^\d+-\d+-\d+$/, voters: [host], learners: [] });
  t.equal(path.dirname(snap.path), path.join(node.dir, 'snapshots'));
  t.same(await contents(fs.readFileSync(path.join(snap.path, 'state.bin'))), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, `v${i}`])));
  const table = runCli(['snapshot', '--host', host, '--password', 'pw']);
  t.equal(table.status, 0, table.stderr);
  t.equal(table.stdout.split('\n')[0], snap.path, 'the path first');
  t.match(table.stdout, new RegExp(`id\\s*│\\s*${snap.id}`));
  t.match(table.stdout, /size\s*│\s*\S+ .*\(\d+ bytes\)/);
  t.match(table.stdout, /learners\s*│\s*-/);

  const wrong = runCli(['snapshot', '--host', host, '--password', 'nope']);
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /^Error: .*(WRONGPASS|AUTH)/m);
  await node.stop();
  const down = runCli(['snapshot', '--host', host, '--timeout', '2000']);
  t.equal(down.status, 1);
  t.match(down.stderr, /^Error: /m);
});

t.test('usage errors: neither --host nor --out; --host with --out', async (t) => {
  const neither = runCli(['snapshot', '--dir', server.dir]);
  t.equal(neither.status, 2);
  t.match(neither.stderr, /give --host to snapshot a running node, or --out/);
  const both = runCli(['snapshot', '--host', '127.0.0.1:1', '--out', out]);
  t.not(both.status, 0);
  t.match(both.stderr, /--out|--host/);
});
