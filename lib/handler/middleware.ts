/**
 * Handler middleware: the equivalent of Sidekiq server middleware, for error tracking, tracing and
 * tenant context.
 *
 * Tasks:
 * 1. Keep the process-wide chain that {@link use} registers once for every job.
 * 2. Accept two forms: hooks (`{ before, after, onError }`) for the common case, and Sidekiq's
 *    `(job, next) => …` around-form for wrapping the job (AsyncLocalStorage, a tracing span).
 * 3. Compose a chain in Sidekiq's order: the first registered is the outermost, so `before` hooks
 *    run in registration order and `after` / `onError` hooks in reverse.
 */
import type { JobContext } from './context.js';

/** Sidekiq's form: call `next()` to run the rest of the chain and the job; throw to fail it. */
export type AroundMiddleware = (job: JobContext, next: () => Promise<void>) => Promise<void> | void;

/** Hooks around each job. A hook that throws fails the job with its error. */
export interface MiddlewareHooks {
  /** Before the job (and the inner middleware) runs. */
  before?(job: JobContext): Promise<void> | void;
  /** After it succeeded. */
  after?(job: JobContext): Promise<void> | void;
  /** After it threw; the error still fails the job (throw a directive here to change the outcome). */
  onError?(error: unknown, job: JobContext): Promise<void> | void;
}

export type Middleware = AroundMiddleware | MiddlewareHooks;

const global: AroundMiddleware[] = [];

function toAround(m: Middleware): AroundMiddleware {
  if (typeof m === 'function') return m;
  if (m === null || typeof m !== 'object') throw new TypeError('middleware must be a function (job, next) or an object with before/after/onError');
  return async (job, next) => {
    await m.before?.(job);
    try {
      await next();
    } catch (e) {
      await m.onError?.(e, job);
      throw e;
    }
    await m.after?.(job);
  };
}

/**
 * Registers middleware for every job this process runs, once, at module scope. Returns a function
 * that removes it (for tests).
 *
 * @example
 * use({ onError: (err, job) => Sentry.captureException(err, { tags: { jid: job.jid, class: job.class } }) });
 * use(async (job, next) => tenant.run(job.args[0], next));
 */
export function use(middleware: Middleware): () => void {
  const around = toAround(middleware);
  global.push(around);
  return () => {
    const i = global.indexOf(around);
    if (i >= 0) global.splice(i, 1);
  };
}

/** Runs `job` through the global chain, then `local` (a handler's own middleware), then `run`. */
export function runChain(job: JobContext, local: readonly Middleware[], run: () => Promise<void>): Promise<void> {
  const chain = [...global, ...local.map(toAround)];
  const step = async (i: number): Promise<void> => {
    const m = chain[i];
    if (!m) return run();
    let called = false;
    await m(job, () => {
      if (called) throw new Error('middleware called next() twice');
      called = true;
      return step(i + 1);
    });
  };
  return step(0);
}
