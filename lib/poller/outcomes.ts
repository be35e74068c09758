/**
 * From an Invoke's answer to each job's outcome, with Sidekiq's semantics (issue 4, "Outcomes").
 * Pure: the poller applies what this decides.
 *
 * Tasks:
 * 1. Map each `InvokeResult` kind to per-job results: the function's own results (a success with
 *    the jobs it enqueued, written with its acknowledgement), Lambda's
 *    function error (every job of the invocation failed with it), throttling (requeue, untouched),
 *    too large (dead at once: a retry cannot help), configuration and unknown errors (the retry path).
 * 2. Turn a failed result into Sidekiq's retry / dead / discard with the failed payload written.
 * 3. Plan the jobs that are not run: skipped because their unique lock says so or because they
 *    expired (acknowledged, or as the lock's conflict strategy says), or sent straight to the dead
 *    set with an error that says why (`planDeath`: never dropped, whatever `retry` says).
 * 4. Say what to write for a plan (`outcomeOf`), the jobs it enqueues placed by the routing table
 *    as a push would place them.
 */
import type { JobPayload } from '../protocol/job.js';
import type { EpochMs, SidekiqVersion } from '../protocol/time.js';
import { functionErrorResults, readResponse, type Enqueue, type JobError, type JobResult } from '../protocol/event.js';
import { EMPTY_VIEW, enqueuePlacement, type RoutingView } from '../protocol/routing.js';
import { decide, failedPayload, nextRetryCount, type RandomInt, type RetryDecision } from '../sidekiq/retry.js';
import type { UniqueEnd } from '../sidekiq/unique.js';
import type { InvokeResult } from '../lambda/invoker.js';
import type { Outcome } from './fetch.js';

/** A fetched, parsed job on its way through the poller. */
export interface RunningJob {
  readonly raw: string;
  readonly queue: string;
  readonly job: JobPayload;
}

/** What to write for one job. */
export type Plan =
  | { readonly kind: 'ok'; readonly enqueued?: readonly Enqueue[] }
  | { readonly kind: 'requeue'; readonly why: 'throttled' }
  | { readonly kind: 'failed'; readonly error: JobError; readonly decision: RetryDecision; readonly payload: string }
  | { readonly kind: 'skipped'; readonly why: 'unique' | 'expired'; readonly reason: string; readonly then?: Skipped };

/** What a skipped job leaves behind: nothing (acknowledged), itself in the dead set, or jobs enqueued with its acknowledgement. */
export type Skipped = { readonly dead: string } | { readonly enqueued: readonly Enqueue[] };

/** Lambda's synchronous request payload limit. */
export const MAX_INVOKE_BYTES = 6 * 1024 * 1024;

/** Error classes the poller itself assigns (Sidekiq's `error_class`). */
export const POLLER_ERRORS = {
  noRoute: 'SidekiqLambda::NoFunctionDeclared',
  tooLarge: 'SidekiqLambda::PayloadTooLarge',
  timedOut: 'Sandbox.Timedout',
  internal: 'SidekiqLambda::PollerError',
} as const;

export interface PlanContext {
  readonly now: EpochMs;
  readonly version: SidekiqVersion;
  readonly random?: RandomInt;
}

/** Plans a failure: Sidekiq's retry decision and the payload to write. */
export function planFailure(j: RunningJob, error: JobError, ctx: PlanContext, directive: Pick<Extract<JobResult, { status: 'failed' }>, 'action' | 'retryInSeconds'> = {}): Plan {
  const failure = { job: j.job, queue: j.queue, error, now: ctx.now, version: ctx.version, random: ctx.random, action: directive.action, retryInSeconds: directive.retryInSeconds };
  return { kind: 'failed', error, decision: decide(failure), payload: failedPayload(j.raw, failure) };
}

/**
 * Plans a job straight to the dead set, its error written as a failure's — whatever `retry` and
 * `dead` say, since dropping it is never right (a job Lambda cannot run as it asks).
 */
export function planDeath(j: RunningJob, error: JobError, ctx: PlanContext): Plan {
  const failure = { job: j.job, queue: j.queue, error, now: ctx.now, version: ctx.version };
  return { kind: 'failed', error, decision: { kind: 'dead', count: nextRetryCount(j.job), reason: 'killed' }, payload: failedPayload(j.raw, failure) };
}

/** How a job left flight, as its unique lock sees it (lib/sidekiq/unique.ts). */
export function uniqueEnd(plan: Plan): UniqueEnd {
  if (plan.kind === 'ok') return 'ok';
  if (plan.kind === 'requeue') return 'requeue';
  if (plan.kind === 'skipped') return plan.why === 'expired' ? 'gone' : 'skipped';
  return plan.decision.kind === 'retry' ? 'retry' : plan.decision.kind === 'dead' ? 'dead' : 'gone';
}

/** Lambda reports a timeout without an errorType; name it so `error_class` says what happened. */
function normaliseFunctionError(result: JobResult): JobResult {
  if (result.status === 'failed' && result.error.class === 'Lambda::FunctionError' && /Task timed out after/.test(result.error.message)) {
    return { ...result, error: { ...result.error, class: POLLER_ERRORS.timedOut } };
  }
  return result;
}

