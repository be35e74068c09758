/**
 * The processor (Sidekiq's word for the part that runs a job and records its outcome): holds the
 * jobs this poller has in flight, invokes their functions, and writes each job's outcome.
 *
 * Tasks:
 * 1. Count what this poller holds (jobs, and invocations per class against the class's cap, lowered
 *    while Lambda throttles) and say how many jobs each queue may give now.
 * 2. Route each fetched job by class — the ActiveJob `wrapped` class first — to its function, in
 *    batches of up to the class's `batchSize`; a batch too large for Lambda runs job by job in the
 *    same slot.
 * 3. Write each job's outcome with Sidekiq's semantics, retrying while Redis refuses the write;
 *    count and log only outcomes that landed.
 * 4. Never lose a job: malformed payloads go to the dead set as they are; an error in one job's
 *    path is logged and never reaches the fetch loop.
 */
import { readJob, displayClass, isMalformed } from '../protocol/job.js';
import { makeEvent } from '../protocol/event.js';
import { readTimestamp, type SidekiqVersion } from '../protocol/time.js';
import { planFailure, planInvocation, noRouteError, outcomeOf, outcomeLine, POLLER_ERRORS, type Plan, type RunningJob } from './outcomes.js';
import { ClassLimiter } from './concurrency.js';
import type { Fetcher, Fetched, Outcome } from './fetch.js';
import type { Invoker } from '../lambda/invoker.js';
import type { Route } from '../jobs.js';
import type { Logger } from '../log.js';
import type { WorkEntry } from '../sidekiq/heartbeat.js';
import type { Stats } from '../sidekiq/stats.js';
import type { PollerCounters } from './counters.js';

