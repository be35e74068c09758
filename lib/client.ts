/**
 * The producer: enqueue jobs for Ruby (or for our own poller), byte-compatible with `Sidekiq::Client`
 * (sidekiq-protocol.md §4).
 *
 * Tasks:
 * 1. `push` / `pushBulk`: validate, normalise (defaults under the item, a jid, `created_at`), and
 *    write immediate jobs with `SADD queues` + `LPUSH queue:<q>` and future ones with `ZADD schedule`
 *    (score in float seconds, `at` removed) — one round trip per batch.
 * 2. `performAsync` / `performIn` / `performAt` with Sidekiq's rules: a number under 1e9 is an
 *    interval, otherwise an epoch; a time not in the future means now.
 * 3. `defineJob`: a typed handle on a Ruby class (plain Sidekiq or ActiveJob).
 * 4. One client per process from `REDIS_URL`, reused across Lambda invocations.
 * 5. Honour the routing table (cached for a couple of seconds): the share of a routed class's jobs
 *    that runs on Lambda goes to the class's Lambda queue, marked with its original queue.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connect, ready } from './redis/connection.js';
import { clientConfigFromEnv, redisUrlOf } from './config.js';
import { keys as makeKeys, type Keys } from './protocol/keys.js';
import { writeObject } from './protocol/json.js';
import { DEFAULT_SIDEKIQ_VERSION, score, writeTimestamp, type EpochMs, type SidekiqVersion } from './protocol/time.js';
import { JobValidationError, generateJid, validateArgs, validateClass, validateJid, validateQueue, validateRetry } from './protocol/validate.js';
import { activeJobWrapperClass, wrapActiveJob } from './protocol/activejob.js';
import type { RetryOption } from './protocol/job.js';
import { decideRoute, jidDraw, routedClass, ROUTED_FROM, type RoutingView } from './protocol/routing.js';
import { loadView, RoutingCache } from './routing/table.js';

/** Options Sidekiq reads from a job; anything else passes through as a custom top-level key. */
export interface JobOptions {
  /** @defaultValue 'default' */
  queue?: string;
  /** @defaultValue true — 25 retries; a number: that many; false: no retry, no dead set. */
  retry?: RetryOption;
  retry_queue?: string;
  /** Seconds (Sidekiq 7.1.3+): stop retrying this long after the first failure. */
  retry_for?: number;
  backtrace?: boolean | number;
  dead?: boolean;
  tags?: string[];
  [custom: string]: unknown;
}

/** One job for {@link Client.push}. */
export interface PushItem extends JobOptions {
  class: string;
  args: unknown[];
  jid?: string;
  /** Run at this time (epoch seconds, or a Date). `push` always schedules it, even in the past, as Sidekiq does. */
  at?: number | Date;
}

/** Many jobs of one class for {@link Client.pushBulk}. */
export interface BulkItem extends JobOptions {
  class: string;
  args: unknown[][];
  /** One time for all, or one per job (epoch seconds or Dates). */
  at?: number | Date | (number | Date)[];
  /** @defaultValue 1000 — jobs per Redis round trip. */
  batchSize?: number;
}

export interface ClientOptions {
  /** A Redis URL or a connected ioredis client. @defaultValue `REDIS_URL`, else redis://127.0.0.1:6379/0 */
  redis?: string | Redis;
  /** The redis-namespace prefix of a Sidekiq 6 app. @defaultValue none */
  namespace?: string;
  /** The oldest Sidekiq that reads this Redis; 8 writes integer-ms timestamps. @defaultValue 7 */
  sidekiqVersion?: SidekiqVersion;
  /** Injected clock, for tests. @defaultValue Date.now */
  now?: () => EpochMs;
  /**
   * Send the share of a routed class that runs on Lambda to its Lambda queue, as the Ruby
   * middleware does (`sidekiq-lambda route`). The table is read at most every couple of seconds.
   * @defaultValue true
   */
  routing?: boolean;
}

/** A job's payload text with its options rendered; `render` adds one job's args and jid. */
interface PayloadTemplate {
  readonly queue: string;
  render(args: unknown[], jid: string): string;
}

const STANDARD = new Set(['class', 'args', 'jid', 'at', 'queue', 'retry', 'batchSize', 'created_at', 'enqueued_at']);
/** `perform_in`/`perform_at`: numbers below this are intervals in seconds (Sidekiq's rule). */
const INTERVAL_LIMIT = 1_000_000_000;

function toEpochMs(at: number | Date, path: string): EpochMs {
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at * 1000 : NaN;
  if (!Number.isFinite(ms)) throw new JobValidationError(path, 'must be epoch seconds or a Date');
  return ms;
}

