/**
 * The screen every fetched job passes before it is routed or run: fields other Sidekiq gems put in
 * the payload that decide whether the job may run on Lambda at all (lib/protocol/neighbours.ts).
 *
 * Tasks:
 * 1. Drop a job whose `expires_at` has passed — acknowledged without running, counted (`/stats`,
 *    the `Expired` metric) and logged — as Sidekiq Pro's expiring jobs do.
 * 2. Let routing decide the rest (lib/poller/router.ts): a job it forwards or holds never reaches
 *    step 3.
 * 3. A job that would run here but uses a feature Lambda cannot honour (a Pro batch, an Enterprise
 *    unique or encrypted job, a custom unique lock) is never run half-right and never dropped: it
 *    goes to Ruby — pinned there, atomically with leaving flight — when Ruby can take its class;
 *    otherwise to the dead set with an error that says why and what to do.
 */
import { isExpired, expiresAt, pinToRuby, rubyQueue, unhonourable, unhonourableMessage, UNHONOURABLE_ERROR, type Unhonourable } from '../protocol/neighbours.js';
import { originalQueue, routedClass, type RoutingView } from '../protocol/routing.js';
import type { Logger } from '../log.js';
import type { Processor } from './processor.js';
import type { Router } from './router.js';
import type { PollerCounters } from './counters.js';
import type { RunningJob } from './outcomes.js';

export interface ScreenOptions {
  readonly processor: Pick<Processor, 'skip' | 'fail'>;
  /** Routing: `route` runs the job here (undefined) or forwards or holds it; `forward` sends a job to Ruby. */
  readonly router: Pick<Router, 'route' | 'view' | 'forward'>;
  /** Where expired jobs are counted once their skip is written (per class). */
  readonly counters: Pick<PollerCounters, 'snapshot'>;
  /** The queues this poller drains (Ruby never sees them). */
  readonly drained: readonly string[];
  readonly log: Logger;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}


/**
 * @example
 * const screen = new Screen({ processor, router, counters, drained: ['lambda.A'], log });
 * new Manager({ …, router: screen });
 */
export class Screen {
  private readonly drained: ReadonlySet<string>;
  private readonly counts = { toRuby: {} as Record<string, number>, dead: {} as Record<string, number> };

  constructor(private readonly opts: ScreenOptions) {
    this.drained = new Set(opts.drained);
  }

  /** Undefined: run the job here. Otherwise the promise of its drop, forward, hold or burial. */
  route(j: RunningJob): Promise<void> | undefined {
    const now = (this.opts.now ?? Date.now)();
    if (isExpired(j.job, now)) {
      return this.opts.processor.skip(j, 'expired', `expires_at ${new Date(expiresAt(j.job)!).toISOString()} passed before it started`);
    }
    const routed = this.opts.router.route(j);
    if (routed) return routed;
    const f = unhonourable(j.job);
    return f ? this.divert(j, f) : undefined;
  }

  /** Jobs dropped as expired, and jobs Lambda could not honour, by field: sent to Ruby, or dead. */
  snapshot(): object {
    const expired = Object.values(this.opts.counters.snapshot()).reduce((n, c) => n + c.expired, 0);
    return { expired, sentToRuby: { ...this.counts.toRuby }, dead: { ...this.counts.dead } };
  }

  private async divert(j: RunningJob, f: Unhonourable): Promise<void> {
    const view = this.opts.router.view();
    const cls = routedClass(j.job);
    const queue = rubyQueue(view, j.job, this.drained);
    if (queue === undefined) {
      this.bump(this.counts.dead, f.field);
      return this.opts.processor.fail(j, { class: UNHONOURABLE_ERROR, message: unhonourableMessage(f, cls, originalQueue(j.job, view)) }, { dead: true });
    }
    if (await this.opts.router.forward(j, { queue }, pinToRuby(j.raw, f.field, queue), 'send a job to Ruby')) {
      this.bump(this.counts.toRuby, f.field);
      this.opts.log.info(`sent to Ruby: Lambda cannot honour ${f.field}`, { jid: j.job.jid, class: cls, from: j.queue, to: queue });
    }
  }

  private bump(m: Record<string, number>, field: string): void {
    m[field] = (m[field] ?? 0) + 1;
  }
}
