/**
 * Run a job handler in-process the way Lambda runs it — this project's `Sidekiq::Testing`.
 *
 * Tasks:
 * 1. Build a Sidekiq payload from `{ class, args, … }` with the producer's field order and
 *    timestamp format (or take a payload string as it is), plain or ActiveJob-wrapped.
 * 2. Send it through the JSON round trip Lambda imposes — the event is stringified and parsed on
 *    the way in, the response on the way out — with a fake Lambda context and deadline.
 * 3. Return the job's outcome (`ok`, or `failed` with the error fields and any directive) and the
 *    log lines the handler wrote.
 * 4. `fakeClient()`: a producer that enqueues into memory, for the jobs a handler enqueues back
 *    (testing/fake-client.ts).
 */
import type { Context } from 'aws-lambda';
import { stringify as losslessStringify } from 'lossless-json';
import type { Producer } from './producer/producer.js';
import { enqueuedJob, type EnqueuedJob } from './testing/fake-client.js';
import { activeJobWrapperClass, wrapActiveJob } from './protocol/activejob.js';
import { EVENT_VERSION, makeEvent, type InvocationEvent, type InvocationResponse, type JobResult } from './protocol/event.js';
import { RawJson, writeObject } from './protocol/json.js';
import { writeTimestamp, type EpochMs } from './protocol/time.js';
import { generateJid, validateArgs, validateClass, validateQueue } from './protocol/validate.js';
import { TEST_HOOKS, type TestHooks } from './handler/context.js';
import type { SidekiqLambdaHandler } from './handler.js';

export { FakeClient, fakeClient, enqueuedJob, type EnqueuedJob } from './testing/fake-client.js';

/** A job to build a payload for. Unknown keys become top-level payload fields (e.g. `tags`, `bid`). */
export interface JobSpec {
  class: string;
  /** May hold BigInt, written as exact integers. @defaultValue [] */
  args?: unknown[];
  /** @defaultValue 'default' */
  queue?: string;
  /** @defaultValue a fresh jid */
  jid?: string;
  /** @defaultValue true */
  retry?: boolean | number;
  /** Set to run the job as a retry (0 = the first retry). @defaultValue absent — a first run */
  retry_count?: number;
  /** Wrap the job as Rails' ActiveJob adapter does (`class` becomes `wrapped`). @defaultValue false */
  activeJob?: boolean;
  [field: string]: unknown;
}

export interface RunJobOptions {
  /** The producer `job.client` returns. @defaultValue the job's own: what it enqueues comes back in the outcome (`enqueuedJobs`) */
  client?: Producer;
  /** The queue the fake poller fetched from. @defaultValue the payload's `queue` */
  queue?: string;
  /** The fake deadline: `job.remainingTimeMs()` starts here. @defaultValue 30000 */
  timeoutMs?: number;
  /** @defaultValue 'sidekiq-lambda-test' */
  functionName?: string;
  /** Also print the handler's log lines to stdout. @defaultValue false — captured only */
  printLogs?: boolean;
  /** The clock for `created_at` / `enqueued_at`. @defaultValue Date.now() */
  now?: EpochMs;
}

/** One job's result as the poller would read it, plus what the test may want to look at. */
export type RunOutcome = JobResult & {
  /** The payload string the handler received. */
  readonly payload: string;
  /** The handler's log lines, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The jobs the handler enqueued, as the poller would write them with its success (none on failure, or when `client` took them). */
  readonly enqueuedJobs: EnqueuedJob[];
};

function stripBigInts(value: unknown): unknown {
  if (typeof value === 'bigint') return 0;
  if (Array.isArray(value)) return value.map(stripBigInts);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripBigInts(v)]));
  }
  return value;
}

/**
 * A Sidekiq 7-style payload for `spec` (float-second timestamps), JSON-exact: BigInt arguments
 * become integer literals. For exact float spellings (`1.0`), pass your own payload string.
 *
 * @example
 * buildPayload({ class: 'SudokuSolver', queue: 'unsolved_puzzles', args: ['p1', '53..7....'] })
 */