/**
 * Enqueues Sidekiq jobs into Redis.
 *
 * @example
 * const client = new Client({ redis: process.env.REDIS_URL });
 * const jid = await client.push({ class: 'SolvedPuzzleJob', queue: 'solved', args: ['p1', '123…'] });
 */
export class Client {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly version: SidekiqVersion;
  private readonly url: string;
  private readonly ownsConnection: boolean;
  /** The clock (injectable for tests). */
  readonly now: () => EpochMs;
  private readonly routing?: RoutingCache;

  constructor(opts: ClientOptions = {}) {
    if (typeof opts.redis === 'object') {
      this.redis = opts.redis;
      this.url = `${opts.redis.options.host}:${opts.redis.options.port}`;
      this.ownsConnection = false;
    } else {
      this.url = opts.redis ?? redisUrlOf(process.env);
      this.redis = connect(this.url, { profile: 'producer', name: 'sidekiq-lambda-client' });
      this.ownsConnection = true;
    }
    this.keys = makeKeys(opts.namespace);
    this.version = opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION;
    this.now = opts.now ?? Date.now;
    if (opts.routing !== false) this.routing = new RoutingCache(() => loadView(this.redis, this.keys));
  }

  /**
   * The routing hook: the view when `item`'s class has a route (so its jobs need a fixed jid and a
   * decision), else undefined — an unrouted class's payload is exactly as without routing.
   */
  private async routes(item: { class: string; wrapped?: unknown }): Promise<RoutingView | undefined> {
    if (!this.routing) return undefined;
    await this.ready(); // an unreachable Redis fails here, bounded and naming the server
    const view = await this.routing.get();
    return view.routes.has(routedClass(item as { class: string; wrapped?: string })) ? view : undefined;
  }

  /** `item` as the route sends the job `jid`: its Lambda share on the class's Lambda queue, marked with its queue. */
  private routed<T extends JobOptions & { class: string; wrapped?: unknown }>(view: RoutingView | undefined, item: T, jid: string): T {
    if (!view) return item;
    const cls = routedClass(item as { class: string; wrapped?: string });
    const d = view.declared.get(cls);
    const queue = item.queue ?? 'default';
    if (!d || d.lambdaQueue === queue || decideRoute(view.routes, cls, jidDraw(jid)) !== 'lambda') return item;
    return { ...item, queue: d.lambdaQueue, [ROUTED_FROM]: queue };
  }

  /**
   * Validates a job's options once and returns its payload text around `args` and `jid`: defaults,
   * the caller's options, class | args, jid | timestamps (Ruby's key order). Shared by `push` and
   * `pushBulk`, so both write the same bytes; a bulk push renders each job with two concatenations.
   */
  private template(item: JobOptions & { class: string }, createdAt: EpochMs, enqueuedAt?: EpochMs): PayloadTemplate {
    const cls = validateClass(item.class);
    const queue = validateQueue(item.queue ?? 'default');
    const retry = validateRetry(item.retry ?? true);
    if (item.tags !== undefined && !(Array.isArray(item.tags) && item.tags.every((t) => typeof t === 'string'))) {
      throw new JobValidationError('tags', 'must be an array of strings');
    }
    if (item.retry_for !== undefined && !(Number.isInteger(item.retry_for) && item.retry_for >= 0 && item.retry_for <= 1e9)) {
      throw new JobValidationError('retry_for', 'must be whole seconds from 0 to 1,000,000,000');
    }
    const custom: [string, unknown][] = [];
    for (const [k, v] of Object.entries(item)) {
      if (STANDARD.has(k) || v === undefined) continue;
      if (k !== 'tags') validateJsonOption(k, v);
      custom.push([k, v]);
    }
    const head = writeObject([['retry', retry], ['queue', queue], ...custom, ['class', cls]]).slice(0, -1) + ',"args":';
    const created = writeTimestamp(createdAt, this.version).text;
    const enqueued = enqueuedAt === undefined ? '' : `,"enqueued_at":${writeTimestamp(enqueuedAt, this.version).text}`;
    const tail = `","created_at":${created}${enqueued}}`;
    // `args` is validated JSON-native and `jid` is 24 hex characters, so neither needs more escaping.
    return { queue, render: (args, jid) => `${head}${JSON.stringify(args)},"jid":"${jid}${tail}` };
  }

  /** One job's payload text (see {@link Client.template}). */
  private payload(item: JobOptions & { class: string; args: unknown[]; jid?: string }, createdAt: EpochMs, enqueuedAt?: EpochMs): { json: string; jid: string; queue: string } {
    const { args, jid: given, ...options } = item;
    const tpl = this.template(options, createdAt, enqueuedAt);
    validateArgs(args);
    const jid = given === undefined ? generateJid() : validateJid(given);
    return { json: tpl.render(args, jid), jid, queue: tpl.queue };
  }

