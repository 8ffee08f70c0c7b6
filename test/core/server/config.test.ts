import t from 'tap';
import { DEFAULT_CONFIG, formatAddress, parseAddress } from '../../../src/core/server/index.js';
import { BitraftError } from '../../../src/core/support/errors.js';

t.test('defaults', async (t) => {
  t.strictSame(DEFAULT_CONFIG, {
    host: '127.0.0.1',
    port: 4920,
    durability: 'high',
    protectedMode: true,
    maxclients: 10_000,
    maxOutputBuffer: 1024 * 1024 * 1024,
    logLevel: 'info',
    maxKeySize: 1024 * 1024,
    maxValueSize: 512 * 1024 * 1024,
    maxFileSize: 256 * 1024 * 1024,
    minFreeSpace: 64 * 1024 * 1024,
    cacheSize: 64 * 1024 * 1024,
    mergeDeadRatio: 0.5,
    mergeMinDeadBytes: 64 * 1024 * 1024,
    mergeRate: 32 * 1024 * 1024,
    mergeCheckMs: 10_000,
    consistency: 'high',
    redirect: 'forward',
    heartbeatMs: 100,
    electionMs: 1000,
    requestTimeoutMs: 10_000,
    snapshotEntries: 100_000,
    snapshotLogBytes: 512 << 20,
    snapshotRetain: 2,
    logTail: 10_000,
  });
  t.notOk('requirepass' in DEFAULT_CONFIG, 'no password by default');
  t.notOk('clusterSecret' in DEFAULT_CONFIG, 'no cluster secret by default');
  t.notOk('tls' in DEFAULT_CONFIG, 'no TLS by default');
});

t.test('parseAddress: host:port, [ipv6]:port and a bare port', async (t) => {
  t.strictSame(parseAddress('h:1'), { host: 'h', port: 1 });
  t.strictSame(parseAddress('127.0.0.1:4920'), { host: '127.0.0.1', port: 4920 });
  t.strictSame(parseAddress('example.com:65535'), { host: 'example.com', port: 65535 });
  t.strictSame(parseAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 }, 'port 0: any free port');
  t.strictSame(parseAddress('[::1]:5'), { host: '::1', port: 5 });
  t.strictSame(parseAddress('[fe80::1%eth0]:4920'), { host: 'fe80::1%eth0', port: 4920 });
  t.strictSame(parseAddress(':5'), { host: '127.0.0.1', port: 5 }, 'an empty host is loopback');
  t.strictSame(parseAddress('h:007'), { host: 'h', port: 7 });
});

t.test('parseAddress: a bare port means 127.0.0.1', async (t) => {
  // As documented on parseAddress (and used by --bind 4920 / --join 4920).
  t.strictSame(parseAddress('7'), { host: '127.0.0.1', port: 7 });
  t.strictSame(parseAddress('4920'), { host: '127.0.0.1', port: 4920 });
});

t.test('parseAddress: anything else is INVALID_ARGUMENT', async (t) => {
  for (const bad of ['', 'h', 'h:', ':', 'h:x', 'h:-1', 'h:1.5', 'h:65536', 'h:99999999999', '::1:5', '[::1]', '[::1]:', 'a:b:1', 'h:1 ', 'h :1x', '-1', '65536']) {
    t.throws(() => parseAddress(bad), { code: 'INVALID_ARGUMENT', message: `invalid address ${JSON.stringify(bad)}: expected host:port` }, JSON.stringify(bad));
  }
  try {
    parseAddress('nope');
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof BitraftError);
  }
});

t.test('formatAddress: host:port, IPv6 in brackets; the inverse of parseAddress', async (t) => {
  t.equal(formatAddress({ host: '127.0.0.1', port: 4920 }), '127.0.0.1:4920');
  t.equal(formatAddress({ host: '::1', port: 5 }), '[::1]:5');
  for (const a of ['h:1', '[::1]:5', 'example.com:65535']) t.equal(formatAddress(parseAddress(a)), a);
});
