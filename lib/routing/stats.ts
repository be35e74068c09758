/**
 * Per class and side (Ruby, Lambda): jobs processed, failed and their total duration, in one-minute
 * buckets kept two hours, so both sides of a canary can be compared over the last hour. The poller
 * records Lambda's side; the Ruby middleware records Ruby's side in the same keys and fields
 * (`SidekiqLambda::SideStats`).
 *
 * Tasks:
 * 1. Add a side's runs, counted in memory, to the minute's hash (`writeSideStats`, into the
 *    poller recorder's one pipeline; on a Redis error it keeps the counts for the next flush).
 * 2. Read the last hour back per class and side (`readSideStats`).
 *
 * Layout: hash `sidekiq-lambda:route-stats|<YYYYMMDD>|<H>:<MM>` (UTC), fields `<class>|<side>|p`
 * (every run, failures included, as Sidekiq counts `processed`), `|f` (failures) and `|ms` (total
 * milliseconds of successful runs, as Sidekiq's Metrics tab).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { ROUTE_STATS_TTL_SECONDS, type Keys } from '../protocol/keys.js';

export type Side = 'ruby' | 'lambda';

/** One side's figures over a period; `avgMs` is over successful runs (undefined when none). */
export interface SideFigures {
  processed: number;
  failed: number;
  ms: number;
  avgMs?: number;
}

/**
 * Queues on `m` the addition of one side's runs (per class: every run `p`, failures `f`, total
 * milliseconds of successes `ms`) to the minute of `now`. The poller's recorder counts them
 * (lib/poller/recorder.ts) and writes them with Sidekiq's Metrics in one round trip.
 *
 * @example
 * const m = redis.pipeline();
 * writeSideStats(m, keys(), 'lambda', new Map([['TrackUserJob', { p: 3, f: 1, ms: 180 }]]), Date.now());
 * await m.exec();
 */
export function writeSideStats(m: ChainableCommander, keys: Keys, side: Side, runs: ReadonlyMap<string, { readonly p: number; readonly f: number; readonly ms: number }>, now: number): void {
  if (runs.size === 0) return;
  const key = keys.routeStats(now);
  for (const [cls, r] of runs) {
    m.hincrby(key, `${cls}|${side}|p`, r.p);
    if (r.p > r.f) m.hincrby(key, `${cls}|${side}|ms`, r.ms);
    if (r.f > 0) m.hincrby(key, `${cls}|${side}|f`, r.f);
  }
  m.expire(key, ROUTE_STATS_TTL_SECONDS);
}

/**
 * The last `minutes` minutes per class and side (classes that ran on neither side are absent).
 *
 * @example
 * (await readSideStats(redis, keys(), Date.now())).get('TrackUserJob')?.lambda // { processed: 200, failed: 1, ms: 16_000, avgMs: 80 }
 */
export async function readSideStats(redis: Redis, keys: Keys, now: number, minutes = 60): Promise<Map<string, Record<Side, SideFigures>>> {
  const p = redis.pipeline();
  for (let i = 0; i < minutes; i++) p.hgetall(keys.routeStats(now - i * 60_000));
  const out = new Map<string, Record<Side, SideFigures>>();
  for (const [err, hash] of (await p.exec()) ?? []) {
    if (err) throw err;
    for (const [field, value] of Object.entries((hash ?? {}) as Record<string, string>)) {
      const m = /^(.*)\|(ruby|lambda)\|(p|f|ms)$/.exec(field);
      if (!m) continue;
      const [, cls, side, metric] = m as unknown as [string, string, Side, 'p' | 'f' | 'ms'];
      let c = out.get(cls);
      if (!c) out.set(cls, (c = { ruby: { processed: 0, failed: 0, ms: 0 }, lambda: { processed: 0, failed: 0, ms: 0 } }));
      c[side][metric === 'p' ? 'processed' : metric === 'f' ? 'failed' : 'ms'] += Number(value);
    }
  }
  for (const c of out.values()) {
    for (const s of [c.ruby, c.lambda]) {
      const ok = s.processed - s.failed;
      if (ok > 0) s.avgMs = Math.round(s.ms / ok);
    }
  }
  return out;
}