  /**
   * Pushes one job. With `at`, it goes to the `schedule` set (even if `at` is past, as
   * `Sidekiq::Client.push` does); otherwise to its queue. Returns the jid.
   */
  async push(item: PushItem): Promise<string> {
    const { at, ...given } = item;
    const view = await this.routes(given);
    let rest = given;
    if (view) {
      const jid = given.jid ?? generateJid(); // fixed now: the route's decision depends on it
      rest = this.routed(view, { ...given, jid }, jid);
    }
    const now = this.now();
    if (at !== undefined) {
      const when = toEpochMs(at, 'at');
      const p = this.payload(rest, now);
      await this.exec((m) => m.zadd(this.keys.schedule, score(when), p.json));
      return p.jid;
    }
    const p = this.payload(rest, now, now);
    await this.exec((m) => m.sadd(this.keys.queues, p.queue).lpush(this.keys.queue(p.queue), p.json));
    return p.jid;
  }

  /**
   * The bytes `push` would write for a job enqueued now, without writing them: for a caller that
   * pushes inside its own script (the cron scheduler claims a fire time and pushes in one step).
   *
   * @example
   * const { json, jid, queue } = client.render({ class: 'CleanupJob', queue: 'low', args: [] });
   */
  render(item: JobOptions & { class: string; args: unknown[]; jid?: string }): { json: string; jid: string; queue: string } {
    const now = this.now();
    return this.payload(item, now, now);
  }

