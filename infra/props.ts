/**
 * The props contract of the `SidekiqLambda` construct, its defaults and its validation.
 *
 * Tasks:
 * 1. Declare every prop, in pairs where a resource can be brought or created (`existingVpc` /
 *    `vpcProps`, `existingRedis` / `redisProps`), each optional prop with its `@default - …`.
 * 2. Keep every default in one commented table (`INFRA_DEFAULTS`).
 *
 * The validation of these props, with its fixed messages, is in `validate.ts`.
 */
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { JobDeclaration } from '../lib/jobs.js';

/** A Redis that already exists (ElastiCache with cluster mode disabled, or any Redis the VPC reaches). */
export interface ExistingRedisProps {
  /** The primary endpoint's host name. */
  readonly host: string;
  /** @default - 6379 */
  readonly port?: number;
  /** @default - true (ElastiCache in-transit encryption) */
  readonly tls?: boolean;
  /** The Secrets Manager secret that holds the AUTH token. Required unless `noAuth` is true. */
  readonly authSecret?: secretsmanager.ISecret;
  /** @default - the whole secret string is the token; set a JSON key when the secret is a JSON object */
  readonly authSecretField?: string;
  /** Set to true, explicitly, for a Redis without AUTH. @default - false */
  readonly noAuth?: boolean;
  /** The ACL user (ElastiCache RBAC user name) the AUTH secret's password belongs to. @default - the default user */
  readonly username?: string;
  /** The database index Sidekiq uses on this Redis (the `/n` of its URL). @default - 0 */
  readonly database?: number;
  /** The Redis's security group: ingress from the poller, the scheduler and `needsRedis` functions is added to it. @default - none (a synth warning); allow `sidekiq.network.redisClients` yourself */
  readonly securityGroup?: ec2.ISecurityGroup;
}

/** Alarm thresholds beyond queue latency. Every field is optional; see `INFRA_DEFAULTS.alarms`. */
export interface AlarmThresholds {
  /** The oldest due job in `schedule` or `retry` has waited this long to be promoted. @default - 120 */
  readonly schedulerLagSeconds?: number;
  /** Failed jobs as a share of all finished jobs, over 5 minutes. @default - 10 */
  readonly failedJobPercent?: number;
  /** A job function's longest run as a share of its timeout. @default - 80 */
  readonly durationPercentOfTimeout?: number;
  /** A new Redis's memory use (with noeviction, a full Redis refuses Rails' enqueues). @default - 80 */
  readonly redisMemoryPercent?: number;
  /** A new Redis's engine CPU. @default - 80 */
  readonly redisCpuPercent?: number;
}

/** A new ElastiCache replication group (cluster mode disabled, encrypted, AUTH, `noeviction`). */
export interface RedisProps {
  /** @default - 'redis' */
  readonly engine?: 'redis' | 'valkey';
  /** @default - '7.1' for redis, '8.0' for valkey */
  readonly engineVersion?: string;
  /** @default - 'cache.t4g.micro' */
  readonly nodeType?: string;
  /** A replica in a second AZ with automatic failover. @default - false (one node) */
  readonly multiAz?: boolean;
  /** ElastiCache Serverless is refused: it is always cluster mode. Present only to say so. @default - false */
  readonly serverless?: boolean;
  /** @default - 7 (daily snapshots kept a week) */
  readonly snapshotRetentionDays?: number;
}

export interface SidekiqLambdaProps {
  /** The job classes that run on Lambda: the default export of `sidekiq-lambda.config.ts` (`defineJobs([...])`), its periodic jobs (`cron`) included. */
  readonly jobs: readonly JobDeclaration[];
  /** The directory job `entry` paths are relative to. @default - process.cwd() */
  readonly jobsRoot?: string;

  /** @default - a new VPC (see `vpcProps`) */
  readonly existingVpc?: ec2.IVpc;
  /** @default - two AZs, public and private subnets, one NAT gateway */
  readonly vpcProps?: ec2.VpcProps;
  /** Where the poller, the scheduler and `needsRedis` functions run. @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /** @default - a new replication group (see `redisProps`) */
  readonly existingRedis?: ExistingRedisProps;
  /** @default - `INFRA_DEFAULTS.redis` */
  readonly redisProps?: RedisProps;

