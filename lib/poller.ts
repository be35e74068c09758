/**
 * The poller: fetch → invoke → acknowledge | retry | dead | requeue. The long-running process ECS runs.
 *
 * Tasks:
 * 1. Fetch only what it can run: a global in-flight cap and a per-class cap (lowered while Lambda
 *    throttles); a queue is fetched only while every class declared on it has room.
 * 2. Route each job by class — the ActiveJob `wrapped` class first — to its function, in batches
 *    of up to the class's `batchSize`; invoke; write each job's outcome with Sidekiq's semantics.
 * 3. Never lose a job: jobs sit in this poller's in-flight lists until their outcome is written;
 *    malformed payloads go to the dead set as they are; errors never stop the loop.
 * 4. Show up in the Sidekiq Web UI (heartbeat, work hash, stats) and obey Quiet and Stop from it.
 * 5. Recover the in-flight jobs of dead pollers on start and periodically; after a Redis reconnect,
 *    requeue what a lost fetch reply left in our own lists.
 * 6. Stop gracefully: stop fetching, wait for in-flight jobs up to the deadline, then leave the
 *    rest in flight for recovery (at-least-once).
 */
import type { Redis } from 'ioredis';
import { Fetcher, queueOrder, type Fetched, type Outcome } from './fetch.js';
import { Wake } from './wake.js';
import { ClassLimiter } from './concurrency.js';
import { readJob, displayClass, isMalformed } from './protocol/job.js';
import { makeEvent } from './protocol/event.js';
import { keys as makeKeys, type Keys } from './protocol/keys.js';
import { DEFAULT_SIDEKIQ_VERSION, readTimestamp, type SidekiqVersion } from './protocol/time.js';
import { planFailure, planInvocation, noRouteError, outcomeOf, outcomeLine, type Plan, type RunningJob } from './outcomes.js';
import type { Invoker } from './invoker.js';
import type { Route } from './jobs.js';
import type { QueueWeight } from './config.js';
import type { Logger } from './log.js';
import { Heartbeat, makeIdentity, type WorkEntry } from './heartbeat.js';
import { Stats } from './stats.js';
import { PollerCounters } from './poller-counters.js';

