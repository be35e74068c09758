/**
 * The producer on Redis: enqueue jobs for Ruby (or for our own poller), byte-compatible with
 * `Sidekiq::Client` (sidekiq-protocol.md §4). The rendering is the producer's (lib/producer/);
 * this module writes it.
 *
 * Tasks:
 * 1. Write immediate jobs with `SADD queues` + `LPUSH queue:<q>` and future ones with `ZADD
 *    schedule` (score in float seconds) — one round trip per batch.
 * 2. Honour the routing table (cached for a couple of seconds): the share of a routed class's jobs
 *    that runs on Lambda goes to the class's Lambda queue, marked with its original queue.
 * 3. One client per process from `REDIS_URL`, reused across Lambda invocations (`getClient`), and
 *    `defineJob` falling back to it outside a job handler.
 */
import type { Redis } from 'ioredis';
import { connect, ready } from './redis/connection.js';
import { clientConfigFromEnv, redisUrlOf } from './config.js';
import { keys as makeKeys, type Keys } from './protocol/keys.js';
import { score } from './protocol/time.js';
import type { Enqueue } from './protocol/event.js';
import { Producer, type JobOptions, type Placement, type ProducerOptions } from './producer/producer.js';
import { decideRoute, jidDraw, routedClass, ROUTED_FROM, type RoutingView } from './protocol/routing.js';
import { loadView, RoutingCache } from './routing/table.js';
import { defineJobWith } from './producer/job.js';

export { Producer, type JobOptions, type PushItem, type BulkItem, type ProducerOptions } from './producer/producer.js';
export { type DefineJobOptions, type JobHandle } from './producer/job.js';
export { producerMiddleware, useProducer, ProducerChain, type ProducerMiddleware, type OutgoingJob } from './producer/middleware.js';
export { propagateTrace } from './producer/trace.js';

export interface ClientOptions extends ProducerOptions {
  /** A Redis URL or a connected ioredis client. @defaultValue `REDIS_URL`, else redis://127.0.0.1:6379/0 */
  redis?: string | Redis;
  /** The redis-namespace prefix of a Sidekiq 6 app. @defaultValue none */
  namespace?: string;
  /**
   * Send the share of a routed class that runs on Lambda to its Lambda queue, as the Ruby
   * middleware does (`sidekiq-lambda route`). The table is read at most every couple of seconds.
   * @defaultValue true
   */
  routing?: boolean;
}

/**
 * Enqueues Sidekiq jobs into Redis.
 *
 * @example
 * const client = new Client({ redis: process.env.REDIS_URL });
 * const jid = await client.push({ class: 'SolvedPuzzleJob', queue: 'solved', args: ['p1', '123…'] });
 */
export class Client extends Producer {
  readonly redis: Redis;
  readonly keys: Keys;
  private readonly url: string;
  private readonly ownsConnection: boolean;
  private readonly routing?: RoutingCache;

  constructor(opts: ClientOptions = {}) {
    super(opts);
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
    if (opts.routing !== false) this.routing = new RoutingCache(() => loadView(this.redis, this.keys));
  }

  /**
   * The routing hook: a placement when `item`'s class has a route (its jobs need a fixed jid and a
   * decision), else undefined — an unrouted class's payload is exactly as without routing.
   */
  protected override async placement(item: { class: string; wrapped?: unknown }): Promise<Placement | undefined> {
    if (!this.routing) return undefined;
    await this.ready(); // an unreachable Redis fails here, bounded and naming the server
    const view = await this.routing.get();
    if (!view.routes.has(routedClass(item as { class: string; wrapped?: string }))) return undefined;
    return (<T extends JobOptions & { class: string; wrapped?: unknown }>(it: T, jid: string): T => routed(view, it, jid)) as Placement;
  }

  /** One round trip: immediate jobs grouped by queue (`SADD queues`, `LPUSH`), future ones to `schedule`. */
  protected override async write(writes: readonly Enqueue[]): Promise<void> {
    const m = this.redis.pipeline();
    const byQueue = new Map<string, string[]>();
    for (const w of writes) {
      if (w.queue === undefined) {
        m.zadd(this.keys.schedule, score(w.at), w.payload);
        continue;
      }
      let q = byQueue.get(w.queue);
      if (!q) byQueue.set(w.queue, (q = []));
      q.push(w.payload);
    }
    if (byQueue.size > 0) m.sadd(this.keys.queues, ...byQueue.keys());
    for (const [q, payloads] of byQueue) m.lpush(this.keys.queue(q), ...payloads);
    await this.ready();
    const results = await m.exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  /** Waits until Redis answers (bounded), with an error naming the server otherwise. */
  ready(timeoutMs = 5000): Promise<void> {
    return ready(this.redis, this.url, timeoutMs);
  }

  /** Closes the connection if this client opened it. */
  async close(): Promise<void> {
    if (!this.ownsConnection) return;
    // QUIT waits for an answer: only ask a server that is answering, or close() could hang.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

/** `item` as the route sends the job `jid`: its Lambda share on the class's Lambda queue, marked with its queue. */
function routed<T extends JobOptions & { class: string; wrapped?: unknown }>(view: RoutingView, item: T, jid: string): T {
  const cls = routedClass(item as { class: string; wrapped?: string });
  const d = view.declared.get(cls);
  const queue = item.queue ?? 'default';
  if (!d || d.lambdaQueue === queue || decideRoute(view.routes, cls, jidDraw(jid)) !== 'lambda') return item;
  return { ...item, queue: d.lambdaQueue, [ROUTED_FROM]: queue };
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

/**
 * A typed handle on a Ruby job class, so enqueueing from TypeScript is type-checked. Inside a job
 * handler it enqueues through the job (`job.client`); elsewhere through {@link getClient}.
 *
 * @example
 * const SolvedPuzzle = defineJob<[id: string, solution: string]>('SolvedPuzzleJob', { queue: 'solved' });
 * await SolvedPuzzle.performAsync(id, solution);
 */
export const defineJob = /* @__PURE__ */ defineJobWith(getClient);
