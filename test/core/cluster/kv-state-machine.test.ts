/**
 * Tests of KvStateMachine (kv-state-machine.ts): committed command entries are decoded
 * and applied by KvMachine with its reply returned; a malformed entry yields
 * MALFORMED_ENTRY without touching the store; restore hands the snapshot to the installer.
 */
import t from 'tap';
import { KvStateMachine, MALFORMED_ENTRY } from '../../../src/core/cluster/kv-state-machine.js';
import { encodeCommand, TRANSACTION_COMMAND } from '../../../src/core/kv/index.js';
import { NOT_RUN_HERE } from '../../../src/core/kv/machine.js';
import type { Entry, SnapshotMeta } from '../../../src/core/raft/types.js';
import { argv, err, OK_, openKv, plain } from '../kv/kv-fixture.js';

const noInstall = (): Promise<void> => Promise.reject(new Error('no snapshot expected'));

let index = 0;
function entry(data: Uint8Array): Entry {
  return { index: ++index, term: 1, type: 'command', data };
}

function command(...args: (string | Buffer)[]): Entry {
  return entry(encodeCommand(argv(...args)));
}

t.test('applies encoded commands through KvMachine', async (t) => {
  const kv = await openKv(t);
  const sm = new KvStateMachine(kv.machine, noInstall);
  t.strictSame(plain(sm.apply(command('SET', 'k', 'v'))), OK_);
  t.strictSame(plain(sm.apply(command('set', 'bin', Buffer.from([0, 0xff, 13, 10])))), OK_, 'binary-safe');
  t.strictSame(plain(sm.apply(command('MSET', 'a', '1', 'b', '2'))), OK_);
  t.strictSame(plain(sm.apply(command('DEL', 'a', 'missing'))), 1, 'the command\'s own reply');
  t.strictSame(plain(sm.apply(command('GET', 'k'))), 'v');
  t.strictSame(kv.contents(), { k: 'v', bin: '\x00\xff\r\n', b: '2' });
});

t.test('a command KvMachine refuses yields its error reply', async (t) => {
  const kv = await openKv(t);
  const sm = new KvStateMachine(kv.machine, noInstall);
  t.strictSame(plain(sm.apply(command('NOPE', 'x'))), plain(kv.machine.apply(argv('NOPE', 'x'))));
  t.match(plain(sm.apply(command('NOPE', 'x'))), { error: /^ERR unknown command/ });
  t.strictSame(plain(sm.apply(command('SET', 'k'))), err("ERR wrong number of arguments for 'set' command"));
  t.strictSame(kv.contents(), {});
});

t.test('a malformed entry yields MALFORMED_ENTRY and changes nothing', async (t) => {
  const kv = await openKv(t);
  const sm = new KvStateMachine(kv.machine, noInstall);
  t.strictSame(plain(MALFORMED_ENTRY), err('ERR malformed log entry'));
  t.equal(sm.apply(entry(new Uint8Array(0))), MALFORMED_ENTRY, 'empty data');
  t.equal(sm.apply(entry(new TextEncoder().encode('SET k v'))), MALFORMED_ENTRY, 'text, not a command');
  const valid = encodeCommand(argv('SET', 'k', 'v'));
  t.equal(sm.apply(entry(valid.subarray(0, valid.length - 1))), MALFORMED_ENTRY, 'truncated');
  t.equal(sm.apply(entry(Buffer.concat([valid, Buffer.from([0])]))), MALFORMED_ENTRY, 'trailing bytes');
  t.strictSame(kv.contents(), {});
});

t.test('decodes entry data that is a view into a larger buffer', async (t) => {
  const kv = await openKv(t);
  const sm = new KvStateMachine(kv.machine, noInstall);
  const enc = encodeCommand(argv('SET', 'view', 'ok'));
  const backing = new Uint8Array(enc.length + 10).fill(0xaa);
  backing.set(enc, 5);
  t.strictSame(plain(sm.apply(entry(new Uint8Array(backing.buffer, 5, enc.length)))), OK_);
  t.strictSame(kv.contents(), { view: 'ok' });
});

t.test('restore hands the snapshot to the installer and waits for it', async (t) => {
  const kv = await openKv(t);
  const installed: SnapshotMeta[] = [];
  const sm = new KvStateMachine(kv.machine, (meta) => {
    installed.push(meta);
    return Promise.resolve();
  });
  const meta: SnapshotMeta = { index: 42, term: 3, conf: { voters: ['a:1'], learners: [] } };
  await sm.restore(meta);
  t.same(installed, [meta]);
  await t.rejects(new KvStateMachine(kv.machine, noInstall).restore(meta), /no snapshot expected/);
});

t.test('an entry nobody on this node awaits: a transaction skips its walks while the ordered index is not built', async (t) => {
  const kv = await openKv(t);
  const sm = new KvStateMachine(kv.machine, noInstall);
  const txn = command(TRANSACTION_COMMAND, encodeCommand(argv('SET', 'k', 'v')), encodeCommand(argv('KEYS', '*')));
  t.strictSame(plain(sm.apply(txn, false)), [OK_, plain(NOT_RUN_HERE)]);
  t.strictSame(kv.contents(), { k: 'v' });
  t.strictSame(plain(sm.apply(txn, true)), [OK_, ['k']]);
});
