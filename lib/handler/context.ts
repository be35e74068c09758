/**
 * What a job handler receives about its job.
 *
 * Tasks:
 * 1. Read one payload from the event: validate it (`readJob`), parse it losslessly (integers past
 *    2^53 become BigInt), and unwrap an ActiveJob envelope into its class and decoded arguments.
 * 2. Build the {@link JobContext}: ids, class, queue, retry count, times (and how long the job
 *    waited in its queue), its trace context, the raw and parsed payload, a logger stamped with
 *    jid/class/queue (and the trace id), the remaining time, and the job's producer (`job.client`):
 *    the jobs it enqueues go with the job's success.
 */
import type { Context } from 'aws-lambda';
import type { Producer } from '../producer/producer.js';
import { unwrapActiveJob, type ActiveJobData } from '../protocol/activejob.js';
import { hasUnsafeInteger, parseLossless } from '../protocol/json.js';
import { isMalformed, readJob, type JobPayload } from '../protocol/job.js';
import { queueWaitMs, readTimestamp } from '../protocol/time.js';
import { readTraceContext, type TraceContext } from '../protocol/trace.js';
import { createLogger, type LogLevel, type LogSink, type Logger } from '../log.js';

/** The ActiveJob side of a wrapped job (sidekiq-protocol.md §8.2). */
export interface ActiveJobInfo {
  /** `job_class`, e.g. `TrackUserJob`. */
  readonly jobClass: string;
  /** The serialized ActiveJob hash, `args[0]` (with `job_id`, `executions`, `locale`, …). */
  readonly data: ActiveJobData;
}

/**
 * Everything a handler knows about the job it runs.
 *
 * Numbers in `args` and `job` are exact: an integer beyond ±(2^53−1) arrives as a `BigInt`
 * (`12345678901234567890n`), never rounded; every other number is a `number`.
 */
export interface JobContext {
  /** Sidekiq's job id (24 hex characters). */
  readonly jid: string;
  /** The class this job runs as: the ActiveJob class for a wrapped job, else the payload's `class`. */
  readonly class: string;
  /** The payload's `class` as Sidekiq wrote it (the wrapper, for an ActiveJob). */
  readonly sidekiqClass: string;
  /** Set for an ActiveJob-wrapped job. */
  readonly activeJob: ActiveJobInfo | undefined;
  /** The queue the job was fetched from. */
  readonly queue: string;
  /** The arguments as Rails sent them (ActiveJob arguments decoded). */
  readonly args: readonly unknown[];
  /** Sidekiq's `retry_count`: undefined on the first run, 0 on the first retry, then 1, 2, … */
  readonly retryCount: number | undefined;
  /** When the job was first pushed (`created_at`). */
  readonly createdAt: Date | undefined;
  /** When it was last pushed to its queue (`enqueued_at`). */
  readonly enqueuedAt: Date | undefined;
  /**
   * Milliseconds the job waited in its queue: from `enqueuedAt` to the start of this run (never
   * negative: the clocks of Rails' host and Lambda's differ). Undefined without `enqueued_at`.
   */
  readonly queueWaitMs: number | undefined;
  /**
   * The W3C trace context Rails' OpenTelemetry Sidekiq instrumentation put in the payload
   * (`traceparent`, `tracestate`, `baggage`), parsed; undefined when the job carries none. Jobs
   * this job enqueues carry it on (producer middleware `propagateTrace`), and the poller's Invoke
   * carried it to Lambda's tracing (`_X_AMZN_TRACE_ID` holds its X-Ray form).
   *
   * @example
   * job.trace?.traceId // '4bf92f3577b34da6a3ce929d0e0e4736': the Rails request's trace
   */
  readonly trace: TraceContext | undefined;
  /** The job JSON exactly as Redis held it. */
  readonly payload: string;
  /** The payload parsed losslessly (unknown keys included). */
  readonly job: JobPayload;
  /** JSON-lines logger stamped with `jid`, `class` and `queue`. */
  readonly logger: Logger;
  /** The Lambda context of this invocation. */
  readonly lambda: Context;
  /** Milliseconds before Lambda stops this invocation (shared by every job of a batch). */
  remainingTimeMs(): number;
  /**
   * The producer for enqueueing back to Ruby (`push`, `pushBulk`, `performAsync`/`In`/`At`, and
   * `defineJob(…).set({ client: job.client })`). What it enqueues travels in the function's answer
   * and the poller writes it with the job's acknowledgement: it lands if and only if the job
   * succeeds, once. No Redis connection is needed (to write to Redis directly, declare the job
   * `needsRedis: true` and use `getClient()` from `sidekiq-lambda`).
   */
  readonly client: Producer;
}

