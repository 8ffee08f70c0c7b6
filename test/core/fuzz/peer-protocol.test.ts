/**
 * Fuzzing of what a node decodes from its peers: Raft message batches (`RAFTMSG`,
 * `decodeMessages`), the data of log entries (`decodeCommand` for commands,
 * `decodeConfChange` for membership changes), the snapshot install commands
 * (`RAFTINSTALL BEGIN <meta.json> | CHUNK <id> <offset> <bytes> | END <id>`, through
 * `receiveInstall`, against a recording stub and against a real `IncomingSnapshots`),
 * and the reply to `RAFTSNAPSHOT` (`parseSnapshotReply`).
 *
 * Valid values are encoded with the project's encoders and must decode to themselves;
 * mutated and random inputs must be rejected the documented way (PROTOCOL errors,
 * `undefined`, error replies) or decode to something the encoder writes back to exactly
 * the same bytes; declared counts and lengths must not allocate in proportion.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { parseSnapshotReply, snapshotReply } from '../../../src/core/cluster/remote-snapshot.js';
import { receiveInstall } from '../../../src/core/cluster/snapshot-receiver.js';
import { decodeCommand, encodeCommand } from '../../../src/core/kv/command-codec.js';
import { decodeConfChange, encodeConfChange } from '../../../src/core/raft/conf-change.js';
import { decodeMessages, encodeMessages } from '../../../src/core/raft/message-codec.js';
import type { ConfChange, Entry, Message } from '../../../src/core/raft/types.js';
import { encodeCommand as encodeRequest, ReplyParser, ReplyWriter, type Reply } from '../../../src/core/resp/index.js';
import { decodeSnapshotMeta, encodeSnapshotMeta, IncomingSnapshots, SnapshotStore, type SnapshotFileMeta, type StoredSnapshot } from '../../../src/core/snapshot/index.js';
import { crc64, crc64Bytes } from '../../../src/core/support/crc64.js';
import { BitraftError, CorruptionError } from '../../../src/core/support/errors.js';
import { silentLogger } from '../../../src/core/support/logger.js';
import type { Rng } from '../../../src/core/support/rng.js';
import {
  boundedAllocation,
  check,
  fuzz,
  fuzzAsync,
  fuzzSummary,
  jsonText,
  tally,
  mutate,
  mutateJson,
  pick,
  randomBytes,
  randomString,
  replayCorpus,
  replayCorpusAsync,
  smallLength,
} from '../../helpers/fuzz.js';
import { tmpDir } from '../../helpers/tmp-dir.js';

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// ---- raft message batches ----

const INTEGERS = [0, 1, 2, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
const integer = (rng: Rng): number => (rng.int(3) === 0 ? pick(rng, INTEGERS) : rng.int(1000));
const nodeId = (rng: Rng): string => (rng.int(3) === 0 ? randomString(rng, 8) : `127.0.0.1:${7000 + rng.int(10)}`);

function randomEntry(rng: Rng): Entry {
  const type = pick(rng, ['command', 'noop', 'config'] as const);
  let data: Uint8Array;
  if (type === 'noop') data = new Uint8Array(0);
  else if (type === 'config') data = encodeConfChange(randomConfChange(rng));
  else data = rng.int(4) === 0 ? u8(randomBytes(rng, smallLength(rng, 64))) : u8(encodeCommand(randomArgs(rng)));
  return { index: integer(rng), term: integer(rng), type, data };
}

function randomMessage(rng: Rng): Message {
  const base = { from: nodeId(rng), to: nodeId(rng), term: integer(rng) };
  const bool = (): boolean => rng.int(2) === 0;
  switch (rng.int(8)) {
    case 0:
      return { ...base, type: 'vote', pre: bool(), lastIndex: integer(rng), lastTerm: integer(rng), transfer: bool() };
    case 1:
      return { ...base, type: 'vote-resp', pre: bool(), granted: bool() };
    case 2:
      return { ...base, type: 'append', prevIndex: integer(rng), prevTerm: integer(rng), commit: integer(rng), entries: Array.from({ length: smallLength(rng, 6) }, () => randomEntry(rng)) };
    case 3:
      return { ...base, type: 'append-resp', index: integer(rng), reject: bool(), hintIndex: integer(rng), hintTerm: integer(rng) };
    case 4:
      return { ...base, type: 'heartbeat', commit: integer(rng), context: integer(rng) };
    case 5:
      return { ...base, type: 'heartbeat-resp', context: integer(rng) };
    case 6:
      return {
        ...base,
        type: 'snapshot',
        snapshot: { index: integer(rng), term: integer(rng), conf: { voters: Array.from({ length: smallLength(rng, 5) }, () => nodeId(rng)), learners: Array.from({ length: smallLength(rng, 3) }, () => nodeId(rng)) } },
      };
    default:
      return { ...base, type: 'timeout-now' };
  }
}

const MESSAGE_ERROR = /^invalid raft message batch at byte (\d+): /;

/**
 * Decodes a batch: either a PROTOCOL error naming an offset inside it, or messages the
 * encoder writes back to exactly `input` (the format has one encoding per value), no more
 * of them than the bytes can hold.
 */
