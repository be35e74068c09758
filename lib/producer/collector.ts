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

  constructor(opts: ProducerOptions = {}) {
    super(opts);
  }

  /** The size of `enqueued` in the answer (as JSON, UTF-8), in bytes. */
  get size(): number {
    return this.bytes;
  }

  protected override async write(writes: readonly Enqueue[]): Promise<void> {
    for (const w of writes) {
      this.enqueued.push(w);
      this.bytes += Buffer.byteLength(JSON.stringify(w)) + 1;
    }
  }
}