  /** @default - ARM64 (Graviton) */
  readonly pollerArchitecture?: ecs.CpuArchitecture;
  /** @default - built from this package's Dockerfile (`dist/container/cli.mjs`, bundled first) */
  readonly pollerImage?: ecs.ContainerImage;
  /** @default - 256 (.25 vCPU) */
  readonly pollerCpu?: number;
  /** @default - 512 */
  readonly pollerMemoryMiB?: number;
  /**
   * Tasks at creation, and reset to on every deploy when set.
   * @default - not set: ECS starts one task, autoscaling keeps it within minTasks..maxTasks, and a deploy keeps the current count
   */
  readonly desiredTasks?: number;
  /** At least 1: the poller itself publishes the metric that scales it out. @default - 1 */
  readonly minTasks?: number;
  /** @default - 4 */
  readonly maxTasks?: number;
  /**
   * Scale on work more tasks can share: the jobs in running invocations as a percentage of
   * `maxInFlight`, averaged over the tasks (jobs waiting for a capped class's lease do not count).
   * @default - 70
   */
  readonly targetUtilizationPercent?: number;
  /** Scale out on the tasks' average CPU as well. @default - 70 */
  readonly targetCpuPercent?: number;
  /** @default - 100 (`POLLER_DEFAULTS.maxInFlight`) */
  readonly maxInFlight?: number;
  /**
   * The poller's SIGTERM deadline; ECS's stop timeout is this plus `STOP_MARGIN_SECONDS` (120 s at most on Fargate).
   * @default - the longest job timeout plus 5 s, at least 25 and at most 115
   */
  readonly shutdownTimeoutSeconds?: number;
  /**
   * The longest stretch, in minutes, a poller keeps ECS task scale-in protection while it runs jobs
   * (so deploys and scale-in do not stop it mid-job); then it lets protection lapse so a deploy can
   * finish. 0 turns protection off.
   * @default - twice the longest job timeout in minutes, when a job can outlast `shutdownTimeoutSeconds`; else 0
   */
  readonly maxProtectionMinutes?: number;
  /** `SIDEKIQ_LAMBDA_QUEUES`, e.g. `track,3 diagnostics,1`. @default - every declared queue, strict order */
  readonly queues?: string;
  /** `SIDEKIQ_NAMESPACE`, for Redis keys under a namespace. @default - none */
  readonly namespace?: string;
  /** `SIDEKIQ_VERSION`: the oldest Sidekiq reading this Redis (the format of `enqueued_at` and friends). @default - the poller's own default (7) */
  readonly sidekiqVersion?: 6 | 7 | 8;

  /** Promote due scheduled and retry jobs with the scheduler function. @default - true */
  readonly scheduler?: boolean;
  /** @default - this package's `functions/scheduler.ts` */
  readonly schedulerEntry?: string;
  /** `SIDEKIQ_CRON_VERSION` (1 or 2): the key layout of the sidekiq-cron beside you. @default - detected from Redis */
  readonly sidekiqCronVersion?: string;

  /** @default - one month */
  readonly logRetention?: logs.RetentionDays;
  /** @default - 300 (seconds) */
  readonly queueLatencyAlarmSeconds?: number;
  /** Alarm actions go to this topic. @default - alarms without actions (visible on the dashboard; a synth warning) */
  readonly alarmTopic?: sns.ITopic;
  /** @default - `INFRA_DEFAULTS.alarms` */
  readonly alarmThresholds?: AlarmThresholds;
  /**
   * The `Deployment` dimension on every metric: the poller's, the alarms', the dashboard's and the
   * scaling policy's, so two deployments in one account and region (staging, production) never share one.
   * @default - the stack name and this construct's path in it, e.g. `SidekiqLambda/Sidekiq`
   */
  readonly deploymentName?: string;

  /**
   * Synthesize without bundling: functions get placeholder inline code, the poller a placeholder
   * image. For fast template tests only; never deploy it.
   * @default - false
   */
  readonly skipBundling?: boolean;
}

/** Seconds between the poller's shutdown deadline and ECS's SIGKILL. */
export const STOP_MARGIN_SECONDS = 5;
/** ECS Fargate's largest stop timeout. */
export const MAX_STOP_TIMEOUT_SECONDS = 120;

export const INFRA_DEFAULTS = {
  redis: { engine: 'redis', nodeType: 'cache.t4g.micro', multiAz: false, snapshotRetentionDays: 7, port: 6379 },
  engineVersion: { redis: '7.1', valkey: '8.0' },
  pollerCpu: 256,
  pollerMemoryMiB: 512,
  minTasks: 1,
  maxTasks: 4,
  targetUtilizationPercent: 70,
  targetCpuPercent: 70,
  queueLatencyAlarmSeconds: 300,
  alarms: { schedulerLagSeconds: 120, failedJobPercent: 10, durationPercentOfTimeout: 80, redisMemoryPercent: 80, redisCpuPercent: 80 },
  /** The scheduler runs its one-second loop until shortly before this; one invocation a minute. */
  schedulerTimeoutSeconds: 60,
  /** It waits on Redis, it does not compute; it runs around the clock, so memory is most of its cost. */
  schedulerMemoryMb: 128,
} as const;

