import type { Reply } from '../resp/types.js';
import type { KeySpace } from './key-space.js';

/**
 * One key/value command. `arity` follows Redis: n > 0 means exactly n args (the name
 * included), n < 0 at least -n. Reads run against local state; writes become one log
 * entry each and are applied, in log order, on every replica by `exec`.
 */
export interface KvCommand {
  name: string;
  arity: number;
  write: boolean;
  /**
   * For writes: everything that could make `exec` refuse, checked before the command
   * enters the log, so a refused write is never committed. Returns an error reply or undefined.
   */
  check?: (args: readonly Buffer[], limits: KvLimits) => Reply | undefined;
  /**
   * Walks keys in byte order (KEYS, SCAN): the first such command builds the store's
   * ordered index, which a server does beforehand in steps (`KvMachine.prepareFor`).
   */
  ordered?: boolean;
  /** Where its keys are, as COMMAND reports it: first, last (-1: the end) and step; none when omitted. */
  keys?: readonly [number, number, number];
  /**
   * Runs the command on the key space at its time (see `KeySpace`). Deterministic: the
   * same state, time and args give the same reply and state.
   */
  exec: (keys: KeySpace, args: readonly Buffer[]) => Reply;
}

/** Sizes a write may not exceed. */
export interface KvLimits {
  maxKeySize: number;
  maxValueSize: number;
}
