/**
 * Per class and side (Ruby, Lambda): jobs processed, failed and their total duration, in one-minute
 * buckets kept two hours, so both sides of a canary can be compared over the last hour. The poller
 * records Lambda's side; the Ruby middleware records Ruby's side in the same keys and fields
 * (`SidekiqLambda::SideStats`).
 *
 * Tasks:
 * 1. Count runs in memory (`record`), and add them to the minute's hash in one round trip (`flush`);
 *    on a Redis error the counts are kept for the next flush.
 * 2. Read the last hour back per class and side (`readSideStats`).
 *
 * Layout: hash `sidekiq-lambda:route-stats|<YYYYMMDD>|<H>:<MM>` (UTC), fields `<class>|<side>|p`
 * (every run, failures included, as Sidekiq counts `processed`), `|f` (failures) and `|ms` (total
 * milliseconds of successful runs, as Sidekiq's Metrics tab).
 */
import type { Redis } from 'ioredis';
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
 * Run counters of one process, flushed to the current minute's hash.
 *
 * @example
 * const stats = new SideStats('lambda');
 * stats.record('TrackUserJob', true, 84);
 * await stats.flush(redis, keys(), Date.now());
 */
export class SideStats {
  private counts = new Map<string, number>();

  constructor(readonly side: Side) {}

  record(cls: string, ok: boolean, ms: number): void {
    this.bump(`${cls}|${this.side}|p`, 1);
    if (ok) this.bump(`${cls}|${this.side}|ms`, Math.max(0, Math.round(ms)));
    else this.bump(`${cls}|${this.side}|f`, 1);
  }

  private bump(field: string, n: number): void {
    this.counts.set(field, (this.counts.get(field) ?? 0) + n);
  }

  /** Adds the counts to the minute of `now`; restores them if Redis refuses. */
  async flush(redis: Redis, keys: Keys, now: number): Promise<void> {
    if (this.counts.size === 0) return;
    const counts = this.counts;
    this.counts = new Map();
    const key = keys.routeStats(now);
    try {
      const m = redis.pipeline();
      for (const [field, n] of counts) m.hincrby(key, field, n);
      m.expire(key, ROUTE_STATS_TTL_SECONDS);
      const res = await m.exec();
      for (const [err] of res ?? []) if (err) throw err;
    } catch (e) {
      for (const [field, n] of counts) this.bump(field, n);
      throw e;
    }
  }
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
