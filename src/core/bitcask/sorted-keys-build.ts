/** A merge under way: a heap of run numbers by head key, each run's next position, and the output so far. */
interface Merge {
  heap: number[];
  next: Int32Array;
  out: string[];
  written: number;
}

/**
 * Sorts the keys of a key directory in bounded steps, so a caller can spread the work
 * over many turns of the event loop instead of stopping everything for one big sort.
 *
 * First it reads the slots `[0, slotLimit)` a chunk at a time, sorting each chunk into a
 * run; then it merges all the runs at once through a binary heap of their heads, a
 * bounded number of keys per step, into one array sized up front (so the merge allocates
 * nothing else). A key met twice (moved to another slot between two chunks) comes out
 * once. Keys added or removed meanwhile are the caller's business: the result holds each
 * key that was live in its slot when that slot was read.
 */
export class SortedKeysBuild {
  private readonly slotLimit: number;
  private readonly keyAt: (slot: number) => string | undefined;
  /** The next slot to read. */
  private nextSlot = 0;
  /** Sorted runs, one per chunk read. */
  private readonly runs: string[][] = [];
  private merge: Merge | undefined;
  private result: string[] | undefined;

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
    if (this.result) return this.result;
    const work = Math.max(1, budget);
    if (this.nextSlot < this.slotLimit) {
      this.readChunk(work);
      return undefined;
    }
    if (this.runs.length <= 1) {
      this.result = this.runs[0] ?? [];
      return this.result;
    }
    this.merge ??= this.startMerge();
    if (this.mergeSome(this.merge, work)) return undefined;
    const { out, written } = this.merge;
    out.length = written;
    this.result = out;
    this.runs.length = 0;
    this.merge = undefined;
    return undefined;
  }

  private readChunk(work: number): void {
    const end = Math.min(this.slotLimit, this.nextSlot + work);
    const run: string[] = [];
    for (let slot = this.nextSlot; slot < end; slot++) {
      const key = this.keyAt(slot);
      if (key !== undefined) run.push(key);
    }
    this.nextSlot = end;
    if (run.length === 0) return;
    run.sort();
    this.runs.push(run);
  }

  private startMerge(): Merge {
    let total = 0;
    for (const run of this.runs) total += run.length;
    const heap: number[] = [];
    const m = { heap, next: new Int32Array(this.runs.length), out: new Array<string>(total), written: 0 };
    for (let r = 0; r < this.runs.length; r++) this.push(heap, m.next, r);
    return m;
  }

  /** Merges up to `work` keys; returns whether keys remain. */
  private mergeSome(m: Merge, work: number): boolean {
    const { heap, next, out } = m;
    const runs = this.runs;
    let written = m.written;
    for (let n = 0; n < work && heap.length > 0; n++) {
      const r = heap[0]!;
      const key = runs[r]![next[r]!]!;
      if (written === 0 || out[written - 1] !== key) out[written++] = key;
      next[r]!++;
      if (next[r]! < runs[r]!.length) this.siftDown(heap, next, 0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          this.siftDown(heap, next, 0);
        }
      }
    }
    m.written = written;
    return heap.length > 0;
  }

  /** The head key of run `r`. */
  private head(next: Int32Array, r: number): string {
    return this.runs[r]![next[r]!]!;
  }

  private push(heap: number[], next: Int32Array, r: number): void {
    let i = heap.length;
    heap.push(r);
    const key = this.head(next, r);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.head(next, heap[parent]!) <= key) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = r;
  }

  private siftDown(heap: number[], next: Int32Array, from: number): void {
    const r = heap[from]!;
    const key = this.head(next, r);
    const n = heap.length;
    let i = from;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.head(next, heap[child + 1]!) < this.head(next, heap[child]!)) child++;
      if (this.head(next, heap[child]!) >= key) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = r;
  }
}
