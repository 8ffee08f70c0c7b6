import t from 'tap';
import { Bitcask } from '../../../src/core/bitcask/index.js';
import { encodeCommand, KvMachine, TRANSACTION_COMMAND } from '../../../src/core/kv/index.js';
import { isStorageFailure } from '../../../src/core/kv/machine.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { seededRng } from '../../../src/core/support/rng.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { argv, err, fixtureOf, OK_, openKv, plain } from './kv-fixture.js';

t.test('lookup finds commands by name in any case', async (t) => {
  const { machine } = await openKv(t);
  t.equal(machine.lookup(argv('get', 'k'))?.name, 'get');
  t.equal(machine.lookup(argv('GET'))?.name, 'get');
  t.equal(machine.lookup(argv('mSeT'))?.name, 'mset');
  t.equal(machine.lookup(argv('FlushDB'))?.name, 'flushdb');
  t.equal(machine.lookup(argv('nosuch')), undefined);
  t.equal(machine.lookup(argv('')), undefined);
  t.equal(machine.lookup(argv('ping')), undefined, 'node-local commands are not key/value commands');
  t.equal(machine.lookup(argv('get\x00')), undefined);
});

t.test('check: unknown name, arity, syntax and sizes; undefined when the command may run', async (t) => {
  const kv = await openKv(t, { maxKeySize: 8, maxValueSize: 16 });
  t.strictSame(kv.check('foo', 'a', 'b'), err("ERR unknown command 'foo', with args beginning with: 'a' 'b' "));
  t.strictSame(kv.check('get'), err("ERR wrong number of arguments for 'get' command"));
  t.strictSame(kv.check('GET', 'a', 'b'), err("ERR wrong number of arguments for 'get' command"), 'the canonical lower-case name');
  t.strictSame(kv.check('set', 'k', 'v', 'x'), err('ERR syntax error'));
  t.strictSame(kv.check('mset', 'a', '1', 'b'), err("ERR wrong number of arguments for 'mset' command"));
  t.strictSame(kv.check('set', 'k'.repeat(9), 'v'), err('ERR key of 9 bytes exceeds the limit of 8 bytes'));
  t.strictSame(kv.check('set', 'k', 'v'.repeat(17)), err('ERR value of 17 bytes exceeds the limit of 16 bytes'));
  t.equal(kv.check('get', 'k'), undefined, 'a read without a check of its own');
  t.equal(kv.check('get', 'k'.repeat(100)), undefined, 'reads are not size-checked');
  t.equal(kv.check('set', 'k'.repeat(8), 'v'.repeat(16)), undefined, 'exactly at the limits');
  t.equal(kv.check('pdel', '*'), undefined);
  t.strictSame(kv.contents(), {}, 'check never writes');
});

t.test('the limits are the store\'s', async (t) => {
  const kv = await openKv(t, { maxKeySize: 3, maxValueSize: 0 });
  t.strictSame(kv.run('set', 'abc', ''), OK_, 'an empty value fits a zero limit');
  t.strictSame(kv.run('set', 'abc', 'x'), err('ERR value of 1 bytes exceeds the limit of 0 bytes'));
  t.strictSame(kv.run('set', 'abcd', ''), err('ERR key of 4 bytes exceeds the limit of 3 bytes'));
  t.strictSame(kv.contents(), { abc: '' });
});

t.test('apply refuses what check refuses, and writes nothing then', async (t) => {
  const kv = await openKv(t, { maxKeySize: 8, maxValueSize: 16 });
  t.strictSame(kv.run('set', 'keep', 'me'), OK_);
  t.strictSame(kv.run('mset', 'a', '1', 'b', 'v'.repeat(17)), err('ERR value of 17 bytes exceeds the limit of 16 bytes'));
  t.strictSame(kv.run('mset', 'a', '1', 'k'.repeat(9), '2'), err('ERR key of 9 bytes exceeds the limit of 8 bytes'));
  t.strictSame(kv.run('set', 'keep', 'x', 'y'), err('ERR syntax error'));
  t.strictSame(kv.run('nosuch', 'keep'), err("ERR unknown command 'nosuch', with args beginning with: 'keep' "));
  t.strictSame(kv.run('del'), err("ERR wrong number of arguments for 'del' command"));
  t.strictSame(kv.run('flushdb', 'now'), err('ERR syntax error'));
  t.strictSame(kv.contents(), { keep: 'me' }, 'no refused write changed anything');
  t.equal(kv.store.hasUnsyncedWrites, true);
});

