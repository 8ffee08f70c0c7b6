import { readSecretFile } from '../cluster/index.js';
import { BitraftError } from '../support/errors.js';

/**
 * A secret (password, cluster secret) given directly — a flag or its environment
 * variable — or as a file named by `fileFlag`, not both. Throws INVALID_ARGUMENT when both
 * are set, or when the file cannot be read or is empty.
 */
export function secretOf(direct: string | undefined, fileFlag: string, file: string | undefined): string | undefined {
  if (file === undefined) return direct;
  if (direct !== undefined) throw new BitraftError('INVALID_ARGUMENT', `${fileFlag} and ${fileFlag.replace(/-file$/, '')} (or its environment variable) cannot both be set`);
  return readSecretFile(fileFlag, file);
}
