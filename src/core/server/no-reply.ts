import type { Reply } from '../resp/types.js';

/**
 * Returned by a command that answers nothing (SHUTDOWN, like Redis, just closes the
 * connection). Connections recognise it by identity and write no bytes for it.
 */
export const NO_REPLY: Reply = Object.freeze({ type: 'simple', value: '' });
