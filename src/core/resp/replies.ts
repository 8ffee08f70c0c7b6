import { exactInteger } from './integer.js';
import type { ArrayReply, BulkReply, ErrorReply, IntegerReply, NullArrayReply, NullBulkReply, Reply, SimpleReply } from './types.js';

/** `+OK`, the usual success reply. */
export const OK: SimpleReply = Object.freeze({ type: 'simple', value: 'OK' });

/** `$-1`, the null bulk string. */
export const NULL_BULK: NullBulkReply = Object.freeze({ type: 'null-bulk' });

/** `*-1`, the null array. */
export const NULL_ARRAY: NullArrayReply = Object.freeze({ type: 'null-array' });

/** A simple-string reply; CR and LF in `value` are sent as spaces. */
export function simpleReply(value: string): SimpleReply {
  return { type: 'simple', value };
}

/**
 * The UTF-8 bytes of `text` as a binary string (one char per byte), the form simple and
 * error replies carry. ASCII text is unchanged.
 */
export function binaryString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** An error reply; `text` is the full line without '-' as a binary string, e.g. `ERR syntax error`. */
export function errorReply(text: string): ErrorReply {
  return { type: 'error', text };
}

/**
 * An integer reply. A bigint within the safe range becomes a number, so a value has one
 * form whichever way it was computed (as `parseExactInteger` gives it); the writer takes
 * integers within the signed 64-bit range.
 */
export function intReply(value: number | bigint): IntegerReply {
  return { type: 'integer', value: typeof value === 'bigint' ? exactInteger(value) : value };
}

/** A bulk-string reply; a string is stored as its UTF-8 bytes. */
export function bulkReply(value: Buffer | string): BulkReply {
  return { type: 'bulk', value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value };
}

/** An array reply of `items`, which may nest. */
export function arrayReply(items: readonly Reply[]): ArrayReply {
  return { type: 'array', items };
}
