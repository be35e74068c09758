/**
 * Sidekiq's own execution metrics (the Web UI's Metrics tab, Sidekiq 7.0+) for the jobs run on
 * Lambda, under the class name marked ` (λ)` — so the tab shows both sides of a class moving from
 * Ruby to Lambda (sidekiq-protocol.md §6.7, §13.1).
 *
 * Tasks:
 * 1. Count runs in memory as Sidekiq's `ExecutionTracker` does (`tallyRun`): `p` every run, `f`
 *    failures, `ms` and a 26-bucket histogram of successful runs only. The poller keeps one tally
 *    for this and its per-side stats (lib/poller/recorder.ts).
 * 2. Write it in Sidekiq's layout of each version (`writeJobMetrics`, into the recorder's
 *    pipeline): 7.x `j|%Y%m%d|%-H:%-M` and histogram `<class>-%d-%H:%-M`; 8.x 1-minute
 *    `j|%y%m%d|%-H:%M`, 10-minute `j|%y%m%d|%-H:<tens>` and histogram `h|<class>-%-d-%-H:%-M`
 *    (`BITFIELD … OVERFLOW SAT INCRBY u16 #i n`). Sidekiq 6 has no Metrics tab: nothing is written.
 */
import type { ChainableCommander } from 'ioredis';
import { METRICS_TENS_TTL_SECONDS, METRICS_TTL_SECONDS, type Keys } from '../protocol/keys.js';
import type { SidekiqVersion } from '../protocol/time.js';

/** Appended to a class name for its runs on Lambda: `TrackUserJob (λ)`. */
export const LAMBDA_MARK = ' (λ)';

/** Sidekiq's histogram bucket bounds (ms), `Histogram::BUCKET_INTERVALS`; the last is "Slow". */
export const BUCKET_INTERVALS = [
  20, 30, 45, 65, 100, 150, 225, 335, 500, 750, 1100, 1700, 2500, 3800, 5750, 8500, 13000, 20000, 30000, 45000, 65000, 100000, 150000, 225000, 335000, 1e20,
] as const;

/**
 * The bucket of a duration: the first whose bound is above it (`record_time`).
 *
 * @example
 * histogramBucket(19) // 0
 * histogramBucket(280) // 7
 */
export function histogramBucket(ms: number): number {
  const i = BUCKET_INTERVALS.findIndex((b) => ms < b);
  return i < 0 ? BUCKET_INTERVALS.length - 1 : i;
}

/**
 * Which layouts a Redis read by Sidekiq `version` (the oldest reading it) needs: 7 may mean 7 or 8.
 *
 * @example
 * metricLayouts(7) // [7, 8]
 */
export function metricLayouts(version: SidekiqVersion): (7 | 8)[] {
  return version === 6 ? [] : version === 7 ? [7, 8] : [8];
}

/** One class's runs since the last flush: `p` every run, `f` failures, `ms` and the histogram of successes. */
export interface ClassRuns {
  p: number;
  f: number;
  ms: number;
  buckets: Map<number, number>;
}

/** Runs per class (the class as run, unmarked), counted in memory between flushes. */
export type RunTally = Map<string, ClassRuns>;

/**
 * Counts one run as Sidekiq's `ExecutionTracker` does: every run in `p`, a failure in `f`, a
 * success's milliseconds in `ms` and in its histogram bucket.
 *
 * @example
 * const runs: RunTally = new Map();
 * tallyRun(runs, 'TrackUserJob', true, 84);
 */
export function tallyRun(runs: RunTally, cls: string, ok: boolean, ms: number): void {
  let r = runs.get(cls);
  if (!r) runs.set(cls, (r = { p: 0, f: 0, ms: 0, buckets: new Map() }));
  r.p++;
  if (!ok) {
    r.f++;
    return;
  }
  const t = Math.max(0, Math.round(ms));
  r.ms += t;
  const b = histogramBucket(t);
  r.buckets.set(b, (r.buckets.get(b) ?? 0) + 1);
}

/** Adds `from` into `into` (counts a flush could not write, kept for the next one). */
export function mergeRuns(into: RunTally, from: RunTally): void {
  for (const [cls, r] of from) {
    const mine = into.get(cls);
    if (!mine) {
      into.set(cls, r);
      continue;
    }
    mine.p += r.p;
    mine.f += r.f;
    mine.ms += r.ms;
    for (const [i, n] of r.buckets) mine.buckets.set(i, (mine.buckets.get(i) ?? 0) + n);
  }
}

/**
 * Queues on `m` the writes of the runs on Lambda into Sidekiq's keys for the minute of `now`, under
 * `<Class> (λ)`, in every layout the version needs (none for 6).
 *
 * @example
 * const m = redis.pipeline();
 * writeJobMetrics(m, keys(), 7, runs, Date.now()); // HINCRBY j|20260101|8:3 "TrackUserJob (λ)|p" 1 …
 * await m.exec();
 */
export function writeJobMetrics(m: ChainableCommander, keys: Keys, version: SidekiqVersion, runs: RunTally, now: number): void {
  for (const layout of metricLayouts(version)) {
    const hashes = layout === 7 ? [[keys.metrics7(now), METRICS_TTL_SECONDS]] : [[keys.metrics8(now), METRICS_TTL_SECONDS], [keys.metrics8Tens(now), METRICS_TENS_TTL_SECONDS]];
    for (const [key, ttl] of hashes as [string, number][]) {
      for (const [cls, r] of runs) {
        const name = cls + LAMBDA_MARK;
        m.hincrby(key, `${name}|p`, r.p);
        if (r.f > 0) m.hincrby(key, `${name}|f`, r.f);
        if (r.p > r.f) m.hincrby(key, `${name}|ms`, r.ms);
      }
      m.expire(key, ttl);
    }
    for (const [cls, r] of runs) {
      if (r.buckets.size === 0) continue;
      const name = cls + LAMBDA_MARK;
      const key = layout === 7 ? keys.histogram7(name, now) : keys.histogram8(name, now);
      const ops = [...r.buckets].sort(([a], [b]) => a - b).flatMap(([i, n]) => ['INCRBY', 'u16', `#${i}`, String(n)]);
      m.call('BITFIELD', key, 'OVERFLOW', 'SAT', ...ops);
      m.expire(key, METRICS_TTL_SECONDS);
    }
  }
}