function messagesOracle(input: Uint8Array): string {
  let msgs: Message[];
  try {
    msgs = decodeMessages(input);
  } catch (err) {
    check(err instanceof BitraftError && err.code === 'PROTOCOL', () => `threw ${String(err)}`);
    const m = MESSAGE_ERROR.exec(err.message);
    check(m !== null && Number(m[1]) <= input.length, () => `error message ${JSON.stringify(err.message)}`);
    return 'PROTOCOL';
  }
  check(msgs.length <= (input.length - 5) / 13, 'more messages than the bytes can hold');
  const entries = msgs.reduce((n, m) => n + (m.type === 'append' ? m.entries.length : 0), 0);
  check(entries <= input.length / 21, 'more entries than the bytes can hold');
  check(sameBytes(encodeMessages(msgs), input), 'a decoded batch is written back to other bytes');
  return `ok:${msgs.length}`;
}

// ---- log entry data ----

function randomArgs(rng: Rng): Buffer[] {
  return Array.from({ length: 1 + smallLength(rng, 5) }, () => randomBytes(rng, smallLength(rng, 24)));
}

/** `decodeCommand` never throws; whatever it accepts is written back to the same bytes. */
function commandOracle(input: Uint8Array): string {
  const args = decodeCommand(input);
  if (args === undefined) return 'undefined';
  check(args.length >= 1 && args.length <= (input.length - 4) / 4, 'an impossible number of args');
  check(sameBytes(encodeCommand(args), input), 'decoded args are written back to other bytes');
  return `ok:${args.length}`;
}

const OPS = ['add-learner', 'promote', 'add-voter', 'remove'] as const;

function randomConfChange(rng: Rng): ConfChange {
  const cc: ConfChange = { op: pick(rng, OPS), node: randomString(rng, 10) || 'n' };
  return rng.int(2) === 0 ? cc : { ...cc, context: randomString(rng, 10) };
}

/**
 * `decodeConfChange` never throws; it accepts exactly a JSON object with a known `op`, a
 * non-empty string `node` and an optional string `context`, and returns those.
 */
