/**
 * Stable error codes. Callers and tests match on `code`, never on message text;
 * only the server's reply-errors module turns these into protocol text.
 */
export type ErrorCode =
  | 'CORRUPT'
  | 'LOCKED'
  | 'KEY_TOO_LARGE'
  | 'VALUE_TOO_LARGE'
  | 'CLOSED'
  | 'BUSY'
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'IO'
  | 'NOT_IMPLEMENTED'
  | 'PROTOCOL'
  | 'COMPACTED'
  | 'UNAVAILABLE'
  | 'NOT_LEADER'
  | 'DROPPED'
  | 'UNKNOWN_OUTCOME'
  | 'TIMEOUT'
  | 'DISK_FULL';

/** Base class of every domain error: a stable `code`, a readable message and an optional `cause`. */
export class BitraftError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Data on disk failed a checksum or has an impossible shape. `file` and `offset` locate it. */
export class CorruptionError extends BitraftError {
  readonly file: string;
  readonly offset: number;

  constructor(file: string, offset: number, reason: string) {
    super('CORRUPT', `corrupt data in ${file} at offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
  }
}

/** Another live process holds the directory's lock. */
export class LockedError extends BitraftError {
  readonly dir: string;
  readonly pid: number;

  constructor(dir: string, pid: number) {
    super('LOCKED', `${dir} is in use by running process ${pid}; stop it first`);
    this.dir = dir;
    this.pid = pid;
  }
}

/** A key or value exceeds a configured limit; nothing was written. */
export class LimitError extends BitraftError {
  readonly limit: number;
  readonly actual: number;

  constructor(code: 'KEY_TOO_LARGE' | 'VALUE_TOO_LARGE', actual: number, limit: number) {
    const what = code === 'KEY_TOO_LARGE' ? 'key' : 'value';
    super(code, `${what} of ${actual} bytes exceeds the limit of ${limit} bytes`);
    this.limit = limit;
    this.actual = actual;
  }
}

/** Returns true when `err` is a BitraftError carrying `code`. */
export function hasCode(err: unknown, code: ErrorCode): err is BitraftError {
  return err instanceof BitraftError && err.code === code;
}
