/**
 * The one key name bitraft reserves: the key of the expiry records in a snapshot's
 * `state.bin` (a NUL, then `bitraft:expiry`). Writes of a key by that name are refused,
 * so such a record is never a user's key.
 */
export const EXPIRY_RECORD_KEY: Buffer = Buffer.from('\0bitraft:expiry', 'latin1');

/** Whether `key` is `EXPIRY_RECORD_KEY`. */
export function isReservedKey(key: Uint8Array): boolean {
  return key.length === EXPIRY_RECORD_KEY.length && EXPIRY_RECORD_KEY.equals(key);
}
