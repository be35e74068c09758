/**
 * Producer middleware: Sidekiq's client middleware, for TypeScript. Every job any producer pushes —
 * `push`, each job of `pushBulk`, scheduled ones (`at`, `performIn`/`At`) — through the Redis
 * `Client`, a handler's `job.client` or a `fakeClient()` passes through one process-wide chain
 * before it is rendered, as every `Sidekiq::Client.push` passes through `client_middleware`.
 *
 * Tasks:
 * 1. Keep the chain with Sidekiq's registration rules: `add` appends (moving a middleware already
 *    there to the end), `prepend`, `insertBefore`, `insertAfter`, `remove`, `has`, `clear`; the
 *    first in the chain is the outermost.
 * 2. Run a job through it. A middleware may change the job in place (options, custom keys such as
 *    a tenant or request id, the queue, `at`) and calls `next()` to go on. Sidekiq's "a middleware
 *    that does not yield stops the push, and `push` returns nil" becomes: a middleware that does
 *    not call `next()`, or returns `false`, stops the push; `push` resolves `null` and
 *    `pushBulk` has `null` in that job's place; nothing is written for it. A middleware that
 *    throws rejects the push with its error (for `pushBulk`: nothing of that batch is written).
 *
 * Not wrapped, as in Sidekiq: `enqueueRaw` (Sidekiq's `raw_push`) and `render` (the cron
 * scheduler's claim-and-push, which writes inside its own script).
 */
import type { JobOptions, Producer } from './producer.js';

/** A job on its way to being rendered, as a producer middleware sees it (Sidekiq's normalized item). */
export interface OutgoingJob extends JobOptions {
  class: string;
  args: unknown[];
  /** Fixed before the chain runs: the jid `push` returns. */
  jid: string;
  /** Resolved: `'default'` when the caller gave none. */
  queue: string;
  /** Epoch seconds: the job goes to the `schedule` set, due then. Absent: to its queue now. */
  at?: number;
  /** The ActiveJob class, for a wrapped job. */
  wrapped?: unknown;
}

/**
 * One producer middleware: change `job` in place, then `return next()` to go on. Not calling
 * `next()`, or returning `false`, stops this job's push (`push` resolves `null`); throwing rejects
 * it. `next()` resolves `false` when a middleware further in stopped the job. `producer` is the
 * producer pushing it (a `Client`, a handler's collector, a `FakeClient`).
 */
export type ProducerMiddleware = (job: OutgoingJob, next: () => Promise<boolean>, producer: Producer) => Promise<boolean | void> | boolean | void;

/**
 * A chain of producer middleware (Sidekiq's `Sidekiq::Middleware::Chain`), keyed by the middleware
 * function itself as Sidekiq keys by class. The process has one: {@link producerMiddleware}.
 *
 * @example
 * producerMiddleware.add(stampTenant).insertAfter(stampTenant, audit);
 * producerMiddleware.has(audit); // true
 */
export class ProducerChain {
  private list: ProducerMiddleware[] = [];

  /** The middleware, outermost first. */
  get entries(): readonly ProducerMiddleware[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** Appends `m` (innermost); one already in the chain moves to the end. */
  add(m: ProducerMiddleware): this {
    check(m);
    this.remove(m);
    this.list.push(m);
    return this;
  }

  /** Puts `m` first (outermost); one already in the chain moves there. */
  prepend(m: ProducerMiddleware): this {
    check(m);
    this.remove(m);
    this.list.unshift(m);
    return this;
  }

  /** Puts `m` just before `existing` (first when `existing` is not in the chain). */
  insertBefore(existing: ProducerMiddleware, m: ProducerMiddleware): this {
    check(m);
    this.remove(m);
    const i = this.list.indexOf(existing);
    this.list.splice(i < 0 ? 0 : i, 0, m);
    return this;
  }

  /** Puts `m` just after `existing` (last when `existing` is not in the chain). */
  insertAfter(existing: ProducerMiddleware, m: ProducerMiddleware): this {
    check(m);
    this.remove(m);
    const i = this.list.indexOf(existing);
    this.list.splice(i < 0 ? this.list.length : i + 1, 0, m);
    return this;
  }

  remove(m: ProducerMiddleware): this {
    this.list = this.list.filter((e) => e !== m);
    return this;
  }

  has(m: ProducerMiddleware): boolean {
    return this.list.includes(m);
  }

  clear(): this {
    this.list = [];
    return this;
  }

  /**
   * Runs `job` through the chain (as it is now: registrations during a push apply to the next
   * one); true when it is still to be pushed.
   */
  async run(job: OutgoingJob, producer: Producer): Promise<boolean> {
    const chain = this.list;
    const step = async (i: number): Promise<boolean> => {
      const m = chain[i];
      if (!m) return true;
      let inner: Promise<boolean> | undefined;
      const result = await m(
        job,
        () => {
          if (inner) throw new Error('producer middleware called next() twice');
          return (inner = step(i + 1));
        },
        producer,
      );
      // A middleware that returned without awaiting next() still waits for the inner chain.
      return inner !== undefined && (await inner) && result !== false;
    };
    return step(0);
  }
}

function check(m: ProducerMiddleware): void {
  if (typeof m !== 'function') throw new TypeError('producer middleware must be a function (job, next, producer) => …');
}

/**
 * The chain every producer in this process runs its pushes through.
 *
 * @example
 * producerMiddleware.insertBefore(audit, stampTenant);
 * producerMiddleware.remove(propagateTrace); // no trace context on jobs a handler enqueues
 */
export const producerMiddleware = new ProducerChain();

/**
 * Registers producer middleware for every push of this process, once, at module scope (appended:
 * it runs inside those registered before it). Returns a function that removes it (for tests).
 *
 * @example
 * useProducer((job, next) => {
 *   job.tenant_id ??= tenant.getStore()?.id; // a custom key: Ruby reads job["tenant_id"]
 *   return next();
 * });
 * useProducer((job, next) => (job.class === 'NoisyJob' && paused ? false : next())); // stop a push: performAsync resolves null
 */
export function useProducer(middleware: ProducerMiddleware): () => void {
  producerMiddleware.add(middleware);
  return () => {
    producerMiddleware.remove(middleware);
  };
}
