/**
 * Tests of `bitraft inspect-log` (src/commands/inspect-log.ts): the real CLI on the data
 * directory of a real `bitraft serve` node — while it runs and after it stopped — and on
 * corrupted copies of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { redisCli, startServer } from '../helpers/server.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const server = await startServer(t);
for (let i = 0; i < 20; i++) redisCli(server.port, ['SET', `key:${i}`, `value ${i}`]);
redisCli(server.port, ['SET', 'bin', '\x01"quoted"\n']);
redisCli(server.port, ['DEL', 'key:0']);
const dir = server.dir;

t.test('while the node runs: the summary, read-only', async (t) => {
  const before = fs.readFileSync(path.join(dir, 'raft', 'log'));
  const r = runCli(['inspect-log', '--dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /raft directory/);
  t.match(r.stdout, /command entries\s*│\s*22 \(/, 'the 22 writes');
  t.match(r.stdout, new RegExp(`voters\\s*│\\s*127\\.0\\.0\\.1:${server.port}`));
  t.ok(fs.readFileSync(path.join(dir, 'raft', 'log')).equals(before), 'the log is unchanged');
  const json = runCli(['inspect-log', '--dir', dir, '--json']);
  const s = JSON.parse(json.stdout) as { entries: number; lastIndex: number; byType: { command: { count: number } }; membership: { voters: string[] } };
  t.equal(s.byType.command.count, 22);
  t.equal(s.entries, s.lastIndex, 'a log from index 1');
  t.same(s.membership.voters, [`127.0.0.1:${server.port}`]);
});

t.test('entries: a table, or JSON lines; filters', async (t) => {
  const table = runCli(['inspect-log', '--dir', dir, '--entries', '--type', 'command', '--limit', '2']);
  t.equal(table.status, 0, table.stderr);
  t.match(table.stdout, /SET "key:0" "value 0"/);
  t.match(table.stdout, /SET "key:1" "value 1"/);
  t.notMatch(table.stdout, /key:2/, 'cut at --limit');
  const lines = runCli(['inspect-log', '--dir', dir, '--entries', '--type', 'command', '--json']).stdout.trim().split('\n');
  t.equal(lines.length, 22);
  const last = lines.slice(-2).map((l) => JSON.parse(l) as { text: string; index: number });
  t.same(last.map((e) => e.text), ['SET "bin" "\\x01\\"quoted\\"\\n"', 'DEL "key:0"']);
  const ranged = runCli(['inspect-log', '--dir', dir, '--entries', '--from', String(last[1]!.index), '--to', String(last[1]!.index)]);
  t.match(ranged.stdout, /DEL "key:0"/);
  t.notMatch(ranged.stdout, /"bin"/);
  t.match(runCli(['inspect-log', '--dir', dir, '--entries', '--from', '100000']).stdout, /no entries match/);
  t.equal(runCli(['inspect-log', '--dir', dir, '--from', '3']).status, 2, '--from needs --entries');
});

t.test('verify: a good log, then corrupted copies', async (t) => {
  await server.stop();
  const ok = runCli(['inspect-log', '--dir', dir, '--verify']);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^ok: \d+ records, every checksum and index in order\n$/);
  t.same(JSON.parse(runCli(['inspect-log', '--dir', dir, '--verify', '--json']).stdout), { records: Number(/ok: (\d+)/.exec(ok.stdout)![1]), bad: null }, 'as JSON');

  const copy = tmpDir(t);
  fs.cpSync(dir, copy, { recursive: true });
  const log = path.join(copy, 'raft', 'log');
  const bytes = fs.readFileSync(log);
  bytes[40]! ^= 0x01;
  fs.writeFileSync(log, bytes);
  const bad = runCli(['inspect-log', '--dir', copy, '--verify']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, new RegExp(`^Error: ${log.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: bad record at offset 0 after 0 good ones: .*checksum mismatch`));
  const summary = runCli(['inspect-log', '--dir', copy]);
  t.equal(summary.status, 1, 'the summary refuses it too');
  t.match(summary.stderr, /^Error: corrupt data in .* at offset 0/);
  t.notMatch(summary.stderr, /\n\s+at /, 'no stack');

  fs.writeFileSync(log, Buffer.concat([fs.readFileSync(path.join(dir, 'raft', 'log')), Buffer.from([1, 2, 3])]));
  const torn = runCli(['inspect-log', '--dir', copy, '--verify', '--json']);
  t.equal(torn.status, 1);
  t.match(JSON.parse(torn.stdout), { bad: { reason: /torn last record/ } });
  fs.writeFileSync(path.join(copy, 'raft', 'applied'), 'damaged');
  const warned = runCli(['inspect-log', '--dir', copy]);
  t.match(warned.stdout, /torn last record\s*│\s*at offset \d+: incomplete header/);
  t.match(warned.stderr, /^warning: .*applied is damaged/m, 'a damaged applied index is a warning');
});

t.test('a directory without a raft log', async (t) => {
  const r = runCli(['inspect-log', '--dir', tmpDir(t)]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^Error: .* holds no raft log/);
});
