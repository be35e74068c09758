/**
 * Metrics, alarms and a dashboard: what the poller publishes (`lib/poller/metrics.ts`, as EMF, under
 * this deployment's `Deployment` dimension), Lambda's own metrics of the job functions and the
 * scheduler, and ElastiCache's of a Redis this construct created.
 *
 * Tasks:
 * 1. Alarms on the poller's metrics: a queue's latency, the dead set growing, no poller reporting,
 *    throttling sustained for a class, the failed-job rate, and the scheduler falling behind (the
 *    oldest due job in `schedule` or `retry` waiting too long to be promoted).
 * 2. Alarms on the functions: the scheduler failing; each job function's errors (crashes,
 *    timeouts, out of memory — a job that throws is a job failure, not a function error) and its
 *    longest run against its timeout.
 * 3. Alarms on a new Redis: memory (with `noeviction`, a full Redis refuses Rails' enqueues) and
 *    engine CPU, per node.
 * 4. A dashboard with those metrics and the alarms' state; `watch(job, fn)` adds a class as
 *    routes are added. Every poller metric read here carries this deployment's dimension, so two
 *    deployments in one account and region never read each other's.
 * 5. Warn at synth when no alarm topic is set.
 */
import { Duration, Fn, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { ResolvedJob } from '../lib/jobs.js';
import { lambdaQueueOf } from '../lib/config.js';
import { DIMENSION, METRIC, METRICS_NAMESPACE } from '../lib/poller/metrics.js';
import type { AlarmThresholds } from './props.js';
import type { ManagedRedis } from './redis.js';
import { constructId, WARNINGS } from './validate.js';

export interface MonitoringProps {
  /** The value of the `Deployment` dimension on every poller metric. */
  readonly deployment: string;
  readonly queueLatencyAlarmSeconds: number;
  readonly thresholds: Required<AlarmThresholds>;
  readonly alarmTopic?: sns.ITopic;
}

const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

function graph(title: string, left: cloudwatch.IMetric[]): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 8, height: 6 });
}

/** CloudWatch's limit of alarms in one alarm status widget. */
const ALARMS_PER_WIDGET = 100;

/**
 * Alarm status widgets for a list that grows as routes are added, 100 alarms each (CloudWatch refuses
 * more in one), stacked downwards from where the dashboard places it: keep it in the last row.
 */
class AlarmStatusWidgets implements cloudwatch.IWidget {
  public readonly width = 24;
  public readonly height = 4;
  private x = 0;
  private y = 0;

  constructor(private readonly title: string, private readonly alarms: readonly cloudwatch.IAlarm[]) {}

  public position(x: number, y: number): void {
    this.x = x;
    this.y = y;
  }

  public toJson(): unknown[] {
    const out: unknown[] = [];
    for (let i = 0; i * ALARMS_PER_WIDGET < this.alarms.length; i++) {
      const alarms = this.alarms.slice(i * ALARMS_PER_WIDGET, (i + 1) * ALARMS_PER_WIDGET);
      const widget = new cloudwatch.AlarmStatusWidget({ title: i === 0 ? this.title : `${this.title} (continued)`, alarms, width: this.width, height: this.height });
      widget.position(this.x, this.y + i * this.height);
      out.push(...widget.toJson());
    }
    return out;
  }
}

