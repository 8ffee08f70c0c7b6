/**
 * Tests of src/core/raft/conf-change.ts: the exact encoding of membership changes and
 * its round trip, decodeConfChange returning undefined (never throwing) for every
 * malformed input (bad UTF-8, non-JSON, wrong types, unknown op, empty node, bad
 * context), confChangeProblem for every op, and applyConfChange being total,
 * idempotent, non-mutating and consistent with confChangeProblem (a seeded model test
 * over sets).
 */
import t from 'tap';
import { applyConfChange, confChangeProblem, decodeConfChange, encodeConfChange } from '../../../src/core/raft/conf-change.js';
import type { ConfChange, ConfState } from '../../../src/core/raft/types.js';
import { seededRng } from '../../../src/core/support/rng.js';

const OPS: ConfChange['op'][] = ['add-learner', 'promote', 'add-voter', 'remove'];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A deeply frozen membership, so any mutation by the code under test throws. */
const conf = (voters: string[], learners: string[] = []): ConfState =>
  Object.freeze({ voters: Object.freeze([...voters]), learners: Object.freeze([...learners]) });

t.test('encodeConfChange', async (t) => {
  t.equal(text(encodeConfChange({ op: 'add-voter', node: 'a' })), '{"op":"add-voter","node":"a"}');
  t.equal(text(encodeConfChange({ op: 'remove', node: 'b', context: undefined })), '{"op":"remove","node":"b"}', 'an undefined context is left out');
  t.equal(
    text(encodeConfChange({ op: 'add-learner', node: 'c', context: '10.0.0.3:7000' })),
    '{"op":"add-learner","node":"c","context":"10.0.0.3:7000"}',
  );
  t.equal(text(encodeConfChange({ op: 'promote', node: 'd', context: '' })), '{"op":"promote","node":"d","context":""}', 'an empty context is kept');
  t.ok(encodeConfChange({ op: 'promote', node: 'x' }) instanceof Uint8Array);
});

t.test('decodeConfChange round trip', async (t) => {
  const nodes = ['a', 'node-1', '127.0.0.1:6380', 'ünïcødé ☃', 'with "quotes" and \\ and \n'];
  for (const op of OPS) {
    for (const node of nodes) {
      const plain: ConfChange = { op, node };
      t.same(decodeConfChange(encodeConfChange(plain)), plain, `${op} ${JSON.stringify(node)}`);
      for (const context of ['', 'ctx', '{"nested":"json"}', 'é']) {
        const cc: ConfChange = { op, node, context };
        t.strictSame(decodeConfChange(encodeConfChange(cc)), cc);
      }
    }
  }
  // Without a context, the decoded change has no context key at all.
  const d = decodeConfChange(encodeConfChange({ op: 'add-voter', node: 'a' }))!;
  t.same(Object.keys(d), ['op', 'node']);
});

t.test('decodeConfChange accepts well-formed JSON it did not write', async (t) => {
  t.strictSame(decodeConfChange(utf8(' { "node" : "a" , "op" : "promote" } ')), { op: 'promote', node: 'a' }, 'key order and whitespace');
  t.strictSame(decodeConfChange(utf8('{"op":"remove","node":"a","extra":1,"more":[1]}')), { op: 'remove', node: 'a' }, 'unknown fields are dropped');
  t.strictSame(decodeConfChange(utf8('{"op":"add-voter","node":"a","context":"x","other":null}')), { op: 'add-voter', node: 'a', context: 'x' });
  t.strictSame(decodeConfChange(utf8('{"op":"add-voter","node":"\\u0061"}')), { op: 'add-voter', node: 'a' }, 'JSON escapes');
  t.strictSame(decodeConfChange(utf8('{"op":"add-voter","op":"remove","node":"a"}')), { op: 'remove', node: 'a' }, 'the last duplicate key wins, as in JSON.parse');
});