function confChangeOracle(input: Uint8Array): string {
  const got = decodeConfChange(input);
  let expected: ConfChange | undefined;
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input)) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const op = Object.hasOwn(o, 'op') ? o.op : undefined;
      const node = Object.hasOwn(o, 'node') ? o.node : undefined;
      const context = Object.hasOwn(o, 'context') ? o.context : undefined;
      if (OPS.includes(op as ConfChange['op']) && typeof node === 'string' && node !== '' && (context === undefined || typeof context === 'string')) {
        expected = context === undefined ? { op: op as ConfChange['op'], node } : { op: op as ConfChange['op'], node, context };
      }
    }
  } catch {
    expected = undefined;
  }
  check(isDeepStrictEqual(got, expected), () => `decoded ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
  if (got) check(isDeepStrictEqual(decodeConfChange(encodeConfChange(got)), got), 'a decoded change does not survive a round trip');
  return got ? `ok:${got.op}` : 'undefined';
}

// ---- RAFTINSTALL ----

function randomMeta(rng: Rng, size = rng.int(3) === 0 ? pick(rng, INTEGERS) : rng.int(5000)): SnapshotFileMeta {
  const term = integer(rng);
  const index = integer(rng);
  return {
    id: `${term}-${index}-${rng.int(2) ? 1_700_000_000_000 + rng.int(1e9) : 0}`,
    index,
    term,
    conf: { voters: Array.from({ length: smallLength(rng, 4) }, () => nodeId(rng)), learners: Array.from({ length: smallLength(rng, 2) }, () => nodeId(rng)) },
    size,
    crc: crc64Bytes(BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 31))).toString('base64'),
  };
}

/** meta.json text, valid or mutated as JSON or as bytes. */
function metaText(rng: Rng, meta: SnapshotFileMeta): Buffer {
  const text = encodeSnapshotMeta(meta);
  switch (rng.int(4)) {
    case 0:
      return Buffer.from(text);
    case 1:
      return Buffer.from(jsonText(mutateJson(rng, JSON.parse(text))));
    default:
      return mutate(rng, Buffer.from(text), { maxOps: 2 }).bytes;
  }
}

const SUBCOMMANDS = ['BEGIN', 'begin', 'Begin', 'CHUNK', 'chunk', 'END', 'end', 'BEGINX', '', 'ÉND'];
const OFFSETS = ['0', '1', '7', '-1', '+1', '01', '1.0', '', ' 1', '999999999999999', '1000000000000000', '9007199254740993', '18446744073709551616', 'x'];

/** What the stub saw and how it answered. */
interface StubCalls {
  begin?: SnapshotFileMeta;
  write?: { id: string; offset: number; chunk: Uint8Array };
  finish?: string;
}

/** An IncomingSnapshots stand-in that records its calls and answers at random (values or domain errors), or always with values. */
function stubIncoming(rng: Rng, calls: StubCalls, alwaysOk: boolean): IncomingSnapshots {
  const answer = <T>(value: T): Promise<T> => {
    switch (alwaysOk ? 2 : rng.int(4)) {
      case 0:
        return Promise.reject(new BitraftError(pick(rng, ['INVALID_ARGUMENT', 'NOT_FOUND', 'IO'] as const), 'refused'));
      case 1:
        return Promise.reject(new CorruptionError('state.bin', 0, 'crc mismatch'));
      default:
        return Promise.resolve(value);
    }
  };
  return {
    begin: (meta: SnapshotFileMeta) => {
      calls.begin = meta;
      return answer(rng.int(1000));
    },
    write: (id: string, offset: number, chunk: Uint8Array) => {
      calls.write = { id, offset, chunk };
      return answer(offset + chunk.length);
    },
    finish: (id: string) => {
      calls.finish = id;
      return answer({ meta: randomMeta(rng), path: '/x', statePath: '/x/state.bin' } satisfies StoredSnapshot);
    },
  } as unknown as IncomingSnapshots;
}

const isReply = (r: Reply): boolean => r.type === 'error' || r.type === 'integer' || (r.type === 'simple' && r.value === 'OK');

/**
 * `receiveInstall` never rejects and answers a Reply; it calls `begin` only with a meta
 * that encodes and decodes to itself, `write` only with a canonical safe offset, and
 * anything else is a syntax or decoding error reply.
 */
async function installOracle(args: Buffer[], rng: Rng, alwaysOk = false): Promise<string> {
  const calls: StubCalls = {};
  const reply = await receiveInstall(stubIncoming(rng, calls, alwaysOk), args);
  check(isReply(reply), () => `answered ${JSON.stringify(reply)}`);
  const sub = args.length > 1 ? args[1]!.toString('latin1').toUpperCase() : '';
  if (calls.begin) {
    check(sub === 'BEGIN' && args.length === 3, 'begin called for another command');
    const m = calls.begin;
    check(isDeepStrictEqual(decodeSnapshotMeta(encodeSnapshotMeta(m), 'again'), m), 'begin got a meta that does not survive a round trip');
    check(Number.isSafeInteger(m.index) && Number.isSafeInteger(m.term) && Number.isSafeInteger(m.size) && m.index >= 0 && m.term >= 0 && m.size >= 0, 'begin got an impossible meta');
  }
  if (calls.write) {
    check(sub === 'CHUNK' && args.length === 5, 'write called for another command');
    check(Number.isSafeInteger(calls.write.offset) && calls.write.offset >= 0 && String(calls.write.offset) === args[3]!.toString('latin1').replace(/^0+(?=\d)/, ''), 'write got an impossible offset');
    check(sameBytes(calls.write.chunk, args[4]!), 'write got other bytes than the chunk');
  }
  if (calls.finish !== undefined) check(sub === 'END' && args.length === 3 && calls.finish === args[2]!.toString('latin1'), 'finish called for another command');
  if (!calls.begin && !calls.write && calls.finish === undefined) check(reply.type === 'error', 'a command that reached nothing did not answer an error');
  const reached = calls.begin ? 'begin' : calls.write ? 'write' : calls.finish !== undefined ? 'finish' : 'nothing';
  tally(`RAFTINSTALL reached ${reached}`);
  return `${reached}:${reply.type === 'error' ? reply.text.split(' ').slice(0, 2).join(' ') : reply.type}`;
}

/** RAFTINSTALL arguments: the subcommand, then meta.json, ids, offsets and chunks, valid or not, at random arity. */
function installArgs(rng: Rng): Buffer[] {
  const sub = pick(rng, SUBCOMMANDS);
  const meta = randomMeta(rng);
  const args: Buffer[] = [Buffer.from('RAFTINSTALL'), Buffer.from(sub, 'utf8')];
  const want = rng.int(8) === 0 ? rng.int(6) : sub.toUpperCase() === 'CHUNK' ? 3 : 1;
  for (let i = 0; i < want; i++) {
    switch (rng.int(5)) {
      case 0:
        args.push(metaText(rng, meta));
        break;
      case 1:
        args.push(Buffer.from(pick(rng, OFFSETS)));
        break;
      case 2:
        args.push(randomBytes(rng, smallLength(rng, 40)));
        break;
      default:
        args.push(Buffer.from(sub.toUpperCase() === 'BEGIN' ? encodeSnapshotMeta(meta) : i === 1 ? pick(rng, OFFSETS) : meta.id));
    }
  }
  return args;
}

// ---- RAFTSNAPSHOT replies ----

/** `parseSnapshotReply` returns a well-formed RemoteSnapshot or throws PROTOCOL; nothing else. */
function snapshotReplyOracle(reply: Reply): string {
  let got: ReturnType<typeof parseSnapshotReply>;
  try {
    got = parseSnapshotReply(reply, 'peer:1');
  } catch (err) {
    check(err instanceof BitraftError && err.code === 'PROTOCOL', () => `threw ${String(err)}`);
    return 'PROTOCOL';
  }
  for (const field of ['index', 'term', 'size'] as const) check(Number.isSafeInteger(got[field]) && got[field] >= 0, `${field} is not a non-negative safe integer`);
  check([got.path, got.id, got.crc].every((s) => typeof s === 'string') && [...got.voters, ...got.learners].every((s) => typeof s === 'string' && s !== '' && !s.includes(',')), 'a field of the wrong type');
  return 'ok';
}

function mutateReply(rng: Rng, reply: Reply): Reply {
  if (reply.type !== 'array') return reply;
  const items = [...reply.items];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const at = rng.int(items.length + 1);
    switch (rng.int(6)) {
      case 0:
        items.splice(at, 1);
        break;
      case 1:
        items.splice(at, 0, { type: 'bulk', value: Buffer.from(pick(rng, ['index', 'term', 'size', 'voters', 'id', 'x'])) });
        break;
      case 2:
        if (at < items.length) items[at] = pick(rng, [{ type: 'null-bulk' }, { type: 'integer', value: 5 }, { type: 'simple', value: 'index' }, { type: 'array', items: [] }] as Reply[]);
        break;
      default:
        if (at < items.length) items[at] = { type: 'bulk', value: Buffer.from(pick(rng, ['', '-1', '1.5', '1e3', ' 7', '00', '99999999999999999999', '9007199254740993', ',,', 'a,,b', '\u00e9', randomString(rng)])) };
    }
  }
  return { type: 'array', items };
}

// ---- tests ----

t.test('corpus', async (t) => {
  replayCorpus(t, 'raft-messages', (input) => messagesOracle(input));
  replayCorpus(t, 'command-data', (input) => commandOracle(input));
  replayCorpus(t, 'conf-change', (input) => confChangeOracle(input));
  // Each RAFTINSTALL entry is a RESP request: the command and its args.
  await replayCorpusAsync(t, 'raft-install', async (input, rng) => {
    const [cmd] = new ReplyParser().push(input);
    check(cmd?.type === 'array' && cmd.items.every((i) => i.type === 'bulk'), 'a raft-install corpus entry must be an array of bulks');
    return installOracle(cmd.items.map((i) => (i as { value: Buffer }).value), rng, true);
  });
  // Each snapshot-reply entry is a RESP reply.
  replayCorpus(t, 'snapshot-reply', (input) => {
    const replies = new ReplyParser().push(input);
    check(replies.length === 1, 'a snapshot-reply corpus entry must be one reply');
    return snapshotReplyOracle(replies[0]!);
  });
});

t.test('declared counts and lengths never allocate in proportion', async (t) => {
  const batch = (count: number, body: number[]): Uint8Array => {
    const b = Buffer.alloc(5);
    b[0] = 1;
    b.writeUInt32LE(count, 1);
    return Buffer.concat([b, Buffer.from(body)]);
  };
  // An append message claiming 2^32 - 1 entries of 2^32 - 1 bytes.
  const append = encodeMessages([{ type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 'command', data: new Uint8Array(8) }] }]);
  const hugeEntries = Buffer.from(append);
  hugeEntries.writeUInt32LE(0xffffffff, append.length - 8 - 21 - 4);
  const hugeData = Buffer.from(append);
  hugeData.writeUInt32LE(0xffffffff, append.length - 8 - 4);
  for (const [what, input] of [
    ['a batch of 2^32 - 1 messages', batch(0xffffffff, Array(64).fill(0))],
    ['2^32 - 1 entries', hugeEntries],
    ['an entry of 2^32 - 1 bytes', hugeData],
  ] as const) {
    t.equal(boundedAllocation(input.length, () => messagesOracle(input)), 'PROTOCOL', what);
  }
  const args = Buffer.alloc(12);
  args.writeUInt32LE(0xffffffff, 0);
  t.equal(boundedAllocation(12, () => commandOracle(args)), 'undefined', 'a command claiming 2^32 - 1 args');
  args.writeUInt32LE(1, 0);
  args.writeUInt32LE(0xffffffff, 4);
  t.equal(boundedAllocation(12, () => commandOracle(args)), 'undefined', 'an arg claiming 2^32 - 1 bytes');
});

t.test('generated inputs', async (t) => {
  t.teardown(() => fuzzSummary(t));
  fuzz(t, 'raft-messages/batches', (c) => {
    const msgs = Array.from({ length: smallLength(c.rng, 4) }, () => randomMessage(c.rng));
    const bytes = encodeMessages(msgs);
    if (c.rng.int(4) === 0) {
      c.input(bytes);
      check(isDeepStrictEqual(decodeMessages(bytes), msgs), 'a batch does not decode to its messages');
      return;
    }
    const m = mutate(c.rng, Buffer.from(bytes), { other: Buffer.from(encodeMessages([randomMessage(c.rng)])) });
    c.input(m.bytes);
    if (m.huge) boundedAllocation(m.bytes.length, () => messagesOracle(m.bytes));
    else messagesOracle(m.bytes);
  });
  fuzz(t, 'raft-messages/random', (c) => {
    const bytes = randomBytes(c.rng, c.rng.int(200));
    if (bytes.length > 0 && c.rng.int(2) === 0) bytes[0] = 1;
    if (bytes.length > 4 && c.rng.int(2) === 0) bytes.writeUInt32LE(c.rng.int(4), 1);
    messagesOracle(c.input(bytes));
  });
  fuzz(t, 'command-data/commands', (c) => {
    const args = randomArgs(c.rng);
    const bytes = encodeCommand(args);
    if (c.rng.int(4) === 0) {
      c.input(bytes);
      const got = decodeCommand(bytes);
      check(got !== undefined && isDeepStrictEqual(got.map((a) => a.toString('hex')), args.map((a) => a.toString('hex'))), 'a command does not decode to its args');
      return;
    }
    const m = mutate(c.rng, bytes, { other: encodeCommand(randomArgs(c.rng)) });
    c.input(m.bytes);
    if (m.huge) boundedAllocation(m.bytes.length, () => commandOracle(m.bytes));
    else commandOracle(m.bytes);
  });
  fuzz(t, 'command-data/random', (c) => {
    const bytes = randomBytes(c.rng, c.rng.int(64));
    if (bytes.length >= 4 && c.rng.int(2) === 0) bytes.writeUInt32LE(c.rng.int(5), 0);
    commandOracle(c.input(bytes));
  });
  fuzz(t, 'conf-change/changes', (c) => {
    const cc = randomConfChange(c.rng);
    const bytes = Buffer.from(encodeConfChange(cc));
    switch (c.rng.int(4)) {
      case 0:
        c.input(bytes);
        check(isDeepStrictEqual(decodeConfChange(bytes), cc), 'a change does not decode to itself');
        return;
      case 1:
        confChangeOracle(c.input(Buffer.from(jsonText(mutateJson(c.rng, JSON.parse(bytes.toString()))))));
        return;
      default:
        confChangeOracle(c.input(mutate(c.rng, bytes).bytes));
    }
  });
  await fuzzAsync(t, 'raft-install/commands', async (c) => {
    const args = installArgs(c.rng);
    c.input(encodeRequest(args));
    await installOracle(args, c.rng);
  });
  fuzz(t, 'snapshot-reply/replies', (c) => {
    const meta = randomMeta(c.rng);
    const reply = snapshotReply({ meta, path: `/data/snapshots/${meta.id}`, statePath: '' });
    switch (c.rng.int(4)) {
      case 0: {
        const got = parseSnapshotReply(reply, 'peer:1');
        check(
          got.id === meta.id && got.index === meta.index && got.term === meta.term && got.size === meta.size && got.crc === meta.crc,
          'a RAFTSNAPSHOT reply does not parse to its snapshot',
        );
        return;
      }
      case 1: {
        // As bytes on the wire, mutated.
        const w = new ReplyWriter().reply(reply).take();
        const m = mutate(c.rng, w);
        c.input(m.bytes);
        let replies: Reply[];
        try {
          replies = new ReplyParser().push(m.bytes);
        } catch {
          return;
        }
        for (const r of replies) snapshotReplyOracle(r);
        return;
      }
      default: {
        const mutated = mutateReply(c.rng, reply);
        c.input(new ReplyWriter().reply(mutated).take());
        snapshotReplyOracle(mutated);
      }
    }
  });
});

t.test('RAFTINSTALL transfers into a real IncomingSnapshots', async (t) => {
  t.teardown(() => fuzzSummary(t));
  const root = tmpDir(t, 'bitraft-fuzz-install-');
  await fuzzAsync(t, 'raft-install/transfers', async (c) => {
    const dir = path.join(root, String(c.index));
    const store = new SnapshotStore(dir, { retain: 2, logger: silentLogger });
    const incoming = new IncomingSnapshots(store);
    try {
      await transferOracle(c.rng, store, incoming, c.input);
    } finally {
      await incoming.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Drives one transfer with a peer that misbehaves at random (wrong offsets, tampered or
 * oversized chunks, early or repeated END, mutated meta, another snapshot's BEGIN) and
 * checks that every answer is a Reply, no partial file ever outgrows its meta's size, and
 * any snapshot END installed has exactly the size and CRC its meta promised.
 */
async function transferOracle(rng: Rng, store: SnapshotStore, incoming: IncomingSnapshots, record: (x: Buffer) => unknown): Promise<void> {
  const state = randomBytes(rng, rng.int(3000));
  const good: SnapshotFileMeta = { ...randomMeta(rng, state.length), crc: crc64Bytes(crc64(state)).toString('base64') };
  let held = 0;
  for (let step = 0; step < 4 + rng.int(8); step++) {
    let args: Buffer[];
    // Mostly a well-behaved peer: BEGIN first, chunks at the right offset, END once all is sent.
    const kind = step === 0 && rng.int(4) !== 0 ? 0 : held === good.size && rng.int(2) === 0 ? 9 : rng.int(10);
    if (kind < 2) args = ['RAFTINSTALL', 'BEGIN', kind === 0 ? encodeSnapshotMeta(good) : metaText(rng, rng.int(2) ? good : randomMeta(rng))].map((a) => Buffer.from(a));
    else if (kind < 7) {
      const offset = rng.int(4) === 0 ? rng.int(state.length + 2) : held;
      let chunk: Buffer = Buffer.from(state.subarray(offset, offset + 1 + rng.int(2500)));
      if (rng.int(6) === 0) chunk = mutate(rng, chunk, { maxOps: 1 }).bytes;
      args = [Buffer.from('RAFTINSTALL'), Buffer.from('CHUNK'), Buffer.from(rng.int(8) === 0 ? randomMeta(rng).id : good.id), Buffer.from(String(offset)), chunk];
    } else args = ['RAFTINSTALL', 'END', rng.int(8) === 0 ? randomMeta(rng).id : good.id].map((a) => Buffer.from(a));
    record(encodeRequest(args));
    const reply = await receiveInstall(incoming, args);
    check(isReply(reply), () => `answered ${JSON.stringify(reply)}`);
    if (reply.type === 'integer') held = Number(reply.value);
    for (const name of fs.readdirSync(store.dir).filter((n) => n.startsWith('.incoming-'))) {
      const partial = path.join(store.dir, name, 'state.bin');
      if (!fs.existsSync(partial)) continue;
      const meta = decodeSnapshotMeta(fs.readFileSync(path.join(store.dir, name, 'meta.json'), 'utf8'), 'meta.json');
      check(fs.statSync(partial).size <= meta.size, 'a partial state.bin outgrew its meta size');
    }
  }
  for (const s of store.list()) {
    tally('RAFTINSTALL transfer installed');
    const bytes = fs.readFileSync(s.statePath);
    check(bytes.length === s.meta.size && crc64Bytes(crc64(bytes)).toString('base64') === s.meta.crc, `snapshot ${s.meta.id} was installed with other bytes than its meta promised`);
  }
}