t.test('apply throws nothing but a storage failure of this node', async (t) => {
  t.test('on a closed store reads become an ERR reply, writes throw (they were not applied here)', async (t) => {
    const kv = await openKv(t);
    kv.run('set', 'k', 'v');
    await kv.store.close();
    const closed = err('ERR the store is closed');
    for (const args of [
      ['get', 'k'],
      ['mget', 'k', 'j'],
      ['exists', 'k'],
      ['keys', '*'],
      ['keys', 'k'],
      ['keys', 'k*', 'withvalues'],
    ]) {
      t.strictSame(kv.run(...args), closed, args.join(' '));
    }
    for (const args of [
      ['set', 'k', 'w'],
      ['mset', 'k', 'w'],
      ['del', 'k'],
      ['pdel', '*'],
      ['flushdb'],
    ]) {
      t.throws(() => kv.run(...args), { code: 'CLOSED' }, args.join(' '));
    }
    t.strictSame(kv.run('dbsize'), 1, 'DBSIZE needs no file');
    t.strictSame(kv.run('keys', '*', 'limit', '0'), [], 'LIMIT 0 needs no walk');
    t.strictSame(kv.run('keys', '*', 'limit', 'x'), err('ERR value is not an integer or out of range'), 'parsing comes first');
  });

  t.test('errors that are not Errors, and messages with line breaks', async (t) => {
    const kv = await openKv(t);
    const store = kv.store as unknown as { get: (k: Buffer) => Buffer | undefined; keys: () => Iterable<Buffer> };
    store.get = () => {
      throw 'boom';
    };
    t.strictSame(kv.run('get', 'k'), err('ERR boom'));
    store.get = () => {
      throw new Error('line one\r\nline two\nthree');
    };
    t.strictSame(kv.run('mget', 'k'), err('ERR line one  line two three'));
    store.keys = () => {
      throw new RangeError('bad range');
    };
    t.strictSame(kv.run('pdel', '*'), err('ERR bad range'), "a write's own error is its reply");
  });

  t.test('a full disk under a write is thrown, not answered', async (t) => {
    const kv = await openKv(t);
    const store = kv.store as unknown as { put: () => void; get: () => void };
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    store.put = () => {
      throw enospc;
    };
    t.throws(() => kv.run('set', 'k', 'v'), enospc);
    store.get = () => {
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    };
    t.strictSame(kv.run('get', 'k'), err('ERR EIO: i/o error, read'), 'a read that fails is answered');
  });
});

t.test('isStorageFailure: I/O errors and a closed or blocked store', async (t) => {
  const io = (code: string) => Object.assign(new Error(code), { code });
  for (const e of [io('ENOSPC'), io('EIO'), io('EDQUOT'), io('EROFS'), new BitraftError('IO', 'x'), new BitraftError('CLOSED', 'x')]) t.ok(isStorageFailure(e), String(e));
  for (const e of [new BitraftError('KEY_TOO_LARGE', 'x'), new BitraftError('CORRUPT', 'x'), new RangeError('x'), 'ENOSPC', undefined, { code: 'ENOSPC' }, io('not-errno')]) {
    t.notOk(isStorageFailure(e), String(e));
  }
});

t.test('read runs a command on local state like apply', async (t) => {
  const kv = await openKv(t);
  kv.run('set', 'k', 'v');
  t.strictSame(plain(kv.machine.read(argv('get', 'k'))), 'v');
  t.strictSame(plain(kv.machine.read(argv('GET', 'nope'))), null);
  t.strictSame(plain(kv.machine.read(argv('get'))), err("ERR wrong number of arguments for 'get' command"));
  t.strictSame(plain(kv.machine.read(argv('bogus'))), err("ERR unknown command 'bogus', with args beginning with: "));
});

