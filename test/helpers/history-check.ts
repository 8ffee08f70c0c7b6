/**
 * The checks of a fault run's history (test/helpers/workload.ts records it), on top of the
 * register linearizability checker (test/helpers/linearizability.ts).
 *
 * Each key is a register, checked on its own. GET is a read; SET a write of its value;
 * DEL a write of null (absent); MSET is treated as one write to each of its keys at the
 * same invocation and completion — a simplification: the checker does not see that the
 * keys change together (atomicity across keys is not checked), only that each key's
 * history is linearizable. DEL's reply (how many keys existed) is not checked either.
 * Acknowledged operations are in; failed reads and definitely failed writes are out (if
 * such a write's value is ever read, no linearization exists); an indeterminate write is
 * in with no completion (`complete: Infinity`: it may take effect at any time after its
 * invocation, or never).
 *
 * Before the search, two rewrites that cannot change the verdict (values of SET/MSET are
 * unique) keep it fast on long runs:
 * - an indeterminate non-null write whose value no acknowledged read returned is left
 *   out: in any linearization, no read sits between it and the next write (that read
 *   would return its value), so dropping it leaves a valid linearization, and "never
 *   took effect" is allowed for it anyway;
 * - an indeterminate non-null write whose value was read completes at the earliest
 *   completion of such a read: in any linearization it precedes that read.
 *
 * "No acknowledged write missing" and "no deleted key resurrected" follow from per-key
 * linearizability once the final reads (after healing, of every key through every node)
 * are in the history: a lost write or a resurrected value makes some read impossible to
 * order. `finalValueProblems` checks the end state on its own as well.
 */
import { isLinearizable, type Operation } from './linearizability.js';
import type { ClientOp } from './workload.js';

/** A per-key operation with where it came from. */
export interface KeyOp extends Operation {
  /** Index of the client operation in the history. */
  source: number;
}

/** Splits the history into per-key operations for the checker (see the file comment), before the rewrites. */
export function keyOperations(history: readonly ClientOp[]): Map<string, KeyOp[]> {
  const byKey = new Map<string, KeyOp[]>();
  history.forEach((op, source) => {
    if (op.outcome === 'failed') return;
    const kind = op.cmd === 'get' ? 'read' : 'write';
    const complete = op.outcome === 'indeterminate' ? Infinity : op.complete;
    for (const key of op.keys) {
      const list = byKey.get(key) ?? [];
      list.push({ key, kind, value: op.value, invoke: op.invoke, complete, source });
      byKey.set(key, list);
    }
  });
  return byKey;
}

/** The two verdict-preserving rewrites of the file comment, on one key's operations. */
export function prune(ops: readonly KeyOp[]): KeyOp[] {
  const readAt = new Map<string, number>();
  for (const op of ops) {
    if (op.kind === 'read' && op.value !== null) readAt.set(op.value, Math.min(readAt.get(op.value) ?? Infinity, op.complete));
  }
  const out: KeyOp[] = [];
  for (const op of ops) {
    if (op.kind === 'write' && op.value !== null && op.complete === Infinity) {
      const read = readAt.get(op.value);
      if (read === undefined) continue;
      // A read completing before the write began is impossible; the checker will say so.
      out.push({ ...op, complete: Math.max(op.invoke, read) });
    } else {
      out.push(op);
    }
  }
  return out;
}

/** The outcome of checking every key. */
export interface HistoryVerdict {
  /** Operations handed to the checker (after the rewrites), all keys. */
  checked: number;
  /** Indeterminate writes left out by the first rewrite. */
  dropped: number;
  /** Keys with no linearization. */
  failedKeys: string[];
}

/** Checks every key's history; reports every key that is not linearizable. */
export function checkKeys(byKey: ReadonlyMap<string, readonly KeyOp[]>): HistoryVerdict {
  const verdict: HistoryVerdict = { checked: 0, dropped: 0, failedKeys: [] };
  for (const [key, ops] of byKey) {
    const pruned = prune(ops);
    verdict.checked += pruned.length;
    verdict.dropped += ops.length - pruned.length;
    if (!isLinearizable(pruned)) verdict.failedKeys.push(key);
  }
  return verdict;
}

/**
 * Whether `key`'s history would be linearizable if the writes that failed definitely
 * had possibly taken effect (for diagnosing a failure: a wrongly classified error).
 */
export function linearizableIfFailedWritesCounted(history: readonly ClientOp[], key: string): boolean {
  const loose = history.map((op) => (op.outcome === 'failed' && op.cmd !== 'get' ? { ...op, outcome: 'indeterminate' as const } : op));
  return isLinearizable(prune(keyOperations(loose).get(key) ?? []));
}

/**
 * The end state on its own: every key's final value (`finals`, read after healing) must
 * be the value of a write that did not definitely fail — for null, a DEL that did not
 * definitely fail, or no acknowledged write at all. Returns one line per problem.
 */
export function finalValueProblems(history: readonly ClientOp[], finals: ReadonlyMap<string, readonly (string | null)[]>): string[] {
  const problems: string[] = [];
  for (const [key, values] of finals) {
    const writes = history.filter((op) => op.cmd !== 'get' && op.keys.includes(key));
    for (const value of new Set(values)) {
      const candidates = writes.filter((op) => op.value === value && op.outcome !== 'failed');
      const acknowledged = writes.some((op) => op.outcome === 'ok');
      if (value === null ? candidates.length === 0 && acknowledged : candidates.length === 0) {
        const failed = writes.filter((op) => op.value === value);
        problems.push(`${key}: final value ${JSON.stringify(value)} is not the value of a write that may have taken effect${failed.length > 0 ? ` (written by ${failed.length} definitely failed write(s)${failed[0]!.error ? `, e.g. ${failed[0]!.error}` : ''})` : ''}`);
      }
    }
    if (new Set(values).size > 1) problems.push(`${key}: nodes disagree on the final value: ${values.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  return problems;
}
