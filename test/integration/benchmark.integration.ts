/**
 * redis-benchmark against a real `bitraft serve`: it must run to the end with no error
 * reply (redis-benchmark exits 1 on the first one) and leave the state its commands imply.
 */
import t from 'tap';
import { HOST, redisCli, requireTools, runTracked, startServer, type Run, type Teardownable } from '../helpers/server.js';

requireTools('redis-server', 'redis-cli', 'redis-benchmark');

/** Runs redis-benchmark with `--csv` against `port`; killed by pid after `timeoutMs` or in teardown. */
function benchmark(t: Teardownable, port: number, args: string[], timeoutMs = 45_000): Promise<Run> {
  return runTracked(t, 'redis-benchmark', ['-h', HOST, '-p', String(port), '--csv', ...args], timeoutMs);
}

/** The CSV rows of a run: test name → requests per second. */
function results(stdout: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const m = /^"([^"]+)","([\d.]+)"/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

t.test('redis-benchmark -t set,get,mset -n 100000 -P 16 completes with no errors', async (t) => {
  const server = await startServer(t);
  const run = await benchmark(t, server.port, ['-t', 'set,get,mset', '-n', '100000', '-P', '16']);
  t.notOk(run.timedOut, 'finished in time');
  t.same({ code: run.code, signal: run.signal }, { code: 0, signal: null }, 'exit code 0', { stdout: run.stdout, stderr: run.stderr });
  t.notMatch(run.stdout + run.stderr, /error/i, 'no error reported', { stdout: run.stdout, stderr: run.stderr });
  const rows = results(run.stdout);
  t.same([...rows.keys()], ['SET', 'GET', 'MSET (10 keys)'], 'a result for each test');
  for (const [name, rps] of rows) t.ok(rps > 0, `${name}: ${rps} requests per second`);
  // Without -r every command uses the literal key "key:__rand_int__" and the value "VXK".
  t.equal(redisCli(server.port, ['KEYS', '*']).stdout, 'key:__rand_int__\n', 'only the benchmark key exists');
  t.equal(redisCli(server.port, ['GET', 'key:__rand_int__']).stdout, 'VXK\n');
  t.ok(server.alive(), 'server still running');
});

t.test('redis-benchmark with random keys, inline PINGs and no pipelining completes with no errors', async (t) => {
  const server = await startServer(t, { args: ['--durability', 'medium'] });
  const run = await benchmark(t, server.port, ['-t', 'ping_inline,ping_mbulk,set,get', '-n', '20000', '-r', '5000', '-c', '20', '-d', '100']);
  t.notOk(run.timedOut, 'finished in time');
  t.same({ code: run.code, signal: run.signal }, { code: 0, signal: null }, 'exit code 0', { stdout: run.stdout, stderr: run.stderr });
  t.notMatch(run.stdout + run.stderr, /error/i, 'no error reported');
  t.same([...results(run.stdout).keys()], ['PING_INLINE', 'PING_MBULK', 'SET', 'GET']);
  const keys = redisCli(server.port, ['KEYS', 'key:*']).stdout.split('\n').filter(Boolean);
  t.ok(keys.length > 1000 && keys.length <= 5000, `${keys.length} random keys written`);
  t.ok(keys.every((k) => /^key:\d{12}$/.test(k)), 'keys as redis-benchmark names them');
  t.same(keys, [...keys].sort(), 'KEYS in byte order');
  const value = redisCli(server.port, ['GET', keys[0]!]).stdout;
  t.equal(value.length, 101, 'a 100-byte value (plus the newline)');
});
