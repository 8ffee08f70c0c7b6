/**
 * How the leader replicates to one follower:
 * - `probe`: one append at a time, until a response shows where the logs match;
 * - `replicate`: appends are pipelined, up to a window of messages and bytes in flight;
 * - `snapshot`: the follower needs a snapshot; nothing else is sent until it reports back.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower's log, and the flow control towards it. */
export class Progress {
  /** The highest index known to match the leader's log. */
  match = 0;
  /** The next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In `snapshot` state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** In `snapshot` state: leader ticks since the snapshot was sent. */
  snapshotTicks = 0;
  /** In `probe` state: an append was sent and no answer came since the last heartbeat. */
  probeSent = false;
  /** Heard from it since the last check-quorum round. */
  recentActive = false;
  /** Last index and data size of every append in flight, oldest first. */
  private readonly inflight: { last: number; bytes: number }[] = [];
  private inflightBytes = 0;

  constructor(
    next: number,
    private readonly maxInflight: number,
    private readonly maxInflightBytes: number,
  ) {
    this.next = next;
  }

  /** Whether the window is full (or a probe is outstanding, or a snapshot in progress). */
  get paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight || this.inflightBytes >= this.maxInflightBytes;
      case 'snapshot':
        return true;
    }
  }

  /** Switches to probing from `match + 1`. */
  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset('probe');
  }

  /** Switches to pipelined replication from `match + 1`. */
  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  /** Waits for the follower to install the snapshot at `index`. */
  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  /** An append of entries up to `last` (with `bytes` of data) was sent. */
  sent(last: number, bytes: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflight.push({ last, bytes });
      this.inflightBytes += bytes;
    } else {
      this.probeSent = true;
    }
  }

  /** Frees the oldest slot of a full window, so a lost append cannot stall replication for good. */
  freeFirstOne(): void {
    const first = this.inflight.shift();
    if (first) this.inflightBytes -= first.bytes;
  }

  /** The follower matches up to `index`. Returns whether that is news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && this.inflight[0]!.last <= index) {
      this.inflightBytes -= this.inflight.shift()!.bytes;
    }
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `hint` is where to probe next.
   * Returns false when the rejection is stale (an answer to an older append).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflight.length = 0;
    this.inflightBytes = 0;
  }
}
