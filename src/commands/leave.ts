import { Command } from '@oclif/core';
import { membershipArgs, membershipFlags, runMembershipChange, type MembershipResult } from '../core/cli/index.js';

/** `bitraft leave`: removes a node from a running cluster. */
export default class Leave extends Command {
  static override summary = 'Ask a running cluster to remove a node.';
  static override description = `Sends RAFTREMOVEPEER <addr> to <target>, which forwards it to the leader (or redirects; redirects are followed). Exits 0 once the removal is committed. A removed leader steps down and the others elect a new one; the removed node's process keeps running until it is stopped, and serves nothing replicated any more.`;

  static override examples = ['<%= config.bin %> <%= command.id %> 127.0.0.1:4920 --addr 127.0.0.1:4922'];

  static override enableJsonFlag = true;
  static override args = membershipArgs;
  static override flags = membershipFlags;

  async run(): Promise<MembershipResult> {
    const { args, flags } = await this.parse(Leave);
    return runMembershipChange(this, 'RAFTREMOVEPEER', args.target, flags);
  }
}
