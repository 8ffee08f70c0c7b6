import { randomInt } from 'node:crypto';

/** Most SCAN cursors a node remembers; the oldest is forgotten first. */
export const MAX_SCAN_CURSORS = 65_536;

/**
 * Where SCAN walks stand, by cursor. A Redis cursor is a number that clients hand back
 * as they got it; bitraft walks keys in byte order, and a position in that order is a
 * key, so each cursor handed out names the last key a walk looked at, remembered here.
 * Cursors are random numbers below 2^48 (never 0, which starts a walk), so they cannot
 * be guessed into another client's walk by counting; a cursor may be used again (a
 * client retrying), and the table forgets the oldest beyond `limit`.
 */
export class ScanCursors {
  private readonly table = new Map<string, Buffer>();

  constructor(
    private readonly limit = MAX_SCAN_CURSORS,
    private readonly random: () => number = () => randomInt(1, 2 ** 48),
  ) {}

  /** Number of cursors remembered. */
  get size(): number {
    return this.table.size;
  }

  /** A new cursor standing after `lastKey` (a copy is kept). */
  open(lastKey: Buffer): string {
    let id: string;
    do id = String(this.random());
    while (this.table.has(id) || id === '0');
    this.table.set(id, Buffer.from(lastKey));
    if (this.table.size > this.limit) this.table.delete(this.table.keys().next().value!);
    return id;
  }

  /** The last key the walk of `cursor` looked at, or undefined for a cursor not (or no longer) known. */
  lastKey(cursor: string): Buffer | undefined {
    return this.table.get(cursor);
  }
}
