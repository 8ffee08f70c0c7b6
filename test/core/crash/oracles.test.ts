/**
 * Tests of the crash workloads' oracles (workload.ts, log-oracle.ts): what they accept
 * and what they report, so that a workload's "0 vulnerabilities" means something.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LOCK_FILE } from '../../../src/core/bitcask/index.js';
import { recordFs } from '../../helpers/crash-fs.js';
import { fastTmpDir } from '../../helpers/bitcask.js';
import { LogOracle, type LogView } from './log-oracle.js';
import { asAfterCrash, batches, checkCrashStates, DEAD_PID, KvOracle, records, value } from './workload.js';

const v = (s: string): Buffer => Buffer.from(s);

t.test('KvOracle: acknowledged writes must be there; later ones may be', async (t) => {
  const rec = recordFs(t, fastTmpDir(t));
  const oracle = new KvOracle(new Map([['init', v('i')]]));
  oracle.write(rec, 'a', v('1'));
  oracle.ack(rec, oracle.issued, 'a=1');
  const afterFirst = rec.position;
  oracle.write(rec, 'a', v('2'));
  oracle.write(rec, 'init', undefined);
  t.same(oracle.allowed('a', afterFirst), [v('1'), v('2')], 'not acknowledged: old or new');
  t.same(oracle.allowed('init', afterFirst), [v('i'), undefined], 'never acknowledged: the initial value too');
  t.same(oracle.allowed('a', 0), [undefined, v('1')], 'before the acknowledgement');
  oracle.ack(rec, oracle.issued, 'a=2, init deleted');
  const end = rec.position;
  t.equal(oracle.check(new Map([['a', v('2')]]), end), undefined);
  t.equal(oracle.check(new Map([['a', v('1')]]), end), 'key "a" holds 1 bytes 31; allowed: 1 bytes 32');
  t.equal(oracle.check(new Map([['a', v('2')], ['init', v('i')]]), end), 'key "init" holds 1 bytes 69; allowed: nothing');
  t.equal(oracle.check(new Map([['a', v('2')], ['x', v('123456789')]]), end), 'key "x" holds 9 bytes 3132333435363738…; allowed: nothing');
});

t.test('LogOracle: acknowledged entries must be there unless a later write replaced them', async (t) => {
  const rec = recordFs(t, fastTmpDir(t));
  const oracle = new LogOracle(rec);
  const e = (index: number, term: number) => ({ index, term, type: 'command' as const, data: new Uint8Array([index]) });
  const append = (...entries: ReturnType<typeof e>[]): void => oracle.write(() => undefined, (m) => m.append(entries));
  append(e(1, 1), e(2, 1), e(3, 1));
  oracle.write(() => undefined, (m) => m.setHardState({ term: 1, vote: 'a', commit: 0 }));
  oracle.ack('1-3');
  const k = rec.position;
  const key = (i: number, term: number): string => `${i}/${term}/command/${Buffer.from([i]).toString('hex')}`;
  const view = (entries: string[], over: Partial<LogView> = {}): LogView => ({ snapIndex: 0, snapTerm: 0, entries, hard: '1/a', conf: '{"voters":[],"learners":[]}', ...over });
  const acked = [key(1, 1), key(2, 1), key(3, 1)];
  t.equal(oracle.check(view(acked), k), undefined);
  t.match(oracle.check(view(acked.slice(0, 2)), k), /log holds snapshot 0\/0, 2 entries to 2; acknowledged: snapshot 0\/0, 3 entries to 3/);
  t.match(oracle.check(view(acked, { hard: '0/' }), k), /term\/vote 0\/; acknowledged 1\/a/);
  t.match(oracle.check(view(acked, { conf: '{}' }), k), /membership \{\}; acknowledged/);
  t.match(oracle.check(view(acked, { snapIndex: 3, snapTerm: 1, entries: [] }), k), /log holds snapshot 3\/1/);
  // Entries 2-3 replaced by 2' (term 2), not acknowledged yet: the old suffix may be cut back to what 2' shares.
  append(e(2, 2));
  const later = rec.position;
  t.equal(oracle.check(view(acked), later), undefined, 'the acknowledged log');
  t.equal(oracle.check(view([key(1, 1)]), later), undefined, 'cut back for the replacement');
  t.equal(oracle.check(view([key(1, 1), key(2, 2)]), later), undefined, 'replaced');
  t.match(oracle.check(view([]), later), /log holds/, 'the shared prefix stays');
  t.match(oracle.check(view([key(1, 1), key(2, 2), key(3, 1)]), later), /log holds/, 'never a mix');
});

t.test('asAfterCrash makes a lock of this process a dead one; other locks stay', async (t) => {
  const dir = fastTmpDir(t);
  asAfterCrash(dir);
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)));
  fs.writeFileSync(path.join(dir, LOCK_FILE), `${process.pid}\n`);
  asAfterCrash(dir);
  t.equal(fs.readFileSync(path.join(dir, LOCK_FILE), 'latin1'), `${DEAD_PID}\n`);
  fs.writeFileSync(path.join(dir, LOCK_FILE), '1\n');
  asAfterCrash(dir);
  t.equal(fs.readFileSync(path.join(dir, LOCK_FILE), 'latin1'), '1\n');
});

t.test('value, records and batches are deterministic', async (t) => {
  t.same(value(3, 5), value(3, 5));
  t.not(value(3, 5).toString('hex'), value(4, 5).toString('hex'));
  t.same(records(1, 3), records(1, 3));
  const out = [];
  for await (const batch of batches(records(2, 12))) out.push(batch.length);
  t.same(out, [5, 5, 2]);
});

t.test('checkCrashStates reports every vulnerable state and failed reopen', async (t) => {
  const root = fastTmpDir(t);
  const rec = recordFs(t, root);
  fs.writeFileSync(path.join(root, 'f'), 'x');
  const comments: string[] = [];
  const asserted: unknown[] = [];
  const fake = { comment: (m: string) => comments.push(m), same: (found: unknown) => asserted.push(found), teardown: (fn: () => void) => t.teardown(fn) } as unknown as Test;
  let n = 0;
  const report = await checkCrashStates(fake, 'demo', rec, async (state) => {
    n++;
    if (n === 1) throw new Error('boom');
    if (n === 2) throw 'not an error';
    return state.kind === 'process-crash' ? `bad at ${state.k}` : undefined;
  });
  t.equal(report.checked, n);
  t.equal(report.operations, 3);
  t.match(report.vulnerabilities[0], /reopen failed: boom/);
  t.match(report.vulnerabilities[1], /reopen failed: not an error/);
  t.ok(report.vulnerabilities.some((x) => /process-crash .*: bad at/.test(x)));
  t.match(comments[0], /^demo: 3 operations recorded, \d+ crash states enumerated \(\d+ distinct\), \d+ checked, \d+ vulnerabilities$/);
  t.same(asserted, [report.vulnerabilities.slice(0, 20)]);
});
