/**
 * What the poller records about each run on Lambda beyond Sidekiq's processed/failed totals: the
 * per-side stats (`SideStats`, the Lambda tab and `route`) and Sidekiq's own Metrics tab
 * (`JobMetrics`, as `<Class> (λ)`), flushed every few seconds as Sidekiq flushes per heartbeat.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import type { SidekiqVersion } from '../protocol/time.js';
import type { Logger } from '../log.js';
import { SideStats } from '../routing/stats.js';
import { JobMetrics } from '../sidekiq/metrics.js';

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
  private readonly side = new SideStats('lambda');
  private readonly metrics: JobMetrics;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: RecorderOptions) {
    this.metrics = new JobMetrics(opts.version);
  }

  record(cls: string, ok: boolean, ms: number): void {
    this.side.record(cls, ok, ms);
    this.metrics.record(cls, ok, ms);
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

  async flush(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [this.side.flush(this.opts.redis, this.opts.keys, now), this.metrics.flush(this.opts.redis, this.opts.keys, now)].map((p) =>
        p.catch((e: Error) => this.opts.log.warn('could not write run metrics; kept for the next flush', { error: e.message })),
      ),
    );
  }
}
