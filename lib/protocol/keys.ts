/**
 * Every Redis key name this project reads or writes (sidekiq-protocol.md §2).
 *
 * Tasks:
 * 1. Name Sidekiq's keys, with the optional redis-namespace prefix of Sidekiq 6 applied to keys
 *    only — never to values such as the members of `queues` or `processes` (§1, Pitfall 16).
 * 2. Name this project's own keys (a poller's in-flight lists, the scheduler's lock, the class
 *    leases, the routing table and what goes with it), so no other module builds a key string by
 *    hand.
 * 3. Name Sidekiq's Metrics-tab keys per version (§6.7, §13.1), for the runs on Lambda.
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
  /** This project's: each poller's classes, whose leases its recovery hands back (hash). */
  readonly pollerClasses: string;
  /** This project's: the scheduler's single-runner lock. */
  readonly schedulerLock: string;
  /** This project's: the leases of one class's concurrency cap held across pollers (hash). */
  leases(cls: string): string;
  /** This project's: the pollers waiting for a lease of one class, in turn (list). */
  leaseLine(cls: string): string;
  /** This project's: the Pub/Sub channel on which a class's lease changes are announced. */
  readonly leaseChannel: string;
  /** This project's: the routing table (hash: class → route entry JSON). */
  readonly routes: string;
  /** This project's: the routing table's change log (list, newest first). */
  readonly routeLog: string;
  /** This project's: the classes pollers declare (hash: class → declaration JSON). */
  readonly declared: string;
  /** This project's: a paused class's held jobs (list, newest at the left, like a queue). */
  held(cls: string): string;
  /** This project's: per class and side, processed / failed / ms of one UTC minute (hash). */
  routeStats(at: EpochMs): string;
  /** Sidekiq 7.x's Metrics-tab counters of one UTC minute: `j|%Y%m%d|%-H:%-M`. */
  metrics7(at: EpochMs): string;
  /** Sidekiq 7.x's histogram of a class for one UTC minute: `<class>-%d-%H:%-M`. */
  histogram7(cls: string, at: EpochMs): string;
  /** Sidekiq 8.x's 1-minute counters `j|%y%m%d|%-H:%M` and 10-minute counters `j|%y%m%d|%-H:<tens>`. */
  metrics8(at: EpochMs): string;
  metrics8Tens(at: EpochMs): string;
  /** Sidekiq 8.x's histogram of a class for one UTC minute: `h|<class>-%-d-%-H:%-M`. */
  histogram8(cls: string, at: EpochMs): string;
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
    pollerClasses: `${p}sidekiq-lambda:poller-classes`,
    schedulerLock: `${p}sidekiq-lambda:scheduler-lock`,
    leases: (cls) => `${p}sidekiq-lambda:leases|${cls}`,
    leaseLine: (cls) => `${p}sidekiq-lambda:lease-line|${cls}`,
    leaseChannel: `${p}sidekiq-lambda:leases`,
    routes: `${p}sidekiq-lambda:routes`,
    routeLog: `${p}sidekiq-lambda:route-log`,
    declared: `${p}sidekiq-lambda:declared`,
    held: (cls) => `${p}sidekiq-lambda:held|${cls}`,
    routeStats: (at) => `${p}sidekiq-lambda:route-stats|${utc(at).ymd}|${utc(at).h}:${utc(at).mm}`,
    metrics7: (at) => `${p}j|${utc(at).ymd}|${utc(at).h}:${utc(at).m}`,
    histogram7: (cls, at) => `${p}${cls}-${utc(at).dd}-${utc(at).hh}:${utc(at).m}`,
    metrics8: (at) => `${p}j|${utc(at).ymd.slice(2)}|${utc(at).h}:${utc(at).mm}`,
    metrics8Tens: (at) => `${p}j|${utc(at).ymd.slice(2)}|${utc(at).h}:${utc(at).mm[0]}`,
    histogram8: (cls, at) => `${p}h|${cls}-${utc(at).d}-${utc(at).h}:${utc(at).m}`,
  };
}

/** The UTC calendar parts Sidekiq's strftime patterns use: padded (`dd`, `hh`, `mm`) and not (`d`, `h`, `m`). */
function utc(at: EpochMs): { ymd: string; d: string; dd: string; h: string; hh: string; m: string; mm: string } {
  const t = new Date(at);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const [d, h, m] = [t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes()];
  return { ymd: `${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(d)}`, d: String(d), dd: pad(d), h: String(h), hh: pad(h), m: String(m), mm: pad(m) };
}

/** TTLs of Sidekiq's Metrics-tab keys: 8 h for minutes and histograms, 72 h for 8.x's 10-minute counters. */
export const METRICS_TTL_SECONDS = 8 * 60 * 60;
export const METRICS_TENS_TTL_SECONDS = 3 * 24 * 60 * 60;
/** Our per-side minute stats live two hours (the Lambda tab shows the last hour). */
export const ROUTE_STATS_TTL_SECONDS = 2 * 60 * 60;
/** The routing change log keeps this many changes. */
export const ROUTE_LOG_MAX = 1000;

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

/** sidekiq-unique-jobs 8's keys of one lock digest (sidekiq-protocol.md §13.3), in its scripts' KEYS order. */
export interface UniqueKeys {
  /** `<digest>` (string: the jid that holds or queued the lock). */
  readonly digest: string;
  /** `<digest>:QUEUED` and `<digest>:PRIMED` (lists of jids, and the `"1"` an unlock pushes). */
  readonly queued: string;
  readonly primed: string;
  /** `<digest>:LOCKED` (hash: jid → time locked). */
  readonly locked: string;
  /** `<digest>:INFO` (JSON, when the gem's `lock_info` is on). */
  readonly info: string;
  /** `uniquejobs:changelog` (sorted set of JSON entries, score = time). */
  readonly changelog: string;
  /** `uniquejobs:digests` and `uniquejobs:expiring_digests` (sorted sets of digests). */
  readonly digests: string;
  readonly expiringDigests: string;
}

/**
 * The gem's key names for a digest as the payload carries it (`lock_digest`, e.g. `uniquejobs:<hex>`, or with
 * `:RUN` for a runtime lock). Sidekiq 7+ has no redis-namespace; a prefix is applied as it would apply it.
 *
 * @example
 * uniqueKeys(keys(), 'uniquejobs:abc').locked // 'uniquejobs:abc:LOCKED'
 */
export function uniqueKeys(base: Pick<Keys, 'prefix'>, digest: string): UniqueKeys {
  const p = base.prefix;
  const d = `${p}${digest}`;
  return {
    digest: d,
    queued: `${d}:QUEUED`,
    primed: `${d}:PRIMED`,
    locked: `${d}:LOCKED`,
    info: `${d}:INFO`,
    changelog: `${p}uniquejobs:changelog`,
    digests: `${p}uniquejobs:digests`,
    expiringDigests: `${p}uniquejobs:expiring_digests`,
  };
}
