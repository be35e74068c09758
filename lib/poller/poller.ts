/**
 * The poller: fetch → invoke → acknowledge | retry | dead | requeue. The long-running process ECS
 * runs; this module is its launcher (Sidekiq's word): it starts and stops the parts, which are the
 * manager (what to fetch and start), the processor (one batch's Invoke and outcomes), reliable
 * fetch, the class leases and the heartbeat; the screen (expired jobs, features Lambda cannot
 * honour) and routing see every fetched job first, and sidekiq-unique-jobs' locks are kept around
 * every run.
 *
 * Tasks:
 * 1. Start: beat before registering (so no other poller takes this one for dead), register,
 *    recover dead pollers' jobs, then let the manager fetch.
 * 2. Show up in the Sidekiq Web UI (heartbeat, work hash, stats) and obey Quiet and Stop from it.
 * 3. Recover the in-flight jobs and leases of dead pollers on start and periodically; after a
 *    Redis reconnect, reconcile our own lists and give other pollers one TTL to beat again before
 *    recovering theirs.
 * 4. Stop gracefully: stop fetching, put back jobs waiting for a slot, wait for running jobs up to
 *    one deadline, then leave the rest in flight for recovery (at-least-once).
 * 5. Say why it is unhealthy (/healthz): a fetch stuck on a connected Redis, or Redis away longer
 *    than a failover takes — not a reconnect that is still within bounds.
 * 6. On ECS, hold task scale-in protection while jobs run (`protection.ts`), released on stop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { keys as makeKeys, type Keys } from '../protocol/keys.js';
import { DEFAULT_SIDEKIQ_VERSION, type SidekiqVersion } from '../protocol/time.js';
import type { Invoker } from '../lambda/invoker.js';
import type { Route } from '../jobs.js';
import type { QueueWeight } from '../config.js';
import type { Logger } from '../log.js';
import { Heartbeat, makeIdentity } from '../sidekiq/heartbeat.js';
import { Stats } from '../sidekiq/stats.js';
import { onReconnect } from '../redis/connection.js';
import { Fetcher } from './fetch.js';
import { Processor } from './processor.js';
import { Manager } from './manager.js';
import { Leases } from './leases.js';
import { PollerCounters } from './counters.js';
import { TaskProtection } from './protection.js';
import { Router } from './router.js';
import { RunRecorder } from './recorder.js';
import { Screen } from './screen.js';
import { UniqueHook } from './uniqueness.js';
import { UniqueLocks } from '../sidekiq/unique.js';
import { lambdaQueueOf } from '../config.js';

export interface PollerOptions {
  readonly redis: Redis;
  /** Makes a dedicated connection: one per watched queue (blocking), one for lease announcements. */
  readonly blockingConnection: () => Redis;
  readonly routes: readonly Route[];
  readonly queues: readonly QueueWeight[];
  readonly invoker: Invoker;
  readonly log: Logger;
  /** Jobs running at once, all classes together. @defaultValue 100 */
  readonly maxInFlight?: number;
  /** Jobs fetched ahead, waiting for a slot of their class. @defaultValue twice `maxInFlight` */
  readonly maxWaiting?: number;
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
  /** @defaultValue 30000 — a fetch (or a watch past its timeout) on a connected Redis unanswered this long means the loop is stuck. */
  readonly stuckAfterMs?: number;
  /** @defaultValue 120000 — Redis away longer than this (a failover takes less) makes the poller unhealthy. */
  readonly redisAwayLimitMs?: number;
  readonly version?: string;
  /** ECS task scale-in protection while jobs run: the agent's URI and the longest stretch (0: off). */
  readonly protection?: { readonly agentUri?: string; readonly maxMinutes: number };
}


