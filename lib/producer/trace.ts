/**
 * Trace context from the running job to the jobs it enqueues, so one trace runs Rails → Lambda →
 * Rails: a producer middleware, as OpenTelemetry's Sidekiq instrumentation is a client middleware.
 *
 * Tasks:
 * 1. Hold the trace context of the job running now (`withTrace`, set by `jobHandler` per job, in
 *    AsyncLocalStorage so jobs of a batch that run at once keep their own).
 * 2. `propagateTrace`: a producer middleware that writes that context into each job pushed while
 *    the job runs — `traceparent`, `tracestate` and `baggage`, the keys Ruby's instrumentation
 *    reads back with `OpenTelemetry.propagation.extract(job)` — unless the push carries its own.
 * 3. Install it once per process at the front of the chain (`jobHandler` does), where
 *    `producerMiddleware.remove(propagateTrace)` can take it out again.
 *
 * The context is forwarded unchanged: its span id stays the one of the span that enqueued the
 * running job (Rails' `publish` span), so Ruby's span for the job enqueued back hangs off a span
 * that was recorded. A handler with its own OpenTelemetry SDK sets `traceparent` on the push (or
 * in a middleware of its own, which runs inside this one) to put its span in between.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TraceContext } from '../protocol/trace.js';
import { producerMiddleware, type ProducerMiddleware } from './middleware.js';

const current = new AsyncLocalStorage<TraceContext | undefined>();

/**
 * Runs `fn` with `trace` as the running job's trace context (what `jobHandler` does around each job).
 *
 * @example await withTrace(job.trace, () => Reply.performAsync(id));
 */
export function withTrace<T>(trace: TraceContext | undefined, fn: () => T): T {
  return current.run(trace, fn);
}

/**
 * The trace context of the job running now, if it has one.
 *
 * @example logger.info('calling the payment API', { traceId: currentTrace()?.traceId });
 */
export function currentTrace(): TraceContext | undefined {
  return current.getStore();
}

/**
 * Writes the running job's trace context into a job being pushed, unless the push sets
 * `traceparent` itself.
 *
 * @example
 * producerMiddleware.remove(propagateTrace); // enqueued jobs start traces of their own instead
 */
export const propagateTrace: ProducerMiddleware = (job, next) => {
  const trace = current.getStore();
  if (trace && job.traceparent === undefined) {
    job.traceparent = trace.traceparent;
    if (trace.tracestate !== undefined) job.tracestate ??= trace.tracestate;
    if (trace.baggage !== undefined) job.baggage ??= trace.baggage;
  }
  return next();
};

let installed = false;

/**
 * Puts {@link propagateTrace} first in the producer chain, once per process: later calls do
 * nothing, so removing it afterwards sticks.
 *
 * @example installTracePropagation(); // jobHandler() does this
 */
export function installTracePropagation(): void {
  if (installed) return;
  installed = true;
  producerMiddleware.prepend(propagateTrace);
}