  /**
   * Pushes many jobs of one class; each gets its own jid and all share one `created_at`.
   * One pipeline (one round trip) per `batchSize` jobs. Returns the jids in order.
   */
  async pushBulk(item: BulkItem): Promise<string[]> {
    const { args: list, at, batchSize = 1000, jid, ...rest } = item as BulkItem & { jid?: unknown };
    if (!Array.isArray(list)) throw new JobValidationError('args', 'must be an array of argument arrays');
    if (jid !== undefined) throw new JobValidationError('jid', 'cannot be given to pushBulk: every job gets its own');
    if (Array.isArray(at) && at.length !== list.length) {
      throw new JobValidationError('at', `has ${at.length} times for ${list.length} jobs; give one time or one per job`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new JobValidationError('batchSize', 'must be a positive integer');
    const now = this.now();
    const jids: string[] = [];
    const view = await this.routes(rest);
    // Options are the same for every job: validate and render them once (lazily, so an empty
    // list is a no-op as in Sidekiq), then each job costs its args check and two concatenations.
    // A routed class has two variants: Ruby's share, and Lambda's on the class's Lambda queue.
    const immediates = new Map<string, PayloadTemplate>();
    const scheduleds = new Map<string, PayloadTemplate>();
    for (let start = 0; start < list.length; start += batchSize) {
      const m = this.redis.pipeline();
      const byQueue = new Map<string, string[]>();
      const end = Math.min(start + batchSize, list.length);
      const random = randomBytes(12 * (end - start)).toString('hex'); // one call per batch, not per job
      for (let i = start; i < end; i++) {
        const args = list[i];
        if (!Array.isArray(args)) throw new JobValidationError(`args[${i}]`, 'must be an array of arguments');
        validateArgs(args, `args[${i}]`);
        const jid = random.slice(24 * (i - start), 24 * (i - start + 1));
        const atI = Array.isArray(at) ? at[i] : at;
        const options = this.routed(view, rest, jid);
        const variant = options === rest ? '' : 'lambda';
        if (atI !== undefined) {
          let scheduled = scheduleds.get(variant);
          if (!scheduled) scheduleds.set(variant, (scheduled = this.template(options, now)));
          m.zadd(this.keys.schedule, score(toEpochMs(atI, Array.isArray(at) ? `at[${i}]` : 'at')), scheduled.render(args, jid));
        } else {
          let immediate = immediates.get(variant);
          if (!immediate) immediates.set(variant, (immediate = this.template(options, now, now)));
          let q = byQueue.get(immediate.queue);
          if (!q) byQueue.set(immediate.queue, (q = []));
          q.push(immediate.render(args, jid));
        }
        jids.push(jid);
      }
      if (byQueue.size > 0) m.sadd(this.keys.queues, ...byQueue.keys());
      for (const [q, jsons] of byQueue) m.lpush(this.keys.queue(q), ...jsons);
      await this.run(m);
    }
    return jids;
  }

  /** `perform_async`: enqueue now. */
  performAsync(cls: string, ...args: unknown[]): Promise<string> {
    return this.push({ class: cls, args });
  }

  /** `perform_in`: run after `interval` seconds (a number ≥ 1e9 is taken as an epoch, as Sidekiq does). */
  performIn(interval: number, cls: string, ...args: unknown[]): Promise<string> {
    return this.push(this.scheduled({ class: cls, args }, interval));
  }

  /** `perform_at`: run at a time (epoch seconds or a Date); a past time means now. */
  performAt(time: number | Date, cls: string, ...args: unknown[]): Promise<string> {
    return this.push(this.scheduled({ class: cls, args }, time));
  }

  /** Sidekiq's `Setter#at` rule: intervals below 1e9 s are relative; not in the future means now. */
  scheduled<T extends object>(item: T, when: number | Date): Omit<T, 'at'> & { at?: number } {
    const nowMs = this.now();
    const ms = when instanceof Date ? when.getTime() : when < INTERVAL_LIMIT ? nowMs + when * 1000 : when * 1000;
    if (!Number.isFinite(ms)) throw new JobValidationError('at', 'must be a number of seconds, epoch seconds or a Date');
    const { at: _drop, ...rest } = item as T & { at?: unknown };
    return ms <= nowMs ? rest : { ...rest, at: ms / 1000 };
  }

  /** Waits until Redis answers (bounded), with an error naming the server otherwise. */
  ready(timeoutMs = 5000): Promise<void> {
    return ready(this.redis, this.url, timeoutMs);
  }

  private async exec(build: (m: ReturnType<Redis['pipeline']>) => unknown): Promise<void> {
    const m = this.redis.pipeline();
    build(m);
    await this.run(m);
  }

  private async run(m: ReturnType<Redis['pipeline']>): Promise<void> {
    await this.ready();
    const results = await m.exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  /** Closes the connection if this client opened it. */
  async close(): Promise<void> {
    if (!this.ownsConnection) return;
    // QUIT waits for an answer: only ask a server that is answering, or close() could hang.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

function validateJsonOption(key: string, value: unknown): void {
  try {
    validateArgs([value], key);
  } catch (e) {
    if (e instanceof JobValidationError) throw new JobValidationError(key + e.path.slice(key.length + 3), e.problem);
    throw e;
  }
}

let defaultClient: Client | undefined;

/**
 * The process-wide client from `REDIS_URL` (and `SIDEKIQ_NAMESPACE`, `SIDEKIQ_VERSION`), created on
 * first use and reused across Lambda invocations.
 */
export function getClient(): Client {
  defaultClient ??= new Client(clientConfigFromEnv());
  return defaultClient;
}

/** Options for {@link defineJob}. */
export interface DefineJobOptions extends JobOptions {
  /** The class is a Rails ActiveJob: enqueue it in the ActiveJob wrapper envelope. @defaultValue false */
  activeJob?: boolean;
  /** The client to use. @defaultValue {@link getClient} */
  client?: Client;
}

/** A typed handle on one Ruby job class. */
export interface JobHandle<A extends unknown[]> {
  readonly className: string;
  performAsync(...args: A): Promise<string>;
  performIn(seconds: number, ...args: A): Promise<string>;
  performAt(time: number | Date, ...args: A): Promise<string>;
  /** A handle with other options (`queue`, `retry`, …), as Sidekiq's `set`. */
  set(options: DefineJobOptions): JobHandle<A>;
}

/**
 * A typed handle on a Ruby job class, so enqueueing from TypeScript is type-checked.
 *
 * @example
 * const SolvedPuzzle = defineJob<[id: string, solution: string]>('SolvedPuzzleJob', { queue: 'solved' });
 * await SolvedPuzzle.performAsync(id, solution);
 */
export function defineJob<A extends unknown[]>(className: string, options: DefineJobOptions = {}): JobHandle<A> {
  validateClass(className);
  const { activeJob = false, client, ...jobOptions } = options;
  const clientOf = (): Client => client ?? getClient();
  const item = (c: Client, args: unknown[], at?: number): PushItem => {
    if (!activeJob) return { ...jobOptions, class: className, args };
    const queue = jobOptions.queue ?? 'default';
    const data = wrapActiveJob(className, args, { queue, enqueuedAt: c.now(), scheduledAt: at === undefined ? undefined : at * 1000 });
    return { ...jobOptions, queue, class: activeJobWrapperClass(c.version), wrapped: className, args: [data] };
  };
  const push = (args: unknown[], when?: number | Date): Promise<string> => {
    const c = clientOf();
    if (when === undefined) return c.push(item(c, args));
    const scheduled = c.scheduled({}, when);
    return c.push({ ...item(c, args, scheduled.at), at: scheduled.at });
  };
  return {
    className,
    performAsync: (...args) => push(args),
    performIn: (seconds, ...args) => push(args, seconds),
    performAt: (time, ...args) => push(args, time),
    set: (more) => defineJob<A>(className, { ...options, ...more }),
  };
}
