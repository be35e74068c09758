/**
 * The poller's own counters for `/stats` and CloudWatch: processed, failed and throttled per class,
 * how long jobs waited in their queue per class (`enqueued_at` to the Invoke: count, total and
 * longest), jobs fetched. Cumulative; `drain()` gives the deltas since the last call for metrics.
 * Each finished run with its duration also goes to `onRun` (per-side stats and Sidekiq's Metrics tab).
 */
export interface ClassCounts {
  processed: number;
  failed: number;
  throttled: number;
  /** Jobs whose queue wait was measured, their total wait and the longest, in ms. */
  queueWaits: number;
  queueWaitMsTotal: number;
  queueWaitMsMax: number;
}

export class PollerCounters {
  private readonly total = new Map<string, ClassCounts>();
  private pending = new Map<string, ClassCounts>();
  fetchedTotal = 0;
  /** Called for every finished run whose duration is known: success (`ok`) or failure. */
  onRun?: (cls: string, ok: boolean, ms: number) => void;
  /** Enqueue-to-fetch lag of the latest fetched job, ms; and a moving average. */
  lastLagMs = 0;
  avgLagMs = 0;

  private bump(cls: string, field: 'processed' | 'failed' | 'throttled', n: number): void {
    for (const c of this.both(cls)) c[field] += n;
  }

  private both(cls: string): ClassCounts[] {
    return [this.total, this.pending].map((m) => {
      let c = m.get(cls);
      if (!c) m.set(cls, (c = { processed: 0, failed: 0, throttled: 0, queueWaits: 0, queueWaitMsTotal: 0, queueWaitMsMax: 0 }));
      return c;
    });
  }

  processed(cls: string, n = 1, ms?: number): void {
    this.bump(cls, 'processed', n);
    if (ms !== undefined) this.onRun?.(cls, true, ms);
  }
  failed(cls: string, n = 1, ms?: number): void {
    this.bump(cls, 'failed', n);
    if (ms !== undefined) this.onRun?.(cls, false, ms);
  }
  throttled(cls: string, n = 1): void {
    this.bump(cls, 'throttled', n);
  }
  /** A job of `cls` waited `ms` in its queue before its Invoke. */
  waited(cls: string, ms: number): void {
    for (const c of this.both(cls)) {
      c.queueWaits++;
      c.queueWaitMsTotal += ms;
      c.queueWaitMsMax = Math.max(c.queueWaitMsMax, ms);
    }
  }
  fetched(n: number): void {
    this.fetchedTotal += n;
  }
  lag(ms: number): void {
    this.lastLagMs = ms;
    this.avgLagMs = this.avgLagMs === 0 ? ms : this.avgLagMs * 0.95 + ms * 0.05;
  }

  /** Totals per class since start. */
  snapshot(): Record<string, ClassCounts> {
    return Object.fromEntries([...this.total].map(([k, v]) => [k, { ...v }]));
  }

  /** Counts per class since the previous drain. */
  drain(): Map<string, ClassCounts> {
    const out = this.pending;
    this.pending = new Map();
    return out;
  }
}
