import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  decodePeers,
  decodeSnapshotMeta,
  encodePeers,
  encodeSnapshotMeta,
  parseSnapshotId,
  snapshotId,
  writeSnapshotMetaFile,
  type SnapshotFileMeta,
} from '../../../src/core/snapshot/index.js';
import { tmpDir } from '../../helpers/tmp-dir.js';
import { GO_SNAPSHOT_FIXTURE } from '../../helpers/state-bin.js';

const GO_META = fs.readFileSync(path.join(GO_SNAPSHOT_FIXTURE, 'meta.json'), 'utf8');

const META: SnapshotFileMeta = {
  id: '3-120-1700000000000',
  index: 120,
  term: 3,
  conf: { voters: ['10.0.0.1:5001', '10.0.0.2:5001'], learners: ['10.0.0.3:5001'] },
  size: 4096,
  crc: 'd1cqDnZCIg8=',
};

t.test('snapshot ids are <term>-<index>-<ms> in canonical decimal', async (t) => {
  t.equal(snapshotId(1, 1011, 1795600287480), '1-1011-1795600287480');
  t.same(parseSnapshotId('1-1011-1795600287480'), { term: 1, index: 1011, ms: 1795600287480 });
  t.same(parseSnapshotId('0-0-0'), { term: 0, index: 0, ms: 0 });
  t.same(parseSnapshotId(`1-${Number.MAX_SAFE_INTEGER}-2`), { term: 1, index: Number.MAX_SAFE_INTEGER, ms: 2 });
  for (const bad of ['', '1-2', '1-2-3-4', '01-2-3', '1--2-3', '-1-2-3', '1-2-3 ', 'a-2-3', '../1-2-3', '1-9007199254740992-3', '9007199254740993-1-1', '1-1-9007199254740993', '1.5-2-3']) {
    t.equal(parseSnapshotId(bad), undefined, JSON.stringify(bad));
  }
});

t.test('Peers is the msgpack of the voters exactly as the Go original wrote it', async (t) => {
  t.equal(encodePeers(['127.0.0.1:15051']).toString('base64'), 'ka8xMjcuMC4wLjE6MTUwNTE=', 'the fixture');
  t.same(decodePeers(Buffer.from('ka8xMjcuMC4wLjE6MTUwNTE=', 'base64')), ['127.0.0.1:15051']);
  t.equal(encodePeers([]).toString('hex'), '90');
  t.equal(encodePeers(['']).toString('hex'), '91a0');
  t.equal(encodePeers(['x'.repeat(31)]).subarray(0, 2).toString('hex'), '91bf', 'fixstr up to 31 bytes');
  t.equal(encodePeers(['x'.repeat(32)]).subarray(0, 4).toString('hex'), '91da0020', 'then str16 (go-msgpack writes no str8 without WriteExt)');
  t.equal(encodePeers(['x'.repeat(255)]).subarray(0, 4).toString('hex'), '91da00ff');
  t.equal(encodePeers(['x'.repeat(65535)]).subarray(0, 4).toString('hex'), '91daffff');
  t.equal(encodePeers(['x'.repeat(65536)]).subarray(0, 6).toString('hex'), '91db00010000', 'str32');
  t.equal(encodePeers(Array(15).fill('a'))[0], 0x9f, 'fixarray up to 15');
  t.equal(encodePeers(Array(16).fill('a')).subarray(0, 3).toString('hex'), 'dc0010', 'then array16');
  t.equal(encodePeers(Array(65536).fill('')).subarray(0, 5).toString('hex'), 'dd00010000', 'array32');
  t.equal(encodePeers(['é']).toString('hex'), '91a2c3a9', 'lengths count UTF-8 bytes');
  for (const peers of [[], [''], ['a', 'bb', 'é'], ['x'.repeat(31), 'y'.repeat(32), 'z'.repeat(300), 'w'.repeat(70000)], Array(16).fill('n'), Array(65536).fill('')]) {
    t.same(decodePeers(encodePeers(peers)), peers, `round trip of ${peers.length} peers`);
  }
});

