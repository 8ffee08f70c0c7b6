/**
 * Sorts the keys of a key directory in bounded steps, so a caller can spread the work
 * over many turns of the event loop instead of stopping everything for one big sort.
 *
 * First it reads the slots `[0, slotLimit)` a chunk at a time, sorting each chunk into a
 * run; then it merges the runs two at a time (oldest first, so merges stay balanced),
 * a bounded number of keys per step. A key met twice (moved to another slot between two
 * chunks) comes out once. Keys added or removed meanwhile are the caller's business:
 * the result holds each key that was live in its slot when that slot was read.
 */
export class SortedKeysBuild {
  private readonly slotLimit: number;
  private readonly keyAt: (slot: number) => string | undefined;
  /** The next slot to read. */
  private nextSlot = 0;
  /** Sorted runs waiting to be merged, oldest first. */
  private readonly runs: string[][] = [];
  private merge: { a: string[]; b: string[]; i: number; j: number; out: string[] } | undefined;

  /** Reads the slots below `slotLimit`; `keyAt(slot)` gives a live slot's key, undefined for a free one. */
  constructor(slotLimit: number, keyAt: (slot: number) => string | undefined) {
    this.slotLimit = slotLimit;
    this.keyAt = keyAt;
  }

  /**
   * Does up to about `budget` keys' worth of work (slots read, or keys merged; at least
   * one). Returns every key read, sorted in code-unit order without duplicates, once the
   * work is done (and again on later calls), undefined before.
   */
  step(budget: number): string[] | undefined {
    const work = Math.max(1, budget);
    if (this.nextSlot < this.slotLimit) {
      this.readChunk(work);
      return undefined;
    }
    if (!this.merge && this.runs.length >= 2) {
      const a = this.runs.shift()!;
      const b = this.runs.shift()!;
      this.merge = { a, b, i: 0, j: 0, out: new Array<string>() };
    }
    if (this.merge) {
      this.mergeSome(this.merge, work);
      return undefined;
    }
    if (this.runs.length === 0) this.runs.push([]);
    return this.runs[0];
  }

  private readChunk(work: number): void {
    const end = Math.min(this.slotLimit, this.nextSlot + work);
    const run: string[] = [];
    for (let slot = this.nextSlot; slot < end; slot++) {
      const key = this.keyAt(slot);
      if (key !== undefined) run.push(key);
    }
    this.nextSlot = end;
    run.sort();
    this.runs.push(run);
  }

  private mergeSome(m: { a: string[]; b: string[]; i: number; j: number; out: string[] }, work: number): void {
    const { a, b, out } = m;
    let { i, j } = m;
    for (let n = 0; n < work && (i < a.length || j < b.length); n++) {
      if (j === b.length) out.push(a[i++]!);
      else if (i === a.length) out.push(b[j++]!);
      else {
        const x = a[i]!;
        const y = b[j]!;
        if (x < y) {
          out.push(x);
          i++;
        } else {
          out.push(y);
          j++;
          if (x === y) i++;
        }
      }
    }
    m.i = i;
    m.j = j;
    if (i === a.length && j === b.length) {
      this.runs.push(out);
      this.merge = undefined;
    }
  }
}
