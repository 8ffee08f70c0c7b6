import { BitraftError } from '../support/errors.js';

/**
 * The one-line message and exit code a command shows for an error: domain errors
 * (user mistakes, locked or corrupt directories) get their message and exit 1; anything
 * else is unexpected and is rethrown so its stack is printed.
 */
export function describeError(err: unknown): { message: string; exit: number } {
  if (err instanceof BitraftError) return { message: err.message, exit: 1 };
  if (isErrno(err) && ['ENOENT', 'EACCES', 'ENOTDIR', 'ENOSPC', 'EROFS', 'EPERM', 'EADDRINUSE', 'EADDRNOTAVAIL'].includes(err.code!)) {
    return { message: err.message, exit: 1 };
  }
  throw err;
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}
