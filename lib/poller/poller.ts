/**
 * The poller: fetch → invoke → acknowledge | retry | dead | requeue. The long-running process ECS
 * runs (Sidekiq's launcher and manager; the processor runs the jobs).
 *
 * Tasks:
 * 1. Fetch only what it can run: a queue is fetched only while every class declared on it has room
 *    under its cap and the global cap (the processor says how much); refill in chunks while busy,
 *    and block on every queue at once while idle.
 * 2. Hand each fetched batch to the processor; a job an idle watch brings that does not fit, or
 *    that arrives after Quiet or Stop, goes back to its queue.
 * 3. Show up in the Sidekiq Web UI (heartbeat, work hash, stats) and obey Quiet and Stop from it.
 * 4. Recover the in-flight jobs of dead pollers on start and periodically; after a Redis reconnect,
 *    requeue what a lost fetch reply left in our own lists, and give other pollers one TTL to beat
 *    again before recovering theirs.
 * 5. Stop gracefully: stop fetching, wait for in-flight jobs up to the deadline, then leave the
 *    rest in flight for recovery (at-least-once).
 */
import type { Redis } from 'ioredis';
import { Fetcher, queueOrder, type Fetched } from './fetch.js';
import { Wake } from './wake.js';
import { Processor } from './processor.js';
import { keys as makeKeys, type Keys } from '../protocol/keys.js';
import { DEFAULT_SIDEKIQ_VERSION, type SidekiqVersion } from '../protocol/time.js';
import type { Invoker } from '../lambda/invoker.js';
import type { Route } from '../jobs.js';
import type { QueueWeight } from '../config.js';
import type { Logger } from '../log.js';
import { Heartbeat, makeIdentity } from '../sidekiq/heartbeat.js';
import { Stats } from '../sidekiq/stats.js';
import { PollerCounters } from './counters.js';
import { onReconnect } from '../redis/connection.js';

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
  private readonly processor: Processor;
  private readonly routes: readonly Route[];
  private readonly queueNames: string[];
  private readonly maxInFlight: number;
  private readonly stats = new Stats();
  private readonly heartbeat: Heartbeat;
  private readonly wake = new Wake();
  /** Jobs to let finish before the next fetch while busy (see the loop). */
  private readonly refillChunk: number;
  private refillWaited = false;
  private quiet = false;
  private stopping = false;
  private needsReconcile = false;
  private recovering = false;
  private recoverNotBefore = 0;
  private loopDone?: Promise<void>;
  private recoveryTimer?: NodeJS.Timeout;
  private stopped?: Promise<void>;
  /** Resolves when the poller has stopped (after `stop()`, SIGTERM or a Stop from the Web UI). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly opts: PollerOptions) {
    this.identity = opts.identity ?? makeIdentity();
    this.keys = makeKeys(opts.namespace);
    this.maxInFlight = opts.maxInFlight ?? 100;
    this.refillChunk = Math.max(1, Math.floor(this.maxInFlight / 8));
    this.routes = opts.routes;
    this.queueNames = [...new Set(opts.queues.map((q) => q.name))];
    this.fetcher = new Fetcher(opts.redis, opts.blockingConnection, this.keys, this.identity);
    this.processor = new Processor({
      fetcher: this.fetcher,
      invoker: opts.invoker,
      routes: opts.routes,
      maxInFlight: this.maxInFlight,
      version: opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION,
      stats: this.stats,
      counters: this.counters,
      log: opts.log,
      logArgs: opts.logArgs ?? false,
      onRoom: () => this.wake.notify(),
    });
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
      source: { busy: () => this.processor.inFlight, work: () => this.processor.work(), quiet: () => this.quiet || this.stopping },
      stats: this.stats,
      intervalMs: opts.heartbeatIntervalMs,
      ttlSeconds: opts.processTtlSeconds,
      onSignal: (sig) => {
        if (sig === 'TSTP') this.setQuiet();
        else if (sig === 'TERM') void this.stop();
      },
      log: (o) => opts.log({ level: 'info', msg: 'heartbeat', ...o }),
    });
    // After any reconnect a fetch reply may have been lost: reconcile our in-flight lists.
    const reconcileSoon = (): void => {
      this.needsReconcile = true;
      this.wake.notify();
    };
    onReconnect(opts.redis, () => {
      // Other pollers' heartbeats may have lapsed while Redis was away: give them one TTL to beat
      // again before treating them as dead (recovering a live poller's jobs runs them twice). A
      // hold already running is not extended, so a flapping connection cannot hold recovery off.
      const now = Date.now();
      if (now >= this.recoverNotBefore) this.recoverNotBefore = now + (opts.processTtlSeconds ?? 60) * 1000;
      reconcileSoon();
    });
    this.fetcher.onBlockerReconnect = reconcileSoon;
  }

  /** Registers, recovers orphans, starts the heartbeat and the fetch loop. */
  async start(): Promise<void> {
    await this.heartbeat.start();
    await this.fetcher.register(this.queueNames);
    await this.recover();
    this.recoveryTimer = setInterval(() => void this.recover(), this.opts.recoveryIntervalMs ?? 15_000);
    this.recoveryTimer.unref();
    this.loopDone = this.loop();
    this.opts.log({ msg: 'poller started', identity: this.identity, queues: this.queueNames, classes: this.routes.map((r) => r.class), maxInFlight: this.maxInFlight });
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
      this.processor.quiesce();
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
      // Work can start while we wait (a late watch's job put back): wait for it too.
      while (!timedOut && this.processor.busy) timedOut = !(await withinDeadline(this.processor.settled()));
      if (timedOut) {
        this.processor.giveUp();
        this.opts.log({ level: 'warn', msg: 'shutdown deadline reached: jobs still running stay in flight and will be recovered', jobs: this.processor.inFlight });
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

  /** In flight now, for /stats and the heartbeat. */
  busy(): number {
    return this.processor.inFlight;
  }

  /** Why the poller is unhealthy, or undefined (for /healthz). */
  problem(): string | undefined {
    if (this.opts.redis.status !== 'ready') return `Redis connection is ${this.opts.redis.status}`;
    if (this.stopping) return 'stopping';
    return undefined;
  }

  /** The numbers behind /stats. */
  snapshot(): object {
    return {
      identity: this.identity,
      quiet: this.quiet,
      stopping: this.stopping,
      inFlight: this.processor.inFlight,
      maxInFlight: this.maxInFlight,
      fetched: this.counters.fetchedTotal,
      fetchLagMs: { last: this.counters.lastLagMs, average: Math.round(this.counters.avgLagMs) },
      classes: this.processor.classes(),
    };
  }

  private async recover(): Promise<void> {
    // One pass at a time: during a Redis outage the timer would otherwise stack passes that all
    // run at once on reconnect, before any heartbeat has renewed its process key.
    // Not while Redis is away either: a pass parked in the offline queue would run after the
    // reconnect, before other pollers have beaten again; and a pass stops if that happens midway.
    const mayRecover = (): boolean => this.opts.redis.status === 'ready' && Date.now() >= this.recoverNotBefore && !this.stopping;
    if (this.recovering || !mayRecover()) return;
    this.recovering = true;
    try {
      await this.fetcher.recoverOrphans((o) => this.opts.log(o as { msg: string }), mayRecover);
    } catch (e) {
      this.opts.log({ level: 'warn', msg: 'orphan recovery failed; will try again', error: (e as Error).message });
    } finally {
      this.recovering = false;
    }
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.stopping) {
      try {
        if (this.needsReconcile) {
          this.needsReconcile = false;
          let n: number;
          try {
            n = await this.fetcher.reconcile(this.queueNames, this.processor.known);
          } catch (e) {
            this.needsReconcile = true; // a reconcile Redis refused is tried again
            throw e;
          }
          if (n > 0) this.opts.log({ level: 'warn', msg: 'requeued jobs left in flight by a lost fetch reply', jobs: n });
        }
        if (this.quiet) {
          await this.wake.wait(1000);
          continue;
        }
        const caps = this.processor.capacity(this.queueNames);
        const total = this.maxInFlight - this.processor.inFlight;
        const order = queueOrder(this.opts.queues).filter((q) => (caps.get(q) ?? 0) > 0);
        // Waits for room end by 1 s at the latest, or when a class's throttle pause ends.
        const pause = this.processor.pauseEndsInMs();
        const idleMs = pause > 0 ? Math.min(pause + 1, 1000) : 1000;
        if (total <= 0 || order.length === 0) {
          await this.wake.wait(idleMs);
          continue;
        }
        // Refill in chunks, not one job per completion: while busy, wait (≤ 2 ms) until room for
        // an eighth of the cap has freed, so one fetch round trip serves many jobs.
        const fetchable = order.reduce((n, q) => n + caps.get(q)!, 0);
        if (this.processor.inFlight > 0 && fetchable < this.refillChunk && !this.refillWaited) {
          this.refillWaited = true;
          await this.wake.wait(2);
          continue;
        }
        this.refillWaited = false;
        const batch = await this.fetcher.fetch(order, caps, total);
        if (batch.length === 0) {
          // Every eligible queue is empty: wait on all of them at once until a job arrives, or
          // until a class's throttle pause ends (its queue is not watched meanwhile).
          const watched = this.fetcher.watch(order, 1, (job) => this.onWatched(job), (e) => this.opts.log({ level: 'warn', msg: 'blocking fetch failed', error: e.message }));
          await (pause > 0 ? Promise.race([watched, sleep(idleMs)]) : watched);
          continue;
        }
        this.counters.fetched(batch.length);
        this.processor.dispatch(batch);
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
   * caps (watches on several queues can each bring one after the loop has filled the caps again),
   * it goes back to the end of its queue that is fetched next, as Sidekiq requeues a job popped
   * after quiet: the poller never holds more than it runs.
   */
  private onWatched(job: Fetched): void {
    if (this.quiet || this.stopping || !((this.processor.capacity([job.queue]).get(job.queue) ?? 0) > 0)) {
      this.processor.requeue(job);
      return;
    }
    this.counters.fetched(1);
    this.processor.dispatch([job]);
  }
}
