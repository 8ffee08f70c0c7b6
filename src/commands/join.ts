import { Command } from '@oclif/core';
import { membershipArgs, membershipFlags, runMembershipChange, type MembershipResult } from '../core/cli/index.js';

/** `bitraft join`: adds a node to a running cluster. */
export default class Join extends Command {
  static override summary = 'Ask a running cluster to add a node.';
  static override description = `Sends RAFTADDPEER <addr> to <target>, which forwards it to the leader (or redirects; redirects are followed). The leader adds the node as a learner, waits for it to catch up with the log, then makes it a voter. Exits 0 once that is committed; retries while the cluster has no leader, until --timeout. The node itself must be running, started with an empty --dir and --join (e.g. "bitraft serve --dir d2 --bind <addr> --join <target>", which asks to be added by itself; this command adds it when that could not, or again after "bitraft leave"). Before adding a node that is not a member, the leader asks it what it holds, and refuses a node that belongs to another cluster (a node started without --join leads a cluster of its own) or holds keys outside any cluster: its keys would stay on that one replica.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> 127.0.0.1:4920 --addr 127.0.0.1:4921',
    'BITRAFT_REQUIREPASS=secret <%= config.bin %> <%= command.id %> db1:4920 --addr db4:4920 --json',
  ];

  static override enableJsonFlag = true;
  static override args = membershipArgs;
  static override flags = membershipFlags;

  async run(): Promise<MembershipResult> {
    const { args, flags } = await this.parse(Join);
    return runMembershipChange(this, 'RAFTADDPEER', args.target, flags);
  }
}