t.test('Peers decoding accepts every msgpack string and byte-array form', async (t) => {
  const ab = Buffer.from('ab');
  const forms: [string, Buffer][] = [
    ['str8', Buffer.from([0xd9, 2])],
    ['str16', Buffer.from([0xda, 0, 2])],
    ['str32', Buffer.from([0xdb, 0, 0, 0, 2])],
    ['bin8', Buffer.from([0xc4, 2])],
    ['bin16', Buffer.from([0xc5, 0, 2])],
    ['bin32', Buffer.from([0xc6, 0, 0, 0, 2])],
  ];
  for (const [name, head] of forms) t.same(decodePeers(Buffer.concat([Buffer.from([0x91]), head, ab])), ['ab'], name);
  t.same(decodePeers(Buffer.from([0xdc, 0, 1, 0xa1, 0x61])), ['a'], 'array16');
  t.same(decodePeers(Buffer.from([0xdd, 0, 0, 0, 1, 0xa1, 0x61])), ['a'], 'array32');
});

t.test('malformed Peers bytes are refused with the reason', async (t) => {
  t.throws(() => decodePeers(Buffer.alloc(0)), /truncated at offset 0/);
  t.throws(() => decodePeers(Buffer.from([0xa1, 0x61])), /expected an array, found byte 0xa1 at offset 0/);
  t.throws(() => decodePeers(Buffer.from([0x91, 0x01])), /expected a string at element 0, found byte 0x1 at offset 1/);
  t.throws(() => decodePeers(Buffer.from([0x92, 0xa1, 0x61])), /truncated at offset 3/);
  t.throws(() => decodePeers(Buffer.from([0x91, 0xa3, 0x61])), /truncated at offset 2: 3 bytes needed, 1 left/);
  t.throws(() => decodePeers(Buffer.from([0xdc, 0])), /truncated/);
  t.throws(() => decodePeers(Buffer.from([0x91, 0xa1, 0xff])), /element 0 is not valid UTF-8/);
  t.throws(() => decodePeers(Buffer.from([0x90, 0x00, 0x00])), /2 bytes follow the array/);
});

t.test("the Go original's meta.json is read, voters from Peers", async (t) => {
  t.same(decodeSnapshotMeta(GO_META, 'fixture/meta.json'), {
    id: '1-1011-1795600287480',
    index: 1011,
    term: 1,
    conf: { voters: ['127.0.0.1:15051'], learners: [] },
    size: 158909,
    crc: 'd1cqDnZCIg8=',
  });
  const nilPeers = JSON.stringify({ ...JSON.parse(GO_META), Peers: null });
  t.same(decodeSnapshotMeta(nilPeers, 'm').conf, { voters: [], learners: [] }, 'a nil Peers (Go writes null) is no voters');
  const extra = JSON.stringify({ ...JSON.parse(GO_META), Version: 1, ConfigurationIndex: 3 });
  t.equal(decodeSnapshotMeta(extra, 'm').index, 1011, 'unknown fields are ignored');
});

t.test('ours writes the Go fields plus Membership and MetaCRC, and reads back', async (t) => {
  const text = encodeSnapshotMeta(META);
  t.ok(text.endsWith('}\n'), 'one line of JSON');
  t.equal(text.split('\n').length, 2);
  const json = JSON.parse(text) as Record<string, unknown>;
  t.same(Object.keys(json), ['ID', 'Index', 'Term', 'Peers', 'Size', 'CRC', 'Membership', 'MetaCRC']);
  t.same(json, {
    ID: META.id,
    Index: 120,
    Term: 3,
    Peers: encodePeers(META.conf.voters).toString('base64'),
    Size: 4096,
    CRC: META.crc,
    Membership: { Voters: META.conf.voters, Learners: META.conf.learners },
    MetaCRC: json.MetaCRC,
  });
  t.ok(Number.isInteger(json.MetaCRC), 'MetaCRC: a CRC-32 of the other fields');
  t.same(decodeSnapshotMeta(text, 'm'), META, 'learners survive');
  const damaged = text.replace(META.conf.voters[0]!, META.conf.voters[0]!.replace(/.$/, (c) => (c === '1' ? '2' : '1')));
  t.not(damaged, text);
  t.throws(() => decodeSnapshotMeta(damaged, 'meta.json'), { code: 'CORRUPT', message: /MetaCRC does not match the other fields: meta.json is damaged/ }, 'a damaged voter address is caught');
  const { MetaCRC: _crc, ...unchecked } = json;
  t.same(decodeSnapshotMeta(JSON.stringify(unchecked), 'm'), META, 'without MetaCRC (older or Go-written meta.json) it is not checked');
  const goMeta = decodeSnapshotMeta(GO_META, 'm');
  t.same(decodeSnapshotMeta(encodeSnapshotMeta(goMeta), 'm'), goMeta);
  const { Peers: _peers, ...noPeers } = json;
  t.same(decodeSnapshotMeta(JSON.stringify(noPeers), 'm'), META, 'Peers is optional when Membership is there');
});