export class Monitoring extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly deadSetGrowing: cloudwatch.Alarm;
  public readonly pollerUnhealthy: cloudwatch.Alarm;
  public readonly failedJobRate: cloudwatch.Alarm;
  public readonly schedulerBehind: cloudwatch.Alarm;
  /** Present once `watchScheduler` was called. */
  public schedulerErrors?: cloudwatch.Alarm;
  /** By queue. */
  public readonly queueLatency = new Map<string, cloudwatch.Alarm>();
  /** By job class. */
  public readonly throttled = new Map<string, cloudwatch.Alarm>();
  /** By job class: the function's errors (crashes, timeouts), and its longest run against its timeout. */
  public readonly functionErrors = new Map<string, cloudwatch.Alarm>();
  public readonly functionDuration = new Map<string, cloudwatch.Alarm>();
  /** A new Redis's memory and engine CPU alarms, per node. */
  public readonly redisAlarms: cloudwatch.Alarm[] = [];
  /** Alarms about the whole deployment, and those per queue, class or function (as many as there are routes). */
  private readonly alarmList: cloudwatch.IAlarm[] = [];
  private readonly routeAlarms: cloudwatch.IAlarm[] = [];
  private readonly graphs = {
    latency: graph('Queue latency (s, oldest job)', []),
    backlog: graph('Queue backlog (jobs)', []),
    processed: graph('Processed per class', []),
    failed: graph('Failed per class', []),
    throttled: graph('Throttled per class', []),
    duration: graph('Function duration, max (ms)', []),
    redis: graph('Redis memory and engine CPU (%)', []),
  };

  constructor(scope: Construct, id: string, private readonly props: MonitoringProps) {
    super(scope, id);
    const t = props.thresholds;
    if (!props.alarmTopic) Validations.of(this).addWarning(WARNINGS.noAlarmTopic.id, WARNINGS.noAlarmTopic.message);
    this.deadSetGrowing = this.alarm('DeadSetGrowing', {
      alarmDescription: 'Sidekiq dead set grew in the last 5 minutes: jobs exhausted their retries (see the Dead tab of the Web UI)',
      metric: new cloudwatch.MathExpression({
        expression: 'DIFF(dead)',
        usingMetrics: { dead: this.metric(METRIC.deadSetSize, cloudwatch.Stats.MAXIMUM, {}, FIVE_MINUTES) },
        period: FIVE_MINUTES,
        label: 'dead set growth',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.pollerUnhealthy = this.alarm('PollerUnhealthy', {
      alarmDescription: 'No poller has reported its backlog for 5 minutes: the service is down, crash-looping or cannot reach Redis',
      metric: this.metric(METRIC.backlogPerTask, cloudwatch.Stats.SAMPLE_COUNT),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.failedJobRate = this.alarm('FailedJobRate', {
      alarmDescription: `More than ${t.failedJobPercent}% of finished jobs failed over 5 minutes (see the Retries tab of the Web UI and the functions' logs)`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(ok + failed > 0, 100 * failed / (ok + failed), 0)',
        usingMetrics: {
          ok: this.metric(METRIC.processed, cloudwatch.Stats.SUM, {}, FIVE_MINUTES),
          failed: this.metric(METRIC.failed, cloudwatch.Stats.SUM, {}, FIVE_MINUTES),
        },
        period: FIVE_MINUTES,
        label: 'failed jobs (%)',
      }),
      threshold: t.failedJobPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.schedulerBehind = this.alarm('SchedulerBehind', {
      alarmDescription: `A due scheduled or retry job has waited over ${t.schedulerLagSeconds} s to be promoted for 3 minutes: the scheduler is failing, throttled or not running`,
      metric: new cloudwatch.MathExpression({
        expression: 'MAX([scheduled, retry])',
        usingMetrics: {
          scheduled: this.metric(METRIC.scheduledLag, cloudwatch.Stats.MAXIMUM),
          retry: this.metric(METRIC.retryLag, cloudwatch.Stats.MAXIMUM),
        },
        period: MINUTE,
        label: 'oldest due job (s)',
      }),
      threshold: t.schedulerLagSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    // The widgets read these arrays when the dashboard is rendered, so alarms added later show.
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarmList, width: 24, height: 4 }));
    this.dashboard.addWidgets(
      this.graphs.latency,
      this.graphs.backlog,
      graph('Backlog per task / in flight / running', [
        this.metric(METRIC.backlogPerTask, cloudwatch.Stats.AVERAGE).with({ label: 'backlog per task' }),
        this.metric(METRIC.inFlight, cloudwatch.Stats.SUM).with({ label: 'in flight (all pollers)' }),
        this.metric(METRIC.running, cloudwatch.Stats.SUM).with({ label: 'running (all pollers)' }),
      ]),
    );
    this.dashboard.addWidgets(this.graphs.processed, this.graphs.failed, this.graphs.throttled);
    this.dashboard.addWidgets(
      graph('Dead set size', [this.metric(METRIC.deadSetSize, cloudwatch.Stats.MAXIMUM)]),
      graph('Utilization (% of maxInFlight, scaling input)', [this.metric(METRIC.utilization, cloudwatch.Stats.AVERAGE).with({ label: 'average over tasks' })]),
      graph('Oldest due job (s)', [
        this.metric(METRIC.scheduledLag, cloudwatch.Stats.MAXIMUM).with({ label: 'schedule' }),
        this.metric(METRIC.retryLag, cloudwatch.Stats.MAXIMUM).with({ label: 'retry' }),
      ]),
    );
    this.dashboard.addWidgets(this.graphs.duration, this.graphs.redis);
    this.dashboard.addWidgets(new AlarmStatusWidgets('Alarms per queue and class', this.routeAlarms));
  }

  /** A poller metric of this deployment (and `dimensions` besides). */
  public metric(name: string, statistic: string, dimensions: Record<string, string> = {}, period = MINUTE): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      statistic,
      period,
      dimensionsMap: { [DIMENSION.deployment]: this.props.deployment, ...dimensions },
    });
  }

  /** Alarms and graphs for one routed class, its queue and (when given) its function. */
  public watch(job: ResolvedJob, fn?: lambda.IFunction): void {
    const dims = { [DIMENSION.jobClass]: job.class };
    const byClass = (name: string) => this.metric(name, cloudwatch.Stats.SUM, dims).with({ label: job.class });
    this.graphs.processed.addLeftMetric(byClass(METRIC.processed));
    this.graphs.failed.addLeftMetric(byClass(METRIC.failed));
    this.graphs.throttled.addLeftMetric(byClass(METRIC.throttled));
    const id = constructId(job.class);
    this.throttled.set(job.class, this.alarm(`Throttled${id}`, {
      alarmDescription: `Lambda throttled ${job.class} every minute for 5 minutes: raise its concurrency (and the account's) or lower the poller's cap`,
      metric: this.metric(METRIC.throttled, cloudwatch.Stats.SUM, dims),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this.routeAlarms));
    if (fn) this.watchFunction(job, fn, id);
    // The queue the poller drains for the class (a class sharing Ruby's queue: its Lambda queue).
    const queue = lambdaQueueOf(job);
    if (this.queueLatency.has(queue)) return;
    const byQueue = (name: string) => this.metric(name, cloudwatch.Stats.MAXIMUM, { [DIMENSION.queue]: queue }).with({ label: queue });
    this.graphs.latency.addLeftMetric(byQueue(METRIC.queueLatency));
    this.graphs.backlog.addLeftMetric(byQueue(METRIC.queueBacklog));
    this.queueLatency.set(queue, this.alarm(`QueueLatency${constructId(queue)}`, {
      alarmDescription: `Queue ${queue}: the oldest job has waited over ${this.props.queueLatencyAlarmSeconds} s for 3 minutes`,
      metric: this.metric(METRIC.queueLatency, cloudwatch.Stats.MAXIMUM, { [DIMENSION.queue]: queue }),
      threshold: this.props.queueLatencyAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this.routeAlarms));
  }

  /** The scheduler function failing (twice in a row: it runs every minute, and a single error heals). */
  public watchScheduler(fn: lambda.IFunction): void {
    this.schedulerErrors = this.alarm('SchedulerErrors', {
      alarmDescription: 'The scheduler function failed in two consecutive 5-minute periods: scheduled and retry jobs are not being promoted (see its logs)',
      metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Memory and engine CPU of each node of a replication group this construct created. */
  public watchRedis(redis: ManagedRedis, nodes: number): void {
    const t = this.props.thresholds;
    for (let n = 1; n <= nodes; n++) {
      const node = Fn.join('-', [redis.replicationGroup.ref, String(n).padStart(3, '0')]);
      const metric = (name: string) =>
        new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName: name, dimensionsMap: { CacheClusterId: node }, statistic: cloudwatch.Stats.MAXIMUM, period: FIVE_MINUTES });
      const memory = metric('DatabaseMemoryUsagePercentage');
      const cpu = metric('EngineCPUUtilization');
      this.graphs.redis.addLeftMetric(memory.with({ label: `memory, node ${n}` }));
      this.graphs.redis.addLeftMetric(cpu.with({ label: `engine CPU, node ${n}` }));
      this.redisAlarms.push(
        this.alarm(`RedisMemory${n}`, {
          alarmDescription: `Redis node ${n} uses over ${t.redisMemoryPercent}% of its memory: with noeviction, a full Redis refuses Rails' enqueues; drain the dead set or move to a larger node type`,
          metric: memory,
          threshold: t.redisMemoryPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        this.alarm(`RedisCpu${n}`, {
          alarmDescription: `Redis node ${n}'s engine CPU stayed over ${t.redisCpuPercent}% for 15 minutes: Redis is single-threaded, so commands queue; move to a larger node type`,
          metric: cpu,
          threshold: t.redisCpuPercent,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }

  private watchFunction(job: ResolvedJob, fn: lambda.IFunction, id: string): void {
    const t = this.props.thresholds;
    const duration = fn.metricDuration({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.MAXIMUM });
    this.graphs.duration.addLeftMetric(duration.with({ label: job.class }));
    this.functionErrors.set(job.class, this.alarm(`FunctionErrors${id}`, {
      alarmDescription: `The function of ${job.class} failed as a function (crash, timeout, out of memory) in the last 5 minutes; its jobs went to the retry set (see its logs)`,
      metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this.routeAlarms));
    this.functionDuration.set(job.class, this.alarm(`FunctionDuration${id}`, {
      alarmDescription: `A run of ${job.class} took over ${t.durationPercentOfTimeout}% of its ${job.timeoutSeconds} s timeout: raise timeoutSeconds (or memory) before it starts timing out`,
      metric: duration,
      threshold: (job.timeoutSeconds * 1000 * t.durationPercentOfTimeout) / 100,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this.routeAlarms));
  }

  private alarm(id: string, props: cloudwatch.AlarmProps, list: cloudwatch.IAlarm[] = this.alarmList): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    list.push(alarm);
    if (this.props.alarmTopic) {
      alarm.addAlarmAction(new actions.SnsAction(this.props.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(this.props.alarmTopic));
    }
    return alarm;
  }
}
