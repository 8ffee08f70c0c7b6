import type { Bitcask } from '../bitcask/index.js';
import { ScanCursors } from './scan-cursors.js';

/**
 * The store as commands see it at one moment, `now` (ms since the epoch): a key whose
 * expiry is at or before `now` is absent. For a committed write, `now` is the time the
 * leader stamped in its log entry, the same on every replica, so whether a key has
 * expired is decided identically everywhere; `writing` is then true and a write that
 * meets an expired key deletes it (a deterministic, replicated delete). For a read,
 * `now` is the serving node's clock, and nothing is deleted.
 *
 * One instance is reused command after command (`at` moves it); commands run
 * synchronously, so it is never shared by two at once.
 */
export class KeySpace {
  /** The time commands run at, ms since the epoch (0: nothing expires). */
  now = 0;
  /** Whether the command runs as a committed log entry (it may change the store). */
  writing = false;
  /** Where this node's SCAN walks stand (node-local, like a connection's state). */
  readonly cursors: ScanCursors;

  /** `random` (uniform in [0, 1)) picks RANDOMKEY's keys; `cursors` remembers SCAN's walks. */
  constructor(
    readonly store: Bitcask,
    private readonly random: () => number = Math.random,
    cursors: ScanCursors = new ScanCursors(),
  ) {
    this.cursors = cursors;
  }

  /** Moves the key space to time `now` for a write (`writing`) or a read; returns it. */
  at(now: number, writing: boolean): this {
    this.now = now;
    this.writing = writing;
    return this;
  }

  /** The store's size limits. */
  get options(): Bitcask['options'] {
    return this.store.options;
  }

  /** Number of stored keys, expired ones not yet deleted included (as Redis's DBSIZE). */
  get size(): number {
    return this.store.size;
  }

  /** The value of `key` unless it is absent or expired. */
  get(key: Uint8Array): Buffer | undefined {
    return this.store.get(key, this.now);
  }

  /** Whether `key` is present and not expired. */
  has(key: Uint8Array): boolean {
    return this.store.has(key, this.now);
  }

  /** When `key` expires (ms since the epoch): 0 never, -1 when it is absent or expired. */
  expiryOf(key: Uint8Array): number {
    const at = this.store.expiryOf(key);
    return at > 0 && at <= this.now ? -1 : at;
  }

  /** Stores `value` under `key`, expiring at `expiresAt` (0: never). */
  put(key: Uint8Array, value: Uint8Array, expiresAt = 0): void {
    this.store.put(key, value, expiresAt);
  }

  /**
   * Deletes `key`; returns whether it was there and not expired. An expired key is
   * deleted too (its record goes), but counts as absent.
   */
  delete(key: Uint8Array): boolean {
    const live = this.has(key);
    return this.store.delete(key) && live;
  }

  /**
   * A key present and not expired, picked at random, or undefined when there is none.
   * Tries random keys first; if every one of 100 had expired, walks to the first one alive.
   */
  randomKey(): Buffer | undefined {
    for (let i = 0; i < 100; i++) {
      const key = this.store.randomKey(this.random);
      if (key === undefined || this.has(key)) return key;
    }
    return this.keys().next().value ?? undefined;
  }

  /** Keys present and not expired, in byte order (see `Bitcask.keys`). */
  *keys(range: Parameters<Bitcask['keys']>[0] = {}): Generator<Buffer> {
    const filter = this.now > 0 && this.store.expiringCount > 0;
    for (const key of this.store.keys(range)) if (!filter || this.store.has(key, this.now)) yield key;
  }
}