export interface PollerOptions {
  readonly redis: Redis;
  /** Makes a connection for blocking fetches (one per queue, made when the poller is idle). */
  readonly blockingConnection: () => Redis;
  readonly routes: readonly Route[];
  readonly queues: readonly QueueWeight[];
  readonly invoker: Invoker;
  readonly log: Logger;
  /** @defaultValue 100 */
  readonly maxInFlight?: number;
  /** @defaultValue 25 */
  readonly shutdownTimeoutSeconds?: number;
  readonly namespace?: string;
  /** @defaultValue 7 */
  readonly sidekiqVersion?: SidekiqVersion;
  readonly identity?: string;
  readonly tag?: string;
  /** Log job arguments (debug only: they hold customer data). @defaultValue false */
  readonly logArgs?: boolean;
  /** @defaultValue 5000 */
  readonly heartbeatIntervalMs?: number;
  /** @defaultValue 60 — seconds a process entry outlives its last heartbeat (Sidekiq's TTL). */
  readonly processTtlSeconds?: number;
  /** @defaultValue 15000 */
  readonly recoveryIntervalMs?: number;
  readonly version?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Poller {
  readonly identity: string;
  readonly keys: Keys;
  readonly counters = new PollerCounters();
  private readonly fetcher: Fetcher;
  private readonly version: SidekiqVersion;
  private readonly routes = new Map<string, Route>();
  private readonly limiters = new Map<string, ClassLimiter>();
  private readonly queueClasses = new Map<string, string[]>();
  private readonly queueNames: string[];
  private readonly maxInFlight: number;
  private readonly stats = new Stats();
  private readonly heartbeat: Heartbeat;
  private readonly work = new Map<string, WorkEntry>();
  /** Raw payloads in flight (a multiset), for reconciling our lists after a reconnect. */
  private readonly known = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly wake = new Wake();
  private inFlight = 0;
  /** Jobs to let finish before the next fetch while busy (see the loop). */
  private readonly refillChunk: number;
  private refillWaited = false;
  private tid = 0;
  private quiet = false;
  private stopping = false;
  private needsReconcile = false;
  private loopDone?: Promise<void>;
  private recoveryTimer?: NodeJS.Timeout;
  private stopped?: Promise<void>;
  private pastDeadline = false;
  /** Resolves when the poller has stopped (after `stop()`, SIGTERM or a Stop from the Web UI). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly opts: PollerOptions) {
    this.identity = opts.identity ?? makeIdentity();
    this.keys = makeKeys(opts.namespace);
    this.version = opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION;
    this.maxInFlight = opts.maxInFlight ?? 100;
    this.refillChunk = Math.max(1, Math.floor(this.maxInFlight / 8));
    for (const r of opts.routes) {
      this.routes.set(r.class, r);
      this.limiters.set(r.class, new ClassLimiter(r.concurrency));
      const list = this.queueClasses.get(r.queue) ?? [];
      list.push(r.class);
      this.queueClasses.set(r.queue, list);
    }
    this.queueNames = [...new Set(opts.queues.map((q) => q.name))];
    this.fetcher = new Fetcher(opts.redis, opts.blockingConnection, this.keys, this.identity);
    this.done = new Promise((r) => (this.resolveDone = r));
    this.heartbeat = new Heartbeat({
      redis: opts.redis,
      keys: this.keys,
      identity: this.identity,
      tag: opts.tag ?? '',
      labels: ['sidekiq-lambda'],
      concurrency: this.maxInFlight,
      queues: [...opts.queues],
      version: opts.version ?? 'sidekiq-lambda',
      source: { busy: () => this.inFlight, work: () => this.work.values(), quiet: () => this.quiet || this.stopping },
      stats: this.stats,
      intervalMs: opts.heartbeatIntervalMs,
      ttlSeconds: opts.processTtlSeconds,
      onSignal: (sig) => {
        if (sig === 'TSTP') this.setQuiet();
        else if (sig === 'TERM') void this.stop();
      },
      log: (o) => opts.log({ level: 'info', msg: 'heartbeat', ...o }),
    });
    const reconnected = (): void => {
      this.needsReconcile = true;
      // Other pollers' heartbeats may have lapsed while Redis was away: give them one TTL to beat
      // again before treating them as dead (recovering a live poller's jobs runs them twice).
      this.recoverNotBefore = Date.now() + (opts.processTtlSeconds ?? 60) * 1000;
      this.wake.notify();
    };
    let connected = opts.redis.status === 'ready';
    opts.redis.on('ready', () => {
      if (connected) reconnected();
      connected = true;
    });
    this.fetcher.onBlockerReconnect = reconnected;
  }

  /** Registers, recovers orphans, starts the heartbeat and the fetch loop. */
  async start(): Promise<void> {
    await this.heartbeat.start();
    await this.fetcher.register(this.queueNames);
    await this.recover();
    this.needsReconcile = false;
    this.recoveryTimer = setInterval(() => void this.recover(), this.opts.recoveryIntervalMs ?? 15_000);
    this.recoveryTimer.unref();
    this.loopDone = this.loop();
    this.opts.log({ msg: 'poller started', identity: this.identity, queues: this.queueNames, classes: [...this.routes.keys()], maxInFlight: this.maxInFlight });
  }

  /** Quiet (TSTP): stop fetching; running jobs finish. */
  setQuiet(): void {
    if (this.quiet) return;
    this.quiet = true;
    this.opts.log({ msg: 'quiet: no longer fetching', identity: this.identity });
    this.wake.notify();
  }

  /** Graceful stop: quiet, wait for in-flight jobs up to the deadline, clear the heartbeat. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.wake.notify();
      if (this.recoveryTimer) clearInterval(this.recoveryTimer);
      // The deadline starts now and bounds every wait below, even one stuck on an unreachable Redis.
      const deadlineAt = Date.now() + (this.opts.shutdownTimeoutSeconds ?? 25) * 1000;
      const withinDeadline = async (p: Promise<unknown>): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadlineAt - Date.now()))));
        const done = await Promise.race([p.then(() => false), expired]);
        clearTimeout(timer);
        return !done;
      };
      let timedOut = !(await withinDeadline(this.loopDone ?? Promise.resolve())) || !(await withinDeadline(this.fetcher.closeWatches()));
      // Work can start while we wait (a too-large batch split into single jobs): wait for it too.
      while (!timedOut && this.running.size > 0) timedOut = !(await withinDeadline(Promise.all([...this.running])));
      this.pastDeadline = timedOut;
      if (timedOut) {
        this.opts.log({ level: 'warn', msg: 'shutdown deadline reached: jobs still running stay in flight and will be recovered', jobs: this.inFlight });
      }
      // Bounded too: clearing the heartbeat must not hold the exit while Redis is away.
      const grace = (p: Promise<unknown>): Promise<unknown> => Promise.race([p.catch(() => undefined), sleep(5000)]);
      await grace(this.heartbeat.stop());
      if (!timedOut) await grace(this.fetcher.unregisterIfEmpty(this.queueNames));
      this.opts.log({ msg: 'poller stopped', identity: this.identity });
      this.resolveDone();
    })();
    return this.stopped;
  }

  /**
   * Writes an outcome, retrying with backoff while Redis refuses (OOM, READONLY after a failover,
   * BUSY): repeating is safe, as a settle writes only while the job is still in flight. Gives up
   * only after the shutdown deadline, when the job stays in flight for recovery. Resolves false
   * when the job was no longer in flight (see `notOurs`).
   */
  private async settleDurably(job: Fetched, outcome: Outcome, jid?: unknown): Promise<boolean> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await this.fetcher.settle(job, outcome, Date.now());
      } catch (e) {
        if (this.pastDeadline) throw e;
        this.opts.log({ level: 'error', msg: "could not write a job's outcome; retrying", jid, queue: job.queue, outcome: outcome.mode, error: (e as Error).message, retryInMs: delay });
        await sleep(delay);
      }
    }
  }

  /** In flight now, for /stats and the heartbeat. */
  busy(): number {
    return this.inFlight;
  }

  /** Why the poller is unhealthy, or undefined (for /healthz). */
  problem(): string | undefined {
    if (this.opts.redis.status !== 'ready') return `Redis connection is ${this.opts.redis.status}`;
    if (this.stopping) return 'stopping';
    return undefined;
  }

  /** The numbers behind /stats. */
  snapshot(): object {
    const counts = this.counters.snapshot();
    return {
      identity: this.identity,
      quiet: this.quiet,
      stopping: this.stopping,
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      fetched: this.counters.fetchedTotal,
      fetchLagMs: { last: this.counters.lastLagMs, average: Math.round(this.counters.avgLagMs) },
      classes: Object.fromEntries(
        [...this.routes.keys()].map((cls) => {
          const l = this.limiters.get(cls)!;
          return [cls, { inFlightInvocations: l.inFlight, limit: l.limit, cap: l.cap, ...(counts[cls] ?? { processed: 0, failed: 0, throttled: 0 }) }];
        }),
      ),
    };
  }

  private recovering = false;
  private recoverNotBefore = 0;

  private async recover(): Promise<void> {
    // One pass at a time: during a Redis outage the timer would otherwise stack passes that all
    // run at once on reconnect, before any heartbeat has renewed its process key.
    if (this.recovering || Date.now() < this.recoverNotBefore) return;
    this.recovering = true;
    try {
      await this.fetcher.recoverOrphans((o) => this.opts.log(o as { msg: string }));
    } catch (e) {
      this.opts.log({ level: 'warn', msg: 'orphan recovery failed; will try again', error: (e as Error).message });
    } finally {
      this.recovering = false;
    }
  }

  /** Jobs each queue may give now: every class on it must have room; the global cap bounds all. */
  private capacity(): Map<string, number> {
    const global = this.maxInFlight - this.inFlight;
    const caps = new Map<string, number>();
    for (const q of this.queueNames) {
      let room = global;
      for (const cls of this.queueClasses.get(q) ?? []) {
        room = Math.min(room, this.limiters.get(cls)!.spare() * this.routes.get(cls)!.batchSize);
      }
      caps.set(q, Math.max(0, room));
    }
    return caps;
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.stopping) {
      try {
        if (this.needsReconcile) {
          this.needsReconcile = false;
          const n = await this.fetcher.reconcile(this.queueNames, this.known);
          if (n > 0) this.opts.log({ level: 'warn', msg: 'requeued jobs left in flight by a lost fetch reply', jobs: n });
        }
        if (this.quiet) {
          await this.wake.wait(1000);
          continue;
        }
        const caps = this.capacity();
        const total = this.maxInFlight - this.inFlight;
        const order = queueOrder(this.opts.queues).filter((q) => (caps.get(q) ?? 0) > 0);
        if (total <= 0 || order.length === 0) {
          await this.wake.wait(1000);
          continue;
        }
        // Refill in chunks, not one job per completion: while busy, wait (≤ 2 ms) until room for
        // an eighth of the cap has freed, so one fetch round trip serves many jobs.
        const fetchable = order.reduce((n, q) => n + caps.get(q)!, 0);
        if (this.inFlight > 0 && fetchable < this.refillChunk && !this.refillWaited) {
          this.refillWaited = true;
          await this.wake.wait(2);
          continue;
        }
        this.refillWaited = false;
        let batch = await this.fetcher.fetch(order, caps, total);
        if (batch.length === 0) {
          // Every eligible queue is empty: wait on all of them at once until a job arrives.
          await this.fetcher.watch(order, 1, (job) => this.onWatched(job), (e) => this.opts.log({ level: 'warn', msg: 'blocking fetch failed', error: e.message }));
          continue;
        }
        this.counters.fetched(batch.length);
        this.dispatch(batch);
        backoff = 100;
      } catch (e) {
        this.opts.log({ level: 'error', msg: 'fetch failed; retrying', error: (e as Error).message, retryInMs: backoff });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /**
   * A job an idle watch moved into flight. After Quiet or Stop, or when it does not fit under the
   * caps, it goes back to the end of its queue that is fetched next, as Sidekiq requeues a job
   * popped after quiet.
   */
  private onWatched(job: Fetched): void {
    // Watches on several queues can each bring a job after the loop has filled the caps again:
    // one that does not fit goes back too, so the poller never holds more than it runs.
    if (this.quiet || this.stopping || !((this.capacity().get(job.queue) ?? 0) > 0)) {
      this.track(job.raw, +1);
      this.spawn(this.settleDurably(job, { mode: 'requeue' }).then(() => undefined).finally(() => this.track(job.raw, -1)));
      return;
    }
    this.counters.fetched(1);
    this.dispatch([job]);
  }

  /** Parses, routes and groups a fetched batch; starts one invocation per group. */
  private dispatch(batch: readonly Fetched[]): void {
    const groups = new Map<string, RunningJob[]>();
    for (const f of batch) {
      this.track(f.raw, +1);
      const parsed = readJob(f.raw);
      if (isMalformed(parsed)) {
        this.spawn(this.bury(f, parsed.reason));
        continue;
      }
      const j: RunningJob = { raw: f.raw, queue: f.queue, job: parsed.job };
      const enqueued = readTimestamp(parsed.job.enqueued_at);
      if (enqueued !== undefined) this.counters.lag(Date.now() - enqueued);
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

  private track(raw: string, delta: 1 | -1): void {
    const n = (this.known.get(raw) ?? 0) + delta;
    if (n <= 0) this.known.delete(raw);
    else this.known.set(raw, n);
    this.inFlight += delta;
    if (delta < 0) this.wake.notify();
  }

  private planContext() {
    return { now: Date.now(), version: this.version };
  }

  /** Runs one batch of one class: holds one of the class's invocation slots until it settles. */
  private async invoke(route: Route, jobs: RunningJob[]): Promise<void> {
    const limiter = this.limiters.get(route.class)!;
    limiter.inFlight++;
    const tids = jobs.map((j) => {
      const tid = (++this.tid).toString(36);
      this.work.set(tid, { tid, queue: j.queue, payload: j.raw, runAt: Date.now() });
      return tid;
    });
    try {
      const settled = await this.call(route, limiter, jobs);
      // A batch too large together may fit alone: send each job on its own, one after another in
      // the same slot, so the class's cap holds. (A single job too large was settled as dead.)
      if (!settled) for (const j of jobs) await this.call(route, limiter, [j]);
    } finally {
      limiter.inFlight--;
      for (const t of tids) this.work.delete(t);
      this.wake.notify();
    }
  }

  /** One Invoke and its outcomes; false (nothing settled) when a batch of several was too large. */
  private async call(route: Route, limiter: ClassLimiter, jobs: RunningJob[]): Promise<boolean> {
    const started = Date.now();
    const event = JSON.stringify(makeEvent(jobs.map((j) => ({ payload: j.raw, queue: j.queue }))));
    const result = await this.opts.invoker.invoke(route.function, event, route.timeoutSeconds);
    if (result.kind === 'too-large' && jobs.length > 1) return false;
    if (result.kind === 'throttled') {
      // Start nothing new for this class for a while; the timer wakes the loop when it may.
      setTimeout(() => this.wake.notify(), limiter.onThrottle() + 1).unref();
      this.counters.throttled(route.class, jobs.length);
    } else if (result.kind === 'config') {
      this.opts.log({ level: 'error', msg: `Lambda refused to invoke ${route.function}: fix the deploy; jobs retry meanwhile`, errorType: result.errorType, error: result.message, class: route.class });
    } else limiter.onSuccess();
    await this.finish(route, jobs, planInvocation(result, jobs, Buffer.byteLength(event), this.planContext()), started);
    return true;
  }

  /** Writes each job's outcome, counts it, logs one line per job. */
  private async finish(route: Route | undefined, jobs: readonly RunningJob[], plans: readonly Plan[], started = Date.now()): Promise<void> {
    const ms = Date.now() - started;
    await Promise.all(
      jobs.map(async (j, i) => {
        const plan = plans[i]!;
        const outcome = outcomeOf(plan, Date.now());
        let written: boolean;
        try {
          written = await this.settleDurably({ queue: j.queue, raw: j.raw }, outcome, j.job.jid);
        } finally {
          this.track(j.raw, -1);
        }
        const cls = route?.class ?? displayClass(j.job);
        if (!written) {
          this.notOurs(j.queue, j.job.jid, cls);
          return;
        }
        if (plan.kind === 'ok') {
          this.stats.processed();
          this.counters.processed(cls);
        } else if (plan.kind === 'failed') {
          this.stats.processed();
          this.stats.failed();
          this.counters.failed(cls);
        }
        this.logOutcome(j, cls, plan, ms);
      }),
    );
  }

  private logOutcome(j: RunningJob, cls: string, plan: Plan, ms: number): void {
    if (plan.kind === 'ok' && this.opts.log.enabled?.('info') === false) return;
    this.opts.log(outcomeLine(j, cls, plan, ms, this.opts.logArgs ?? false));
  }

  /**
   * An outcome that found its job no longer in flight: another poller recovered it while this
   * one's heartbeat had lapsed, and the recovered copy runs again (at-least-once). Nothing was
   * written, so nothing is counted.
   */
  private notOurs(queue: string, jid: unknown, cls: string): void {
    this.opts.log({ level: 'warn', msg: 'outcome not written: the job was recovered by another poller and runs again there', jid, class: cls, queue });
  }

  /** A payload that cannot be run goes to the dead set exactly as it is. */
  private async bury(f: Fetched, reason: string): Promise<void> {
    let written: boolean;
    try {
      written = await this.settleDurably(f, { mode: 'dead', payload: f.raw, at: Date.now() });
    } finally {
      this.track(f.raw, -1);
    }
    if (!written) return this.notOurs(f.queue, undefined, '(malformed)');
    this.stats.processed();
    this.stats.failed();
    this.counters.failed('(malformed)');
    this.opts.log({ level: 'error', msg: 'malformed payload moved to the dead set', queue: f.queue, reason, bytes: f.raw.length });
  }
}
