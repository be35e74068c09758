/**
 * Metrics, alarms and a dashboard from what the poller publishes (`lib/poller/metrics.ts`, as EMF).
 *
 * Tasks:
 * 1. Alarms: a queue's latency above a threshold, the dead set growing, the poller unhealthy (no
 *    poller has reported its backlog for five minutes), throttling sustained for a class.
 * 2. A dashboard with those metrics and the alarms' state.
 * 3. `watch(job)`: add a class (and its queue) as routes are added.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { ResolvedJob } from '../lib/jobs.js';
import { DIMENSION, METRIC, METRICS_NAMESPACE } from '../lib/poller/metrics.js';

export interface MonitoringProps {
  readonly queueLatencyAlarmSeconds: number;
  readonly alarmTopic?: sns.ITopic;
}

const MINUTE = Duration.minutes(1);

/** A poller metric. */
export function pollerMetric(name: string, statistic: string, dimensions?: Record<string, string>, period = MINUTE): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: name, statistic, period, dimensionsMap: dimensions });
}

function graph(title: string, left: cloudwatch.IMetric[]): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 8, height: 6 });
}

export class Monitoring extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly deadSetGrowing: cloudwatch.Alarm;
  public readonly pollerUnhealthy: cloudwatch.Alarm;
  /** By queue. */
  public readonly queueLatency = new Map<string, cloudwatch.Alarm>();
  /** By job class. */
  public readonly throttled = new Map<string, cloudwatch.Alarm>();
  private readonly alarmList: cloudwatch.IAlarm[] = [];
  private readonly graphs = {
    latency: graph('Queue latency (s, oldest job)', []),
    backlog: graph('Queue backlog (jobs)', []),
    processed: graph('Processed per class', []),
    failed: graph('Failed per class', []),
    throttled: graph('Throttled per class', []),
  };

  constructor(scope: Construct, id: string, private readonly props: MonitoringProps) {
    super(scope, id);
    this.deadSetGrowing = this.alarm('DeadSetGrowing', {
      alarmDescription: 'Sidekiq dead set grew in the last 5 minutes: jobs exhausted their retries (see the Dead tab of the Web UI)',
      metric: new cloudwatch.MathExpression({
        expression: 'DIFF(dead)',
        usingMetrics: { dead: pollerMetric(METRIC.deadSetSize, cloudwatch.Stats.MAXIMUM, undefined, Duration.minutes(5)) },
        period: Duration.minutes(5),
        label: 'dead set growth',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.pollerUnhealthy = this.alarm('PollerUnhealthy', {
      alarmDescription: 'No poller has reported its backlog for 5 minutes: the service is down, crash-looping or cannot reach Redis',
      metric: pollerMetric(METRIC.backlogPerTask, cloudwatch.Stats.SAMPLE_COUNT),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    // The widget reads this array when the dashboard is rendered, so alarms added by watch() show.
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarmList, width: 24, height: 4 }));
    this.dashboard.addWidgets(
      this.graphs.latency,
      this.graphs.backlog,
      graph('Backlog per task / in flight', [
        pollerMetric(METRIC.backlogPerTask, cloudwatch.Stats.AVERAGE).with({ label: 'backlog per task' }),
        pollerMetric(METRIC.inFlight, cloudwatch.Stats.SUM).with({ label: 'in flight (all pollers)' }),
      ]),
    );
    this.dashboard.addWidgets(this.graphs.processed, this.graphs.failed, this.graphs.throttled);
    this.dashboard.addWidgets(graph('Dead set size', [pollerMetric(METRIC.deadSetSize, cloudwatch.Stats.MAXIMUM)]));
  }

  /** Alarms and graphs for one routed class and its queue. */
  public watch(job: ResolvedJob): void {
    const byClass = (name: string) => pollerMetric(name, cloudwatch.Stats.SUM, { [DIMENSION.jobClass]: job.class }).with({ label: job.class });
    this.graphs.processed.addLeftMetric(byClass(METRIC.processed));
    this.graphs.failed.addLeftMetric(byClass(METRIC.failed));
    this.graphs.throttled.addLeftMetric(byClass(METRIC.throttled));
    const id = job.class.replace(/[^A-Za-z0-9]/g, '');
    this.throttled.set(job.class, this.alarm(`Throttled${id}`, {
      alarmDescription: `Lambda throttled ${job.class} every minute for 5 minutes: raise its concurrency (and the account's) or lower the poller's cap`,
      metric: pollerMetric(METRIC.throttled, cloudwatch.Stats.SUM, { [DIMENSION.jobClass]: job.class }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));
    if (this.queueLatency.has(job.queue)) return;
    const byQueue = (name: string) => pollerMetric(name, cloudwatch.Stats.MAXIMUM, { [DIMENSION.queue]: job.queue }).with({ label: job.queue });
    this.graphs.latency.addLeftMetric(byQueue(METRIC.queueLatency));
    this.graphs.backlog.addLeftMetric(byQueue(METRIC.queueBacklog));
    const q = job.queue.replace(/[^A-Za-z0-9]/g, '');
    this.queueLatency.set(job.queue, this.alarm(`QueueLatency${q}`, {
      alarmDescription: `Queue ${job.queue}: the oldest job has waited over ${this.props.queueLatencyAlarmSeconds} s for 3 minutes`,
      metric: pollerMetric(METRIC.queueLatency, cloudwatch.Stats.MAXIMUM, { [DIMENSION.queue]: job.queue }),
      threshold: this.props.queueLatencyAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    this.alarmList.push(alarm);
    if (this.props.alarmTopic) {
      alarm.addAlarmAction(new actions.SnsAction(this.props.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(this.props.alarmTopic));
    }
    return alarm;
  }
}
