import fs from 'node:fs';
import { Command, Flags } from '@oclif/core';
import { describeError, humanBytes, humanCount, startProgress } from '../core/cli/index.js';
import { snapshotDirectory } from '../core/snapshot/index.js';

/** What `bitraft snapshot` reports (with --json). */
export interface SnapshotReport {
  dir: string;
  out: string;
  records: number;
  /** Bytes of the state.bin written (0 for standard output). */
  bytes: number;
}

/** `bitraft snapshot`: writes a state.bin of a data directory. */
export default class Snapshot extends Command {
  static override summary = "Write a snapshot (state.bin) of a stopped node's data directory.";
  static override description = `Offline: reads the key/value store in --dir without changing it and writes every key and value as a state.bin — the Go bitraft snapshot format (a gzip stream of [u64 LE key length][key][u64 LE value length][value] records), which "bitraft parse-snapshot" turns into Redis commands. The file is written to a temporary name, fsynced, then renamed to --out; "--out -" writes to standard output.

A directory locked by a running node is refused: stop the node first, or pass --force-read to read it anyway (the snapshot then holds what the files hold at that moment, without the node's unflushed writes). Online snapshots of a running node (--host, RAFTSNAPSHOT) come with log compaction and are not available yet.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dir data --out backup.bin',
    '<%= config.bin %> <%= command.id %> --dir data --out - | <%= config.bin %> parse-snapshot - | redis-cli -p 6379 --pipe',
    '<%= config.bin %> <%= command.id %> --dir data --out backup.bin --force-read --json',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    dir: Flags.string({ char: 'd', summary: 'Data directory of the node.', default: 'data' }),
    out: Flags.string({ char: 'o', summary: 'Where to write the state.bin ("-": standard output).', required: true }),
    'force-read': Flags.boolean({ summary: 'Read the directory even while a node holds its lock.', default: false }),
  };

  async run(): Promise<SnapshotReport> {
    const { flags } = await this.parse(Snapshot);
    const toStdout = flags.out === '-';
    if (toStdout && this.jsonEnabled()) this.error('--json cannot be used with --out -: the snapshot goes to standard output', { exit: 2 });
    const progress = startProgress(`reading ${flags.dir}`, !toStdout && !this.jsonEnabled());
    const warn = (m: string): void => this.logToStderr(`warning: ${m}`);
    const logger = { info: warn, warn };
    let records: number;
    let bytes = 0;
    try {
      if (toStdout) {
        records = await snapshotDirectory(flags.dir, fs.createWriteStream('', { fd: 1, autoClose: false }), { forceRead: flags['force-read'], logger });
      } else {
        const tmp = `${flags.out}.tmp`;
        const fd = fs.openSync(tmp, 'w');
        try {
          records = await snapshotDirectory(flags.dir, fs.createWriteStream('', { fd, autoClose: false }), { forceRead: flags['force-read'], logger });
          fs.fsyncSync(fd);
        } catch (err) {
          fs.rmSync(tmp, { force: true });
          throw err;
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, flags.out);
        bytes = fs.statSync(flags.out).size;
      }
    } catch (err) {
      progress.fail(`snapshot of ${flags.dir} failed`);
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    const report: SnapshotReport = { dir: flags.dir, out: flags.out, records, bytes };
    progress.succeed(`snapshot of ${flags.dir} written`);
    if (!toStdout && !this.jsonEnabled()) this.log(`wrote ${humanCount(records)} records (${humanBytes(bytes)}) to ${flags.out}`);
    return report;
  }
}
