/**
 * MULTI, EXEC, DISCARD, WATCH and UNWATCH (transaction-commands.ts) through dispatch:
 * queuing, one transaction entry proposed at EXEC, Redis's error texts, a refused
 * command discarding the transaction, and node commands refused inside one.
 */
import t, { type Test } from 'tap';
import { decodeCommand, TRANSACTION_COMMAND, WATCH_CHECK_COMMAND } from '../../../src/core/kv/index.js';
import { err, OK_ } from '../kv/kv-fixture.js';
import { directProposer, makeServer } from './server-fixture.js';

const QUEUED = { simple: 'QUEUED' };

/** A server whose proposer applies directly and records every proposal. */
async function recordingServer(t: Test): Promise<{ f: Awaited<ReturnType<typeof makeServer>>; proposed: Buffer[][] }> {
  const proposed: Buffer[][] = [];
  const f = await makeServer(t, {
    proposer: (machine) => {
      const direct = directProposer(machine);
      return { ...direct, propose: (args, s) => (proposed.push([...args]), direct.propose(args, s)) };
    },
  });
  return { f, proposed };
}

t.test('the queued commands are proposed as one transaction entry, answered as an array', async (t) => {
  const { f, proposed } = await recordingServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'multi'), OK_);
  t.strictSame(f.run(s, 'SET', 'a', '1'), QUEUED);
  t.strictSame(f.run(s, 'incrby', 'a', '41'), QUEUED);
  t.strictSame(f.run(s, 'get', 'a'), QUEUED, 'reads are queued too');
  t.strictSame(f.run(s, 'set', 'b', 'x', 'BOGUS'), QUEUED, 'a syntax error shows at EXEC');
  t.strictSame(f.kv.contents(), {}, 'nothing applied before EXEC');
  t.equal(proposed.length, 0);
  t.strictSame(await f.runAsync(s, 'EXEC'), [OK_, 42, '42', err('ERR syntax error')]);
  t.equal(proposed.length, 1, 'one entry');
  t.equal(proposed[0]![0]!.toString(), TRANSACTION_COMMAND);
  t.strictSame(proposed[0]!.slice(1).map((d) => decodeCommand(d)!.map((a) => a.toString())), [['SET', 'a', '1'], ['incrby', 'a', '41'], ['get', 'a'], ['set', 'b', 'x', 'BOGUS']]);
  t.strictSame(f.kv.contents(), { a: '42' });
  t.equal(s.multi, undefined, 'the transaction is over');
  t.strictSame(f.run(s, 'MULTI'), OK_);
  t.strictSame(f.run(s, 'EXEC'), [], 'an empty transaction proposes nothing');
  t.equal(proposed.length, 1);
});

t.test('Redis’s errors: EXEC and DISCARD without MULTI, nested MULTI, WATCH', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, 'exec'), err('ERR EXEC without MULTI'));
  t.strictSame(f.run(s, 'discard'), err('ERR DISCARD without MULTI'));
  t.strictSame(f.run(s, 'unwatch'), OK_);
  t.strictSame(f.run(s, 'multi'), OK_);
  t.strictSame(f.run(s, 'multi'), err('ERR MULTI calls can not be nested'), 'and the transaction goes on');
  t.strictSame(f.run(s, 'watch', 'k'), err('ERR WATCH inside MULTI is not allowed'));
  t.strictSame(f.run(s, 'set', 'k', 'v'), QUEUED);
  t.strictSame(f.run(s, 'discard'), OK_);
  t.strictSame(f.run(s, 'get', 'k'), null, 'discarded');
  t.strictSame(f.run(s, 'exec'), err('ERR EXEC without MULTI'));
});

t.test('a command refused while queuing discards the transaction at EXEC', async (t) => {
  const f = await makeServer(t);
  const cases: [string[], unknown][] = [
    [['nosuch', 'x'], err("ERR unknown command 'nosuch', with args beginning with: 'x' ")],
    [['get'], err("ERR wrong number of arguments for 'get' command")],
    [['INFO'], err('ERR INFO is not allowed in a transaction: only key/value commands, PING and ECHO are')],
    [['echo'], err("ERR wrong number of arguments for 'echo' command")],
    [[TRANSACTION_COMMAND, 'x'], err(`ERR unknown command '${TRANSACTION_COMMAND}', with args beginning with: 'x' `)],
  ];
  for (const [args, refusal] of cases) {
    const s = f.session();
    t.strictSame(f.run(s, 'multi'), OK_);
    t.strictSame(f.run(s, 'set', 'k', 'v'), QUEUED);
    t.strictSame(f.run(s, ...args), refusal, args.join(' '));
    t.strictSame(f.run(s, 'set', 'k2', 'v'), QUEUED, 'queuing goes on');
    t.strictSame(f.run(s, 'exec'), err('EXECABORT Transaction discarded because of previous errors.'));
    t.strictSame(f.kv.contents(), {}, 'nothing applied');
  }
  const quit = f.session();
  f.run(quit, 'multi');
  t.strictSame(f.run(quit, 'quit'), OK_, 'QUIT runs at once');
  t.equal(quit.closeAfterReplies, true);
});

