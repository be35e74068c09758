/**
 * Every Redis key name this project reads or writes (sidekiq-protocol.md §2).
 *
 * Tasks:
 * 1. Name Sidekiq's keys, with the optional redis-namespace prefix of Sidekiq 6 applied to keys
 *    only — never to values such as the members of `queues` or `processes` (§1, Pitfall 16).
 * 2. Name this project's own keys (a poller's in-flight lists, the scheduler's lock, the class
 *    leases), so no other
 *    module builds a key string by hand.
 */
import { utcDay, type EpochMs } from './time.js';

export interface Keys {
  /** The namespace prefix, `''` when none. Exposed for code that strips it from BRPOP-style replies. */
  readonly prefix: string;
  readonly queues: string;
  queue(name: string): string;
  readonly schedule: string;
  readonly retry: string;
  readonly dead: string;
  readonly processes: string;
  readonly statProcessed: string;
  readonly statFailed: string;
  statProcessedDay(at: EpochMs): string;
  statFailedDay(at: EpochMs): string;
  /** The process hash `<identity>`. */
  process(identity: string): string;
  /** The work hash read by Sidekiq ≥ 6.4.2. */
  work(identity: string): string;
  /** The work hash read by Sidekiq ≤ 6.4.1. */
  workers(identity: string): string;
  signals(identity: string): string;
  /** This project's: the in-flight list of one poller for one queue. */
  inflight(identity: string, queue: string): string;
  /** This project's: the set of poller identities that own in-flight lists. */
  readonly pollers: string;
  /** This project's: the scheduler's single-runner lock. */
  readonly schedulerLock: string;
  /** This project's: the leases of one class's concurrency cap held across pollers (hash). */
  leases(cls: string): string;
  /** This project's: the pollers waiting for a lease of one class, in turn (list). */
  leaseLine(cls: string): string;
  /** This project's: the Pub/Sub channel on which a class's lease changes are announced. */
  readonly leaseChannel: string;
}

/** The literal part of in-flight list names, so recovery can parse `<identity>` and `<queue>` back. */
export const INFLIGHT_MARK = 'sidekiq-lambda:inflight|';

/**
 * Builds the key names for one Redis, optionally namespaced (`myapp` → `myapp:queue:default`).
 *
 * @example
 * keys('myapp').queue('default') // "myapp:queue:default"
 */
export function keys(namespace?: string): Keys {
  const p = namespace ? `${namespace}:` : '';
  return {
    prefix: p,
    queues: `${p}queues`,
    queue: (name) => `${p}queue:${name}`,
    schedule: `${p}schedule`,
    retry: `${p}retry`,
    dead: `${p}dead`,
    processes: `${p}processes`,
    statProcessed: `${p}stat:processed`,
    statFailed: `${p}stat:failed`,
    statProcessedDay: (at) => `${p}stat:processed:${utcDay(at)}`,
    statFailedDay: (at) => `${p}stat:failed:${utcDay(at)}`,
    process: (id) => `${p}${id}`,
    work: (id) => `${p}${id}:work`,
    workers: (id) => `${p}${id}:workers`,
    signals: (id) => `${p}${id}-signals`,
    inflight: (id, queue) => `${p}${INFLIGHT_MARK}${id}|${queue}`,
    pollers: `${p}sidekiq-lambda:pollers`,
    schedulerLock: `${p}sidekiq-lambda:scheduler-lock`,
    leases: (cls) => `${p}sidekiq-lambda:leases|${cls}`,
    leaseLine: (cls) => `${p}sidekiq-lambda:lease-line|${cls}`,
    leaseChannel: `${p}sidekiq-lambda:leases`,
  };
}

/** Daily stat keys expire after five years, as Sidekiq's do. */
export const STAT_DAY_TTL_SECONDS = 157_680_000;
/** Process and work hashes expire 60 s after the last heartbeat. */
export const PROCESS_TTL_SECONDS = 60;

/** sidekiq-cron's key layout: 1 for 1.x (`cron_jobs`, `cron_job:<name>`), 2 for 2.x (namespaced). */
export type CronLayout = 1 | 2;

/** sidekiq-cron's keys (sidekiq-protocol.md §13.2), in one layout. */
export interface CronKeys {
  readonly layout: CronLayout;
  /** The set of an entry namespace (2.x; 1.x has one set and ignores it): its members are entry keys. */
  jobs(namespace: string): string;
  /** An entry's key as the set lists it: no redis-namespace prefix (sidekiq-cron writes it through redis-namespace). */
  entry(name: string, namespace: string): string;
  /** The Redis key of a listed entry key (the prefix applied). */
  hash(entry: string): string;
  /** The fire times already enqueued (sorted set), of a listed entry key. */
  enqueued(entry: string): string;
  /** The last jids enqueued (list), of a listed entry key. */
  jidHistory(entry: string): string;
}

/**
 * sidekiq-cron's key names for one layout, with the redis-namespace prefix of `keys(namespace)`.
 *
 * @example
 * cronKeys(keys(), 1).entry('cleanup', 'default')            // 'cron_job:cleanup'
 * cronKeys(keys(), 2).entry('cleanup', 'default')            // 'cron_job:default:cleanup'
 * cronKeys(keys(), 2).enqueued('cron_job:default:cleanup')   // 'cron_job:default:cleanup:enqueued'
 */
export function cronKeys(base: Pick<Keys, 'prefix'>, layout: CronLayout): CronKeys {
  const p = base.prefix;
  return {
    layout,
    jobs: (ns) => (layout === 1 ? `${p}cron_jobs` : `${p}cron_jobs:${ns}`),
    entry: (name, ns) => (layout === 1 ? `cron_job:${name}` : `cron_job:${ns}:${name}`),
    hash: (entry) => `${p}${entry}`,
    enqueued: (entry) => `${p}${entry}:enqueued`,
    jidHistory: (entry) => `${p}${entry}:jid_history`,
  };
}