export interface ProcessorOptions {
  readonly fetcher: Fetcher;
  readonly invoker: Invoker;
  readonly routes: readonly Route[];
  readonly maxInFlight: number;
  readonly version: SidekiqVersion;
  readonly stats: Stats;
  readonly counters: PollerCounters;
  readonly log: Logger;
  readonly logArgs: boolean;
  /** Called whenever room frees up (a job settled, an invocation ended). */
  readonly onRoom: () => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Processor {
  private readonly routes = new Map<string, Route>();
  private readonly limiters = new Map<string, ClassLimiter>();
  private readonly queueClasses = new Map<string, string[]>();
  /** Raw payloads in flight (a multiset), for reconciling our lists after a reconnect. */
  private readonly held = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly workEntries = new Map<string, WorkEntry>();
  private tid = 0;
  private holding = 0;
  private quiescing = false;
  private givenUp = false;

  constructor(private readonly opts: ProcessorOptions) {
    for (const r of opts.routes) {
      this.routes.set(r.class, r);
      this.limiters.set(r.class, new ClassLimiter(r.concurrency));
      const list = this.queueClasses.get(r.queue) ?? [];
      list.push(r.class);
      this.queueClasses.set(r.queue, list);
    }
  }

  /** Jobs held now (fetched, not yet settled). */
  get inFlight(): number {
    return this.holding;
  }

  /** The raw payloads held, counted (for `Fetcher.reconcile`). */
  get known(): ReadonlyMap<string, number> {
    return this.held;
  }

  /** Running jobs, for the Web UI's Busy page. */
  work(): Iterable<WorkEntry> {
    return this.workEntries.values();
  }

  /** True while any job's invocation or outcome write is under way. */
  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Resolves when everything under way now has finished. */
  settled(): Promise<unknown> {
    return Promise.all([...this.running]);
  }

  /** Shutting down: jobs not yet sent to Lambda (the rest of a split batch) go back to their queue. */
  quiesce(): void {
    this.quiescing = true;
  }

  /** After the shutdown deadline: stop retrying refused writes; those jobs stay in flight for recovery. */
  giveUp(): void {
    this.givenUp = true;
  }

  /** Jobs each queue may give now: every class on it must have room; the global cap bounds all. */
  capacity(queues: readonly string[]): Map<string, number> {
    const global = this.opts.maxInFlight - this.holding;
    const caps = new Map<string, number>();
    for (const q of queues) {
      let room = global;
      for (const cls of this.queueClasses.get(q) ?? []) {
        room = Math.min(room, this.limiters.get(cls)!.spare() * this.routes.get(cls)!.batchSize);
      }
      caps.set(q, Math.max(0, room));
    }
    return caps;
  }

  /** Milliseconds until the first class paused after a 429 may start again; 0 when none is paused. */
  pauseEndsInMs(): number {
    let first = 0;
    for (const l of this.limiters.values()) {
      const ms = l.pausedForMs();
      if (ms > 0 && (first === 0 || ms < first)) first = ms;
    }
    return first;
  }

  /** Per class, for /stats. */
  classes(): Record<string, object> {
    const counts = this.opts.counters.snapshot();
    return Object.fromEntries(
      [...this.routes.keys()].map((cls) => {
        const l = this.limiters.get(cls)!;
        return [cls, { inFlightInvocations: l.inFlight, limit: l.limit, cap: l.cap, ...(counts[cls] ?? { processed: 0, failed: 0, throttled: 0 }) }];
      }),
    );
  }

  /** Puts a fetched job back at the end of its queue that is fetched next, untouched. */
  requeue(job: Fetched): void {
    this.hold(job.raw, +1);
    this.spawn(this.putBack(job));
  }

  /** Parses, routes and groups a fetched batch; starts one invocation per group. */
  dispatch(batch: readonly Fetched[]): void {
    const groups = new Map<string, RunningJob[]>();
    for (const f of batch) {
      this.hold(f.raw, +1);
      const parsed = readJob(f.raw);
      if (isMalformed(parsed)) {
        this.spawn(this.bury(f, parsed.reason));
        continue;
      }
      const j: RunningJob = { raw: f.raw, queue: f.queue, job: parsed.job };
      const enqueued = readTimestamp(parsed.job.enqueued_at);
      if (enqueued !== undefined) this.opts.counters.lag(Date.now() - enqueued);
      const cls = this.routes.has(displayClass(parsed.job)) ? displayClass(parsed.job) : parsed.job.class;
      const route = this.routes.get(cls);
      if (!route) {
        this.spawn(this.finish(undefined, [j], [planFailure(j, noRouteError(displayClass(parsed.job), f.queue), this.planContext())]));
        continue;
      }
      let g = groups.get(cls);
      if (!g) groups.set(cls, (g = []));
      g.push(j);
      if (g.length === route.batchSize) {
        this.spawn(this.invoke(route, g));
        groups.set(cls, []);
      }
    }
    for (const [cls, g] of groups) if (g.length > 0) this.spawn(this.invoke(this.routes.get(cls)!, g));
  }

  private spawn(p: Promise<void>): void {
    const tracked = p.catch((e) => this.opts.log({ level: 'error', msg: 'unexpected error settling a job', error: (e as Error).stack }));
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  private hold(raw: string, delta: 1 | -1): void {
    const n = (this.held.get(raw) ?? 0) + delta;
    if (n <= 0) this.held.delete(raw);
    else this.held.set(raw, n);
    this.holding += delta;
    if (delta < 0) this.opts.onRoom();
  }

  private planContext() {
    return { now: Date.now(), version: this.opts.version };
  }

  /**
   * Runs one batch of one class: holds one of the class's invocation slots until every job of it
   * has settled. Whatever has not settled when it ends — the rest of a split batch at shutdown,
   * or jobs an unexpected error left — goes back to its queue, so nothing stays stranded.
   */
  private async invoke(route: Route, jobs: RunningJob[]): Promise<void> {
    const limiter = this.limiters.get(route.class)!;
    limiter.inFlight++;
    const pending = new Map<RunningJob, string>();
    for (const j of jobs) {
      const tid = (++this.tid).toString(36);
      this.workEntries.set(tid, { tid, queue: j.queue, payload: j.raw, runAt: Date.now() });
      pending.set(j, tid);
    }
    const settled = (j: RunningJob): void => {
      this.workEntries.delete(pending.get(j)!);
      pending.delete(j);
    };
    try {
      if (!(await this.call(route, limiter, jobs, settled))) {
        // A batch too large together may fit alone: send each job on its own, one after another
        // in the same slot, so the class's cap holds. (A single job too large is settled as dead.)
        for (const j of jobs) {
          if (this.quiescing) break;
          const pause = limiter.pausedForMs();
          if (pause > 0) await sleep(pause);
          await this.call(route, limiter, [j], settled);
        }
      }
    } catch (e) {
      this.opts.log({ level: 'error', msg: 'unexpected error running a batch; its unsettled jobs go back to their queue', class: route.class, error: (e as Error).stack });
    } finally {
      for (const j of [...pending.keys()]) {
        await this.putBack(j, j.job.jid);
        settled(j);
      }
      limiter.inFlight--;
      this.opts.onRoom();
    }
  }

  /** Returns a held job that was never run (or whose outcome could not be planned) to its queue, untouched. */
  private async putBack(job: Fetched, jid?: unknown): Promise<void> {
    try {
      await this.settleDurably(job, { mode: 'requeue' }, jid);
    } catch (e) {
      this.opts.log({ level: 'error', msg: 'could not put a job back; it stays in flight for recovery', jid, queue: job.queue, error: (e as Error).message });
    } finally {
      this.hold(job.raw, -1);
    }
  }

  /** One Invoke and its outcomes; false (nothing settled) when a batch of several was too large. */
  private async call(route: Route, limiter: ClassLimiter, jobs: RunningJob[], settled: (j: RunningJob) => void): Promise<boolean> {
    const started = Date.now();
    let plans: Plan[];
    try {
      const event = JSON.stringify(makeEvent(jobs.map((j) => ({ payload: j.raw, queue: j.queue }))));
      const result = await this.opts.invoker.invoke(route.function, event, route.timeoutSeconds);
      if (result.kind === 'too-large' && jobs.length > 1) return false;
      if (result.kind === 'throttled') {
        // Start nothing new for this class for a while (the loop waits no longer than the pause).
        limiter.onThrottle();
        this.opts.counters.throttled(route.class, jobs.length);
      } else if (result.kind === 'config') {
        this.opts.log({ level: 'error', msg: `Lambda refused to invoke ${route.function}: fix the deploy; jobs retry meanwhile`, errorType: result.errorType, error: result.message, class: route.class });
      } else limiter.onSuccess();
      plans = planInvocation(result, jobs, Buffer.byteLength(event), this.planContext());
    } catch (e) {
      // A bug between fetch and outcome must not strand the jobs: they take the retry path.
      this.opts.log({ level: 'error', msg: 'unexpected error invoking a function; its jobs retry', class: route.class, error: (e as Error).stack });
      const error = { class: POLLER_ERRORS.internal, message: `the poller failed to invoke ${route.function} or to read its answer: ${(e as Error).message} (the function may or may not have run; the job retries: at-least-once)`, backtrace: [] };
      plans = jobs.map((j) => planFailure(j, error, this.planContext()));
    }
    await this.finish(route, jobs, plans, started, settled);
    return true;
  }

  /** Writes each job's outcome, counts it, logs one line per job. */
  private async finish(route: Route | undefined, jobs: readonly RunningJob[], plans: readonly Plan[], started = Date.now(), settled?: (j: RunningJob) => void): Promise<void> {
    const ms = Date.now() - started;
    const results = await Promise.allSettled(
      jobs.map(async (j, i) => {
        const plan = plans[i]!;
        const outcome = outcomeOf(plan, Date.now());
        let written: boolean;
        try {
          written = await this.settleDurably({ queue: j.queue, raw: j.raw }, outcome, j.job.jid);
        } finally {
          this.hold(j.raw, -1);
          settled?.(j);
        }
        const cls = route?.class ?? displayClass(j.job);
        if (!written) return this.notOurs(j.queue, j.job.jid, cls);
        if (plan.kind === 'ok') {
          this.opts.stats.processed();
          this.opts.counters.processed(cls);
        } else if (plan.kind === 'failed') {
          this.opts.stats.processed();
          this.opts.stats.failed();
          this.opts.counters.failed(cls);
        }
        if (plan.kind !== 'ok' || this.opts.log.enabled?.('info') !== false) this.opts.log(outcomeLine(j, cls, plan, ms, this.opts.logArgs));
      }),
    );
    // Every job's write is attempted before an error is passed on (only a write past the deadline throws).
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A payload that cannot be run goes to the dead set exactly as it is. */
  private async bury(f: Fetched, reason: string): Promise<void> {
    let written: boolean;
    try {
      written = await this.settleDurably(f, { mode: 'dead', payload: f.raw, at: Date.now() });
    } finally {
      this.hold(f.raw, -1);
    }
    if (!written) return this.notOurs(f.queue, undefined, '(malformed)');
    this.opts.stats.processed();
    this.opts.stats.failed();
    this.opts.counters.failed('(malformed)');
    this.opts.log({ level: 'error', msg: 'malformed payload moved to the dead set', queue: f.queue, reason, bytes: f.raw.length });
  }

  /**
   * An outcome that found its job no longer in flight: another poller recovered it while this
   * one's heartbeat had lapsed (the recovered copy runs again: at-least-once), or the same write
   * had already landed (ioredis re-sends a command whose reply a dropped connection lost).
   * Nothing was written now, so nothing is counted.
   */
  private notOurs(queue: string, jid: unknown, cls: string): void {
    this.opts.log({ level: 'warn', msg: 'outcome not written: the job was no longer in flight (recovered by another poller, or written already before a reconnect)', jid, class: cls, queue });
  }

  /**
   * Writes an outcome, retrying with backoff while Redis refuses (OOM, READONLY after a failover,
   * BUSY): repeating is safe, as a settle writes only while the job is still in flight. Gives up
   * only after the shutdown deadline (`giveUp`), when the job stays in flight for recovery.
   * Resolves false when the job was no longer in flight (see `notOurs`).
   */
  private async settleDurably(job: Fetched, outcome: Outcome, jid?: unknown): Promise<boolean> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await this.opts.fetcher.settle(job, outcome, Date.now());
      } catch (e) {
        if (this.givenUp) throw e;
        this.opts.log({ level: 'error', msg: "could not write a job's outcome; retrying", jid, queue: job.queue, outcome: outcome.mode, error: (e as Error).message, retryInMs: delay });
        await sleep(delay);
      }
    }
  }
}
