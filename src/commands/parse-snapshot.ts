import { Args, Command, Flags } from '@oclif/core';
import { describeError, humanCount, startProgress } from '../core/cli/index.js';
import { exportSnapshot, openStateInput, type ExportReport } from '../core/snapshot/index.js';

/** `bitraft parse-snapshot`: streams a snapshot's state.bin as Redis SET commands (or JSON lines). */
export default class ParseSnapshot extends Command {
  static override summary = 'Stream a snapshot as Redis SET commands.';
  static override description = `Reads a snapshot's state.bin (bitraft, Go bitraft or kvnode: a gzip stream of [u64 LE key length][key][u64 LE value length][value] records) and writes one RESP command \`SET key value\` per record to stdout (\`SET key value PXAT ms\` for a key that expires, from bitraft's expiry records), so \`redis-cli --pipe\` restores it into any Redis-protocol server. Streams in constant memory whatever the snapshot size; keys and values are copied byte for byte. Use - to read the snapshot from stdin.

--format json writes one JSON object per line instead: {"key":"…","value":"…"} when the bytes are valid UTF-8; a field that is not valid UTF-8 is written as "key64"/"value64" holding its base64, so every record round-trips exactly.

--kvnode strips the leading "k" byte that kvnode puts on every key; keys without it are skipped, and their number is printed on stderr.

A file that is not a valid snapshot, or that is cut short, is an error (exit 1) naming the byte offset (in the decompressed stream, or in the file for gzip errors); the records before the fault have been written by then. Closing stdout early (e.g. | head) ends quietly.`;

  static override examples = [
    {
      description: 'Restore a snapshot into a server listening on port 4920',
      command: '<%= config.bin %> <%= command.id %> data/snapshots/1-1011-1795600287480/state.bin | redis-cli -p 4920 --pipe',
    },
    { description: 'Read the snapshot from stdin', command: 'cat state.bin | <%= config.bin %> <%= command.id %> - > commands.resp' },
    { description: 'Restore a kvnode snapshot (keys lose their "k" prefix)', command: '<%= config.bin %> <%= command.id %> --kvnode state.bin | redis-cli --pipe' },
    { description: 'Count the records', command: '<%= config.bin %> <%= command.id %> --count state.bin' },
    { description: 'One JSON object per line', command: '<%= config.bin %> <%= command.id %> --format json state.bin | head' },
  ];

  static override args = {
    file: Args.string({ description: 'Path of the state.bin to read, or - for stdin.', required: true }),
  };

  static override flags = {
    format: Flags.option({ options: ['resp', 'json'] as const, default: 'resp' as const, summary: 'Output: RESP SET commands, or JSON lines (key/value, or key64/value64 in base64 when not UTF-8; expiresAt for a key that expires).' })(),
    kvnode: Flags.boolean({ summary: 'Strip the "k" prefix byte of kvnode keys; skip (and count) keys without it.', default: false }),
    count: Flags.boolean({ summary: 'Only print the number of records (kept records with --kvnode).', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ParseSnapshot);
    const progress = startProgress(`reading ${args.file}`, true);
    let report: ExportReport;
    try {
      const { input, file } = await openStateInput(args.file);
      report = await exportSnapshot(input, flags.count ? undefined : process.stdout, {
        file,
        format: flags.format,
        kvnode: flags.kvnode,
        countOnly: flags.count,
        onProgress: (n) => progress.update(`${args.file}: ${humanCount(n)} records`),
      });
    } catch (err) {
      // The reader of stdout went away (e.g. `| head`): that is how pipes end, not a failure.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      progress.fail(`reading ${args.file} failed`);
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    progress.succeed(`${args.file}: ${humanCount(report.records)} records`);
    if (flags.count) this.log(String(report.records));
    if (flags.kvnode) this.logToStderr(`kvnode: skipped ${report.skipped} record(s) whose key does not start with "k"`);
  }
}
