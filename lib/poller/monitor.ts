/**
 * CloudWatch metrics from the poller, written as Embedded Metric Format lines on stdout (the ECS
 * log group); no CloudWatch API calls, nothing on the per-job path.
 *
 * Tasks:
 * 1. Every interval, read each queue's backlog and latency (the oldest job's `enqueued_at`, in
 *    either timestamp format), the dead set's size, the number of pollers, and how long the oldest
 *    due job in `schedule` and in `retry` has waited to be promoted (the scheduler falling behind
 *    or not running shows there), from one round of Redis calls.
 * 2. Emit them with this poller's in-flight and running counts, its utilization (running jobs as a
 *    percentage of `maxInFlight`: the scaling input), and its per-class processed / failed /
 *    throttled / expired / unique-skipped counts since the last emission (per class, and summed
 *    over the classes), and how long that class's jobs waited in their queue (average and longest).
 * 3. Put the deployment's `Deployment` dimension on every document.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { queueInfo } from '../sidekiq/api.js';
import { DIMENSION, METRIC, emf } from './metrics.js';
import type { PollerCounters } from './counters.js';

/** Seconds since the lowest-scored entry of a sorted set became due; 0 when nothing is due. */
export async function dueLag(redis: Redis, key: string, now: number): Promise<number> {
  const [, score] = await redis.zrange(key, 0, 0, 'WITHSCORES');
  if (score === undefined) return 0;
  return Math.max(0, now / 1000 - Number(score));
}

export interface MonitorOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly queues: readonly string[];
  readonly counters: PollerCounters;
  /** Jobs held: running or waiting for a slot. */
  readonly inFlight: () => number;
  /** Jobs in running invocations. @defaultValue inFlight */
  readonly running?: () => number;
  /** The poller's budget, for `Utilization`. @defaultValue 100 */
  readonly maxInFlight?: number;
  /** The `Deployment` dimension's value. @defaultValue 'default' */
  readonly deployment?: string;
  readonly intervalMs?: number;
  readonly write?: (line: string) => void;
}

export function startMonitor(opts: MonitorOptions): { stop(): void } {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const deployment = { [DIMENSION.deployment]: opts.deployment ?? 'default' };
  const running = opts.running ?? opts.inFlight;
  const maxInFlight = opts.maxInFlight ?? 100;
  const tick = async (): Promise<void> => {
    const now = Date.now();
    const loads = await queueInfo(opts.redis, opts.keys, opts.queues, now);
    const [dead, pollers, scheduledLag, retryLag] = await Promise.all([
      opts.redis.zcard(opts.keys.dead),
      opts.redis.hlen(opts.keys.pollers),
      dueLag(opts.redis, opts.keys.schedule, now),
      dueLag(opts.redis, opts.keys.retry, now),
    ]);
    for (const l of loads) {
      write(emf({ [METRIC.queueLatency]: l.latency, [METRIC.queueBacklog]: l.size }, { [METRIC.queueLatency]: 'Seconds', [METRIC.queueBacklog]: 'Count' }, { ...deployment, [DIMENSION.queue]: l.name }, now));
    }
    const backlog = loads.reduce((s, l) => s + l.size, 0);
    const runningNow = running();
    write(
      emf(
        {
          [METRIC.inFlight]: opts.inFlight(),
          [METRIC.running]: runningNow,
          [METRIC.utilization]: (100 * runningNow) / maxInFlight,
          [METRIC.deadSetSize]: dead,
          [METRIC.backlogPerTask]: backlog / Math.max(1, pollers),
          [METRIC.scheduledLag]: scheduledLag,
          [METRIC.retryLag]: retryLag,
        },
        {
          [METRIC.inFlight]: 'Count',
          [METRIC.running]: 'Count',
          [METRIC.utilization]: 'Percent',
          [METRIC.deadSetSize]: 'Count',
          [METRIC.backlogPerTask]: 'Count',
          [METRIC.scheduledLag]: 'Seconds',
          [METRIC.retryLag]: 'Seconds',
        },
        deployment,
        now,
      ),
    );
    for (const [cls, c] of opts.counters.drain()) {
      write(
        emf(
          { [METRIC.processed]: c.processed, [METRIC.failed]: c.failed, [METRIC.throttled]: c.throttled, [METRIC.expired]: c.expired, [METRIC.uniqueSkipped]: c.skipped },
          { [METRIC.processed]: 'Count', [METRIC.failed]: 'Count', [METRIC.throttled]: 'Count', [METRIC.expired]: 'Count', [METRIC.uniqueSkipped]: 'Count' },
          { ...deployment, [DIMENSION.jobClass]: cls },
          now,
          // …and by deployment alone: the failed-job rate across classes.
          [[DIMENSION.deployment]],
        ),
      );
      if (c.queueWaits > 0) {
        write(
          emf(
            { [METRIC.queueWait]: c.queueWaitMsTotal / c.queueWaits / 1000, [METRIC.queueWaitMax]: c.queueWaitMsMax / 1000 },
            { [METRIC.queueWait]: 'Seconds', [METRIC.queueWaitMax]: 'Seconds' },
            { ...deployment, [DIMENSION.jobClass]: cls },
            now,
          ),
        );
      }
    }
  };
  const timer = setInterval(() => void tick().catch(() => undefined), opts.intervalMs ?? 60_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
