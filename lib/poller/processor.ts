/**
 * The processor (Sidekiq's word for the part that runs a job and records its outcome): runs one
 * batch of one class on its Lambda function and writes each job's outcome.
 *
 * Tasks:
 * 1. Invoke the class's function with the batch, carrying its trace context to Lambda's tracing
 *    (`X-Amzn-Trace-Id`); a batch too large for Lambda together runs job by job, one after
 *    another, on the same slot, so the class's cap holds.
 * 2. Turn the answer into each job's outcome with Sidekiq's semantics (outcomes.ts) and write it,
 *    the jobs it enqueued placed by the routing table, retrying while Redis refuses the write; count and log only outcomes that landed, with the
 *    time each job waited in its queue (`enqueued_at` to the Invoke).
 * 3. Tell the class's limiter about throttling and successes.
 * 4. Never lose a job: an error between the Invoke and the outcome sends the batch down the retry
 *    path; whatever a batch leaves unsettled goes back to its queue; a malformed payload goes to
 *    the dead set as it is.
 * 5. Keep sidekiq-unique-jobs' contract (uniqueness.ts): ask each job's lock before the Invoke,
 *    tell it the outcome after it is written.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { displayClass } from '../protocol/job.js';
import type { RoutingView } from '../protocol/routing.js';
import { makeEvent } from '../protocol/event.js';
import { queueWaitMs } from '../protocol/time.js';
import { invocationTraceHeader } from '../protocol/trace.js';
import type { SidekiqVersion } from '../protocol/time.js';
import type { Invoker } from '../lambda/invoker.js';
import type { Route } from '../jobs.js';
import type { Logger } from '../log.js';
import type { Stats } from '../sidekiq/stats.js';
import { planDeath, planFailure, planInvocation, outcomeOf, outcomeLine, POLLER_ERRORS, type Plan, type RunningJob } from './outcomes.js';
import type { ClassLimiter } from './caps.js';
import { EnqueueRefused, type Fetcher, type Fetched, type Outcome } from './fetch.js';
import type { PollerCounters } from './counters.js';
import type { UniqueHook } from './uniqueness.js';
import { durably } from './durably.js';

export interface ProcessorOptions {
  readonly fetcher: Fetcher;
  readonly invoker: Invoker;
  readonly version: SidekiqVersion;
  readonly stats: Stats;
  readonly counters: PollerCounters;
  readonly log: Logger;
  readonly logArgs: boolean;
  /** sidekiq-unique-jobs' server side; none: locks are left alone. */
  readonly unique?: UniqueHook;
  /** The routing table as last read (the router's cache, no round trip): where enqueues go. @defaultValue no routes */
  readonly routing?: () => RoutingView;
}

/** Whether the processor may still send jobs and retry refused writes. */
export interface ProcessorState {
  /** Shutting down: send nothing new (the rest of a split batch goes back to its queue). */
  readonly quiescing: boolean;
  /** Past the shutdown deadline: stop retrying refused writes; those jobs stay in flight for recovery. */
  readonly givenUp: boolean;
}


export class Processor {
  constructor(
    private readonly opts: ProcessorOptions,
    private readonly state: ProcessorState,
  ) {}

  /**
   * Runs one batch of one class. `settled(j)` is called as each job leaves flight. Whatever has not
   * settled when the batch ends — the rest of a split batch at shutdown, or jobs an unexpected
   * error left — goes back to its queue, so nothing stays stranded.
   */
  async run(route: Route, limiter: ClassLimiter, jobs: readonly RunningJob[], settled: (j: RunningJob) => void): Promise<void> {
    const pending = new Set(jobs);
    const done = (j: RunningJob): void => {
      if (pending.delete(j)) settled(j);
    };
    try {
      if (!(await this.call(route, limiter, jobs, done))) {
        // A batch too large together may fit alone: send each job on its own, one after another
        // on the same slot, so the class's cap holds. (A single job too large is settled as dead.)
        for (const j of jobs) {
          if (!pending.has(j)) continue; // settled already (its unique lock kept it from running)
          if (this.state.quiescing) break;
          const pause = limiter.pausedForMs();
          if (pause > 0) await sleep(pause);
          await this.call(route, limiter, [j], done);
        }
      }
    } catch (e) {
      this.opts.log.error('unexpected error running a batch; its unsettled jobs go back to their queue', { class: route.class, error: (e as Error).stack });
    } finally {
      for (const j of [...pending]) {
        try {
          await this.putBack(j, j.job.jid);
          await this.opts.unique?.putBack(j);
        } catch (e) {
          this.opts.log.error('unexpected error putting a job back', { jid: j.job.jid, error: (e as Error).stack });
        } finally {
          done(j); // whatever happened, the job no longer holds a slot here (what is left in flight is recovered)
        }
      }
    }
  }

