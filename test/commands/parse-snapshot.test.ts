import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { encodeCommand } from '../../src/core/resp/index.js';
import { repoRoot } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE, rawStateRecords } from '../helpers/state-bin.js';

const FIXTURE = GO_SNAPSHOT_FIXTURE;
const STATE_BIN = path.join(FIXTURE, 'state.bin');
const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'contents.json'), 'utf8')) as {
  record_order_in_state_bin_hex: string[];
  keys: { key_hex: string; value_hex: string }[];
};
const valueOf = new Map(contents.keys.map((k) => [k.key_hex, k.value_hex]));
/** The fixture's records in file order, as buffers. */
const RECORDS = contents.record_order_in_state_bin_hex.map((k) => [Buffer.from(k, 'hex'), Buffer.from(valueOf.get(k)!, 'hex')] as const);

/** Runs the built CLI with binary-safe stdout. */
function run(args: string[], input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'parse-snapshot', ...args], {
    input,
    maxBuffer: 512 * 1024 * 1024,
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}


/** The fixture as RESP. */
const FIXTURE_RESP = Buffer.concat(RECORDS.map(([k, v]) => encodeCommand(['SET', k, v])));

/**
 * Asserts a failed run: exit 1, one error line matching `re`, no stack, and on stdout
 * exactly `stdout` (default nothing), or with 'prefix' a prefix of the fixture's output.
 */
function failsWith(t: Test, r: ReturnType<typeof run>, re: RegExp, stdout: Buffer | 'prefix' = Buffer.alloc(0)): void {
  t.equal(r.status, 1, 'exit 1');
  if (stdout === 'prefix') t.ok(FIXTURE_RESP.subarray(0, r.stdout.length).equals(r.stdout), 'stdout holds only whole records before the fault');
  else t.ok(r.stdout.equals(stdout), 'stdout holds only the records before the fault');
  t.match(r.stderr, /^Error: [^\n]+\n$/, `one line: ${r.stderr}`);
  t.match(r.stderr, re);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

t.test('the Go fixture becomes exactly one SET per record, in file order', async (t) => {
  const r = run([STATE_BIN]);
  t.equal(r.status, 0);
  t.equal(r.stderr, '');
  t.ok(r.stdout.equals(FIXTURE_RESP), 'byte for byte');
  const stdin = run(['-'], fs.readFileSync(STATE_BIN));
  t.equal(stdin.status, 0);
  t.ok(stdin.stdout.equals(r.stdout), '- reads stdin');
});

t.test('--count prints the number of records; --kvnode strips k and says how many it skipped', async (t) => {
  const count = run(['--count', STATE_BIN]);
  t.equal(count.status, 0);
  t.equal(count.stdout.toString(), '1000\n');
  const kept = RECORDS.filter(([k]) => k[0] === 0x6b);
  const kvCount = run(['--count', '--kvnode', STATE_BIN]);
  t.equal(kvCount.stdout.toString(), `${kept.length}\n`);
  t.equal(kvCount.stderr, `kvnode: skipped ${1000 - kept.length} record(s) whose key does not start with "k"\n`);
  const kv = run(['--kvnode', STATE_BIN]);
  t.equal(kv.status, 0);
  t.ok(kv.stdout.equals(Buffer.concat(kept.map(([k, v]) => encodeCommand(['SET', k.subarray(1), v])))), 'k stripped, others skipped');
});

t.test('--format json: one object per line, binary-safe', async (t) => {
  const r = run(['--format', 'json', STATE_BIN]);
  t.equal(r.status, 0);
  const lines = r.stdout.toString('utf8').trimEnd().split('\n');
  t.equal(lines.length, 1000);
  const back = lines.map((l) => {
    const o = JSON.parse(l) as Record<string, string>;
    const key = o.key !== undefined ? Buffer.from(o.key, 'utf8') : Buffer.from(o.key64!, 'base64');
    const value = o.value !== undefined ? Buffer.from(o.value, 'utf8') : Buffer.from(o.value64!, 'base64');
    return [key.toString('hex'), value.toString('hex')];
  });
  t.same(back, RECORDS.map(([k, v]) => [k.toString('hex'), v.toString('hex')]));
  t.ok(lines.some((l) => l.includes('"value64":')), 'base64 for binary values');
  t.equal(run(['--format', 'xml', STATE_BIN]).status, 2, 'unknown format is a usage error');
});

t.test('invalid snapshots: exit 1, one line naming the offset, nothing fake on stdout', async (t) => {
  const dir = tmpDir(t);
  const write = (name: string, data: Buffer): string => {
    fs.writeFileSync(path.join(dir, name), data);
    return path.join(dir, name);
  };
  failsWith(t, run([write('text.bin', Buffer.from('hello, not a snapshot\n'))]), /corrupt data in .*text\.bin at offset \d+: not a valid gzip stream \(gzip error: incorrect header check/);
  const fixture = fs.readFileSync(STATE_BIN);
  failsWith(t, run([write('cut-gzip.bin', fixture.subarray(0, 1000))]), /at offset 1000: not a valid gzip stream \(gzip error: unexpected end of file/, 'prefix');
  const two = [[Buffer.from('a'), Buffer.from('1')] as const, [Buffer.from('b'), Buffer.from('22')] as const];
  const raw = rawStateRecords(two);
  failsWith(t, run([write('cut.bin', zlib.gzipSync(raw.subarray(0, raw.length - 1)))]), /at offset 18: truncated: record 2 at decompressed byte 18 is cut off in its value; the stream ends at decompressed byte 36/, encodeCommand(['SET', 'a', '1']));
  const badLength = Buffer.concat([raw, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0x80])]);
  failsWith(t, run([write('huge.bin', zlib.gzipSync(badLength))]), /at offset 37: record 3 at decompressed byte 37 has a key length of 9223372036854775809 bytes/, Buffer.concat(two.map(([k, v]) => encodeCommand(['SET', k, v]))));
  failsWith(t, run([path.join(dir, 'missing.bin')]), /^Error: cannot read snapshot .*missing\.bin: no such file$/m);
  failsWith(t, run([dir]), /cannot read snapshot .*: EISDIR/);
  failsWith(t, run(['-'], Buffer.from('junk')), /corrupt data in <stdin> at offset 4: not a valid gzip stream/);
  const count = run(['--count', path.join(dir, 'cut.bin')]);
  t.equal(count.status, 1, '--count of a truncated file fails too');
  t.equal(count.stdout.length, 0);
});

t.test('usage errors and help', async (t) => {
  const none = run([]);
  t.equal(none.status, 2);
  t.match(none.stderr, /Missing 1 required arg/);
  const help = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'parse-snapshot', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  for (const s of ['redis-cli -p 4920 --pipe', 'parse-snapshot - ', '--kvnode', '--count', '--format json', 'key64']) t.match(help.stdout, s, `help mentions ${s}`);
});

t.test('a reader that closes the pipe early (| head) ends it quietly with exit 0', async (t) => {
  const dir = tmpDir(t);
  const pairs = Array.from({ length: 60_000 }, (_, i) => [Buffer.from(`key:${i}`), Buffer.alloc(100, i)] as const);
  const file = path.join(dir, 'state.bin');
  fs.writeFileSync(file, zlib.gzipSync(rawStateRecords(pairs), { level: 1 }));
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'parse-snapshot', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  t.equal(status, 0);
  t.equal(stderr, '');
});
