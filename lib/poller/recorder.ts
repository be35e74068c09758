/**
 * What the poller records about each run on Lambda beyond Sidekiq's processed/failed totals: the
 * per-side stats (the Lambda tab and `route`, lib/routing/stats.ts) and Sidekiq's own Metrics tab
 * (as `<Class> (λ)`, lib/sidekiq/metrics.ts) — one tally in memory, flushed every few seconds in
 * one round trip, as Sidekiq flushes per heartbeat. Counts Redis refuses are kept for the next flush.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import type { SidekiqVersion } from '../protocol/time.js';
import type { Logger } from '../log.js';
import { writeSideStats } from '../routing/stats.js';
import { mergeRuns, tallyRun, writeJobMetrics, type RunTally } from '../sidekiq/metrics.js';

export interface RecorderOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly version: SidekiqVersion;
  readonly log: Logger;
  /** @defaultValue 5000 */
  readonly intervalMs?: number;
}

/**
 * @example
 * const recorder = new RunRecorder({ redis, keys, version: 7, log });
 * counters.onRun = (cls, ok, ms) => recorder.record(cls, ok, ms);
 * recorder.start();
 */
export class RunRecorder {
  private runs: RunTally = new Map();
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: RecorderOptions) {}

  record(cls: string, ok: boolean, ms: number): void {
    tallyRun(this.runs, cls, ok, ms);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.intervalMs ?? 5000);
    this.timer.unref();
  }

  /** Stops the timer and flushes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Adds the runs counted since the last flush to the minute of `now`, both sides' stats and Sidekiq's Metrics. */
  async flush(now = Date.now()): Promise<void> {
    if (this.runs.size === 0) return;
    const runs = this.runs;
    this.runs = new Map();
    const m = this.opts.redis.pipeline();
    writeSideStats(m, this.opts.keys, 'lambda', runs, now);
    writeJobMetrics(m, this.opts.keys, this.opts.version, runs, now);
    try {
      const res = await m.exec();
      for (const [err] of res ?? []) if (err) throw err;
    } catch (e) {
      mergeRuns(this.runs, runs);
      this.opts.log.warn('could not write run metrics; kept for the next flush', { error: (e as Error).message });
    }
  }
}