  /**
   * Settles a job that cannot run down the retry path (no function declared for its class), or
   * straight to the dead set (`dead`: Lambda cannot run it as it asks; never dropped).
   */
  async fail(j: RunningJob, error: { class: string; message: string }, opts: { dead?: boolean } = {}): Promise<void> {
    const plan = (opts.dead ? planDeath : planFailure)(j, { ...error, backtrace: [] }, this.planContext());
    await this.finish(undefined, [j], [plan], Date.now(), () => undefined);
  }

  /** Acknowledges a job without running it (it expired), counted and logged as skipped. */
  async skip(j: RunningJob, why: 'expired', reason: string): Promise<void> {
    await this.finish(undefined, [j], [{ kind: 'skipped', why, reason }], Date.now(), () => undefined);
  }

  /** A payload that cannot be run goes to the dead set exactly as it is. */
  async bury(f: Fetched, reason: string): Promise<void> {
    if (!(await this.settleDurably(f, { mode: 'dead', payload: f.raw, at: Date.now() }))) return this.notOurs(f.queue, undefined, '(malformed)');
    this.opts.stats.processed();
    this.opts.stats.failed();
    this.opts.counters.failed('(malformed)');
    this.opts.log.error('malformed payload moved to the dead set', { queue: f.queue, reason, bytes: f.raw.length });
  }

  /** Returns a held job that was never run to its queue, at the end fetched next, untouched. */
  async putBack(job: Fetched, jid?: unknown): Promise<void> {
    try {
      await this.settleDurably(job, { mode: 'requeue' }, jid);
    } catch (e) {
      this.opts.log.error('could not put a job back; it stays in flight for recovery', { jid, queue: job.queue, error: (e as Error).message });
    }
  }

  private planContext() {
    return { now: Date.now(), version: this.opts.version };
  }

  /** One Invoke and its outcomes; false (nothing settled) when a batch of several was too large. */
  private async call(route: Route, limiter: ClassLimiter, jobs: readonly RunningJob[], settled: (j: RunningJob) => void): Promise<boolean> {
    const started = Date.now();
    if (this.opts.unique) {
      const { run, skipped } = await this.opts.unique.start(jobs, this.planContext());
      if (skipped.length > 0) await this.finish(route, skipped.map((s) => s.j), skipped.map((s) => s.plan), started, settled);
      if (run.length === 0) return true;
      jobs = run;
    }
    let plans: Plan[];
    try {
      const event = JSON.stringify(makeEvent(jobs.map((j) => ({ payload: j.raw, queue: j.queue })), this.opts.version));
      const result = await this.opts.invoker.invoke(route.function, event, route.timeoutSeconds, invocationTraceHeader(jobs.map((j) => j.job)));
      if (result.kind === 'too-large' && jobs.length > 1) return false;
      if (result.kind === 'throttled') {
        limiter.onThrottle();
        this.opts.counters.throttled(route.class, jobs.length);
      } else if (result.kind === 'config') {
        this.opts.log.error(`Lambda refused to invoke ${route.function}: fix the deploy; jobs retry meanwhile`, { errorType: result.errorType, error: result.message, class: route.class });
      } else limiter.onSuccess();
      plans = planInvocation(result, jobs, Buffer.byteLength(event), this.planContext());
    } catch (e) {
      // A bug between fetch and outcome must not strand the jobs: they take the retry path.
      this.opts.log.error('unexpected error invoking a function; its jobs retry', { class: route.class, error: (e as Error).stack });
      const error = { class: POLLER_ERRORS.internal, message: `the poller failed to invoke ${route.function} or to read its answer: ${(e as Error).message} (the function may or may not have run; the job retries: at-least-once)`, backtrace: [] };
      plans = jobs.map((j) => planFailure(j, error, this.planContext()));
    }
    await this.finish(route, jobs, plans, started, settled);
    return true;
  }

