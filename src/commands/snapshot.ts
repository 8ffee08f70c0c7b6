import fs from 'node:fs';
import { Command, Flags } from '@oclif/core';
import { connectionFlags, credentialsFromFlags, describeError, humanBytes, humanCount, renderTable, startProgress, type ConnectionFlagValues } from '../core/cli/index.js';
import { requestSnapshot, type RemoteSnapshot } from '../core/cluster/index.js';
import { snapshotDirectory } from '../core/snapshot/index.js';

/** What `bitraft snapshot` reports (with --json). */
export interface SnapshotReport {
  dir: string;
  out: string;
  records: number;
  /** Bytes of the state.bin written (0 for standard output). */
  bytes: number;
}

/** `bitraft snapshot`: makes a running node snapshot (--host), or writes a state.bin of a data directory (--dir --out). */
export default class Snapshot extends Command {
  static override summary = "Make a running node take a snapshot, or write a snapshot (state.bin) of a stopped node's data directory.";
  static override description = `Online (--host): asks the node to snapshot its key/value state now (RAFTSNAPSHOT) and prints the snapshot's path on the node's machine and its meta (id, index, term, size, CRC, membership); --json prints them as one object. Writes go on while the node writes it; the log is compacted behind it. If nothing was applied since the node's newest snapshot, that one is reported.

Offline (--dir --out): reads the key/value store in --dir without changing it and writes every key and value as a state.bin — the Go bitraft snapshot format (a gzip stream of [u64 LE key length][key][u64 LE value length][value] records), which "bitraft parse-snapshot" turns into Redis commands. The file is written to a temporary name, fsynced, then renamed to --out; "--out -" writes to standard output.

A directory locked by a running node is refused: stop the node first, or pass --force-read to read it anyway (the snapshot then holds what the files hold at that moment, without the node's unflushed writes).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --host 127.0.0.1:4920',
    'BITRAFT_REQUIREPASS=secret <%= config.bin %> <%= command.id %> --host db1:4920 --json',
    '<%= config.bin %> <%= command.id %> --dir data --out backup.bin',
    '<%= config.bin %> <%= command.id %> --dir data --out - | <%= config.bin %> parse-snapshot - | redis-cli -p 6379 --pipe',
    '<%= config.bin %> <%= command.id %> --dir data --out backup.bin --force-read --json',
    '<%= config.bin %> <%= command.id %> --host db1:4920 --tls-ca ca.crt',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    host: Flags.string({ summary: 'Online: the running node (host:port) that takes the snapshot.', exclusive: ['out', 'force-read'] }),
    ...connectionFlags,
    timeout: Flags.integer({ summary: 'With --host: give up after this many milliseconds.', default: 600_000, min: 1 }),
    dir: Flags.string({ char: 'd', summary: 'Offline: data directory of the node.', default: 'data' }),
    out: Flags.string({ char: 'o', summary: 'Offline: where to write the state.bin ("-": standard output).' }),
    'force-read': Flags.boolean({ summary: 'Offline: read the directory even while a node holds its lock.', default: false }),
  };

  async run(): Promise<SnapshotReport | RemoteSnapshot> {
    const { flags } = await this.parse(Snapshot);
    if (flags.host !== undefined) return this.online(flags.host, flags, flags.timeout);
    if (flags.out === undefined) this.error('give --host to snapshot a running node, or --out (with --dir) to write a state.bin of a data directory', { exit: 2 });
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

  private async online(host: string, connection: ConnectionFlagValues, timeoutMs: number): Promise<RemoteSnapshot> {
    const progress = startProgress(`${host} is taking a snapshot`, !this.jsonEnabled());
    let snap: RemoteSnapshot;
    try {
      snap = await requestSnapshot({ target: host, credentials: credentialsFromFlags(connection), timeoutMs });
    } catch (err) {
      progress.fail(`snapshot on ${host} failed`);
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    progress.succeed(`snapshot ${snap.id} taken on ${host}`);
    if (!this.jsonEnabled()) {
      this.log(snap.path);
      const rows = [
        ['id', snap.id],
        ['index', String(snap.index)],
        ['term', String(snap.term)],
        ['size', `${humanBytes(snap.size)} (${snap.size} bytes)`],
        ['crc', snap.crc],
        ['voters', snap.voters.join(', ')],
        ['learners', snap.learners.join(', ') || '-'],
      ];
      this.log(renderTable(['field', 'value'], rows));
    }
    return snap;
  }
}