/** A payload that cannot be run; the job fails with this error class. */
export class MalformedJobError extends Error {
  override name = 'SidekiqLambda::MalformedJob';
}

/** What {@link parsePayload} reads from a payload. */
export interface ParsedPayload {
  readonly job: JobPayload;
  readonly cls: string;
  readonly args: readonly unknown[];
  readonly activeJob: ActiveJobInfo | undefined;
}

/**
 * Reads a payload losslessly and unwraps ActiveJob. Throws {@link MalformedJobError} (or the
 * ActiveJob reader's `ActiveJobPayloadError`) with the reason.
 *
 * @example
 * parsePayload('{"class":"HardJob","args":[12345678901234567890],"jid":"…"}').args // [12345678901234567890n]
 */
export function parsePayload(raw: string): ParsedPayload {
  const read = readJob(raw);
  if (isMalformed(read)) throw new MalformedJobError(read.reason);
  const job = hasUnsafeInteger(raw) ? (parseLossless(raw) as JobPayload) : read.job;
  // Throws ActiveJobPayloadError naming the field when a wrapper's envelope is malformed.
  const aj = unwrapActiveJob(job);
  if (!aj) return { job, cls: job.class, args: job.args, activeJob: undefined };
  return {
    job,
    cls: aj.jobClass,
    args: aj.arguments,
    activeJob: { jobClass: aj.jobClass, data: aj.data },
  };
}

/**
 * Hooks `runJob` (lib/testing.ts) hangs on the Lambda context under this symbol: the context is
 * never serialised, so nothing crosses into a real invocation.
 */
export const TEST_HOOKS = Symbol.for('sidekiq-lambda.testing');

export interface TestHooks {
  readonly client?: Producer;
  readonly sink?: LogSink;
}

export function testHooks(lambda: Context): TestHooks {
  return ((lambda as unknown as Record<symbol, TestHooks | undefined>)[TEST_HOOKS]) ?? {};
}

function toDate(value: unknown): Date | undefined {
  const ms = readTimestamp(value);
  return ms === undefined ? undefined : new Date(ms);
}

/**
 * Builds the context of one job.
 *
 * @example
 * const job = buildContext(parsePayload(raw), raw, 'default', lambdaContext, new Collector());
 */
export function buildContext(
  parsed: ParsedPayload,
  raw: string,
  queue: string,
  lambda: Context,
  client: Producer,
  level: LogLevel = 'info',
): JobContext {
  const { job } = parsed;
  const hooks = testHooks(lambda);
  const jid = typeof job.jid === 'string' ? job.jid : '';
  const trace = readTraceContext(job);
  const fields = trace ? { jid, class: parsed.cls, queue, traceId: trace.traceId } : { jid, class: parsed.cls, queue };
  const logger = createLogger({ fields, sink: hooks.sink, level });
  return {
    jid,
    class: parsed.cls,
    sidekiqClass: job.class,
    activeJob: parsed.activeJob,
    queue,
    args: parsed.args,
    retryCount: typeof job.retry_count === 'number' ? job.retry_count : undefined,
    createdAt: toDate(job.created_at),
    enqueuedAt: toDate(job.enqueued_at),
    queueWaitMs: queueWaitMs(job, Date.now()),
    trace,
    payload: raw,
    job,
    logger,
    lambda,
    remainingTimeMs: () => lambda.getRemainingTimeInMillis(),
    client,
  };
}
