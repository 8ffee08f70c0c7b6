import { Args, Command, Flags } from '@oclif/core';
import { requestMembershipChange } from '../cluster/index.js';
import { connectionFlags, credentialsFromFlags, type ConnectionFlagValues } from './connection-flags.js';
import { describeError } from './errors.js';

/** What `bitraft join` and `bitraft leave` print with --json. */
export interface MembershipResult {
  target: string;
  addr: string;
  change: 'added' | 'removed';
}

/** Flags and args shared by `join` and `leave`. */
export const membershipArgs = {
  target: Args.string({ required: true, description: 'Any node of the cluster (host:port); the request is forwarded or redirected to the leader.' }),
};

/** Flags shared by `join` and `leave`. */
export const membershipFlags = {
  addr: Flags.string({ char: 'a', required: true, summary: 'The node to add or remove: its advertised address (host:port).' }),
  ...connectionFlags,
  timeout: Flags.integer({ summary: 'Give up after this many milliseconds.', default: 60_000, min: 1 }),
};

/**
 * Runs a membership change for `join`/`leave`: retries while the cluster elects a
 * leader, follows redirects, and exits 0 only once the change is committed. Progress
 * lines go to stderr; the result to stdout (or as JSON).
 */
export async function runMembershipChange(
  cmd: Command & { jsonEnabled(): boolean },
  command: 'RAFTADDPEER' | 'RAFTREMOVEPEER',
  target: string,
  flags: ConnectionFlagValues & { addr: string; timeout: number },
): Promise<MembershipResult> {
  const change = command === 'RAFTADDPEER' ? 'added' : 'removed';
  try {
    await requestMembershipChange({
      target,
      command,
      addr: flags.addr,
      credentials: credentialsFromFlags(flags),
      timeoutMs: flags.timeout,
      logger: { info: (m) => cmd.logToStderr(m), warn: (m) => cmd.logToStderr(m) },
    });
  } catch (err) {
    const { message, exit } = describeError(err);
    cmd.logToStderr(`Error: ${message}`);
    cmd.exit(exit);
  }
  if (!cmd.jsonEnabled()) cmd.log(`${change} ${flags.addr} ${change === 'added' ? 'to' : 'from'} the cluster of ${target}`);
  return { target, addr: flags.addr, change };
}
