import path from 'node:path';
import { Command, Flags } from '@oclif/core';
import { mergeDirectory, type MergeDirectoryReport } from '../core/bitcask/index.js';
import { describeError, humanBytes, humanCount, renderTable, startProgress } from '../core/cli/index.js';
import { RAFT_DIR, readApplied } from '../core/cluster/index.js';

const STEP_TEXT: Record<string, string> = {
  opened: 'sealing the active file',
  sealed: 'copying live records',
  'outputs-written': 'renaming new files into place',
  'outputs-durable': 'switching to the new files',
  'keydir-swapped': 'deleting old files',
};

/** `bitraft merge`: offline Bitcask compaction of a data directory. */
export default class Merge extends Command {
  static override summary = 'Compact a stopped node\'s data directory (offline Bitcask merge).';
  static override description = `Rewrites the live records of every data file into new data and hint files and deletes the old files, reclaiming the space of overwritten and deleted keys. Takes the directory's lock: if a node is running on it, merge refuses and exits non-zero. Crash-safe at every point: an interrupted merge leaves a directory that opens with the same contents.

With --dry-run, reads the directory without the lock and without changing anything, and reports what a merge would reclaim.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dir data',
    '<%= config.bin %> <%= command.id %> --dir data --dry-run',
    '<%= config.bin %> <%= command.id %> --dir data --json',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    dir: Flags.string({ char: 'd', summary: 'Data directory of the node.', default: 'data' }),
    'dry-run': Flags.boolean({ summary: 'Only report what would be reclaimed.', default: false }),
  };

  async run(): Promise<MergeDirectoryReport> {
    const { flags } = await this.parse(Merge);
    const progress = startProgress(`merging ${flags.dir}`, !this.jsonEnabled());
    const warn = (message: string): void => {
      this.warn(message);
    };
    let report: MergeDirectoryReport;
    try {
      report = await mergeDirectory(flags.dir, {
        dryRun: flags['dry-run'],
        onProgress: (step) => {
          const text = STEP_TEXT[step];
          if (text) progress.update(`${flags.dir}: ${text}`);
        },
        logger: { info: warn, warn },
        // A node's store keeps what its Raft log would replay after the saved applied index.
        keepFrom: readApplied(path.join(flags.dir, RAFT_DIR), { info: warn, warn }).position,
      });
    } catch (err) {
      progress.fail(`merge of ${flags.dir} failed`);
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    progress.succeed(`${report.dryRun ? 'checked' : 'merged'} ${flags.dir}`);
    const { before, after } = report;
    const row = (name: string, a: number, b: number, fmt: (n: number) => string): string[] => [name, fmt(a), fmt(b), fmt(b - a)];
    this.log(
      renderTable(
        ['', 'before', report.dryRun ? 'after (estimate)' : 'after', 'change'],
        [
          row('data files', before.files, after.files, humanCount),
          row('bytes', before.bytes, after.bytes, humanBytes),
          row('live keys', before.liveKeys, after.liveKeys, humanCount),
          row('dead bytes', before.deadBytes, after.deadBytes, humanBytes),
        ],
      ),
    );
    this.log(`${report.dryRun ? 'would reclaim' : 'reclaimed'} ${humanBytes(report.reclaimedBytes)}`);
    return report;
  }
}
