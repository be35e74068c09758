/**
 * The poller's side of per-class routing: for each fetched job, run it here, forward it to Ruby
 * (its original queue), or hold it (its class is paused) — the same rule the Ruby middleware and
 * the producer apply (`placement`, lib/protocol/routing.ts).
 *
 * Tasks:
 * 1. Publish this poller's declarations at start and every minute (the source of truth for which
 *    classes may be routed to Lambda, and the queue the poller drains for each).
 * 2. Keep the routing table cached, read again every {@link ROUTE_CACHE_MS}, so deciding a job
 *    costs no round trip.
 * 3. `route(job)`: undefined to run the job here as before; otherwise a promise that forwards or
 *    holds it, atomically with leaving flight (`Fetcher.forward`), retried while Redis refuses.
 *    A job is never sent to a queue this poller drains (that would come straight back): it runs.
 * 4. Release the held jobs of declared classes that are no longer paused, in order, every 30 s —
 *    a resume whose release was cut short (its process killed) still completes.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { placement, routedClass, type RoutingView } from '../protocol/routing.js';
import { ROUTE_CACHE_MS } from '../config.js';
import type { Route } from '../jobs.js';
import type { Logger } from '../log.js';
import { loadView, publishDeclarations, RoutingCache, DECLARATION_REFRESH_MS } from '../routing/table.js';
import { releaseAllHeld } from '../routing/migrate.js';
import type { Fetcher } from './fetch.js';
import type { RunningJob } from './outcomes.js';
import { durably } from './durably.js';

export interface RouterOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly fetcher: Fetcher;
  /** The declared routes, as declared (a shared class's `queue` is Ruby's). */
  readonly routes: readonly Route[];
  /** The queues this poller drains. */
  readonly drained: readonly string[];
  readonly identity: string;
  readonly log: Logger;
  /** True once the shutdown deadline has passed: stop retrying a refused write (the job stays in flight for recovery). */
  readonly givenUp: () => boolean;
  /** @defaultValue 30000 */
  readonly sweepIntervalMs?: number;
}


/**
 * The poller's router, started and stopped by the poller (lib/poller/poller.ts).
 *
 * @example
 * const router = new Router({ redis, keys, fetcher, routes, drained: queueNames, identity, log, givenUp: () => false });
 * await router.start();
 * router.route(job) // undefined: run it here; or the promise of its forward
 */
export class Router {
  private readonly cache: RoutingCache;
  private readonly drained: Set<string>;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly loops = new Set<string>();
  private sweeping = false;
  private forwarded = { ruby: 0, lambda: 0, held: 0 };

  constructor(private readonly opts: RouterOptions) {
    this.drained = new Set(opts.drained);
    this.cache = new RoutingCache(() => loadView(opts.redis, opts.keys), ROUTE_CACHE_MS, Date.now, (e) => opts.log.warn('could not read the routing table; using the last one read', { error: e.message }));
  }

  /** Publishes the declarations, reads the table, and keeps both fresh. */
  async start(): Promise<void> {
    await this.publish();
    await this.cache.refresh();
    const every = (ms: number, fn: () => unknown): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(ROUTE_CACHE_MS, () => void this.cache.refresh());
    every(DECLARATION_REFRESH_MS, () => void this.publish().catch((e: Error) => this.opts.log.warn('could not publish the declarations', { error: e.message })));
    every(this.opts.sweepIntervalMs ?? 30_000, () => void this.sweep());
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  /** The table as last read. */
  view(): RoutingView {
    return this.cache.peek();
  }

  /** Jobs forwarded since start, for /stats. */
  snapshot(): object {
    return { ...this.forwarded, routes: this.cache.peek().routes.size };
  }

  /**
   * Undefined: run the job here (or, for a class this poller has no function for, fail it as
   * before). Otherwise the promise of its forward, which settles once it has left flight.
   */
  route(j: RunningJob): Promise<void> | undefined {
    const view = this.cache.peek();
    const cls = routedClass(j.job);
    if (!view.routes.has(cls)) return undefined; // unrouted: it stays (what placement says), without drawing its jid
    const p = placement(view, j, j.queue);
    if (p.kind === 'stay') return undefined;
    if (p.kind === 'hold') return this.move(j, { held: cls }, p.payload, 'held');
    if (p.side === 'ruby' && this.drained.has(p.queue)) {
      // Ruby never sees a queue the poller drains: forwarding there would bring the job straight back.
      if (!this.loops.has(cls)) {
        this.loops.add(cls);
        this.opts.log.warn(`${cls} is routed to Ruby, but its queue ${p.queue} is drained by this poller: running it on Lambda. Declare ${cls} with shared: true (Ruby drains ${p.queue}) to route it to Ruby`, { class: cls, queue: p.queue });
      }
      return undefined;
    }
    return this.move(j, { queue: p.queue }, p.payload, p.side);
  }

  /**
   * Takes `j` out of flight and pushes `payload` to a queue or a held list, atomically
   * (`Fetcher.forward`), retried while Redis refuses until the shutdown deadline. False when the
   * job was no longer in flight (recovered by another poller). The screen sends jobs to Ruby with it.
   */
  forward(j: RunningJob, to: { readonly queue: string } | { readonly held: string }, payload: string, what = 'forward a job'): Promise<boolean> {
    return durably(() => this.opts.fetcher.forward(j, to, payload), { what, givenUp: this.opts.givenUp, log: this.opts.log, fields: { jid: j.job.jid, queue: j.queue } });
  }

  private async move(j: RunningJob, to: { queue: string } | { held: string }, payload: string, what: 'ruby' | 'lambda' | 'held'): Promise<void> {
    if (await this.forward(j, to, payload)) {
      this.forwarded[what]++;
      this.opts.log.debug(what === 'held' ? 'held: its class is paused' : `forwarded to ${what === 'ruby' ? 'Ruby' : 'its Lambda queue'}`, { jid: j.job.jid, class: routedClass(j.job), from: j.queue, ...('queue' in to ? { to: to.queue } : {}) });
    }
  }

  private async publish(): Promise<void> {
    await publishDeclarations(this.opts.redis, this.opts.keys, this.opts.routes, this.opts.identity, Date.now());
  }

  /** Releases the held jobs of declared classes whose route is no longer paused. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const released = await releaseAllHeld({ redis: this.opts.redis, keys: this.opts.keys }, this.opts.routes.map((r) => r.class), this.cache.peek());
      for (const [cls, n] of released) this.opts.log.info('released held jobs of a resumed class', { class: cls, jobs: n });
    } catch (e) {
      this.opts.log.warn('releasing held jobs failed; will try again', { error: (e as Error).message });
    } finally {
      this.sweeping = false;
    }
  }
}
