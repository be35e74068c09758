/**
 * CloudWatch metrics the poller publishes, as Embedded Metric Format log lines (no API calls from
 * the hot path; CloudWatch extracts them from the log group).
 *
 * Tasks:
 * 1. Name the namespace, metrics and dimensions in one place: the poller writes them and the CDK
 *    construct's alarms and dashboard read them.
 * 2. Render one EMF document.
 *
 * Pure: `infra/` imports the names.
 */
export const METRICS_NAMESPACE = 'SidekiqLambda';

export const METRIC = {
  /** Seconds since the oldest job in a queue was enqueued. Dimension: Queue. */
  queueLatency: 'QueueLatency',
  /** Jobs waiting in a queue. Dimension: Queue. */
  queueBacklog: 'QueueBacklog',
  /** Jobs waiting across the poller's queues, divided by running poller tasks. No dimension. */
  backlogPerTask: 'BacklogPerTask',
  /** Jobs being run right now by one poller. No dimension. */
  inFlight: 'InFlight',
  /** Per class: successful executions. Dimension: JobClass. */
  processed: 'Processed',
  /** Per class: failed executions. Dimension: JobClass. */
  failed: 'Failed',
  /** Per class: invocations refused with 429. Dimension: JobClass. */
  throttled: 'Throttled',
  /** Size of Sidekiq's dead set. No dimension. */
  deadSetSize: 'DeadSetSize',
} as const;

export const DIMENSION = { queue: 'Queue', jobClass: 'JobClass' } as const;

export type MetricUnit = 'Count' | 'Seconds' | 'None';

/** One EMF log line with the given metrics under one dimension set. */
export function emf(
  values: Record<string, number>,
  units: Record<string, MetricUnit>,
  dimensions: Record<string, string> = {},
  at: number = Date.now(),
): string {
  const dimKeys = Object.keys(dimensions);
  return JSON.stringify({
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [dimKeys],
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: units[Name] ?? 'None' })),
        },
      ],
    },
    ...dimensions,
    ...values,
  });
}
