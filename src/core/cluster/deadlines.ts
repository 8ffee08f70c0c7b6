import { BitraftError } from '../support/errors.js';

interface Pending {
  deadline: number;
  reject: (err: unknown) => void;
  settled: boolean;
  what: string;
}

/**
 * Bounds how long requests may wait, with one timer for all of them instead of one per
 * request (a busy node has tens of thousands in flight). Every request gets the same
 * timeout, so deadlines arrive in the order the requests did: a FIFO checked by one
 * timer, re-armed for the oldest deadline.
 */
export class Deadlines {
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, now: () => number = Date.now) {
    this.timeoutMs = timeoutMs;
    this.now = now;
  }

  /**
   * Resolves or rejects as `p` does, or rejects with `TIMEOUT` ("<what> timed out after
   * N ms") if `p` has not settled by then. `p` keeps running; its outcome is dropped.
   */
  bound<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { deadline: this.now() + this.timeoutMs, reject, settled: false, what };
      // Requests mostly finish in arrival order: forgetting settled ones at the head keeps the queue short.
      while (this.head < this.queue.length && this.queue[this.head]!.settled) this.head++;
      this.compact();
      this.queue.push(entry);
      this.arm();
      p.then(
        (v) => {
          entry.settled = true;
          resolve(v);
        },
        (err: unknown) => {
          entry.settled = true;
          reject(err);
        },
      );
    });
  }

  /** Requests not yet settled nor timed out (settled ones are forgotten lazily). */
  get size(): number {
    return this.queue.length - this.head;
  }

  private arm(): void {
    if (this.timer !== undefined || this.head === this.queue.length) return;
    const wait = Math.max(0, this.queue[this.head]!.deadline - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
    }, wait);
    this.timer.unref();
  }

  private expire(): void {
    const now = this.now();
    while (this.head < this.queue.length) {
      const e = this.queue[this.head]!;
      if (!e.settled && e.deadline > now) break;
      this.head++;
      if (!e.settled) e.reject(new BitraftError('TIMEOUT', `${e.what} timed out after ${this.timeoutMs} ms`));
    }
    this.compact();
    this.arm();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
