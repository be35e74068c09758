/**
 * The routing table in Redis, and the short cache every reader keeps of it.
 *
 * Tasks:
 * 1. Read the table and the pollers' declarations in one round trip (`loadView`), and cache them
 *    for {@link ROUTE_CACHE_MS} (`RoutingCache`): a change takes effect everywhere within that time.
 * 2. Change a class's route and record who, when and what in the change log, in one MULTI
 *    (`changeRoute`); read the log back (`routeLog`).
 * 3. Publish a poller's declarations (`publishDeclarations`), so the CLI, the producer and the Ruby
 *    side know which classes have a function and which queue the poller drains for each.
 */
import type { Redis } from 'ioredis';
import { ROUTE_LOG_MAX, type Keys } from '../protocol/keys.js';
import {
  describeRoute,
  readView,
  writeDeclaration,
  writeRouteEntry,
  readRouteEntry,
  EMPTY_VIEW,
  type Declaration,
  type RouteEntry,
  type RoutingView,
} from '../protocol/routing.js';
import { lambdaQueueOf, ROUTE_CACHE_MS } from '../config.js';
import type { Route } from '../jobs.js';

/** A declaration older than this is no poller's any more: a class removed from the declarations stops counting as routable. */
export const DECLARATION_FRESH_MS = 10 * 60 * 1000;

/** How often a poller publishes its declarations again (their `at`). */
export const DECLARATION_REFRESH_MS = 60 * 1000;

/**
 * Reads the table and the declarations (one round trip).
 *
 * @example
 * const view = await loadView(redis, keys());
 * view.routes.get('TrackUserJob') // { percent: 10, paused: false, by: 'alice@laptop', at: … }
 */
export async function loadView(redis: Redis, keys: Keys): Promise<RoutingView> {
  const res = await redis.pipeline().hgetall(keys.routes).hgetall(keys.declared).exec();
  if (!res) throw new Error('reading the routing table: pipeline aborted');
  for (const [err] of res) if (err) throw err;
  return readView((res[0]![1] ?? {}) as Record<string, string>, (res[1]![1] ?? {}) as Record<string, string>);
}

/**
 * The table as a reader sees it: read at most once per `ttlMs`, shared by concurrent callers.
 * When Redis cannot be read, the last view is kept (an empty one before the first read) and the
 * next call tries again.
 *
 * @example
 * const routing = new RoutingCache(() => loadView(redis, keys));
 * const view = await routing.get();
 */
export class RoutingCache {
  private view: RoutingView = EMPTY_VIEW;
  private readAt = -Infinity;
  private reading?: Promise<RoutingView>;

  constructor(
    private readonly load: () => Promise<RoutingView>,
    readonly ttlMs: number = ROUTE_CACHE_MS,
    private readonly now: () => number = Date.now,
    private readonly onError?: (e: Error) => void,
  ) {}

  /** The cached view, read again when older than the TTL. */
  get(): Promise<RoutingView> {
    if (this.now() - this.readAt < this.ttlMs) return Promise.resolve(this.view);
    return this.refresh();
  }

  /** The cached view as it is (possibly stale), without touching Redis. */
  peek(): RoutingView {
    return this.view;
  }

  /** Reads now (one read at a time). */
  refresh(): Promise<RoutingView> {
    this.reading ??= this.load().then(
      (v) => {
        this.view = v;
        this.readAt = this.now();
        this.reading = undefined;
        return v;
      },
      (e: Error) => {
        this.reading = undefined;
        this.onError?.(e);
        return this.view;
      },
    );
    return this.reading;
  }
}

/** One change, as the log records it. */
export interface RouteChangeRecord {
  readonly at: number;
  readonly by: string;
  readonly class: string;
  /** The route before and after, as `describeRoute` words it (`unrouted`, `lambda 10%`, `ruby`, `paused (ruby)`, `removed`). */
  readonly from: string;
  readonly to: string;
}

/** What an operator asks for. */
export type RouteRequest = { readonly percent: number } | { readonly pause: true } | { readonly resume: true } | { readonly forget: true };