t.test('decodeConfChange rejects malformed input without throwing', async (t) => {
  const bad: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['invalid UTF-8 byte', new Uint8Array([0xff])],
    ['invalid UTF-8 inside JSON', Uint8Array.from([...utf8('{"op":"add-voter","node":"'), 0xc3, 0x28, ...utf8('"}')])],
    ['truncated UTF-8 sequence', Uint8Array.from([...utf8('{"op":"add-voter","node":"a'), 0xe2, 0x82])],
    ['UTF-8 overlong encoding', Uint8Array.from([...utf8('{"op":"add-voter","node":"'), 0xc0, 0xaf, ...utf8('"}')])],
    ['UTF-16 surrogate encoded in UTF-8', Uint8Array.from([...utf8('{"op":"add-voter","node":"'), 0xed, 0xa0, 0x80, ...utf8('"}')])],
    ['not JSON', utf8('add-voter a')],
    ['truncated JSON', utf8('{"op":"add-voter","node":"a"')],
    ['trailing garbage', utf8('{"op":"add-voter","node":"a"}x')],
    ['single quotes', utf8("{'op':'add-voter','node':'a'}")],
    ['null', utf8('null')],
    ['a number', utf8('42')],
    ['a string', utf8('"add-voter"')],
    ['a boolean', utf8('true')],
    ['an empty array', utf8('[]')],
    ['an array', utf8('["add-voter","a"]')],
    ['an empty object', utf8('{}')],
    ['fields under __proto__', utf8('{"__proto__":{"op":"remove","node":"a"}}')],
    ['fields nested one level down', utf8('{"change":{"op":"remove","node":"a"}}')],
    ['no op', utf8('{"node":"a"}')],
    ['unknown op', utf8('{"op":"add","node":"a"}')],
    ['op in another case', utf8('{"op":"ADD-VOTER","node":"a"}')],
    ['op with spaces', utf8('{"op":" remove","node":"a"}')],
    ['numeric op', utf8('{"op":1,"node":"a"}')],
    ['null op', utf8('{"op":null,"node":"a"}')],
    ['op as an array', utf8('{"op":["remove"],"node":"a"}')],
    ['op as an object', utf8('{"op":{},"node":"a"}')],
    ['no node', utf8('{"op":"remove"}')],
    ['empty node', utf8('{"op":"remove","node":""}')],
    ['numeric node', utf8('{"op":"remove","node":1}')],
    ['null node', utf8('{"op":"remove","node":null}')],
    ['node as an array', utf8('{"op":"remove","node":["a"]}')],
    ['node as an object', utf8('{"op":"remove","node":{"id":"a"}}')],
    ['boolean node', utf8('{"op":"remove","node":true}')],
    ['numeric context', utf8('{"op":"remove","node":"a","context":1}')],
    ['null context', utf8('{"op":"remove","node":"a","context":null}')],
    ['object context', utf8('{"op":"remove","node":"a","context":{}}')],
    ['array context', utf8('{"op":"remove","node":"a","context":["x"]}')],
    ['boolean context', utf8('{"op":"remove","node":"a","context":false}')],
  ];
  for (const [name, data] of bad) {
    let got: ConfChange | undefined | 'threw' = 'threw';
    try {
      got = decodeConfChange(data);
    } catch {
      // left as 'threw'
    }
    t.equal(got, undefined, name);
  }

  // Random bytes and random corruptions of valid encodings never throw, and whatever
  // decodes is a well-formed change.
  const rng = seededRng(5);
  const valid = encodeConfChange({ op: 'add-learner', node: 'node-7', context: 'ctx' });
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    let data: Uint8Array;
    if (i % 2 === 0) {
      data = Uint8Array.from({ length: rng.int(40) }, () => rng.int(256));
    } else {
      data = Uint8Array.from(valid);
      const flips = 1 + rng.int(3);
      for (let k = 0; k < flips; k++) data[rng.int(data.length)] = rng.int(256);
    }
    let cc: ConfChange | undefined;
    try {
      cc = decodeConfChange(data);
    } catch (err) {
      t.fail('decodeConfChange threw', { data: [...data], err });
      return;
    }
    if (cc === undefined) continue;
    decoded++;
    const ok =
      OPS.includes(cc.op) &&
      typeof cc.node === 'string' &&
      cc.node !== '' &&
      (cc.context === undefined || typeof cc.context === 'string') &&
      Object.keys(cc).every((k) => k === 'op' || k === 'node' || k === 'context');
    if (!ok) {
      t.fail('decoded a malformed change', { data: [...data], cc });
      return;
    }
  }
  t.ok(decoded > 0, `some corruptions still decode (${decoded}), all well-formed`);
});

