import { Command, Flags } from '@oclif/core';
import { describeError } from '../core/cli/index.js';
import { DEFAULT_CONFIG, parseAddress, startNode, streamLogger, type Durability, type ServerConfig } from '../core/server/index.js';

/** `bitraft serve`: runs a node. */
export default class Serve extends Command {
  static override summary = 'Run a bitraft node: a Redis-protocol server over a Bitcask data directory.';
  static override description = `Serves the Redis protocol on --bind, so redis-cli, redis-benchmark and any Redis client work against it. All state lives in --dir. Logs one line per notable event to stderr. SIGINT, SIGTERM and the SHUTDOWN command stop it cleanly: pending replies are sent, data is flushed and fsynced, the directory's lock is released.

Durability: "high" acknowledges a write only once it is fsynced (writes arriving together share one fsync); "medium" fsyncs at most once a second; "low" leaves flushing to the operating system.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dir /var/lib/bitraft --bind 0.0.0.0:4920',
    'BITRAFT_REQUIREPASS=secret <%= config.bin %> <%= command.id %> --durability medium',
  ];

  static override flags = {
    dir: Flags.string({ char: 'd', summary: 'Data directory (created if missing).', default: 'data' }),
    bind: Flags.string({ char: 'b', summary: 'Address to listen on (host:port; port 0 picks a free one).', default: `${DEFAULT_CONFIG.host}:${DEFAULT_CONFIG.port}` }),
    durability: Flags.option({ options: ['low', 'medium', 'high'] as const, summary: 'When writes are fsynced before they are acknowledged.', default: 'high' })(),
    requirepass: Flags.string({ summary: 'Password clients must AUTH with.', env: 'BITRAFT_REQUIREPASS' }),
    maxclients: Flags.integer({ summary: 'Most clients connected at once.', default: DEFAULT_CONFIG.maxclients, min: 1 }),
    'log-level': Flags.option({ options: ['debug', 'info', 'warn', 'error'] as const, summary: 'Least important events logged.', default: 'info' })(),
    'max-key-size': Flags.integer({ summary: 'Largest key accepted, in bytes.', default: DEFAULT_CONFIG.maxKeySize, min: 1 }),
    'max-value-size': Flags.integer({ summary: 'Largest value accepted, in bytes.', default: DEFAULT_CONFIG.maxValueSize, min: 0 }),
    'max-file-size': Flags.integer({ summary: 'Data files are rotated at this size, in bytes.', default: DEFAULT_CONFIG.maxFileSize, min: 64 }),
    'cache-size': Flags.integer({ summary: 'Bytes of recently written or read values kept in memory (0 disables).', default: DEFAULT_CONFIG.cacheSize, min: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const logger = streamLogger(flags['log-level']);
    let node;
    try {
      const { host, port } = parseAddress(flags.bind);
      const config: ServerConfig = {
        ...DEFAULT_CONFIG,
        dir: flags.dir,
        host,
        port,
        durability: flags.durability as Durability,
        requirepass: flags.requirepass,
        maxclients: flags.maxclients,
        logLevel: flags['log-level'],
        maxKeySize: flags['max-key-size'],
        maxValueSize: flags['max-value-size'],
        maxFileSize: flags['max-file-size'],
        cacheSize: flags['cache-size'],
      };
      node = await startNode(config, logger, this.config.version);
    } catch (err) {
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    const running = node;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop(`received ${signal}`));
    await running.stopped;
  }
}