/**
 * Applies a request to a class's entry. Pausing an unrouted class records the share that matches
 * what ran before (`unrouted` percent), so a resume changes nothing else.
 *
 * @example
 * nextEntry(undefined, { percent: 10 }, 'ops', 0, 0) // { percent: 10, paused: false, by: 'ops', at: 0 }
 */
export function nextEntry(current: RouteEntry | undefined, req: RouteRequest, by: string, at: number, unroutedPercent: number): RouteEntry | undefined {
  if ('forget' in req) return undefined;
  if ('percent' in req) return { percent: req.percent, paused: false, by, at };
  if ('pause' in req) return { percent: current?.percent ?? unroutedPercent, paused: true, by, at };
  return { percent: current?.percent ?? unroutedPercent, paused: false, by, at };
}

/**
 * Writes a class's new entry (or removes it) and logs the change, in one MULTI.
 * Returns the entry before and after.
 *
 * @example
 * await changeRoute(redis, keys(), 'TrackUserJob', { percent: 10, paused: false, by: 'alice', at: Date.now() }, 'alice', Date.now());
 */
export async function changeRoute(redis: Redis, keys: Keys, cls: string, next: RouteEntry | undefined, by: string, at: number): Promise<{ before?: RouteEntry; after?: RouteEntry }> {
  const before = readRouteEntry(await redis.hget(keys.routes, cls));
  const record: RouteChangeRecord = { at, by, class: cls, from: describeRoute(before), to: next ? describeRoute(next) : 'removed' };
  const m = redis.multi();
  if (next) m.hset(keys.routes, cls, writeRouteEntry(next));
  else m.hdel(keys.routes, cls);
  m.lpush(keys.routeLog, JSON.stringify(record)).ltrim(keys.routeLog, 0, ROUTE_LOG_MAX - 1);
  const res = await m.exec();
  if (!res) throw new Error('changing the route: transaction aborted');
  for (const [err] of res) if (err) throw err;
  return { before, after: next };
}

/**
 * The latest changes, newest first; of one class when `cls` is given.
 *
 * @example
 * (await routeLog(redis, keys(), 'TrackUserJob', 1))[0] // { at, by: 'alice', class: 'TrackUserJob', from: 'unrouted', to: 'lambda 10%' }
 */
export async function routeLog(redis: Redis, keys: Keys, cls?: string, limit = 20): Promise<RouteChangeRecord[]> {
  const out: RouteChangeRecord[] = [];
  for (const text of await redis.lrange(keys.routeLog, 0, ROUTE_LOG_MAX - 1)) {
    try {
      const r = JSON.parse(text) as RouteChangeRecord;
      if (!cls || r.class === cls) out.push(r);
    } catch {
      // an unreadable record is skipped
    }
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * A declared route as published: the queue the poller drains for it, and whether Ruby shares its queue.
 *
 * @example
 * declarationOf({ class: 'A', queue: 'default', shared: true, … }, 'host:1:ab', Date.now()).lambdaQueue // 'lambda.A'
 */
export function declarationOf(route: Route, by: string, at: number): Declaration {
  return { queue: route.queue, shared: route.shared === true, lambdaQueue: lambdaQueueOf(route), by, at };
}

/**
 * Publishes (or refreshes) a poller's declarations: one HSET.
 *
 * @example
 * await publishDeclarations(redis, keys(), config.routes, poller.identity, Date.now());
 */
export async function publishDeclarations(redis: Redis, keys: Keys, routes: readonly Route[], by: string, at: number): Promise<void> {
  if (routes.length === 0) return;
  await redis.hset(keys.declared, Object.fromEntries(routes.map((r) => [r.class, writeDeclaration(declarationOf(r, by, at))])));
}

/**
 * Whether a declaration is a running poller's (published within {@link DECLARATION_FRESH_MS}).
 *
 * @example
 * isFresh(view.declared.get('TrackUserJob'), Date.now()) // false: no poller declares it any more
 */
export function isFresh(d: Declaration | undefined, now: number): boolean {
  return d !== undefined && now - d.at <= DECLARATION_FRESH_MS;
}
