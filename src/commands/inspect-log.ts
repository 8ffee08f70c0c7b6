import { Command, Flags } from '@oclif/core';
import { describeError, humanBytes, humanCount, renderLogSummary, renderTable } from '../core/cli/index.js';
import { describeEntries, inspectLog, verifyLog, type DescribedEntry } from '../core/cluster/index.js';

/** `bitraft inspect-log`: decodes a data directory's Raft log, read-only. */
export default class InspectLog extends Command {
  static override summary = 'Decode the Raft log of a data directory (read-only; works while a node runs).';
  static override description = `Reads <dir>/raft without taking the directory's lock and without changing anything, so it can be run on the directory of a running node (it shows the log as it was when read).

By default prints a summary: first and last index, terms, entry counts and bytes by type, the hard state (term, vote, the commit index as last saved), the membership, the index the store has durably applied, a torn last record if any, and the snapshots present. --entries lists entries instead, decoded (SET "key" "value" with printable escapes, long values cut with their size; membership changes; no-ops), filtered by --from/--to/--type and cut at --limit. --verify checks every record's checksum and order and exits 1 at the first bad one, naming its file and offset (a torn last record counts: a node would cut it off on open). --json prints the summary as one JSON object, entries as one JSON object per line.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dir data',
    '<%= config.bin %> <%= command.id %> --dir data --entries --from 1000 --limit 20',
    '<%= config.bin %> <%= command.id %> --dir data --entries --type config --json',
    '<%= config.bin %> <%= command.id %> --dir data --verify',
  ];

  static override flags = {
    dir: Flags.string({ char: 'd', summary: 'Data directory of the node.', default: 'data' }),
    entries: Flags.boolean({ summary: 'List entries instead of the summary.' }),
    from: Flags.integer({ summary: 'First index listed.', min: 0, dependsOn: ['entries'] }),
    to: Flags.integer({ summary: 'Last index listed.', min: 0, dependsOn: ['entries'] }),
    type: Flags.option({ options: ['command', 'noop', 'config'] as const, summary: 'Only entries of this type.', dependsOn: ['entries'] })(),
    limit: Flags.integer({ summary: 'Most entries listed.', min: 1, dependsOn: ['entries'] }),
    verify: Flags.boolean({ summary: 'Check every record; exit 1 at the first bad one.', default: false, exclusive: ['entries'] }),
    json: Flags.boolean({ summary: 'Machine-readable output: one JSON object (summary, --verify) or one per line (--entries).', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(InspectLog);
    try {
      if (flags.verify) return this.verify(flags.dir, flags.json);
      if (flags.entries) return this.entries(flags.dir, flags, flags.json);
      const summary = inspectLog(flags.dir, (m) => this.logToStderr(`warning: ${m}`));
      this.log(flags.json ? JSON.stringify(summary) : renderLogSummary(summary));
    } catch (err) {
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
  }

  private verify(dir: string, json: boolean): void {
    const v = verifyLog(dir);
    if (json) this.log(JSON.stringify({ records: v.records, bad: v.bad ?? null }));
    else if (v.bad) this.logToStderr(`Error: ${v.bad.file}: bad record at offset ${v.bad.offset} after ${humanCount(v.records)} good ones: ${v.bad.reason}`);
    else this.log(`ok: ${humanCount(v.records)} records, every checksum and index in order`);
    if (v.bad) this.exit(1);
  }

  private entries(dir: string, filter: { from?: number; to?: number; type?: 'command' | 'noop' | 'config'; limit?: number }, json: boolean): void {
    const rows: string[][] = [];
    const out = (e: DescribedEntry): void => {
      if (json) this.log(JSON.stringify(e));
      else rows.push([String(e.index), String(e.term), e.type, humanBytes(e.bytes), e.text]);
    };
    describeEntries(dir, filter, out);
    if (!json) this.log(rows.length > 0 ? renderTable(['index', 'term', 'type', 'size', 'entry'], rows) : 'no entries match');
  }
}
