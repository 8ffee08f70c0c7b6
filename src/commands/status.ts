import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Flags } from '@oclif/core';
import { connectionFlags, credentialsFromFlags, describeError, renderClusterStatus } from '../core/cli/index.js';
import { fetchClusterStatus, type ClusterStatus, type StatusRequest } from '../core/cluster/index.js';

/** `bitraft status`: the cluster as a running node sees it, one row per member. */
export default class Status extends Command {
  static override summary = 'Show a running cluster: every member, its role, term, log indexes, lag and health.';
  static override description = `Asks --host for the membership (RAFTPEERS), then every member for its own state (RAFTSTATS), and prints one row per member: voter or learner, role, term, commit, applied and last log index, newest snapshot index, log size, how many entries it is behind the leader's commit index (lag), and its health — ok, unreachable (with the reason), no leader, other leader (it follows another node than the cluster's leader), or behind (lag over --max-lag). The leader is the member that says it leads in the highest term.

Exit status: 0 when every member is ok, 1 when one is not or --host cannot be asked. --json prints the same as one object; --watch prints it again every --interval milliseconds (with --json, one object per line) until interrupted (Ctrl-C or SIGTERM: exit status 0).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --host 127.0.0.1:4920',
    '<%= config.bin %> <%= command.id %> --host db1:4920 --json',
    '<%= config.bin %> <%= command.id %> --host db1:4920 --watch --interval 500',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    host: Flags.string({ summary: 'A node of the cluster (host:port).', default: '127.0.0.1:4920' }),
    ...connectionFlags,
    timeout: Flags.integer({ summary: "Milliseconds to wait for each node's answer.", default: 2000, min: 1 }),
    'max-lag': Flags.integer({ summary: 'A member more entries than this behind the leader is reported behind.', default: 1000, min: 0 }),
    watch: Flags.boolean({ char: 'w', summary: 'Print the status again every --interval until interrupted.', default: false }),
    interval: Flags.integer({ summary: 'With --watch: milliseconds between two prints.', default: 1000, min: 100 }),
  };

  async run(): Promise<ClusterStatus> {
    const { flags } = await this.parse(Status);
    let req: StatusRequest;
    try {
      req = { target: flags.host, credentials: credentialsFromFlags(flags), timeoutMs: flags.timeout, maxLag: flags['max-lag'] };
    } catch (err) {
      return this.fail(err);
    }
    if (!flags.watch) {
      const status = await fetchClusterStatus(req).catch((err: unknown) => this.fail(err));
      if (!this.jsonEnabled()) this.log(renderClusterStatus(status));
      if (!status.healthy) process.exitCode = 1;
      return status;
    }
    // Ctrl-C (or SIGTERM) ends the watch after the print in progress, with exit status 0.
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    while (!stop.signal.aborted) {
      const status = await fetchClusterStatus(req).catch((err: unknown) => this.fail(err));
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(status)}\n`);
      else this.log(`${new Date().toISOString()}\n${renderClusterStatus(status)}\n`);
      await sleep(flags.interval, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    // Not this.exit(0): with --json, oclif would print that as an error.
    await new Promise((resolve) => process.stdout.write('', resolve));
    return process.exit(0);
  }

  private fail(err: unknown): never {
    const { message, exit } = describeError(err);
    this.logToStderr(`Error: ${message}`);
    return this.exit(exit);
  }
}
