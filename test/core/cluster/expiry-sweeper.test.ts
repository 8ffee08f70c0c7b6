/**
 * The leader's sweep of expired keys (expiry-sweeper.ts): bounded walks that resume,
 * one proposal in flight, nothing on a follower, failures logged.
 */
import t, { type Test } from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { ExpirySweeper } from '../../../src/core/cluster/expiry-sweeper.js';
import { memoryLogger } from '../../../src/core/support/logger.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const T = 1_700_000_000_000;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

async function rig(t: Test) {
  const store = await Bitcask.open(tmpDir(t), { sync: 'none' });
  t.teardown(() => store.close());
  const proposals: string[][] = [];
  const state = { leader: true, now: T, fail: undefined as Error | undefined, gate: undefined as Promise<void> | undefined };
  const logger = memoryLogger();
  const sweeper = new ExpirySweeper({
    store,
    isLeader: () => state.leader,
    propose: async (args) => {
      proposals.push(args.map((a) => a.toString('latin1')));
      await state.gate;
      if (state.fail) throw state.fail;
    },
    logger,
    now: () => state.now,
    scanLimit: 3,
    batchLimit: 2,
  });
  return { store, proposals, state, logger, sweeper };
}

t.test('proposes RAFTEXPIRE for expired keys, a bounded number at a time, resuming the walk', async (t) => {
  const r = await rig(t);
  t.equal(await r.sweeper.sweep(), 0, 'nothing expires');
  for (let i = 0; i < 6; i++) r.store.put(b(`k${i}`), b('v'), T + (i % 2 === 0 ? -1 : 1000));
  r.store.put(b('plain'), b('v'));
  t.equal(await r.sweeper.sweep(), 2, 'k0 and k2, among the first three looked at');
  t.strictSame(r.proposals, [['raftexpire', 'k0', 'k2']]);
  t.equal(await r.sweeper.sweep(), 1, 'the walk went on: k4');
  t.strictSame(r.proposals[1], ['raftexpire', 'k4']);
  t.equal(await r.sweeper.sweep(), 0, 'the walk ended; a new one starts next time');
  t.equal(await r.sweeper.sweep(), 2, 'the keys were not deleted here (the fake proposes only): found again');
  r.state.leader = false;
  t.equal(await r.sweeper.sweep(), 0, 'a follower proposes nothing');
});

t.test('one proposal at a time; a failure is logged', async (t) => {
  const r = await rig(t);
  r.store.put(b('k'), b('v'), T - 1);
  let open!: () => void;
  r.state.gate = new Promise((resolve) => (open = resolve));
  const first = r.sweeper.sweep();
  t.equal(await r.sweeper.sweep(), 0, 'still in flight');
  open();
  t.equal(await first, 1);
  r.state.gate = undefined;
  r.state.fail = new Error('no leader');
  t.equal(await r.sweeper.sweep(), 1);
  t.match(r.logger.lines.join('\n'), /expiry: deleting 1 expired keys failed: no leader/);
  await r.store.close();
  t.equal(await r.sweeper.sweep(), 0, 'a closed store is not swept');
});

t.test('start and stop drive sweeps by a timer', async (t) => {
  const r = await rig(t);
  r.store.put(b('k'), b('v'), T - 1);
  r.sweeper.start(5);
  for (let i = 0; i < 100 && r.proposals.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
  r.sweeper.stop();
  t.ok(r.proposals.length > 0);
});

t.test('defaults: the real clock, 2,000 keys looked at, 1,000 a proposal', async (t) => {
  const store = await Bitcask.open(tmpDir(t), { sync: 'none' });
  t.teardown(() => store.close());
  for (let i = 0; i < 1500; i++) store.put(b(`k${i}`), b('v'), 1);
  const sizes: number[] = [];
  const sweeper = new ExpirySweeper({ store, isLeader: () => true, propose: async (args) => void sizes.push(args.length - 1), logger: memoryLogger() });
  t.equal(await sweeper.sweep(), 1000);
  t.equal(await sweeper.sweep(), 500);
  t.strictSame(sizes, [1000, 500]);
});
