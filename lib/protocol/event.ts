/**
 * The contract between the poller and a job function: the Invoke event and the response.
 * One module owns both sides; `version` changes when either shape changes incompatibly.
 *
 * Event (poller → function), version 2:
 *
 *   { "sidekiqLambda": 2, "sidekiqVersion": 7, "jobs": [ { "payload": "<the job JSON exactly as Redis held it>", "queue": "track" } ] }
 *
 *   `payload` is a string, not an object, so big integers and float spellings reach the handler
 *   unchanged. `queue` is the queue the job was fetched from. A batch (`batchSize` > 1) carries
 *   several jobs of one class. `sidekiqVersion` is what the poller writes for, so the jobs a
 *   handler enqueues have the same timestamps.
 *
 * Response (function → poller), version 2, one result per job in the same order:
 *
 *   { "sidekiqLambda": 2, "results": [ { "jid": "…", "status": "ok",
 *       "enqueued": [ { "queue": "solved", "payload": "<job JSON>" }, { "at": 1795334860000, "payload": "…" } ] },
 *     { "jid": "…", "status": "failed", "error": { "class": "TypeError", "message": "…", "backtrace": ["…"] },
 *       "action": "retry" | "discard" | "kill", "retryInSeconds": 30 } ] }
 *
 *   `enqueued` holds the jobs the handler enqueued (`job.client`), rendered byte for byte as the
 *   producer writes them; the poller writes them in the same atomic step as the job's
 *   acknowledgement — they land if and only if the job succeeded, once. A failed job's are dropped.
 *
 * A function that throws outside `jobHandler` (a crash, an import error, a timeout) answers with
 * Lambda's `X-Amz-Function-Error` and `{errorType, errorMessage, trace}`: every job of that
 * invocation failed with that error.
 */

export const EVENT_VERSION = 2;

/** Lambda's limit on a synchronous invocation's response, in bytes. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/** A job a handler enqueued: for its queue now, or for `schedule` at `at` (epoch ms). */
export type Enqueue = { readonly queue: string; readonly payload: string; readonly at?: undefined } | { readonly at: number; readonly payload: string; readonly queue?: undefined };

export interface EventJob {
  /** The job JSON exactly as Redis held it. */
  readonly payload: string;
  /** The queue the job was fetched from (Sidekiq retries to it unless `retry_queue` is set). */
  readonly queue: string;
}

export interface InvocationEvent {
  readonly sidekiqLambda: typeof EVENT_VERSION;
  /** The Sidekiq the poller writes for (timestamps of enqueued jobs). @defaultValue 7 */
  readonly sidekiqVersion?: 6 | 7 | 8;
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
  | { readonly jid: string; readonly status: 'ok'; readonly enqueued?: readonly Enqueue[] }
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

export function makeEvent(jobs: readonly EventJob[], sidekiqVersion?: 6 | 7 | 8): InvocationEvent {
  return sidekiqVersion === undefined ? { sidekiqLambda: EVENT_VERSION, jobs } : { sidekiqLambda: EVENT_VERSION, sidekiqVersion, jobs };
}

/** Type guard for an event this version understands; names what is wrong otherwise. */
export function checkEvent(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'event is not an object';
  const e = value as Partial<InvocationEvent>;
  if (e.sidekiqLambda !== EVENT_VERSION) {
    return `event.sidekiqLambda must be ${EVENT_VERSION} (this handler speaks version ${EVENT_VERSION}; got ${JSON.stringify(e.sidekiqLambda)}): deploy the poller and the job functions from the same sidekiq-lambda release`;
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
    if (res?.status === 'ok') {
      if (res.enqueued === undefined) return { jid: jids[i]!, status: 'ok' as const };
      const read = readEnqueued(res.enqueued);
      return typeof read === 'string' ? badEnqueue(jids[i]!, i, read) : { jid: jids[i]!, status: 'ok' as const, enqueued: read };
    }
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

/** A job whose enqueues cannot be written fails (retry path), naming what was wrong; its other writes are not made. */
function badEnqueue(jid: string, i: number, why: string): JobResult {
  return { jid, status: 'failed', error: { class: 'SidekiqLambda::BadEnqueue', message: `results[${i}].enqueued${why}; nothing it enqueued was written`, backtrace: [] } };
}

/** Checks what a handler enqueued: well-formed entries whose payloads Ruby will read. A string names the problem. */
export function readEnqueued(value: unknown): Enqueue[] | string {
  if (!Array.isArray(value)) return ' must be an array';
  const out: Enqueue[] = [];
  for (const [k, e] of value.entries()) {
    const where = `[${k}]`;
    if (e === null || typeof e !== 'object') return `${where} must be an object`;
    const { queue, at, payload } = e as { queue?: unknown; at?: unknown; payload?: unknown };
    if (typeof payload !== 'string') return `${where}.payload must be the job JSON as a string`;
    const problem = payloadProblem(payload, typeof queue === 'string' ? queue : undefined);
    if (problem) return `${where}.payload ${problem}`;
    if (typeof at === 'number' && Number.isFinite(at) && queue === undefined) out.push({ at, payload });
    else if (typeof queue === 'string' && /^[A-Za-z0-9_:.-]+$/.test(queue) && at === undefined) out.push({ queue, payload });
    else return `${where} must have a queue name or an \`at\` time (epoch ms), not both`;
  }
  return out;
}

/** Why a payload would not be a job Ruby can run, or undefined. */
function payloadProblem(payload: string, queue: string | undefined): string | undefined {
  let job: unknown;
  try {
    job = JSON.parse(payload);
  } catch {
    return 'is not JSON';
  }
  if (job === null || typeof job !== 'object' || Array.isArray(job)) return 'is not a JSON object';
  const j = job as Record<string, unknown>;
  if (typeof j.class !== 'string' || j.class === '') return 'has no class';
  if (!Array.isArray(j.args)) return 'has no args array';
  if (typeof j.jid !== 'string') return 'has no jid';
  if (typeof j.queue !== 'string') return 'has no queue';
  // Sidekiq retries a job to the queue its payload names: a job pushed elsewhere would move.
  if (queue !== undefined && j.queue !== queue) return `names queue ${JSON.stringify(j.queue)} but is pushed to ${JSON.stringify(queue)}`;
  const lone = loneSurrogate(job, '');
  return lone === undefined ? undefined : `holds a lone UTF-16 surrogate at ${lone || 'the top'}, which Ruby's JSON parser rejects`;
}

/** The path of the first string holding a lone surrogate, or undefined. */
function loneSurrogate(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return (value as string & { isWellFormed(): boolean }).isWellFormed() ? undefined : path;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const p = loneSurrogate(v, `${path}[${i}]`);
      if (p !== undefined) return p;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!(k as string & { isWellFormed(): boolean }).isWellFormed()) return `${path}.${k}`;
      const p = loneSurrogate(v, path ? `${path}.${k}` : k);
      if (p !== undefined) return p;
    }
  }
  return undefined;
}
