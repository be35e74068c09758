/**
 * A producer that keeps what it enqueues, for the answer of the job that enqueued it: the poller
 * writes those jobs with the job's acknowledgement, so they land if and only if the job succeeds,
 * once — never for a failed attempt, and with no Redis connection in the function.
 *
 * Tasks:
 * 1. Be a {@link Producer} (the same validation, bytes, jids and timestamps as `Client`) whose
 *    writes are kept, in order, as `enqueued`.
 * 2. Count the bytes they take in the answer, so a job near Lambda's response limit can be failed
 *    with a message that says what to do.
 */
import type { Enqueue } from '../protocol/event.js';
import { Producer, type ProducerOptions } from './producer.js';

/**
 * Collects enqueued jobs in memory.
 *
 * @example
 * const c = new Collector();
 * await c.performAsync('SolvedPuzzleJob', 'p1', '123');
 * c.enqueued // [{ queue: 'default', payload: '{"retry":true,"queue":"default","class":"SolvedPuzzleJob",…}' }]
 */
export class Collector extends Producer {
  /** Everything enqueued so far, oldest first. */
  readonly enqueued: Enqueue[] = [];
  private bytes = 0;
  private sealed?: string;

  constructor(opts: ProducerOptions = {}) {
    super(opts);
  }

  /** The size of `enqueued` in the answer (as JSON, UTF-8), in bytes. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Ends collecting: the answer has been built, so a later enqueue (one the job did not await) could
   * never be written; it is refused loudly instead of dropped.
   */
  seal(jid: string): void {
    this.sealed = jid;
  }

  protected override async write(writes: readonly Enqueue[]): Promise<void> {
    if (this.sealed !== undefined) {
      throw new Error(
        `sidekiq-lambda: job ${this.sealed} had already finished when it enqueued ${writes.length} more job(s); they were not enqueued. ` +
          'Await every enqueue (performAsync, push, pushBulk) before the job function returns.',
      );
    }
    for (const w of writes) {
      this.enqueued.push(w);
      this.bytes += Buffer.byteLength(JSON.stringify(w)) + 1;
    }
  }
}
