/** Public entry point of the key/value layer: the command table and the state machine. */
export { KvMachine, TRANSACTION_COMMAND } from './machine.js';
export { KV_COMMANDS, arityOk, type KvCommand, type KvLimits } from './commands.js';
export { unknownCommand, unknownSubcommand, wrongArity, SYNTAX_ERROR, NOT_AN_INTEGER } from './command-errors.js';
export { globMatch, literalPrefix } from './glob.js';
export { parseInteger } from './parse-int.js';
export { encodeCommand, decodeCommand, encodeStampedCommand, decodeEntry, type CommandEntry } from './command-codec.js';
export { KeySpace } from './key-space.js';
export { WATCH_COMMAND, WATCH_CHECK_COMMAND } from './watch.js';
export { EXPIRE_SWEEP_COMMAND } from './expiry-commands.js';
