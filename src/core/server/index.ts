/** Public entry point of the server layer. */
export { startNode, type Node } from './host.js';
export { DEFAULT_CONFIG, formatAddress, parseAddress, type ServerConfig, type Durability, type Consistency, type RedirectMode } from './config.js';
export { streamLogger, type LevelLogger } from './log.js';