/** Per-job plans for one invocation's answer (same order as `jobs`). */
export function planInvocation(result: InvokeResult, jobs: readonly RunningJob[], eventBytes: number, ctx: PlanContext): Plan[] {
  const jids = jobs.map((j) => j.job.jid);
  const fromResults = (results: readonly JobResult[]): Plan[] =>
    results.map((r, i) => (r.status === 'ok' ? (r.enqueued ? { kind: 'ok', enqueued: r.enqueued } : { kind: 'ok' }) : planFailure(jobs[i]!, r.error, ctx, r)));
  const all = (error: JobError): Plan[] => jobs.map((j) => planFailure(j, error, ctx));
  switch (result.kind) {
    case 'response':
      return fromResults(readResponse(result.body, jids));
    case 'function-error':
      return fromResults(functionErrorResults(result.body, jids).map(normaliseFunctionError));
    case 'throttled':
      return jobs.map(() => ({ kind: 'requeue', why: 'throttled' }));
    case 'too-large':
      return jobs.map((j) =>
        planFailure(
          j,
          {
            class: POLLER_ERRORS.tooLarge,
            message: `the Invoke payload is ${eventBytes} bytes and Lambda accepts at most ${MAX_INVOKE_BYTES} for a synchronous invocation (${result.message}); a retry cannot help — pass a reference (an id or an S3 key) instead of the data`,
            backtrace: [],
          },
          ctx,
          { action: 'kill' },
        ),
      );
    case 'config':
      return all({ class: result.errorType, message: `Lambda refused the invocation: ${result.message} (a deploy or permission problem; the job retries, so fixing the deploy heals it)`, backtrace: [] });
    case 'unknown':
      return all({ class: result.errorType, message: `no answer from Lambda: ${result.message} (the function may or may not have run; the job retries: at-least-once)`, backtrace: [] });
  }
}

/** The failure of a job whose class no declared function handles. */
export function noRouteError(cls: string, queue: string): JobError {
  return {
    class: POLLER_ERRORS.noRoute,
    message:
      `no Lambda function is declared for job class ${cls} (fetched from queue ${queue}): add { class: '${cls}', queue: '${queue}', entry: '…' } ` +
      `to defineJobs() in sidekiq-lambda.config.ts and deploy, or give the queue back to Ruby — a queue the poller drains is the poller's alone; a class on a queue Ruby drains is declared with shared: true`,
    backtrace: [],
  };
}

/**
 * What to write to Redis for a plan. The jobs it enqueues (a handler's, a unique reschedule) go
 * where `view` (the router's cached table) sends them, as a push would (`enqueuePlacement`).
 */
export function outcomeOf(plan: Plan, now: number, view: RoutingView = EMPTY_VIEW): Outcome {
  const ack = (enqueued: readonly Enqueue[] | undefined): Outcome =>
    enqueued ? { mode: 'ack', enqueued: view.routes.size === 0 ? enqueued : enqueued.map((e) => enqueuePlacement(view, e)) } : { mode: 'ack' };
  if (plan.kind === 'ok') return ack(plan.enqueued);
  if (plan.kind === 'requeue') return { mode: 'requeue' };
  if (plan.kind === 'skipped') {
    if (plan.then && 'dead' in plan.then) return { mode: 'dead', payload: plan.then.dead, at: now };
    return ack(plan.then?.enqueued);
  }
  const d = plan.decision;
  if (d.kind === 'retry') return { mode: 'retry', payload: plan.payload, at: d.at };
  if (d.kind === 'dead') return { mode: 'dead', payload: plan.payload, at: now };
  return { mode: 'ack' };
}

/**
 * The one log line of a job's outcome, with how long it waited in its queue (`waitMs`) when known;
 * arguments only when asked for (they hold customer data).
 */
export function outcomeLine(j: RunningJob, cls: string, plan: Plan, ms: number, withArgs: boolean, waitMs?: number): { level: 'info' | 'warn'; msg: string; [k: string]: unknown } {
  const base: Record<string, unknown> = { jid: j.job.jid, class: cls, queue: j.queue, ms };
  if (waitMs !== undefined) base.waitMs = waitMs;
  if (withArgs) base.args = j.job.args;
  if (plan.kind === 'ok') return { level: 'info', msg: 'done', ...base };
  if (plan.kind === 'requeue') return { level: 'warn', msg: 'throttled: requeued', ...base };
  if (plan.kind === 'skipped') {
    const then = !plan.then ? 'not run' : 'dead' in plan.then ? 'moved to the dead set' : 'rescheduled';
    return { level: plan.why === 'expired' ? 'info' : 'warn', msg: `skipped (${plan.why}): ${then}`, ...base, reason: plan.reason };
  }
  const d = plan.decision;
  const what = d.kind === 'retry' ? `retry ${d.count + 1} in ${d.delaySeconds}s` : d.kind === 'dead' ? `dead (${d.reason})` : `discarded (${d.reason})`;
  return { level: 'warn', msg: `fail: ${what}`, ...base, error_class: plan.error.class, error_message: plan.error.message.slice(0, 500) };
}
