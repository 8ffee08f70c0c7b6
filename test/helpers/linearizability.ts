/**
 * A linearizability checker for histories of a key/value store whose keys are
 * registers (SET writes, GET reads), in the style of Wing & Gong's search with Lowe's
 * memoisation (as Porcupine and Knossos do). Keys are independent registers, so each
 * key's sub-history is checked on its own.
 *
 * An operation is invoked at `invoke` and completes at `complete` (any clock, as long as
 * it is one clock for the whole history). A write whose outcome is unknown (an error or a
 * timeout: it may or may not have taken effect) has `complete: Infinity`; reads with an
 * unknown outcome constrain nothing and should be left out.
 */

/** One operation on one key. `value` is what a write wrote, or what a read returned (null: the key was absent). */
export interface Operation {
  key: string;
  kind: 'read' | 'write';
  value: string | null;
  invoke: number;
  complete: number;
}

/** The verdict on a history. */
export type Verdict = { ok: true } | { ok: false; key: string; operations: number; explanation: string };

interface Event {
  kind: 'call' | 'return';
  op: number;
  time: number;
  prev: Event | undefined;
  next: Event | undefined;
  /** For a call: its return event. */
  match: Event | undefined;
}

/**
 * Checks every key's history; the first key with no linearization is reported. The
 * initial value of every key is `initial` (absent by default).
 */
export function checkHistory(ops: readonly Operation[], initial: string | null = null): Verdict {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  for (const [key, list] of byKey) {
    if (!isLinearizable(list, initial)) {
      return { ok: false, key, operations: list.length, explanation: `no order of the ${list.length} operations on ${JSON.stringify(key)} respects real time and register semantics` };
    }
  }
  return { ok: true };
}

/** Whether one register's operations have a linearization. */
export function isLinearizable(ops: readonly Operation[], initial: string | null = null): boolean {
  const head = buildEvents(ops);
  const cache = new Set<string>();
  const stack: { call: Event; state: string | null }[] = [];
  let linearized = 0n;
  let state = initial;
  let entry = head.next;
  while (head.next !== undefined) {
    const e = entry!;
    if (e.kind === 'call') {
      const op = ops[e.op]!;
      const ok = op.kind === 'write' || op.value === state;
      const next = op.kind === 'write' ? op.value : state;
      if (ok) {
        const bits = linearized | (1n << BigInt(e.op));
        const memo = `${bits.toString(36)}|${next === null ? '' : `=${next}`}`;
        if (!cache.has(memo)) {
          cache.add(memo);
          stack.push({ call: e, state });
          state = next;
          linearized = bits;
          lift(e);
          entry = head.next;
          continue;
        }
      }
      entry = e.next;
    } else {
      // A return whose call is not linearized yet: this branch failed, undo the last choice.
      const top = stack.pop();
      if (!top) return false;
      state = top.state;
      linearized &= ~(1n << BigInt(top.call.op));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** The events of `ops` in time order (calls before returns at equal times), as a list after a sentinel head. */
function buildEvents(ops: readonly Operation[]): Event {
  const events: Event[] = [];
  ops.forEach((op, i) => {
    if (!(op.complete >= op.invoke)) throw new RangeError(`operation ${i} completes before it is invoked`);
    const ret: Event = { kind: 'return', op: i, time: op.complete, prev: undefined, next: undefined, match: undefined };
    const call: Event = { kind: 'call', op: i, time: op.invoke, prev: undefined, next: undefined, match: ret };
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? 0 : a.kind === 'call' ? -1 : 1));
  const head: Event = { kind: 'call', op: -1, time: -Infinity, prev: undefined, next: undefined, match: undefined };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call and its return from the list. */
function lift(call: Event): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts back a call and its return lifted by `lift` (in reverse order). */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}
