import { ChunkQueue } from './chunk-queue.js';
import { ProtocolError } from './protocol-error.js';

/** Placeholder batch between pushes; never written to. */
const NONE: never[] = [];

/**
 * What the request and reply parsers share: received chunks wait in a queue, `push`
 * runs `step` until it needs more input, and the first ProtocolError makes the parser
 * unusable — it carries the items completed earlier in the same push, and every later
 * push throws a fresh error with the same message and no items.
 */
export abstract class StreamParser<T> {
  protected readonly queue = new ChunkQueue();
  private failure: ProtocolError<T> | undefined;
  /** The items completed so far by the current push, handed to a ProtocolError. */
  private batch: T[] = NONE;

  /** Bytes received but not yet part of a returned item. */
  get pendingBytes(): number {
    return this.queue.length;
  }

  /** The error that made this parser unusable, if any. */
  get error(): ProtocolError<T> | undefined {
    return this.failure;
  }

  /**
   * Feeds the next chunk of the byte stream (kept by reference: do not reuse its memory
   * while its items are in use) and returns the items it completes, in order.
   */
  push(chunk: Buffer): T[] {
    if (this.failure) throw new ProtocolError<T>(this.failure.message);
    this.queue.push(chunk);
    const out: T[] = [];
    this.batch = out;
    try {
      while (this.step(out));
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    } finally {
      this.batch = NONE;
    }
    return out;
  }

  /** Throws the ProtocolError for `message`, with the items completed so far. */
  protected fail(message: string): never {
    throw new ProtocolError<T>(message, this.batch);
  }

  /** Advances by one state, adding any completed item to `out`; returns false when more input is needed. */
  protected abstract step(out: T[]): boolean;
}
