/**
 * CloudWatch metrics from the poller, written as Embedded Metric Format lines on stdout (the ECS
 * log group); no CloudWatch API calls, nothing on the per-job path.
 *
 * Tasks:
 * 1. Every interval, read each queue's backlog and latency (the oldest job's `enqueued_at`, in
 *    either timestamp format), the dead set's size and the number of pollers, from one pipeline.
 * 2. Emit them with this poller's in-flight count and its per-class processed / failed / throttled
 *    counts since the last emission.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { queueInfo } from '../sidekiq/api.js';
import { DIMENSION, METRIC, emf } from './metrics.js';
import type { PollerCounters } from './counters.js';

export function startMonitor(opts: {
  redis: Redis;
  keys: Keys;
  queues: readonly string[];
  counters: PollerCounters;
  inFlight: () => number;
  intervalMs?: number;
  write?: (line: string) => void;
}): { stop(): void } {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const tick = async (): Promise<void> => {
    const now = Date.now();
    const loads = await queueInfo(opts.redis, opts.keys, opts.queues, now);
    const [dead, pollers] = await Promise.all([opts.redis.zcard(opts.keys.dead), opts.redis.hlen(opts.keys.pollers)]);
    for (const l of loads) {
      write(emf({ [METRIC.queueLatency]: l.latency, [METRIC.queueBacklog]: l.size }, { [METRIC.queueLatency]: 'Seconds', [METRIC.queueBacklog]: 'Count' }, { [DIMENSION.queue]: l.name }, now));
    }
    const backlog = loads.reduce((s, l) => s + l.size, 0);
    write(
      emf(
        { [METRIC.inFlight]: opts.inFlight(), [METRIC.deadSetSize]: dead, [METRIC.backlogPerTask]: backlog / Math.max(1, pollers) },
        { [METRIC.inFlight]: 'Count', [METRIC.deadSetSize]: 'Count', [METRIC.backlogPerTask]: 'Count' },
        {},
        now,
      ),
    );
    for (const [cls, c] of opts.counters.drain()) {
      write(
        emf(
          { [METRIC.processed]: c.processed, [METRIC.failed]: c.failed, [METRIC.throttled]: c.throttled },
          { [METRIC.processed]: 'Count', [METRIC.failed]: 'Count', [METRIC.throttled]: 'Count' },
          { [DIMENSION.jobClass]: cls },
          now,
        ),
      );
    }
  };
  const timer = setInterval(() => void tick().catch(() => undefined), opts.intervalMs ?? 60_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