t.test('a malformed transaction entry is refused before the log', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  t.strictSame(f.run(s, TRANSACTION_COMMAND, 'garbage'), err('ERR malformed transaction'));
  t.strictSame(f.run(s, TRANSACTION_COMMAND), [], 'an empty one is an empty array');
});

t.test('PING and ECHO in a transaction are answered in its array', async (t) => {
  const f = await makeServer(t);
  const s = f.session();
  f.run(s, 'multi');
  for (const args of [['PING'], ['ping', 'hi'], ['ECHO', 'there'], ['ping', 'a', 'b'], ['set', 'k', 'v']]) t.strictSame(f.run(s, ...args), QUEUED);
  t.strictSame(await f.runAsync(s, 'exec'), [{ simple: 'PONG' }, 'hi', 'there', err("ERR wrong number of arguments for 'ping' command"), OK_]);
});

t.test('WATCH: EXEC runs only if no watched key changed; UNWATCH, EXEC and DISCARD forget the keys', async (t) => {
  const { f, proposed } = await recordingServer(t);
  const a = f.session();
  const b = f.session();
  await f.runAsync(b, 'set', 'k', '1');
  t.strictSame(await f.runAsync(a, 'watch', 'k', 'absent'), OK_);
  t.equal(a.watched?.length, 4, 'two keys, each with its digest');
  f.run(a, 'multi');
  f.run(a, 'incr', 'k');
  t.strictSame(await f.runAsync(a, 'exec'), [2], 'nothing changed: it runs');
  t.equal(decodeCommand(proposed.at(-1)![1]!)![0]!.toString(), WATCH_CHECK_COMMAND, 'the check comes first in the entry');
  t.equal(a.watched, undefined, 'EXEC forgets the watched keys');

  for (const change of [['set', 'k', 'other'], ['set', 'absent', 'now'], ['expire', 'k', '100'], ['del', 'k']]) {
    await f.runAsync(b, 'set', 'k', '1');
    await f.runAsync(b, 'del', 'absent');
    await f.runAsync(a, 'watch', 'k');
    await f.runAsync(a, 'watch', 'absent');
    await f.runAsync(b, ...change);
    f.run(a, 'multi');
    f.run(a, 'set', 'k', 'from a');
    t.strictSame(await f.runAsync(a, 'exec'), { nullArray: true }, `${change.join(' ')}: EXEC answers null`);
    t.not(f.kv.contents().k, 'from a', 'and nothing ran');
  }

  await f.runAsync(a, 'watch', 'k');
  await f.runAsync(b, 'set', 'k', 'changed');
  t.strictSame(f.run(a, 'unwatch'), OK_);
  f.run(a, 'multi');
  t.strictSame(await f.runAsync(a, 'exec'), [], 'UNWATCH forgot it: an empty transaction, nothing proposed');
  await f.runAsync(a, 'watch', 'k');
  f.run(a, 'multi');
  t.strictSame(f.run(a, 'discard'), OK_);
  t.equal(a.watched, undefined, 'DISCARD forgets them too');
  await f.runAsync(a, 'watch', 'k');
  f.run(a, 'multi');
  t.strictSame(await f.runAsync(a, 'exec'), [], 'watched keys and an empty transaction: the check still runs');
  await f.runAsync(a, 'watch', 'k');
  await f.runAsync(b, 'set', 'k', 'again');
  f.run(a, 'multi');
  t.strictSame(await f.runAsync(a, 'exec'), { nullArray: true });
});

t.test('WATCH when the read fails: the error, nothing watched', async (t) => {
  const f = await makeServer(t, {
    proposer: (machine) => ({ ...directProposer(machine), read: () => Promise.resolve({ type: 'error', text: 'ERR leader not known' }) }),
  });
  const s = f.session();
  t.strictSame(await f.runAsync(s, 'watch', 'k'), err('ERR leader not known'));
  t.equal(s.watched, undefined);
});
