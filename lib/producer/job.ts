/**
 * Typed handles on job classes (`defineJob`), and the producer a handle uses when it is given none.
 *
 * Tasks:
 * 1. `defineJob`: a typed handle on a Ruby class (plain Sidekiq or ActiveJob) with Sidekiq's
 *    `perform_async` / `perform_in` / `perform_at` / `set`.
 * 2. Inside a job handler, a handle with no client enqueues through that job's own producer
 *    (`job.client`, set by `jobHandler` for the duration of the job), so its jobs go with the job's
 *    success like any other; elsewhere it uses the fallback its entry point gives (`getClient()`
 *    from `sidekiq-lambda`), or says how to give one.
 *
 * Imports no Redis client: `sidekiq-lambda/handler` re-exports it without one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { activeJobWrapperClass, wrapActiveJob } from '../protocol/activejob.js';
import { validateClass } from '../protocol/validate.js';
import type { JobOptions, Producer, PushItem } from './producer.js';

const ambient = new AsyncLocalStorage<Producer>();

/**
 * Runs `fn` with `producer` as the one job handles use when given none (what `jobHandler` does
 * around each job).
 *
 * @example await withProducer(collector, () => SolvedPuzzle.performAsync(id, solution));
 */
export function withProducer<T>(producer: Producer, fn: () => T): T {
  return ambient.run(producer, fn);
}

/** The producer of the job running now, if any. */
export function currentProducer(): Producer | undefined {
  return ambient.getStore();
}

/** Options for {@link defineJob}. */
export interface DefineJobOptions extends JobOptions {
  /** The class is a Rails ActiveJob: enqueue it in the ActiveJob wrapper envelope. @defaultValue false */
  activeJob?: boolean;
  /** The producer to use. @defaultValue the running job's (`job.client`), else `getClient()` */
  client?: Producer;
}

/** A typed handle on one Ruby job class. */
export interface JobHandle<A extends unknown[]> {
  readonly className: string;
  performAsync(...args: A): Promise<string | null>;
  performIn(seconds: number, ...args: A): Promise<string | null>;
  performAt(time: number | Date, ...args: A): Promise<string | null>;
  /** A handle with other options (`queue`, `retry`, `client`, …), as Sidekiq's `set`. */
  set(options: DefineJobOptions): JobHandle<A>;
}

const NO_PRODUCER =
  'no producer: inside a job handler, jobs go through job.client; elsewhere pass { client: new Client() } ' +
  "to defineJob or .set(), or import defineJob from 'sidekiq-lambda' (which falls back to getClient() on REDIS_URL)";

/**
 * `defineJob` with a fallback producer for use outside a job handler (`undefined`: none).
 *
 * @example export const defineJob = defineJobWith(getClient);
 */
export function defineJobWith(fallback?: () => Producer) {
  return function defineJob<A extends unknown[]>(className: string, options: DefineJobOptions = {}): JobHandle<A> {
    validateClass(className);
    const { activeJob = false, client, ...jobOptions } = options;
    const producer = (): Producer => {
      const p = client ?? currentProducer() ?? fallback?.();
      if (!p) throw new Error(NO_PRODUCER);
      return p;
    };
    const item = (p: Producer, args: unknown[], at?: number): PushItem => {
      if (!activeJob) return { ...jobOptions, class: className, args };
      const queue = jobOptions.queue ?? 'default';
      const data = wrapActiveJob(className, args, { queue, enqueuedAt: p.now(), scheduledAt: at === undefined ? undefined : at * 1000 });
      return { ...jobOptions, queue, class: activeJobWrapperClass(p.version), wrapped: className, args: [data] };
    };
    const push = (args: unknown[], when?: number | Date): Promise<string | null> => {
      const p = producer();
      if (when === undefined) return p.push(item(p, args));
      const scheduled = p.scheduled({}, when);
      return p.push({ ...item(p, args, scheduled.at), at: scheduled.at });
    };
    return {
      className,
      performAsync: (...args) => push(args),
      performIn: (seconds, ...args) => push(args, seconds),
      performAt: (time, ...args) => push(args, time),
      set: (more) => defineJob<A>(className, { ...options, ...more }),
    };
  };
}
