import { LATENCY_BUCKETS } from './buckets.js';

/** The name unknown commands are counted under, so that clients cannot create label values at will. */
export const UNKNOWN_COMMAND = 'unknown';

/**
 * What one command name has done since the node started, in plain numbers (the hot path
 * only adds to them; the exporters read them at scrape time): replies that were not
 * errors and replies that were, and a histogram of the time each took.
 */
export class CommandTally {
  readonly name: string;
  /** Replies that were not errors. */
  ok = 0;
  /** Error replies. */
  errors = 0;
  /** Seconds of every recorded command, added up. */
  sum = 0;
  /**
   * `counts[i]` commands took at most `LATENCY_BUCKETS[i]` seconds and more than the
   * bound before it; the last slot holds those over the largest bound. Not cumulative.
   */
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);

  constructor(name: string) {
    this.name = name;
  }

  /** Commands recorded. */
  get count(): number {
    return this.ok + this.errors;
  }

  /** Records one command that took `seconds` and answered an error reply or not. */
  record(seconds: number, failed: boolean): void {
    if (failed) this.errors++;
    else this.ok++;
    this.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
  }
}

/**
 * One `CommandTally` per known command name, made up front, plus one for every other
 * name (`unknown`): looking one up is a map read, recording is a few additions.
 */
export class CommandTallies {
  private readonly byName = new Map<string, CommandTally>();
  private readonly unknown = new CommandTally(UNKNOWN_COMMAND);

  /** `names`: the lower-case names the node knows; any other is counted as `unknown`. */
  constructor(names: Iterable<string>) {
    for (const name of names) this.byName.set(name, new CommandTally(name));
  }

  /** The tally of the lower-case command `name` (`unknown`'s when the node does not know it). */
  of(name: string): CommandTally {
    return this.byName.get(name) ?? this.unknown;
  }

  /** The tallies of the names that recorded at least one command, by name. */
  used(): CommandTally[] {
    return [...this.byName.values(), this.unknown].filter((t) => t.count > 0).sort((a, b) => a.name.localeCompare(b.name));
  }
}
