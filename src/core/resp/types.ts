/**
 * One client request: `args[0]` is the command name exactly as sent (not upper-cased),
 * the rest are its arguments. Every arg is a binary-safe Buffer; for RESP multibulk
 * input it is usually a zero-copy `subarray` of the received chunk, so a consumer that
 * keeps an arg beyond the current batch while mutating input buffers must copy it.
 * A Command always has at least one arg.
 */
export interface Command {
  args: Buffer[];
}

/** `+<value>\r\n`. `value` is a binary string (one char per byte) without CR or LF (the writer turns them into spaces). */
export interface SimpleReply {
  readonly type: 'simple';
  readonly value: string;
}

/**
 * `-<text>\r\n`. `text` is a binary string (one char per byte, see `binaryString`): the
 * whole error line without the leading '-', starting with
 * its error prefix: `ERR unknown command 'foo'`, `WRONGTYPE …`, `TRY host:port`.
 */
export interface ErrorReply {
  readonly type: 'error';
  readonly text: string;
}

/** `:<value>\r\n`. `value` is an integer; parsed values beyond 2^53 lose precision. */
export interface IntegerReply {
  readonly type: 'integer';
  /** A safe integer as a number; one beyond 2^53 (up to the signed 64-bit limits) may be a bigint. */
  readonly value: number | bigint;
}

/** `$<len>\r\n<bytes>\r\n`: a binary-safe string. */
export interface BulkReply {
  readonly type: 'bulk';
  readonly value: Buffer;
}

/** `$-1\r\n`: the null bulk string (e.g. GET of a missing key). */
export interface NullBulkReply {
  readonly type: 'null-bulk';
}

/** `*<n>\r\n` followed by the n items, each a full Reply (arrays nest). */
export interface ArrayReply {
  readonly type: 'array';
  readonly items: readonly Reply[];
}

/** `*-1\r\n`: the null array. */
export interface NullArrayReply {
  readonly type: 'null-array';
}

/** Every RESP2 reply, discriminated by `type`. */
export type Reply = SimpleReply | ErrorReply | IntegerReply | BulkReply | NullBulkReply | ArrayReply | NullArrayReply;