  /** Writes each job's outcome, counts it, logs one line per job. */
  private async finish(route: Route | undefined, jobs: readonly RunningJob[], plans: readonly Plan[], started: number, settled: (j: RunningJob) => void): Promise<void> {
    const ms = Date.now() - started;
    const results = await Promise.allSettled(
      jobs.map(async (j, i) => {
        let plan = plans[i]!;
        let written: boolean;
        try {
          try {
            written = await this.settleDurably(j, outcomeOf(plan, Date.now(), this.opts.routing?.()), j.job.jid);
          } catch (e) {
            if (!(e instanceof EnqueueRefused)) throw e;
            // Its enqueues cannot be written, so its success cannot be either: the retry path, saying why.
            plan = planFailure(j, { class: e.name, message: e.message, backtrace: [] }, this.planContext());
            written = await this.settleDurably(j, outcomeOf(plan, Date.now()), j.job.jid);
          }
        } finally {
          settled(j);
        }
        const cls = route?.class ?? displayClass(j.job);
        if (!written) return this.notOurs(j.queue, j.job.jid, cls);
        await this.opts.unique?.finish(j, plan);
        const waitMs = queueWaitMs(j.job, started);
        if (waitMs !== undefined && (plan.kind === 'ok' || plan.kind === 'failed')) this.opts.counters.waited(cls, waitMs);
        if (plan.kind === 'ok') {
          this.opts.stats.processed();
          this.opts.counters.processed(cls, 1, ms);
        } else if (plan.kind === 'failed') {
          this.opts.stats.processed();
          this.opts.stats.failed();
          this.opts.counters.failed(cls, 1, ms);
        } else if (plan.kind === 'skipped') {
          this.opts.stats.processed(); // as Sidekiq counts a job its middleware did not run
          this.opts.counters.skipped(cls, plan.why);
        }
        if (plan.kind !== 'ok' || this.opts.log.enabled('info')) {
          const { level, msg, ...fields } = outcomeLine(j, cls, plan, ms, this.opts.logArgs, waitMs);
          this.opts.log[level](msg, fields);
        }
      }),
    );
    // Every job's write is attempted before an error is passed on (only a write past the deadline throws).
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * An outcome that found its job no longer in flight: another poller recovered it while this
   * one's heartbeat had lapsed (the recovered copy runs again: at-least-once), or the same write
   * had already landed (ioredis re-sends a command whose reply a dropped connection lost).
   * Nothing was written now, so nothing is counted.
   */
  private notOurs(queue: string, jid: unknown, cls: string): void {
    this.opts.log.warn('outcome not written: the job was no longer in flight (recovered by another poller, or written already before a reconnect)', { jid, class: cls, queue });
  }

  /**
   * Writes an outcome, retrying with backoff while Redis refuses (OOM, READONLY after a failover,
   * BUSY): repeating is safe, as a settle writes only while the job is still in flight. Gives up
   * only after the shutdown deadline, when the job stays in flight for recovery. Resolves false
   * when the job was no longer in flight (see `notOurs`).
   */
  private async settleDurably(job: Fetched, outcome: Outcome, jid?: unknown): Promise<boolean> {
    return durably(() => this.opts.fetcher.settle(job, outcome, Date.now()), {
      what: "write a job's outcome",
      givenUp: () => this.state.givenUp,
      log: this.opts.log,
      fields: { jid, queue: job.queue, outcome: outcome.mode },
      // A refusal of the job's enqueues is final (nothing was written): its caller decides.
      final: (e) => e instanceof EnqueueRefused,
    });
  }
}
