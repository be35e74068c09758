/**
 * The manager (Sidekiq's word for the part that keeps the processors busy): decides what to fetch
 * and what to start, whenever anything happens that could let it do more.
 *
 * Tasks:
 * 1. Wake at once on every event that can start work — a fetch or a watch returns, an invocation
 *    ends, a lease is granted, a throttle pause ends — and then do all that is possible (`kick`).
 *    Nothing sleeps on a timer while work could start.
 * 2. Hold fetched jobs per class, in fetch order, until a slot is free: under the poller's own
 *    cap (`maxInFlight` jobs running), the class's limit (lowered while Lambda throttles) and a
 *    lease of its cap across pollers. A class at its cap holds back no other class on its queue
 *    until the jobs waiting (`maxWaiting`) use up the poller's look-ahead.
 * 3. Fetch from each queue what its classes can use soon — up to twice what they can run at once —
 *    within the budget, in Sidekiq's queue order; watch a queue that came back empty (taking
 *    nothing from it) and fetch again when a job arrives.
 * 4. Show every held job on the Busy page, running or waiting for its slot; on Quiet and Stop, put
 *    the waiting ones back on their queue.
 */
import { readJob, displayClass, isMalformed } from '../protocol/job.js';
import { readTimestamp } from '../protocol/time.js';
import type { Route } from '../jobs.js';
import type { QueueWeight } from '../config.js';
import type { Logger } from '../log.js';
import type { WorkEntry } from '../sidekiq/heartbeat.js';
import type { Fetcher, Fetched } from './fetch.js';
import { Intake, type Room } from './intake.js';
import { ClassLimiter } from './caps.js';
import type { Leases } from './leases.js';
import { noRouteError, type RunningJob } from './outcomes.js';
import type { Processor, ProcessorState } from './processor.js';
import { emptyCounts, type PollerCounters } from './counters.js';

/** A job in hand, with its entry on the Busy page. */
interface Held extends RunningJob {
  readonly tid: string;
}

interface ClassState {
  readonly route: Route;
  readonly limiter: ClassLimiter;
  /** Jobs waiting for a slot, in fetch order. */
  readonly waiting: Held[];
  /** Jobs held: waiting and running. */
  held: number;
}

export interface ManagerOptions {
  readonly fetcher: Fetcher;
  readonly processor: Processor;
  /** Shared with the processor: the manager sets it at shutdown. */
  readonly state: ProcessorState & { quiescing: boolean; givenUp: boolean };
  readonly leases: Leases;
  readonly routes: readonly Route[];
  readonly queues: readonly QueueWeight[];
  /** Jobs running at once, all classes together. */
  readonly maxInFlight: number;
  /** Jobs held waiting for a slot, on top of those running. */
  readonly maxWaiting: number;
  readonly counters: PollerCounters;
  readonly log: Logger;
  /** @defaultValue 2 — seconds a watch of an empty queue blocks before the queue is fetched again. */
  readonly watchSeconds?: number;
  /** Per-class routing: undefined runs a job here; a promise forwards or holds it (lib/poller/router.ts). */
  readonly router?: { route(j: RunningJob): Promise<void> | undefined };
}

export class Manager {
  private readonly classes = new Map<string, ClassState>();
  private readonly queueClasses = new Map<string, ClassState[]>();
  /** Raw payloads held (a multiset), for reconciling our lists after a reconnect. */
  private readonly held = new Map<string, number>();
  private holding = 0;
  /** Jobs in running invocations (started, not yet settled). */
  private runningCount = 0;
  private readonly work = new Map<string, WorkEntry>();
  /** Invocations, outcome writes and put-backs under way. */
  private readonly underWay = new Set<Promise<void>>();
  private readonly intake: Intake;
  private accepting = true;
  private kicked = false;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private tid = 0;

