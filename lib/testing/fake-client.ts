/**
 * A producer that keeps what it enqueues in memory: `Sidekiq::Testing.fake!` for handler tests.
 *
 * Tasks:
 * 1. Be a real producer — the same validation, payload bytes, jids and timestamps as `Client` —
 *    whose writes land in `jobs` instead of Redis, with no connection.
 * 2. Show each enqueued job as the Ruby side would read it: class, queue, args, jid, the time a
 *    scheduled job is due, and the payload text exactly as it would be written.
 */
import type { Enqueue } from '../protocol/event.js';
import { Collector } from '../producer/collector.js';
import type { ProducerOptions } from '../producer/producer.js';

/** One job a {@link FakeClient} enqueued, in the order they were pushed. */
export interface EnqueuedJob {
  /** The payload's `class` (for an ActiveJob job, the wrapper class; the job class is in `wrapped`). */
  readonly class: string;
  readonly wrapped?: string;
  readonly queue: string;
  readonly args: unknown[];
  readonly jid: string;
  /** When a scheduled job is due, in epoch seconds; absent for a job enqueued to run now. */
  readonly at?: number;
  /** The payload text exactly as the producer would write it to Redis. */
  readonly payload: string;
}

/** Reads an enqueued job as the Ruby side would see it. */
export function enqueuedJob(w: Enqueue): EnqueuedJob {
  const p = JSON.parse(w.payload) as { class: string; wrapped?: string; queue: string; args: unknown[]; jid: string };
  return { class: p.class, ...(p.wrapped !== undefined && { wrapped: p.wrapped }), queue: p.queue, args: p.args, jid: p.jid, ...(w.at !== undefined && { at: w.at / 1000 }), payload: w.payload };
}

/**
 * A producer that enqueues into memory (`jobs`) instead of Redis — pass it to `runJob` as
 * `client`, and `job.client` in the handler writes here.
 *
 * @example
 * const client = fakeClient();
 * await runJob(handler, { class: 'SudokuSolver', args: ['p1', puzzle] }, { client });
 * expect(client.jobs).toMatchObject([{ class: 'SolvedPuzzleJob', queue: 'solved', args: ['p1', solution] }]);
 */
export class FakeClient extends Collector {
  /** Everything enqueued so far, oldest first. */
  get jobs(): EnqueuedJob[] {
    return this.enqueued.map(enqueuedJob);
  }

  /** Forgets every job enqueued so far (`Sidekiq::Worker.clear_all`). */
  clear(): void {
    this.enqueued.length = 0;
  }
}

/**
 * A client for `runJob` that keeps enqueued jobs in memory: see {@link FakeClient}.
 *
 * @example const client = fakeClient(); await runJob(handler, spec, { client }); client.jobs
 */
export function fakeClient(opts: ProducerOptions = {}): FakeClient {
  return new FakeClient(opts);
}
