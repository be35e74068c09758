/**
 * The props contract of the `SidekiqLambda` construct, its defaults and its validation.
 *
 * Tasks:
 * 1. Declare every prop, in pairs where a resource can be brought or created (`existingVpc` /
 *    `vpcProps`, `existingRedis` / `redisProps`), each optional prop with its `@default - …`.
 * 2. Keep every default in one commented table (`INFRA_DEFAULTS`).
 * 3. Refuse conflicting or unsafe inputs with fixed messages (`ERRORS`) that tests assert, before
 *    any resource is created (`validateProps`, a pure function).
 */
import { Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { JobDeclaration } from '../lib/jobs.js';
import { POLLER_DEFAULTS } from '../lib/config.js';

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
  /** The Redis's security group: ingress from the poller, the scheduler and `needsRedis` functions is added to it. @default - none; allow `redisClientSecurityGroups` yourself */
  readonly securityGroup?: ec2.ISecurityGroup;
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
  /** At least 1: the poller itself publishes the backlog metric that scales it out. @default - 1 */
  readonly minTasks?: number;
  /** @default - 4 */
  readonly maxTasks?: number;
  /** Scale out when the backlog per task stays above this. @default - 100 (one task's default in-flight cap) */
  readonly targetBacklogPerTask?: number;
  /** @default - 100 (`POLLER_DEFAULTS.maxInFlight`) */
  readonly maxInFlight?: number;
  /** The poller's SIGTERM deadline; ECS's stop timeout is this plus `STOP_MARGIN_SECONDS`. @default - 25 */
  readonly shutdownTimeoutSeconds?: number;
  /** `SIDEKIQ_LAMBDA_QUEUES`, e.g. `track,3 diagnostics,1`. @default - every declared queue, strict order */
  readonly queues?: string;
  /** `SIDEKIQ_NAMESPACE`, for Redis keys under a namespace. @default - none */
  readonly namespace?: string;
  /** `SIDEKIQ_VERSION` (6, 7 or 8): the format of `enqueued_at` and friends. @default - the poller's own default */
  readonly sidekiqVersion?: string;

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
  /** Alarm actions go to this topic. @default - alarms without actions (visible on the dashboard) */
  readonly alarmTopic?: sns.ITopic;

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
const MAX_STOP_TIMEOUT_SECONDS = 120;

export const INFRA_DEFAULTS = {
  redis: { engine: 'redis', nodeType: 'cache.t4g.micro', multiAz: false, snapshotRetentionDays: 7, port: 6379 },
  engineVersion: { redis: '7.1', valkey: '8.0' },
  pollerCpu: 256,
  pollerMemoryMiB: 512,
  minTasks: 1,
  maxTasks: 4,
  targetBacklogPerTask: POLLER_DEFAULTS.maxInFlight,
  queueLatencyAlarmSeconds: 300,
  /** The scheduler runs its one-second loop until shortly before this; one invocation a minute. */
  schedulerTimeoutSeconds: 60,
  /** It waits on Redis, it does not compute; it runs around the clock, so memory is most of its cost. */
  schedulerMemoryMb: 128,
} as const;

export const ERRORS = {
  bothVpcs: 'SidekiqLambda: pass existingVpc or vpcProps, not both',
  bothRedis: 'SidekiqLambda: pass existingRedis (an endpoint you run) or redisProps (a new replication group), not both',
  serverless:
    'SidekiqLambda: ElastiCache Serverless is not supported: it always runs in cluster mode, where Sidekiq\'s multi-key commands ' +
    '(MULTI/EXEC across queue and stat keys, Lua scripts over several keys) fail with CROSSSLOT. ' +
    'Use a replication group with cluster mode disabled (redisProps) or such an existing endpoint (existingRedis)',
  clusterMode:
    'SidekiqLambda: existingRedis.host is a cluster-mode configuration endpoint (clustercfg.*); Sidekiq needs cluster mode disabled: ' +
    'use the primary endpoint of a replication group with cluster mode disabled',
  missingSecret:
    'SidekiqLambda: existingRedis.authSecret is missing: pass the Secrets Manager secret that holds the AUTH token, ' +
    'or set existingRedis.noAuth: true for a Redis without AUTH',
  secretAndNoAuth: 'SidekiqLambda: existingRedis.noAuth is true but an authSecret is given; pass one or the other',
  port: 'SidekiqLambda: existingRedis.port must be an integer from 1 to 65535',
  noJobs: 'SidekiqLambda: jobs is empty: declare at least one job class with defineJobs([...])',
  minTasks: 'SidekiqLambda: minTasks must be at least 1: the poller publishes the backlog metric that scales it out, so at 0 nothing would ever scale it back up',
  maxTasks: 'SidekiqLambda: maxTasks must be at least minTasks',
  desiredTasks: 'SidekiqLambda: desiredTasks must be between minTasks and maxTasks',
  shutdown: `SidekiqLambda: shutdownTimeoutSeconds must be an integer from 0 to ${MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS} (ECS stops a task after at most ${MAX_STOP_TIMEOUT_SECONDS} s, and the poller needs ${STOP_MARGIN_SECONDS} s of margin)`,
} as const;

function isInt(n: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/**
 * Throws the fixed message for the first conflicting or unsafe input. Pure: creates nothing.
 *
 * @example
 * validateProps({ jobs, redisProps: { serverless: true } }); // throws ERRORS.serverless
 */
export function validateProps(props: SidekiqLambdaProps): void {
  if (props.jobs.length === 0) throw new Error(ERRORS.noJobs);
  if (props.existingVpc && props.vpcProps) throw new Error(ERRORS.bothVpcs);
  if (props.existingRedis && props.redisProps) throw new Error(ERRORS.bothRedis);
  if (props.redisProps?.serverless) throw new Error(ERRORS.serverless);
  const r = props.existingRedis;
  if (r) {
    if (!Token.isUnresolved(r.host)) {
      if (/\.serverless\.[^.]+\.cache\.amazonaws\.com$/.test(r.host)) throw new Error(ERRORS.serverless);
      if (/^clustercfg\./.test(r.host)) throw new Error(ERRORS.clusterMode);
    }
    if (r.port !== undefined && !isInt(r.port, 1, 65_535)) throw new Error(ERRORS.port);
    if (r.noAuth && r.authSecret) throw new Error(ERRORS.secretAndNoAuth);
    if (!r.noAuth && !r.authSecret) throw new Error(ERRORS.missingSecret);
  }
  const min = props.minTasks ?? INFRA_DEFAULTS.minTasks;
  const max = props.maxTasks ?? Math.max(INFRA_DEFAULTS.maxTasks, min);
  if (!isInt(min, 1)) throw new Error(ERRORS.minTasks);
  if (!isInt(max, min)) throw new Error(ERRORS.maxTasks);
  if (props.desiredTasks !== undefined && !isInt(props.desiredTasks, min, max)) throw new Error(ERRORS.desiredTasks);
  const shutdown = props.shutdownTimeoutSeconds ?? POLLER_DEFAULTS.shutdownTimeoutSeconds;
  if (!isInt(shutdown, 0, MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS)) throw new Error(ERRORS.shutdown);
}