export function buildPayload(spec: JobSpec, now: EpochMs = Date.now()): string {
  const { class: cls, args = [], queue = 'default', jid, retry = true, activeJob = false, retry_count, ...custom } = spec;
  validateClass(cls);
  validateQueue(queue);
  validateArgs(stripBigInts(args), 'args');
  const argsJson = new RawJson(losslessStringify(args) ?? '[]');
  const envelope = activeJob
    ? { class: activeJobWrapperClass(7), wrapped: cls, args: [wrapActiveJob(cls, args, { queue, enqueuedAt: now })] as unknown }
    : { class: cls, wrapped: undefined, args: argsJson as unknown };
  return writeObject([
    ['retry', retry],
    ['queue', queue],
    ...Object.entries(custom),
    ['class', envelope.class],
    ['wrapped', envelope.wrapped],
    ['args', envelope.args],
    ['jid', jid ?? generateJid()],
    ['created_at', writeTimestamp(now)],
    ['enqueued_at', writeTimestamp(now)],
    ['retry_count', retry_count],
  ]);
}

/**
 * A Lambda context whose deadline is `timeoutMs` from now.
 *
 * @example
 * await handler(event, fakeLambdaContext({ timeoutMs: 5000 }));
 */
export function fakeLambdaContext(opts: { timeoutMs?: number; functionName?: string } = {}): Context {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const functionName = opts.functionName ?? 'sidekiq-lambda-test';
  const unsupported = (): never => {
    throw new Error('done/fail/succeed are not supported: return or throw from the handler');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `test-${generateJid()}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Runs several jobs as one batch invocation; one result per job, in order.
 *
 * @example
 * const { results } = await runJobs(handler, [{ class: 'TrackUserJob', args: [1] }, { class: 'TrackUserJob', args: [2] }]);
 */
export async function runJobs(
  handler: SidekiqLambdaHandler,
  jobs: readonly (string | JobSpec)[],
  opts: RunJobOptions = {},
): Promise<{ results: JobResult[]; payloads: string[]; logs: Record<string, unknown>[] }> {
  const now = opts.now ?? Date.now();
  const payloads = jobs.map((j) => (typeof j === 'string' ? j : buildPayload(j, now)));
  const event = makeEvent(payloads.map((payload) => ({ payload, queue: opts.queue ?? queueOf(payload) })));
  const logs: Record<string, unknown>[] = [];
  const hooks: TestHooks = {
    client: opts.client,
    sink: (line: string) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      if (opts.printLogs) process.stdout.write(line + '\n');
    },
  };
  const context = Object.assign(fakeLambdaContext(opts), { [TEST_HOOKS]: hooks });
  // The JSON round trip Lambda imposes on both the event and the response.
  const wireEvent = JSON.parse(JSON.stringify(event)) as InvocationEvent;
  const response = JSON.parse(JSON.stringify(await handler(wireEvent, context))) as InvocationResponse;
  if (response?.sidekiqLambda !== EVENT_VERSION || !Array.isArray(response.results) || response.results.length !== jobs.length) {
    throw new Error(`the handler's response is not a version-${EVENT_VERSION} response with ${jobs.length} results: ${JSON.stringify(response)}`);
  }
  return { results: [...response.results], payloads, logs };
}

/**
 * Runs one job through `handler` as Lambda would, and returns its outcome.
 * A handler that throws (an invalid event) rejects, as the Lambda invocation would fail.
 *
 * @example
 * const out = await runJob(handler, { class: 'FailJob', queue: 'diagnostics', args: ['boom'] });
 * expect(out).toMatchObject({ status: 'failed', error: { class: 'Error', message: 'boom' } });
 */
export async function runJob(handler: SidekiqLambdaHandler, job: string | JobSpec, opts: RunJobOptions = {}): Promise<RunOutcome> {
  const { results, payloads, logs } = await runJobs(handler, [job], opts);
  const result = results[0]!;
  return { ...result, payload: payloads[0]!, logs, enqueuedJobs: result.status === 'ok' ? (result.enqueued ?? []).map(enqueuedJob) : [] };
}

function queueOf(payload: string): string {
  try {
    const q = (JSON.parse(payload) as { queue?: unknown }).queue;
    return typeof q === 'string' && q !== '' ? q : 'default';
  } catch {
    return 'default';
  }
}
