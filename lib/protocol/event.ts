/**
 * The contract between the poller and a job function: the Invoke event and the response.
 * One module owns both sides; `version` changes when either shape changes incompatibly.
 *
 * Event (poller → function), version 1:
 *
 *   { "sidekiqLambda": 1, "jobs": [ { "payload": "<the job JSON exactly as Redis held it>", "queue": "track" } ] }
 *
 *   `payload` is a string, not an object, so big integers and float spellings reach the handler
 *   unchanged. `queue` is the queue the job was fetched from. A batch (`batchSize` > 1) carries
 *   several jobs of one class.
 *
 * Response (function → poller), version 1, one result per job in the same order:
 *
 *   { "sidekiqLambda": 1, "results": [ { "jid": "…", "status": "ok" },
 *     { "jid": "…", "status": "failed", "error": { "class": "TypeError", "message": "…", "backtrace": ["…"] },
 *       "action": "retry" | "discard" | "kill", "retryInSeconds": 30 } ] }
 *
 * A function that throws outside `jobHandler` (a crash, an import error, a timeout) answers with
 * Lambda's `X-Amz-Function-Error` and `{errorType, errorMessage, trace}`: every job of that
 * invocation failed with that error.
 */

export const EVENT_VERSION = 1;

export interface EventJob {
  /** The job JSON exactly as Redis held it. */
  readonly payload: string;
  /** The queue the job was fetched from (Sidekiq retries to it unless `retry_queue` is set). */
  readonly queue: string;
}

export interface InvocationEvent {
  readonly sidekiqLambda: typeof EVENT_VERSION;
  readonly jobs: readonly EventJob[];
}

/** A failure as Sidekiq records it: `error_class`, `error_message`, `error_backtrace` lines. */
export interface JobError {
  readonly class: string;
  readonly message: string;
  readonly backtrace: readonly string[];
}

/**
 * What to do with a failed job — Sidekiq's `sidekiq_retry_in` answers: the normal retry path,
 * `discard` (drop it, no morgue), `kill` (dead set now), or a retry after `retryInSeconds`.
 */
export type FailureAction = 'retry' | 'discard' | 'kill';

export type JobResult =
  | { readonly jid: string; readonly status: 'ok' }
  | {
      readonly jid: string;
      readonly status: 'failed';
      readonly error: JobError;
      readonly action?: FailureAction;
      readonly retryInSeconds?: number;
    };

export interface InvocationResponse {
  readonly sidekiqLambda: typeof EVENT_VERSION;
  readonly results: readonly JobResult[];
}

/** Lambda's own error body, sent with `X-Amz-Function-Error`. */
export interface LambdaErrorBody {
  readonly errorType?: string;
  readonly errorMessage?: string;
  readonly trace?: readonly string[];
}

export function makeEvent(jobs: readonly EventJob[]): InvocationEvent {
  return { sidekiqLambda: EVENT_VERSION, jobs };
}

/** Type guard for an event this version understands; names what is wrong otherwise. */
export function checkEvent(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'event is not an object';
  const e = value as Partial<InvocationEvent>;
  if (e.sidekiqLambda !== EVENT_VERSION) {
    return `event.sidekiqLambda must be ${EVENT_VERSION} (this handler speaks version ${EVENT_VERSION}; got ${JSON.stringify(e.sidekiqLambda)})`;
  }
  if (!Array.isArray(e.jobs)) return 'event.jobs must be an array';
  for (const [i, j] of e.jobs.entries()) {
    if (typeof j?.payload !== 'string') return `event.jobs[${i}].payload must be the job JSON as a string`;
    if (typeof j.queue !== 'string') return `event.jobs[${i}].queue must be a string`;
  }
  return undefined;
}

/**
 * Reads a function's answer into one result per job. A malformed answer fails every job with an
 * error that says so, rather than being taken for success.
 */
export function readResponse(body: unknown, jids: readonly string[]): JobResult[] {
  const bad = (why: string): JobResult[] =>
    jids.map((jid) => ({
      jid,
      status: 'failed' as const,
      error: { class: 'SidekiqLambda::BadResponse', message: `the function's response ${why}; was it written with jobHandler()?`, backtrace: [] },
    }));
  if (body === null || typeof body !== 'object') return bad('is not an object');
  const r = body as Partial<InvocationResponse>;
  if (r.sidekiqLambda !== EVENT_VERSION || !Array.isArray(r.results)) return bad(`lacks sidekiqLambda: ${EVENT_VERSION} and results`);
  if (r.results.length !== jids.length) return bad(`has ${r.results.length} results for ${jids.length} jobs`);
  return r.results.map((res, i) => {
    if (res?.status === 'ok') return { jid: jids[i]!, status: 'ok' as const };
    const failed = res?.status === 'failed' ? readFailure(res) : undefined;
    return failed ? { ...failed, jid: jids[i]! } : bad(`result ${i} is malformed`)[i]!;
  });
}

const ACTIONS: ReadonlySet<unknown> = new Set<FailureAction>(['retry', 'discard', 'kill']);

/** A failed result with every field checked: an unknown action or a bad delay must not reach the poller. */
function readFailure(res: Extract<JobResult, { status: 'failed' }>): Omit<Extract<JobResult, { status: 'failed' }>, 'jid'> | undefined {
  const e: Partial<JobError> | undefined = res.error;
  if (!e || typeof e.class !== 'string' || typeof e.message !== 'string') return undefined;
  if (res.action !== undefined && !ACTIONS.has(res.action)) return undefined;
  const delay = res.retryInSeconds;
  if (delay !== undefined && (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0)) return undefined;
  const error: JobError = { class: e.class, message: e.message, backtrace: Array.isArray(e.backtrace) ? e.backtrace.map(String) : [] };
  return {
    status: 'failed',
    error,
    ...(res.action !== undefined && { action: res.action }),
    ...(delay !== undefined && { retryInSeconds: delay }),
  };
}

/** Every job of an invocation failed with Lambda's own error (a throw, crash or timeout). */
export function functionErrorResults(body: LambdaErrorBody, jids: readonly string[], fallbackType = 'Lambda::FunctionError'): JobResult[] {
  const error: JobError = {
    class: typeof body.errorType === 'string' && body.errorType !== '' ? body.errorType : fallbackType,
    message: body.errorMessage === undefined || body.errorMessage === null ? 'the function failed without a message' : String(body.errorMessage),
    backtrace: Array.isArray(body.trace) ? body.trace.map(String) : [],
  };
  return jids.map((jid) => ({ jid, status: 'failed' as const, error }));
}