t.test('binary keys, the empty key and empty values survive a reopen', async (t) => {
  const dir = tmpDir(t);
  const first = fixtureOf(dir, await Bitcask.open(dir, { sync: 'none' }));
  const pairs: [string, string][] = [
    ['', 'empty key'],
    ['\x00', 'nul'],
    ['\xff', 'ff'],
    ['\r\n', 'crlf'],
    ['a\x00b', ''],
    ['empty', ''],
  ];
  t.strictSame(first.run('mset', ...pairs.flat()), OK_);
  t.strictSame(first.run('set', '\xff\xfe', '\x00\r\n\xff'), OK_);
  t.strictSame(first.run('del', 'nothing', '\r\n'), 1);
  await first.store.close();
  const store = await Bitcask.open(dir, { sync: 'none' });
  t.teardown(() => store.close());
  const again = fixtureOf(dir, store);
  t.strictSame(again.run('get', 'empty'), '', 'an empty value is a value, not a tombstone');
  t.strictSame(again.run('get', 'a\x00b'), '');
  t.strictSame(again.run('get', ''), 'empty key');
  t.strictSame(again.run('get', '\r\n'), null, 'the delete stuck');
  t.strictSame(again.run('mget', '\x00', '\xff', '\xff\xfe'), ['nul', 'ff', '\x00\r\n\xff']);
  t.strictSame(again.run('keys', '*'), ['', '\x00', 'a\x00b', 'empty', '\xff', '\xff\xfe']);
  t.strictSame(again.run('dbsize'), 6);
});

t.test('apply is deterministic: the same commands give the same replies and state', async (t) => {
  const a = await openKv(t);
  const b = await openKv(t);
  const rng = seededRng(7);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const keys = ['', 'a', 'b', 'ab', '\x00', '\xff', 'k1', 'k2'];
  const patterns = ['*', 'a*', '?', 'k[12]', '\xff', '[^a]*', '\\*'];
  for (let i = 0; i < 2000; i++) {
    const op = rng.int(10);
    const args: string[] =
      op < 3 ? ['set', pick(keys), String(rng.int(100))]
      : op < 5 ? ['del', pick(keys), pick(keys)]
      : op < 6 ? ['mset', pick(keys), 'x', pick(keys), 'y']
      : op < 7 ? ['pdel', pick(patterns)]
      : op < 8 ? (rng.int(20) === 0 ? ['flushdb'] : ['exists', pick(keys), pick(keys)])
      : op < 9 ? ['keys', pick(patterns), 'withvalues']
      : ['mget', pick(keys), pick(keys)];
    const ra = a.run(...args);
    const rb = b.run(...args);
    if (JSON.stringify(ra) !== JSON.stringify(rb)) {
      t.fail(`step ${i}: ${args.join(' ')} gave ${JSON.stringify(ra)} and ${JSON.stringify(rb)}`);
      return;
    }
  }
  t.strictSame(a.contents(), b.contents());
  t.pass('2000 random commands agreed');
});

t.test('KvMachine reads the limits once, from the store options', async (t) => {
  const store = await Bitcask.open(tmpDir(t), { sync: 'none', maxKeySize: 2, maxValueSize: 2 });
  t.teardown(() => store.close());
  const m = new KvMachine(store);
  t.equal(m.store, store);
  t.strictSame(plain(m.check(argv('mset', 'ab', 'cd', 'abc', 'd'))!), err('ERR key of 3 bytes exceeds the limit of 2 bytes'));
});

