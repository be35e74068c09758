/**
 * CloudWatch metrics the poller publishes, as Embedded Metric Format log lines (no API calls from
 * the hot path; CloudWatch extracts them from the log group).
 *
 * Tasks:
 * 1. Name the namespace, metrics and dimensions in one place: the poller writes them and the CDK
 *    construct's alarms, dashboard and scaling policy read them.
 * 2. Render one EMF document. Every metric carries the `Deployment` dimension (one value per
 *    deployment, set by the CDK construct), so two deployments in one account and region never
 *    share a metric: not a scaling input, not an alarm.
 *
 * Pure: `infra/` imports the names.
 */
export const METRICS_NAMESPACE = 'SidekiqLambda';

export const METRIC = {
  /** Seconds since the oldest job in a queue was enqueued. Dimension: Queue. */
  queueLatency: 'QueueLatency',
  /** Jobs waiting in a queue. Dimension: Queue. */
  queueBacklog: 'QueueBacklog',
  /** Jobs waiting across the poller's queues, divided by running poller tasks. */
  backlogPerTask: 'BacklogPerTask',
  /** Jobs one poller holds right now: running, or waiting for a slot of their class. */
  inFlight: 'InFlight',
  /** Jobs in running invocations of one poller (not those waiting for a capped class's lease). */
  running: 'Running',
  /** `Running` as a percentage of the poller's `maxInFlight`: what the task count scales on. */
  utilization: 'Utilization',
  /** Seconds the oldest due job in `schedule` has waited to be promoted (0: none due). */
  scheduledLag: 'ScheduledLag',
  /** Seconds the oldest due job in `retry` has waited to be promoted (0: none due). */
  retryLag: 'RetryLag',
  /** Per class: successful executions. Dimension: JobClass. */
  processed: 'Processed',
  /** Per class: failed executions. Dimension: JobClass. */
  failed: 'Failed',
  /** Per class: invocations refused with 429. Dimension: JobClass. */
  throttled: 'Throttled',
  /** Per class: seconds a job waited in its queue (`enqueued_at` to its Invoke), averaged over the interval. Dimension: JobClass. */
  queueWait: 'QueueWait',
  /** Per class: the longest such wait in the interval, in seconds. Dimension: JobClass. */
  queueWaitMax: 'QueueWaitMax',
  /** Per class: jobs dropped when fetched, past their `expires_at` (Sidekiq Pro's expiring jobs). Dimension: JobClass. */
  expired: 'Expired',
  /** Per class: jobs not run because of their sidekiq-unique-jobs lock. Dimension: JobClass. */
  uniqueSkipped: 'UniqueSkipped',
  /** Size of Sidekiq's dead set. */
  deadSetSize: 'DeadSetSize',
} as const;

/** `Deployment` is on every metric; `Queue` or `JobClass` besides it where the metric says so. */
export const DIMENSION = { deployment: 'Deployment', queue: 'Queue', jobClass: 'JobClass' } as const;

export type MetricUnit = 'Count' | 'Seconds' | 'Percent' | 'None';

/**
 * One EMF log line with the given metrics under one dimension set (include `Deployment` in it), and
 * under each of `alsoBy` too: fewer dimensions, for a total across their values (CloudWatch sums
 * what is published to one metric).
 *
 * @example
 * emf({ Failed: 2 }, { Failed: 'Count' }, { Deployment: 'prod', JobClass: 'A' }, Date.now(), [['Deployment']]);
 */
export function emf(
  values: Record<string, number>,
  units: Record<string, MetricUnit>,
  dimensions: Record<string, string> = {},
  at: number = Date.now(),
  alsoBy: readonly (readonly string[])[] = [],
): string {
  const dimKeys = [Object.keys(dimensions), ...alsoBy];
  return JSON.stringify({
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: dimKeys,
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: units[Name] ?? 'None' })),
        },
      ],
    },
    ...dimensions,
    ...values,
  });
}