export class Poller {
  readonly identity: string;
  readonly keys: Keys;
  readonly counters = new PollerCounters();
  private readonly fetcher: Fetcher;
  private readonly manager: Manager;
  private readonly leases: Leases;
  private readonly subscriber: Redis;
  private readonly stats = new Stats();
  private readonly heartbeat: Heartbeat;
  private readonly router: Router;
  private readonly screen: Screen;
  private readonly recorder: RunRecorder;
  private readonly queueNames: string[];
  private readonly maxInFlight: number;
  /** Shared with the processor and the manager. */
  private readonly state = { quiescing: false, givenUp: false };
  private quiet = false;
  private stopping = false;
  private recovering = false;
  private recoverNotBefore = 0;
  private redisAwaySince?: number;
  private recoveryTimer?: NodeJS.Timeout;
  private protection?: TaskProtection;
  private stopped?: Promise<void>;
  /** Resolves when the poller has stopped (after `stop()`, SIGTERM or a Stop from the Web UI). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly opts: PollerOptions) {
    this.identity = opts.identity ?? makeIdentity();
    this.keys = makeKeys(opts.namespace);
    this.maxInFlight = opts.maxInFlight ?? 100;
    this.queueNames = [...new Set(opts.queues.map((q) => q.name))];
    this.fetcher = new Fetcher(opts.redis, opts.blockingConnection, this.keys, this.identity);
    this.subscriber = opts.blockingConnection();
    this.leases = new Leases({
      redis: opts.redis,
      subscriber: this.subscriber,
      keys: this.keys,
      identity: this.identity,
      caps: new Map(opts.routes.map((r) => [r.class, r.concurrency])),
      onChange: () => this.manager.kick(),
      log: opts.log,
    });
    const givenUp = (): boolean => this.state.givenUp;
    const unique = new UniqueHook({ locks: new UniqueLocks(opts.redis, this.keys), log: opts.log, givenUp });
    const processor = new Processor(
      { fetcher: this.fetcher, invoker: opts.invoker, version: opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION, stats: this.stats, counters: this.counters, log: opts.log, logArgs: opts.logArgs ?? false, unique, routing: () => this.router.view() },
      this.state,
    );
    this.router = new Router({ redis: opts.redis, keys: this.keys, fetcher: this.fetcher, routes: opts.routes, drained: this.queueNames, identity: this.identity, log: opts.log, givenUp });
    // Every fetched job passes the screen (expired, features Lambda cannot honour), which asks the router.
    this.screen = new Screen({ processor, router: this.router, counters: this.counters, drained: this.queueNames, log: opts.log });
    this.recorder = new RunRecorder({ redis: opts.redis, keys: this.keys, version: opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION, log: opts.log });
    this.counters.onRun = (cls, ok, ms) => this.recorder.record(cls, ok, ms);
    // A class whose queue Ruby shares is fetched from its Lambda queue.
    const drained = opts.routes.map((r) => ({ ...r, queue: lambdaQueueOf(r) }));
    this.manager = new Manager({ fetcher: this.fetcher, processor, state: this.state, leases: this.leases, routes: drained, queues: opts.queues, maxInFlight: this.maxInFlight, maxWaiting: opts.maxWaiting ?? 2 * this.maxInFlight, counters: this.counters, log: opts.log, router: this.screen });
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
      source: { busy: () => this.manager.runningJobs, work: () => this.manager.entries(), quiet: () => this.quiet || this.stopping },
      stats: this.stats,
      intervalMs: opts.heartbeatIntervalMs,
      ttlSeconds: opts.processTtlSeconds,
      onSignal: (sig) => {
        if (sig === 'TSTP') this.setQuiet();
        else if (sig === 'TERM') void this.stop();
      },
      log: (o) => opts.log.info('heartbeat', { ...o }),
    });
    opts.redis.on('close', () => (this.redisAwaySince ??= Date.now()));
    opts.redis.on('ready', () => (this.redisAwaySince = undefined));
    onReconnect(opts.redis, () => {
      // Other pollers' heartbeats may have lapsed while Redis was away: give them one TTL to beat
      // again before treating them as dead (recovering a live poller's jobs runs them twice). A
      // hold already running is not extended, so a flapping connection cannot hold recovery off.
      const now = Date.now();
      if (now >= this.recoverNotBefore) this.recoverNotBefore = now + (opts.processTtlSeconds ?? 60) * 1000;
      this.manager.reconcileSoon();
    });
  }

  /** Beats, registers, recovers orphans, starts the periodic recovery and the manager. */
  async start(): Promise<void> {
    await this.heartbeat.start();
    await this.leases.ready;
    await this.fetcher.register(this.queueNames, this.opts.routes.map((r) => r.class));
    await this.recover();
    await this.router.start();
    this.recorder.start();
    this.recoveryTimer = setInterval(() => void this.recover(), this.opts.recoveryIntervalMs ?? 15_000);
    this.recoveryTimer.unref();
    this.manager.kick();
    const p = this.opts.protection;
    if (p?.agentUri && p.maxMinutes > 0) {
      this.protection = new TaskProtection({ agentUri: p.agentUri, maxMinutes: p.maxMinutes, running: () => this.running(), log: this.opts.log }).start();
    }
    this.opts.log.info('poller started', { identity: this.identity, queues: this.queueNames, classes: this.opts.routes.map((r) => r.class), maxInFlight: this.maxInFlight });
  }

