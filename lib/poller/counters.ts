/**
 * The poller's own counters for `/stats` and CloudWatch: processed, failed and throttled per class,
 * jobs skipped without running (expired; kept from running by their unique lock), how long jobs
 * waited in their queue per class (`enqueued_at` to the Invoke: count, total and longest), jobs
 * fetched. Cumulative; `drain()` gives the deltas since the last call for metrics. Each finished
 * run with its duration also goes to `onRun` (per-side stats and Sidekiq's Metrics tab).
 */
export interface ClassCounts {
  processed: number;
  failed: number;
  throttled: number;
  /** Dropped when fetched: past their `expires_at`. */
  expired: number;
  /** Not run because of their unique lock (a duplicate, or a runtime lock held elsewhere). */
  skipped: number;
  /** Jobs whose queue wait was measured, their total wait and the longest, in ms. */
  queueWaits: number;
  queueWaitMsTotal: number;
  queueWaitMsMax: number;
}

/** A class's counts before anything happened. */
export function emptyCounts(): ClassCounts {
  return { processed: 0, failed: 0, throttled: 0, expired: 0, skipped: 0, queueWaits: 0, queueWaitMsTotal: 0, queueWaitMsMax: 0 };
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

  private bump(cls: string, field: 'processed' | 'failed' | 'throttled' | 'expired' | 'skipped', n: number): void {
    for (const c of this.both(cls)) c[field] += n;
  }

  /** The class's running totals and its counts since the last drain. */
  private both(cls: string): ClassCounts[] {
    return [this.total, this.pending].map((m) => {
      let c = m.get(cls);
      if (!c) m.set(cls, (c = emptyCounts()));
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
  skipped(cls: string, why: 'expired' | 'unique'): void {
    this.bump(cls, why === 'expired' ? 'expired' : 'skipped', 1);
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