  constructor(private readonly opts: ManagerOptions) {
    for (const route of opts.routes) {
      const c: ClassState = { route, limiter: new ClassLimiter(route.concurrency), waiting: [], held: 0 };
      this.classes.set(route.class, c);
      this.queueClasses.set(route.queue, [...(this.queueClasses.get(route.queue) ?? []), c]);
    }
    this.intake = new Intake({
      fetcher: opts.fetcher,
      queues: opts.queues,
      log: opts.log,
      holdLimit: opts.maxInFlight + opts.maxWaiting,
      watchSeconds: opts.watchSeconds,
      room: (q) => this.room(q),
      onBatch: (batch) => this.accept(batch),
      kick: () => this.kick(),
      wakeAt: (at) => this.wakeAt(at),
    });
  }

  /** Jobs held now: fetched and not yet settled, running or waiting for a slot. */
  get inFlight(): number {
    return this.holding;
  }

  /** Jobs in running invocations (not those waiting for a slot): the work more pollers could share. */
  get runningJobs(): number {
    return this.runningCount;
  }

  /** The raw payloads held, counted (for `Fetcher.reconcile`). */
  get known(): ReadonlyMap<string, number> {
    return this.held;
  }

  /** Held jobs, for the Web UI's Busy page. */
  entries(): Iterable<WorkEntry> {
    return this.work.values();
  }

  /** True while any job's invocation or outcome write is under way. */
  get busy(): boolean {
    return this.underWay.size > 0;
  }

  /** Resolves when everything under way now has finished. */
  settled(): Promise<unknown> {
    return Promise.all([...this.underWay]);
  }

  /**
   * How long the fetch loop has waited on Redis beyond what it should (0 when it has not), for
   * /healthz: a fetch under way for that long, or a watch that outlived its timeout by that much —
   * a connection that stopped answering without closing.
   */
  stalledForMs(now = Date.now()): number {
    return this.intake.stalledForMs(now);
  }

  /** After a reconnect: our in-flight lists may hold jobs whose fetch reply was lost. */
  reconcileSoon(): void {
    this.intake.reconcileSoon();
  }

  /** Quiet or Stop: fetch and start nothing more; jobs waiting for a slot go back to their queue. */
  stopFetching(): void {
    this.accepting = false;
    this.intake.stop();
    this.opts.leases.quiet();
    for (const c of this.classes.values()) for (const j of c.waiting.splice(0)) this.track(this.opts.processor.putBack(j, j.job.jid).finally(() => this.release(j.raw, j.tid, c)));
  }

  /** Per class, for /stats. */
  classStats(): Record<string, object> {
    const counts = this.opts.counters.snapshot();
    return Object.fromEntries(
      [...this.classes].map(([cls, c]) => [
        cls,
        { inFlightInvocations: c.limiter.inFlight, waiting: c.waiting.length, limit: c.limiter.limit, cap: c.limiter.cap, ...this.opts.leases.snapshot(cls), ...(counts[cls] ?? emptyCounts()) },
      ]),
    );
  }