t.test('every bad field is CORRUPT, naming the file and the field', async (t) => {
  const base = JSON.parse(encodeSnapshotMeta(META)) as Record<string, unknown>;
  const goBase = JSON.parse(GO_META) as Record<string, unknown>;
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"ID":', /not valid JSON/],
    ['an array', '[]', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['missing Index', JSON.stringify({ ...base, Index: undefined }), /field Index must be a non-negative integer, got undefined/],
    ['negative Term', JSON.stringify({ ...base, Term: -1 }), /field Term must be a non-negative integer, got -1/],
    ['fractional Size', JSON.stringify({ ...base, Size: 1.5 }), /field Size/],
    ['string Size', JSON.stringify({ ...base, Size: '4096' }), /field Size/],
    ['huge Index', JSON.stringify({ ...base, Index: 2 ** 53 }), /field Index/],
    ['ID not a string', JSON.stringify({ ...base, ID: 7 }), /field ID must be <term>-<index>-<ms>, got 7/],
    ['ID malformed', JSON.stringify({ ...base, ID: '../3-120-1' }), /field ID/],
    ['ID of another index', JSON.stringify({ ...base, ID: '3-121-1700000000000' }), /field ID 3-121-1700000000000 disagrees with Term 3 and Index 120/],
    ['ID of another term', JSON.stringify({ ...base, ID: '2-120-1700000000000' }), /disagrees/],
    ['CRC missing', JSON.stringify({ ...base, CRC: undefined }), /field CRC must be base64 of 8 bytes/],
    ['CRC too short', JSON.stringify({ ...base, CRC: 'AAAA' }), /field CRC/],
    ['CRC not canonical base64', JSON.stringify({ ...base, CRC: 'd1cqDnZCIg8' }), /field CRC/],
    ['CRC not base64', JSON.stringify({ ...base, CRC: 'd1cqDnZCI!g8=' }), /field CRC/],
    ['Peers a number', JSON.stringify({ ...goBase, Peers: 5 }), /field Peers must be a base64 string, got 5/],
    ['Peers not base64', JSON.stringify({ ...goBase, Peers: 'ka8x!' }), /field Peers is not valid base64/],
    ['Peers not msgpack', JSON.stringify({ ...goBase, Peers: Buffer.from([0xa1, 0x61]).toString('base64') }), /field Peers is not a msgpack array of strings: expected an array/],
    ['Peers bad even with Membership', JSON.stringify({ ...base, Peers: 5 }), /field Peers/],
    ['neither Membership nor Peers', JSON.stringify({ ...goBase, Peers: undefined }), /has neither Membership nor Peers/],
    ['Membership not an object', JSON.stringify({ ...base, Membership: [] }), /field Membership must be an object/],
    ['Voters missing', JSON.stringify({ ...base, Membership: { Learners: [] } }), /field Membership.Voters must be an array of strings/],
    ['Voters not strings', JSON.stringify({ ...base, Membership: { Voters: [1], Learners: [] } }), /field Membership.Voters/],
    ['Learners not an array', JSON.stringify({ ...base, Membership: { Voters: [], Learners: 'x' } }), /field Membership.Learners must be an array of strings/],
  ];
  for (const [name, text, reason] of cases) {
    t.throws(() => decodeSnapshotMeta(text, '/data/snapshots/x/meta.json'), { code: 'CORRUPT', file: '/data/snapshots/x/meta.json', offset: 0, message: reason }, name);
  }
  t.throws(() => decodeSnapshotMeta('{', 'where.json'), /corrupt data in where\.json/, 'the message names the file');
});

t.test('writeSnapshotMetaFile writes meta.json into the directory', async (t) => {
  const dir = tmpDir(t);
  await writeSnapshotMetaFile(dir, META);
  t.equal(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'), encodeSnapshotMeta(META));
  await writeSnapshotMetaFile(dir, { ...META, size: 1 });
  t.equal(decodeSnapshotMeta(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'), 'm').size, 1, 'replaces it');
  await t.rejects(writeSnapshotMetaFile(path.join(dir, 'missing'), META), { code: 'ENOENT' });
});
