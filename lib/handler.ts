/**
 * What a job handler author imports (`sidekiq-lambda/handler`).
 *
 * Tasks:
 * 1. `jobHandler(fn, options)` turns a function of `(args, job)` into a real Lambda handler that
 *    reads the poller's event (lib/protocol/event.ts) and answers one result per job, in order.
 * 2. Run each job of a batch through the middleware chain and `fn`, one after another unless
 *    `concurrency` says otherwise; one job's failure never touches another's outcome. Each runs
 *    with its producer and its trace context current, so what it enqueues carries its trace
 *    (`propagateTrace`, installed in the producer middleware chain by the first `jobHandler`).
 * 3. Map the outcome to Sidekiq: returning is `ok`; throwing is `failed` with `error_class`,
 *    `error_message` and the backtrace; a directive (`discard`, `kill`, `retryIn`) or the
 *    `retryIn` option — Sidekiq's `sidekiq_retry_in` — sets the action.
 * 4. Log one JSON line per job outcome (`done` / `fail`) stamped with jid, class and queue.
 *
 * An invalid event is the only thing that makes the Lambda function itself fail (the poller then
 * fails every job of the invocation with that error).
 */
import type { Context } from 'aws-lambda';
import type { Producer } from './producer/producer.js';
import { Collector } from './producer/collector.js';
import { defineJobWith, withProducer } from './producer/job.js';
import { installTracePropagation, withTrace } from './producer/trace.js';
import { EVENT_VERSION, MAX_RESPONSE_BYTES, checkEvent, type EventJob, type InvocationEvent, type InvocationResponse, type JobResult } from './protocol/event.js';
import { buildContext, parsePayload, testHooks, type JobContext } from './handler/context.js';
import { JobDirective, RetryJobIn, checkDelay, toJobError } from './handler/errors.js';
import { runChain, type Middleware } from './handler/middleware.js';
import { ENV, logLevelFromEnv } from './config.js';
import type { LogLevel } from './log.js';

export type { JobContext, ActiveJobInfo } from './handler/context.js';
export { MalformedJobError } from './handler/context.js';
export { DiscardJob, JobDirective, KillJob, RetryJobIn, discard, kill, retryIn, toJobError, MAX_ERROR_MESSAGE } from './handler/errors.js';
export { use, type Middleware, type MiddlewareHooks, type AroundMiddleware } from './handler/middleware.js';
export { createLogger, type Logger, type LogLevel, type LogSink, type LoggerOptions } from './log.js';
export type { InvocationEvent, InvocationResponse, JobResult, JobError, FailureAction, Enqueue } from './protocol/event.js';
export type { Producer, JobOptions, PushItem, BulkItem } from './producer/producer.js';
export { producerMiddleware, useProducer, ProducerChain, type ProducerMiddleware, type OutgoingJob } from './producer/middleware.js';
export { propagateTrace } from './producer/trace.js';
export type { TraceContext } from './protocol/trace.js';
export type { DefineJobOptions, JobHandle } from './producer/job.js';

/**
 * A typed handle on a job class (a Ruby one, or one of ours), for enqueueing from a handler: its
 * jobs go through the running job's producer (`job.client`), so they land with the job's success.
 * The same as `defineJob` from `sidekiq-lambda`, without a Redis client in the bundle.
 *
 * @example
 * const SolvedPuzzle = defineJob<[id: string, solution: string]>('SolvedPuzzleJob', { queue: 'solved' });
 * export const handler = jobHandler<[string, string]>(async ([id, puzzle]) => {
 *   await SolvedPuzzle.performAsync(id, solve(puzzle));
 * });
 */
export const defineJob = /* @__PURE__ */ defineJobWith();

/** What a `retryIn` option may answer, as `sidekiq_retry_in`: seconds, `discard`, `kill`, or the default. */
export type RetryDecision = number | 'discard' | 'kill' | undefined | void;