  /** Something happened that may let more work start: look once this event-loop turn ends. */
  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.pump();
    });
  }

  private pump(): void {
    // Quiet or stopping: nothing new starts, but a reconcile a reconnect asked for still runs.
    if (!this.accepting) return this.intake.pump(0, false, this.held);
    for (const c of this.classes.values()) this.start(c);
    this.intake.pump(this.opts.maxInFlight + this.opts.maxWaiting - this.holding, this.runningCount > 0, this.held);
    this.wakeAtPauseEnd();
  }

  /** Starts batches of a class while it has waiting jobs, room under its limit and a lease. */
  private start(c: ClassState): void {
    const cls = c.route.class;
    while (c.waiting.length > 0 && this.runningCount < this.opts.maxInFlight && c.limiter.spare() > 0 && this.opts.leases.take(cls)) {
      const batch = c.waiting.splice(0, Math.min(c.route.batchSize, this.opts.maxInFlight - this.runningCount));
      this.runningCount += batch.length;
      const now = Date.now();
      for (const j of batch) this.work.get(j.tid)!.runAt = now;
      c.limiter.inFlight++;
      this.track(
        this.opts.processor
          .run(c.route, c.limiter, batch, (j) => {
            this.runningCount--;
            this.release(j.raw, (j as Held).tid, c);
          })
          .finally(() => {
            c.limiter.inFlight--;
            this.opts.leases.give(cls);
            this.kick();
          }),
      );
    }
    const paused = c.limiter.pausedForMs() > 0;
    this.opts.leases.want(cls, Math.min(c.limiter.limit, c.limiter.inFlight + (paused ? 0 : Math.ceil(c.waiting.length / c.route.batchSize))));
  }

  /** What queue `q`'s classes can take now. */
  private room(q: string): Room {
    let room = 0;
    let target = 0;
    let dry = false;
    for (const c of this.queueClasses.get(q) ?? []) {
      const t = 2 * c.limiter.limit * c.route.batchSize;
      target += t;
      room += Math.max(0, t - c.held);
      if (c.waiting.length === 0 && c.limiter.spare() > 0) dry = true;
    }
    return { room, dry, target };
  }

  /** Takes a fetched batch in hand: each job to its class's line, or settled at once when it cannot run. */
  private accept(batch: readonly Fetched[]): void {
    if (batch.length > 0) this.opts.counters.fetched(batch.length);
    const now = Date.now();
    for (const f of batch) {
      const tid = (++this.tid).toString(36);
      this.hold(f.raw, +1);
      this.work.set(tid, { tid, queue: f.queue, payload: f.raw, runAt: now });
      try {
        this.take(f, tid, now);
      } catch (e) {
        // A payload that breaks the poller's reading of it (a poison job) goes to the dead set as
        // it is; it must not stop this poller, nor every poller that fetches it after.
        this.track(this.opts.processor.bury(f, `the poller could not read it: ${(e as Error).message}`).finally(() => this.release(f.raw, tid)));
      }
    }
    this.kick();
  }

  /** One fetched job: to its class's line, or settled at once when it cannot run here. */
  private take(f: Fetched, tid: string, now: number): void {
    const parsed = readJob(f.raw);
    if (isMalformed(parsed)) {
      this.track(this.opts.processor.bury(f, parsed.reason).finally(() => this.release(f.raw, tid)));
      return;
    }
    const j: Held = { raw: f.raw, queue: f.queue, job: parsed.job, tid };
    const enqueued = readTimestamp(parsed.job.enqueued_at);
    if (enqueued !== undefined) this.opts.counters.lag(now - enqueued);
    if (!this.accepting) {
      // Fetched as the poller went quiet: back where it came from, whatever it is.
      this.track(this.opts.processor.putBack(j, j.job.jid).finally(() => this.release(j.raw, tid)));
      return;
    }
    const routed = this.opts.router?.route(j);
    if (routed) {
      this.track(routed.finally(() => this.release(j.raw, tid)));
      return;
    }
    const c = this.classes.get(displayClass(parsed.job)) ?? this.classes.get(parsed.job.class);
    if (!c) {
      this.track(this.opts.processor.fail(j, noRouteError(displayClass(parsed.job), f.queue)).finally(() => this.release(j.raw, tid)));
      return;
    }
    c.held++;
    c.waiting.push(j);
  }

  /** A held job left flight (its outcome written, or put back). */
  private release(raw: string, tid: string, c?: ClassState): void {
    this.hold(raw, -1);
    this.work.delete(tid);
    if (c) c.held--;
    this.kick();
  }

  private hold(raw: string, delta: 1 | -1): void {
    const n = (this.held.get(raw) ?? 0) + delta;
    if (n <= 0) this.held.delete(raw);
    else this.held.set(raw, n);
    this.holding += delta;
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((e) => this.opts.log.error('unexpected error settling a job', { error: (e as Error).stack }));
    this.underWay.add(tracked);
    void tracked.finally(() => this.underWay.delete(tracked));
  }

  /** A class paused after a 429 with jobs waiting starts again when its pause ends. */
  private wakeAtPauseEnd(): void {
    let first = Infinity;
    for (const c of this.classes.values()) {
      const ms = c.limiter.pausedForMs();
      if (ms > 0 && c.waiting.length > 0) first = Math.min(first, ms);
    }
    if (first !== Infinity) this.wakeAt(Date.now() + first + 1);
  }

  private wakeAt(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }
}