t.test('a transaction entry applies its commands in order, as one write', async (t) => {
  const kv = await openKv(t);
  const txn = (...cmds: string[][]) => [TRANSACTION_COMMAND, ...cmds.map((c) => encodeCommand(argv(...c)))];
  t.equal(kv.machine.lookup(argv('RAFTTXN'))?.name, TRANSACTION_COMMAND, 'found in any case');
  t.strictSame(kv.run(...txn(['set', 'n', 'x'], ['incr', 'n'], ['append', 'n', 'y'], ['get', 'n'], ['nosuch'])), [
    OK_,
    err('ERR value is not an integer or out of range'),
    2,
    'xy',
    err("ERR unknown command 'nosuch', with args beginning with: "),
  ]);
  t.strictSame(kv.check(...txn(['get', 'a'], [TRANSACTION_COMMAND])), err('ERR malformed transaction'), 'no transaction inside one');
  t.strictSame(kv.check(TRANSACTION_COMMAND, Buffer.alloc(3)), err('ERR malformed transaction'));
  await kv.store.close();
  t.throws(() => kv.machine.apply(argv(...txn(['set', 'k', 'v']))), { code: 'CLOSED' }, 'a storage failure stops the whole entry');
});

t.test('prepareFor: a promise only for a walk in key order while the index is not built', async (t) => {
  const { machine, store } = await openKv(t);
  machine.apply(argv('set', 'k', 'v'));
  const txn = (...cmds: Buffer[]): Buffer[] => [Buffer.from(TRANSACTION_COMMAND), ...cmds];
  t.equal(machine.prepareFor(argv('get', 'k')), undefined, 'a read that does not walk');
  t.equal(machine.prepareFor(argv('nosuch')), undefined, 'an unknown command (its error needs no index)');
  t.equal(machine.prepareFor(txn(encodeCommand(argv('set', 'a', '1')), Buffer.from('junk'))), undefined, 'a transaction without a walk, one command malformed');
  t.equal(machine.prepareFor(txn(encodeCommand(argv('nosuch')))), undefined);
  t.equal(machine.prepareForWrite(argv('set', 'k', 'v')), undefined, 'a write: told apart by its name length');
  t.equal(machine.prepareForWrite(argv('persist', 'k')), undefined, 'a write with a name as long as the transaction command');
  const scan = machine.prepareFor(argv('SCAN', '0'));
  t.ok(scan instanceof Promise, 'SCAN');
  t.equal(machine.prepareFor(txn(encodeCommand(argv('keys', '*')))), scan, 'a transaction holding a KEYS shares the build');
  t.equal(machine.prepareForWrite(txn(encodeCommand(argv('keys', '*')))), scan, 'also as a write');
  await scan;
  t.ok(store.ordered);
  t.equal(machine.prepareFor(argv('keys', '*')), undefined, 'built: nothing to wait for');
});

t.test('prepareFor on a closed store: nothing to wait for (the command fails as closed)', async (t) => {
  const { machine, store } = await openKv(t);
  await store.close();
  t.equal(machine.prepareFor(argv('keys', '*')), undefined);
});

t.test('a transaction whose reply nobody reads skips its walks while the ordered index is not built', async (t) => {
  const { machine, store } = await openKv(t);
  machine.apply(argv('set', 'a', '1'));
  const txn = [Buffer.from(TRANSACTION_COMMAND), encodeCommand(argv('set', 'b', '2')), encodeCommand(argv('keys', '*')), encodeCommand(argv('scan', '0')), encodeCommand(argv('get', 'a'))];
  t.strictSame(plain(machine.apply(txn, undefined, 0, false)), [{ simple: 'OK' }, { error: 'ERR not run on this replica: its reply is read on the node that proposed it' }, { error: 'ERR not run on this replica: its reply is read on the node that proposed it' }, '1']);
  t.notOk(store.ordered, 'no index built');
  t.equal(store.get(Buffer.from('b'))?.toString(), '2', 'the writes are applied alike');
  t.strictSame(plain(machine.apply(txn)), [{ simple: 'OK' }, ['a', 'b'], ['0', ['a', 'b']], '1'], 'awaited: the walks run (and build the index)');
  t.ok(store.ordered);
  t.strictSame(plain(machine.apply(txn, undefined, 0, false)), [{ simple: 'OK' }, ['a', 'b'], ['0', ['a', 'b']], '1'], 'once built, they run everywhere');
  t.strictSame(plain(machine.apply(argv('keys', '*'), undefined, 0, false)), ['a', 'b'], 'a walk alone is a read: never proposed, never skipped');
});
