/**
 * MULTI, EXEC, DISCARD, WATCH and UNWATCH (transaction-commands.ts) through dispatch:
 * queuing, one transaction entry proposed at EXEC, Redis's error texts, a refused
 * command discarding the transaction, and node commands refused inside one.
 */
import t from 'tap';
import { decodeCommand, TRANSACTION_COMMAND } from '../../../src/core/kv/index.js';
import { err, OK_ } from '../kv/kv-fixture.js';
import { directProposer, makeServer } from './server-fixture.js';

const QUEUED = { simple: 'QUEUED' };

t.test('the queued commands are proposed as one transaction entry, answered as an array', async (t) => {
  const proposed: Buffer[][] = [];
  const f = await makeServer(t, {
    proposer: (machine) => {
      const direct = directProposer(machine);
      return { ...direct, propose: (args, s) => (proposed.push([...args]), direct.propose(args, s)) };
    },
  });
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
  t.strictSame(f.run(s, 'watch', 'k'), err('ERR WATCH is not supported: a MULTI/EXEC transaction always runs, as one atomic write'));
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
    [['PING'], err('ERR PING is not allowed in a transaction: only key/value commands are')],
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
