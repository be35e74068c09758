/**
 * Processed / failed counters (sidekiq-protocol.md §6.5), so the dashboard's totals and graphs
 * count our jobs too.
 *
 * Tasks:
 * 1. Count in memory (`processed()`, `failed()`), cheap enough to call per job.
 * 2. `flush`: add the counts to `stat:processed` / `stat:failed` and today's UTC keys (re-EXPIRE 5
 *    years) in one MULTI; on a Redis error, add the counts back so none is lost.
 */
import type { Redis } from 'ioredis';
import { STAT_DAY_TTL_SECONDS, type Keys } from '../protocol/keys.js';
import type { EpochMs } from '../protocol/time.js';

/**
 * In-memory job counters, flushed to Redis by the heartbeat.
 *
 * @example
 * const stats = new Stats();
 * stats.processed();
 * await stats.flush(redis, keys(), Date.now());
 */
export class Stats {
  private p = 0;
  private f = 0;

  /** Counts finished jobs (successes and failures alike: Sidekiq's `processed` counts both). */
  processed(n = 1): void {
    this.p += n;
  }

  failed(n = 1): void {
    this.f += n;
  }

  /** Counts not yet flushed. */
  pending(): { processed: number; failed: number } {
    return { processed: this.p, failed: this.f };
  }

  /** Writes the counts (skipped when both are 0, as Sidekiq 7+ does). Throws after restoring them on error. */
  async flush(redis: Redis, keys: Keys, now: EpochMs): Promise<void> {
    const p = this.p;
    const f = this.f;
    if (p === 0 && f === 0) return;
    this.p = 0;
    this.f = 0;
    try {
      const m = redis.multi();
      if (p > 0) {
        m.incrby(keys.statProcessed, p).incrby(keys.statProcessedDay(now), p).expire(keys.statProcessedDay(now), STAT_DAY_TTL_SECONDS);
      }
      if (f > 0) {
        m.incrby(keys.statFailed, f).incrby(keys.statFailedDay(now), f).expire(keys.statFailedDay(now), STAT_DAY_TTL_SECONDS);
      }
      const res = await m.exec();
      if (!res) throw new Error('stats flush: transaction aborted');
      for (const [err] of res) if (err) throw err;
    } catch (e) {
      this.p += p;
      this.f += f;
      throw e;
    }
  }
}