t.test('confChangeProblem', async (t) => {
  const c = conf(['a', 'b'], ['l']);
  // add-learner
  t.equal(confChangeProblem(c, { op: 'add-learner', node: 'n' }), undefined);
  t.equal(confChangeProblem(c, { op: 'add-learner', node: 'a' }), 'a is already a member');
  t.equal(confChangeProblem(c, { op: 'add-learner', node: 'l' }), 'l is already a member');
  // add-voter
  t.equal(confChangeProblem(c, { op: 'add-voter', node: 'n' }), undefined);
  t.equal(confChangeProblem(c, { op: 'add-voter', node: 'l' }), undefined, 'a learner may be added as a voter');
  t.equal(confChangeProblem(c, { op: 'add-voter', node: 'a' }), 'a is already a voter');
  t.equal(confChangeProblem(conf([]), { op: 'add-voter', node: 'a' }), undefined, 'the first voter of an empty cluster');
  // promote
  t.equal(confChangeProblem(c, { op: 'promote', node: 'l' }), undefined);
  t.equal(confChangeProblem(c, { op: 'promote', node: 'a' }), 'a is not a learner');
  t.equal(confChangeProblem(c, { op: 'promote', node: 'n' }), 'n is not a learner');
  // remove
  t.equal(confChangeProblem(c, { op: 'remove', node: 'a' }), undefined);
  t.equal(confChangeProblem(c, { op: 'remove', node: 'l' }), undefined);
  t.equal(confChangeProblem(c, { op: 'remove', node: 'n' }), 'n is not a member');
  t.equal(confChangeProblem(conf(['a'], ['l']), { op: 'remove', node: 'a' }), 'a is the last voter');
  t.equal(confChangeProblem(conf(['a'], ['l']), { op: 'remove', node: 'l' }), undefined, 'a learner may leave a single-voter cluster');
  t.equal(confChangeProblem(conf([]), { op: 'remove', node: 'a' }), 'a is not a member');
  // The context plays no part.
  t.equal(confChangeProblem(c, { op: 'add-learner', node: 'a', context: 'x' }), 'a is already a member');
});

