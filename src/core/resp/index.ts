/** Public entry point of the RESP (Redis protocol) module: pure encoders and decoders. */
export type { Command, Reply, SimpleReply, ErrorReply, IntegerReply, BulkReply, NullBulkReply, ArrayReply, NullArrayReply } from './types.js';
export { ProtocolError } from './protocol-error.js';
export { RequestParser, parseOne, encodeCommand, DEFAULT_REQUEST_LIMITS, MAX_HEADER_LENGTH, UNAUTHENTICATED_LIMITS, type RequestParserOptions } from './parser.js';
export { splitArgs } from './split-args.js';
export { ReplyWriter } from './writer.js';
export { ReplyParser, type ReplyParserOptions } from './reply-parser.js';
export { OK, NULL_BULK, NULL_ARRAY, binaryString, simpleReply, errorReply, intReply, bulkReply, arrayReply } from './replies.js';