  /** Quiet (TSTP): fetch and start nothing more; running jobs finish, waiting ones go back. */
  setQuiet(): void {
    if (this.quiet) return;
    this.quiet = true;
    this.opts.log.info('quiet: no longer fetching', { identity: this.identity });
    this.manager.stopFetching();
  }

  /** Graceful stop: quiet, wait for running jobs up to the deadline, clear the heartbeat. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.state.quiescing = true;
      if (this.recoveryTimer) clearInterval(this.recoveryTimer);
      this.manager.stopFetching();
      // The deadline starts now and bounds every wait below, even one stuck on an unreachable Redis.
      const deadlineAt = Date.now() + (this.opts.shutdownTimeoutSeconds ?? 25) * 1000;
      let timedOut = false;
      while (!timedOut && this.manager.busy) {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadlineAt - Date.now()))));
        timedOut = await Promise.race([this.manager.settled().then(() => false), expired]);
        clearTimeout(timer);
      }
      if (timedOut) {
        this.state.givenUp = true;
        this.opts.log.warn('shutdown deadline reached: jobs still running stay in flight and will be recovered', { jobs: this.manager.inFlight });
      }
      // Bounded too, all at once: leaving Redis tidy must not hold the exit while Redis is away.
      this.router.stop();
      const tidy = Promise.all([this.leases.close(), this.heartbeat.stop(), this.recorder.stop(), timedOut ? undefined : this.fetcher.unregisterIfEmpty(this.queueNames), this.protection?.stop()]);
      await Promise.race([tidy.catch(() => undefined), sleep(5000)]);
      this.subscriber.disconnect();
      this.opts.log.info('poller stopped', { identity: this.identity });
      this.resolveDone();
    })();
    return this.stopped;
  }

  /** Jobs held now (running or waiting for a slot), for /stats and the heartbeat. */
  busy(): number {
    return this.manager.inFlight;
  }

  /** Jobs in running invocations, not those waiting for a slot of their class (for metrics and scaling). */
  running(): number {
    return this.manager.runningJobs;
  }

  /** Why the poller is unhealthy, or undefined (for /healthz). */
  problem(now = Date.now()): string | undefined {
    if (this.stopping) return 'stopping';
    if (this.redisAwaySince !== undefined && now - this.redisAwaySince > (this.opts.redisAwayLimitMs ?? 120_000)) {
      return `Redis has been unreachable for ${Math.round((now - this.redisAwaySince) / 1000)} s (connection ${this.opts.redis.status})`;
    }
    const stalled = this.manager.stalledForMs(now);
    if (this.opts.redis.status === 'ready' && stalled > (this.opts.stuckAfterMs ?? 30_000)) return `the fetch loop is stuck: Redis has not answered a fetch for ${Math.round(stalled / 1000)} s`;
    return undefined;
  }

  /** The numbers behind /stats. */
  snapshot(): object {
    return {
      identity: this.identity,
      quiet: this.quiet,
      stopping: this.stopping,
      inFlight: this.manager.inFlight,
      running: this.manager.runningJobs,
      maxInFlight: this.maxInFlight,
      fetched: this.counters.fetchedTotal,
      fetchLagMs: { last: this.counters.lastLagMs, average: Math.round(this.counters.avgLagMs) },
      classes: this.manager.classStats(),
      memory: process.memoryUsage(),
      routing: this.router.snapshot(),
      neighbours: this.screen.snapshot(),
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
      await this.fetcher.recoverOrphans(this.opts.log, this.opts.routes.map((r) => r.class), mayRecover);
    } catch (e) {
      this.opts.log.warn('orphan recovery failed; will try again', { error: (e as Error).message });
    } finally {
      this.recovering = false;
    }
  }
}