t.test('applyConfChange', async (t) => {
  const c = conf(['a', 'b'], ['l']);
  t.strictSame(applyConfChange(c, { op: 'add-learner', node: 'n' }), { voters: ['a', 'b'], learners: ['l', 'n'] });
  t.strictSame(applyConfChange(c, { op: 'add-voter', node: 'n' }), { voters: ['a', 'b', 'n'], learners: ['l'] });
  t.strictSame(applyConfChange(c, { op: 'add-voter', node: 'l' }), { voters: ['a', 'b', 'l'], learners: [] }, 'adding a learner as a voter promotes it');
  t.strictSame(applyConfChange(c, { op: 'promote', node: 'l' }), { voters: ['a', 'b', 'l'], learners: [] });
  t.strictSame(applyConfChange(c, { op: 'remove', node: 'a' }), { voters: ['b'], learners: ['l'] });
  t.strictSame(applyConfChange(c, { op: 'remove', node: 'l' }), { voters: ['a', 'b'], learners: [] });
  t.strictSame(applyConfChange(conf([]), { op: 'add-voter', node: 'a' }), { voters: ['a'], learners: [] });
  t.strictSame(applyConfChange(c, { op: 'add-learner', node: 'n', context: 'addr' }), { voters: ['a', 'b'], learners: ['l', 'n'] }, 'the context is not stored');

  // A change that does not apply returns the membership itself.
  for (const cc of [
    { op: 'add-learner', node: 'a' },
    { op: 'add-learner', node: 'l' },
    { op: 'add-voter', node: 'b' },
    { op: 'promote', node: 'a' },
    { op: 'promote', node: 'n' },
    { op: 'remove', node: 'n' },
  ] as ConfChange[]) {
    t.equal(applyConfChange(c, cc), c, `${cc.op} ${cc.node} is a no-op`);
  }
  const single = conf(['a']);
  t.equal(applyConfChange(single, { op: 'remove', node: 'a' }), single, 'the last voter stays');

  // Applying never mutates its input (the inputs are frozen) and never shares its arrays.
  const out = applyConfChange(c, { op: 'add-learner', node: 'n' });
  t.not(out.voters, c.voters);
  t.not(out.learners, c.learners);
  t.strictSame(c, { voters: ['a', 'b'], learners: ['l'] });
});

t.test('applyConfChange is idempotent and agrees with confChangeProblem (model)', async (t) => {
  const rng = seededRng(2024);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  let state = conf(['a']);
  const voters = new Set(['a']);
  const learners = new Set<string>();
  let applied = 0;
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    const cc: ConfChange = { op: OPS[rng.int(OPS.length)]!, node: ids[rng.int(ids.length)]! };
    const problem = confChangeProblem(state, cc);
    const next = applyConfChange(state, cc);

    // The model: sets with the documented rules.
    const isVoter = voters.has(cc.node);
    const isLearner = learners.has(cc.node);
    let valid: boolean;
    switch (cc.op) {
      case 'add-learner':
        valid = !isVoter && !isLearner;
        if (valid) learners.add(cc.node);
        break;
      case 'add-voter':
        valid = !isVoter;
        if (valid) {
          learners.delete(cc.node);
          voters.add(cc.node);
        }
        break;
      case 'promote':
        valid = isLearner;
        if (valid) {
          learners.delete(cc.node);
          voters.add(cc.node);
        }
        break;
      case 'remove':
        valid = (isVoter || isLearner) && !(isVoter && voters.size === 1);
        if (valid) {
          voters.delete(cc.node);
          learners.delete(cc.node);
        }
        break;
    }
    const fail = (what: string): void => {
      t.fail(what, { step: i, cc, state, next, problem });
    };
    if ((problem === undefined) !== valid) return fail('confChangeProblem disagrees with the model');
    if (valid ? next === state : next !== state) return fail('applyConfChange changed a refused change or kept a valid one');
    if (JSON.stringify([...next.voters].sort()) !== JSON.stringify([...voters].sort())) return fail('voters differ');
    if (JSON.stringify([...next.learners].sort()) !== JSON.stringify([...learners].sort())) return fail('learners differ');
    if (new Set([...next.voters, ...next.learners]).size !== next.voters.length + next.learners.length) return fail('a node is listed twice');
    if (next.voters.length === 0) return fail('no voter left');
    if (valid) applied++;
    else refused++;

    // Idempotent: the same change again is a no-op that returns its input.
    const frozen = conf([...next.voters], [...next.learners]);
    const again = applyConfChange(frozen, cc);
    if (again !== frozen) return fail('applying twice changed the membership again');
    if (confChangeProblem(frozen, cc) === undefined) return fail('a change just applied is still applicable');
    state = frozen;
  }
  t.ok(applied > 500 && refused > 500, `both applied (${applied}) and refused (${refused}) changes were exercised`);
});
