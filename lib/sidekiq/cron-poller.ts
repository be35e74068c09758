/**
 * The cron poller: what the scheduler does each round for periodic jobs, as sidekiq-cron's
 * `Sidekiq::Cron::Poller#enqueue` does for Ruby — over the same entries, so either may run, or both.
 *
 * Tasks:
 * 1. On the first round: pick the key layout (lib/sidekiq/cron.ts) and, when the declarations are
 *    known, write them to Redis (`syncCronEntries`). Retried next round if Redis refuses.
 * 2. Every round: read every entry (Ruby's too) and enqueue each one whose latest fire time is due
 *    (`dueFire`: enabled, within the grace period, not enqueued since), through the atomic
 *    fire-once script, to the side the routing table (read once a round when something is due)
 *    sends its class. A fire time is tried once per process; whoever claims it first enqueues it.
 * 3. Say once, not every second, why an entry cannot be fired here (an expression we do not fire
 *    exactly as fugit, a message the producer refuses): Ruby's poller may still fire it.
 *
 * Catch-up policy (sidekiq-cron's, 1.8.0 and 2.x alike): after downtime only the latest fire time of
 * an entry is considered, and only while it is at most `graceSeconds` (60) old; older ones are lost.
 */
import type { Redis } from 'ioredis';
import { Client } from '../client.js';
import type { Logger } from '../log.js';
import type { CronEntry } from '../periodic.js';
import { DEFAULT_GRACE_SECONDS, dueFire } from '../protocol/cron-entry.js';
import { cronKeys, type CronLayout, type Keys } from '../protocol/keys.js';
import type { EpochMs, SidekiqVersion } from '../protocol/time.js';
import type { RoutingView } from '../protocol/routing.js';
import { loadView } from '../routing/table.js';
import { fireCronEntry, listCronEntries, resolveCronLayout, syncCronEntries, type CronStore } from './cron.js';

export interface CronPollerOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** The declared entries, written to Redis on the first round. @defaultValue undefined — write nothing, remove nothing */
  readonly entries?: readonly CronEntry[];
  /** sidekiq-cron's major version: the key layout. @defaultValue detected (see `resolveCronLayout`) */
  readonly layout?: CronLayout;
  /** 2.x namespaces fired besides the declared entries' own. @defaultValue ['default'] */
  readonly namespaces?: readonly string[];
  /** A fire time older than this is not enqueued (sidekiq-cron's 60 s, 2.x's `reschedule_grace_period`). @defaultValue 60 */
  readonly graceSeconds?: number;
  /** The oldest Sidekiq reading this Redis: the payloads' format, and the layout's guess. @defaultValue 7 */
  readonly sidekiqVersion?: SidekiqVersion;
  /** @defaultValue Date.now */
  readonly now?: () => EpochMs;
  readonly log?: Logger;
}

/** One round's count. */
export interface CronTick {
  /** Jobs this poller enqueued. */
  fired: number;
  /** Fire times another poller (ours or Ruby's) enqueued first. */
  taken: number;
}

/**
 * Fires due sidekiq-cron entries each time `tick()` is called (the scheduler calls it every second).
 *
 * @example
 * const cron = new CronPoller({ redis, keys: keys(), entries: defineJobs([...], { cron: [...] }).cron });
 * await cron.tick(); // { fired: 1, taken: 0 }
 */
export class CronPoller {
  #store: CronStore | undefined;
  #synced = false;
  /** The fire time last tried per entry key: each is tried once. */
  readonly #tried = new Map<string, number>();
  readonly #said = new Set<string>();
  readonly #now: () => EpochMs;

  constructor(readonly opts: CronPollerOptions) {
    this.#now = opts.now ?? Date.now;
  }

  /** The store, once the layout is known (after the first tick). */
  get store(): CronStore | undefined {
    return this.#store;
  }

  async #prepare(): Promise<CronStore> {
    const { redis, keys, entries, log } = this.opts;
    if (!this.#store) {
      const namespaces = [...new Set([...(this.opts.namespaces ?? ['default']), ...(entries ?? []).map((e) => e.namespace)])];
      const { layout, reason } = await resolveCronLayout(redis, keys, { configured: this.opts.layout, sidekiqVersion: this.opts.sidekiqVersion, namespaces });
      const client = new Client({ redis, namespace: keys.prefix.replace(/:$/, '') || undefined, sidekiqVersion: this.opts.sidekiqVersion, now: this.#now });
      this.#store = { redis, keys, cron: cronKeys(keys, layout), namespaces, client };
      log?.info('cron: sidekiq-cron layout', { layout: layout === 1 ? '1.x' : '2.x', reason });
    }
    if (entries && !this.#synced) {
      const r = await syncCronEntries(this.#store, entries, { now: this.#now(), log });
      this.#synced = true;
      if (r.created.length + r.updated.length + r.removed.length + r.skipped.length > 0) log?.info('cron: declared entries written', { ...r });
    }
    return this.#store;
  }

  /** Enqueues every entry due now, once per fire time. */
  async tick(): Promise<CronTick> {
    const store = await this.#prepare();
    const now = this.#now();
    const grace = this.opts.graceSeconds ?? DEFAULT_GRACE_SECONDS;
    const result: CronTick = { fired: 0, taken: 0 };
    const fires: Promise<void>[] = [];
    // The routing table, read once a round and only when something is due.
    let view: Promise<RoutingView> | undefined;
    for (const e of await listCronEntries(store)) {
      const { stored, expr } = e;
      if (stored.problem || !expr) {
        this.#sayOnce(`${stored.key}|${stored.cron}`, 'cron: entry not fired here (Ruby’s sidekiq-cron may fire it)', { entry: stored.name, problem: stored.problem ?? e.exprProblem });
        continue;
      }
      const d = dueFire(stored, expr, now, grace);
      if (d.kind !== 'fire' || this.#tried.get(stored.key) === d.at.getTime()) continue;
      this.#tried.set(stored.key, d.at.getTime());
      fires.push(
        (view ??= loadView(store.redis, store.keys)).then((v) => fireCronEntry(store, stored, d.at, v)).then(
          (r) => {
            if (r.status === 'pushed') {
              result.fired++;
              this.opts.log?.info('cron: enqueued', { entry: stored.name, at: d.at.toISOString(), jid: r.jid });
            } else if (r.status === 'taken') result.taken++;
            else if (r.status === 'not-a-list') this.opts.log?.error('cron: the queue key holds something other than a list; not enqueued', { entry: stored.name });
          },
          (err: Error) => {
            // A payload the producer refuses fails the same way every time: say it once. A Redis error is tried again next round.
            if (err.name === 'JobValidationError') this.#sayOnce(`${stored.key}|${err.message}`, 'cron: entry not fired here (Ruby’s sidekiq-cron may fire it)', { entry: stored.name, problem: err.message });
            else this.#tried.delete(stored.key);
            if (err.name !== 'JobValidationError') throw err;
          },
        ),
      );
    }
    const settled = await Promise.allSettled(fires);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return result;
  }

  #sayOnce(id: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#said.has(id)) return;
    this.#said.add(id);
    this.opts.log?.warn(msg, fields);
  }
}