export interface JobHandlerOptions {
  /**
   * Sidekiq's `sidekiq_retry_in`: called when the job throws anything but a directive, with the
   * retry count this failure will have (0 for the first failure), the error and the job.
   * A number of seconds, `'discard'` or `'kill'` decides; `undefined` (or a throw) means Sidekiq's
   * default `count⁴ + 15` s.
   * @defaultValue none — Sidekiq's default backoff
   */
  retryIn?: (count: number, error: unknown, job: JobContext) => RetryDecision;
  /** Middleware for this handler only, run inside the global chain of {@link use}. @defaultValue [] */
  middleware?: readonly Middleware[];
  /** How many jobs of a batch run at once. @defaultValue 1 — one after another, in order */
  concurrency?: number;
  /** The producer `job.client` returns. @defaultValue the job's own: what it enqueues goes with the job's success */
  client?: () => Producer;
}

/** The function a handler author writes. Return to succeed; throw to fail. */
export type JobFunction<A extends unknown[]> = (args: A, job: JobContext) => Promise<void> | void;

/** A Lambda handler that speaks the poller's event contract. */
export type SidekiqLambdaHandler = (event: InvocationEvent, context: Context) => Promise<InvocationResponse>;

/** The event is not one this handler understands; the invocation fails as a whole. */
export class InvalidEventError extends Error {
  override name = 'SidekiqLambda::InvalidEvent';
}

/**
 * Wraps a job function as a Lambda handler. `args` are typed by `A` but not checked at runtime:
 * validate them when Ruby may send something else.
 *
 * Integers beyond ±(2^53−1) in the arguments arrive as `BigInt`, exactly as Rails sent them; all
 * other numbers are `number`. ActiveJob jobs arrive unwrapped, with their arguments decoded.
 *
 * @example
 * export const handler = jobHandler<[id: number, url: string]>(async ([id, url], job) => {
 *   job.logger.info('tracking', { id, url });
 *   if (!url.startsWith('http')) throw kill(new TypeError(`not a URL: ${url}`));
 *   await track(id, url);
 * });
 */
export function jobHandler<A extends unknown[] = unknown[]>(fn: JobFunction<A>, options: JobHandlerOptions = {}): SidekiqLambdaHandler {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`jobHandler: concurrency must be a positive integer, got ${concurrency}`);
  if (typeof fn !== 'function') throw new TypeError('jobHandler: pass the job function, (args, job) => …');
  // Read at import, so a bad LOG_LEVEL fails the function loudly instead of failing each job.
  const level = logLevelFromEnv(process.env, ENV.handlerLogLevel);
  installTracePropagation();
  return async (event, context) => {
    const why = checkEvent(event);
    if (why) {
      throw new InvalidEventError(`sidekiq-lambda: invalid event: ${why}. A jobHandler function expects {"sidekiqLambda":${EVENT_VERSION},"jobs":[{"payload":"<job JSON>","queue":"…"}]}, as the poller sends.`);
    }
    const lambda = context ?? noContext();
    const results = await mapBounded(event.jobs, concurrency, (j) => runOne(fn, options, j, lambda, level, event.sidekiqVersion));
    return { sidekiqLambda: EVENT_VERSION, results: withinResponseLimit(results) };
  };
}

async function runOne<A extends unknown[]>(fn: JobFunction<A>, options: JobHandlerOptions, ej: EventJob, lambda: Context, level: LogLevel, sidekiqVersion?: 6 | 7 | 8): Promise<JobResult> {
  let job: JobContext;
  // What the job enqueues travels in the answer, written by the poller with its acknowledgement.
  const collector = new Collector({ sidekiqVersion });
  const client = options.client?.() ?? testHooks(lambda).client ?? collector;
  try {
    const parsed = parsePayload(ej.payload);
    job = buildContext(parsed, ej.payload, ej.queue || parsed.job.queue || 'default', lambda, client, level);
  } catch (e) {
    // A payload that can never run: straight to the dead set, as Sidekiq does with unparseable jobs.
    return { jid: guessJid(ej.payload), status: 'failed', error: toJobError(e), action: 'kill' };
  }
  const started = performance.now();
  try {
    await withTrace(job.trace, () =>
      withProducer(client, () =>
        runChain(job, options.middleware ?? [], async () => {
          await fn(job.args as A, job);
        }),
      ),
    );
    collector.seal(job.jid);
    job.logger.info('done', { durationMs: Math.round(performance.now() - started), ...(collector.enqueued.length > 0 && { enqueued: collector.enqueued.length }) });
    return collector.enqueued.length > 0 ? { jid: job.jid, status: 'ok', enqueued: collector.enqueued } : { jid: job.jid, status: 'ok' };
  } catch (e) {
    collector.seal(job.jid);
    const result = failure(e, job, options.retryIn);
    job.logger.warn('fail', {
      durationMs: Math.round(performance.now() - started),
      error_class: result.error.class,
      error_message: result.error.message,
      ...(result.action ? { action: result.action } : {}),
      ...(result.retryInSeconds !== undefined ? { retryInSeconds: result.retryInSeconds } : {}),
    });
    return result;
  }
}

