import type { ConfChange, ConfState, Entry, NodeId } from './types.js';

const OPS: readonly ConfChange['op'][] = ['add-learner', 'promote', 'add-voter', 'remove'];

/** Encodes a membership change as the data of a `config` entry (UTF-8 JSON). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(cc.context === undefined ? { op: cc.op, node: cc.node } : cc));
}

/** Decodes a `config` entry's data; undefined for anything that is not a well-formed change (never throws). */
export function decodeConfChange(data: Uint8Array): ConfChange | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { op, node, context } = v as Record<string, unknown>;
  if (!OPS.includes(op as ConfChange['op']) || typeof node !== 'string' || node === '') return undefined;
  if (context !== undefined && typeof context !== 'string') return undefined;
  return context === undefined ? { op: op as ConfChange['op'], node } : { op: op as ConfChange['op'], node, context };
}

/**
 * Why `cc` cannot apply to `conf`, or undefined when it can: adding an existing member,
 * promoting a non-learner, removing a non-member or the last voter.
 */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string | undefined {
  const voter = conf.voters.includes(cc.node);
  const learner = conf.learners.includes(cc.node);
  switch (cc.op) {
    case 'add-learner':
      return voter || learner ? `${cc.node} is already a member` : undefined;
    case 'add-voter':
      return voter ? `${cc.node} is already a voter` : undefined;
    case 'promote':
      return learner ? undefined : `${cc.node} is not a learner`;
    case 'remove':
      if (!voter && !learner) return `${cc.node} is not a member`;
      return voter && conf.voters.length === 1 ? `${cc.node} is the last voter` : undefined;
  }
}

/**
 * The membership after `cc`. Total and idempotent: a change that does not apply (see
 * `confChangeProblem`) leaves `conf` as it is, so replaying a log never fails.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (confChangeProblem(conf, cc) !== undefined) return conf;
  const without = (ids: readonly NodeId[]): NodeId[] => ids.filter((id) => id !== cc.node);
  switch (cc.op) {
    case 'add-learner':
      return { voters: [...conf.voters], learners: [...conf.learners, cc.node] };
    case 'add-voter':
    case 'promote':
      return { voters: [...conf.voters, cc.node], learners: without(conf.learners) };
    case 'remove':
      return { voters: without(conf.voters), learners: without(conf.learners) };
  }
}

/**
 * The first entries of a new cluster's log: one committed `add-voter` per initial voter,
 * at indexes 1…n in term 1. Every founding member starts with them (and a hard state of
 * term 1, commit n), so a node added later learns the whole membership by replaying the
 * log, like any other change.
 */
export function bootstrapEntries(voters: readonly NodeId[]): Entry[] {
  return voters.map((node, i) => ({ index: i + 1, term: 1, type: 'config', data: encodeConfChange({ op: 'add-voter', node }) }));
}