type Failed = Extract<JobResult, { status: 'failed' }>;

/** Room kept for the answer's envelope and the results without enqueues. */
const RESPONSE_MARGIN_BYTES = 64 * 1024;

/**
 * Keeps the answer under Lambda's 6 MB response limit: a job whose enqueues would push it over
 * fails instead (the retry path), with its enqueues dropped and a message saying what to do.
 */
export function withinResponseLimit(results: readonly JobResult[], limit = MAX_RESPONSE_BYTES - RESPONSE_MARGIN_BYTES): JobResult[] {
  let used = 0;
  return results.map((r) => {
    if (r.status !== 'ok' || !r.enqueued) return r;
    const bytes = Buffer.byteLength(JSON.stringify(r.enqueued));
    if (used + bytes <= limit) {
      used += bytes;
      return r;
    }
    const message =
      `the job enqueued ${r.enqueued.length} job(s), ${bytes} bytes, which do not fit in Lambda's ${MAX_RESPONSE_BYTES}-byte response ` +
      `with the rest of this invocation's answer (they travel in it to be written with the job's success); enqueue fewer or smaller jobs per job ` +
      `(pass a reference such as an id instead of the data), lower the class's batchSize, or declare it needsRedis: true and push with getClient() directly`;
    return { jid: r.jid, status: 'failed', error: { class: 'SidekiqLambda::ResponseTooLarge', message, backtrace: [] } };
  });
}

/** The failed result for a thrown value: a directive decides, else the `retryIn` option, else the default. */
export function failure(thrown: unknown, job: JobContext, decide?: JobHandlerOptions['retryIn']): Failed {
  const error = toJobError(thrown);
  if (thrown instanceof RetryJobIn) return { jid: job.jid, status: 'failed', error, action: 'retry', retryInSeconds: thrown.seconds };
  if (thrown instanceof JobDirective) return { jid: job.jid, status: 'failed', error, action: thrown.action };
  if (!decide) return { jid: job.jid, status: 'failed', error };
  const count = job.retryCount === undefined ? 0 : job.retryCount + 1;
  try {
    const d = decide(count, thrown, job);
    if (d === 'discard' || d === 'kill') return { jid: job.jid, status: 'failed', error, action: d };
    if (d !== undefined) return { jid: job.jid, status: 'failed', error, action: 'retry', retryInSeconds: checkDelay(d) };
  } catch (e) {
    // Sidekiq: an exception in sidekiq_retry_in means the default delay.
    job.logger.error('retryIn option threw; using the default delay', { error: toJobError(e).message });
  }
  return { jid: job.jid, status: 'failed', error };
}

function guessJid(raw: string): string {
  try {
    const v = JSON.parse(raw) as { jid?: unknown };
    return typeof v?.jid === 'string' ? v.jid : '';
  } catch {
    return '';
  }
}

/** Maps in order with at most `limit` calls in flight. */
async function mapBounded<T, R>(items: readonly T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** For a handler called by hand without a Lambda context. */
function noContext(): Context {
  const fail = (): never => {
    throw new Error('not available outside Lambda');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local',
    memoryLimitInMB: '0',
    awsRequestId: 'local',
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Number.MAX_SAFE_INTEGER,
    done: fail,
    fail,
    succeed: fail,
  };
}
