/**
 * The Lambda functions: one per job declaration, and the scheduler.
 *
 * Tasks:
 * 1. One function per declaration, bundled from the entry dev mode uses: the declared timeout,
 *    memory and reserved concurrency (= the poller's per-class cap). Only a job declared
 *    `needsRedis` gets a VPC attachment, the Redis settings and read access to the AUTH secret
 *    (its ARN, never the token: the function reads it at cold start and again after a rotation);
 *    any other job function has none of the three.
 * 2. The scheduler: in the VPC, reserved concurrency 1 (only one promoter at a time), invoked by a
 *    one-minute EventBridge rule; stale or throttled ticks are dropped, the next one comes in a minute.
 * 3. Every function gets its own role: write to its own log group, and ENI management and the
 *    AUTH secret when it is in the VPC — nothing else.
 */
import { resolve } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ResolvedJob } from '../lib/jobs.js';
import { nodeFunction, RUNTIME, schedulerEntry, seconds } from './code.js';
import { acknowledge } from './nag.js';
import { INFRA_DEFAULTS } from './props.js';
import type { RedisEndpoint } from './redis.js';
import { constructId } from './validate.js';

const VPC_ACCESS = 'service-role/AWSLambdaVPCAccessExecutionRole';

/** Where a function that talks to Redis runs, and how it reaches Redis. */
export interface RedisPlacement {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly redis: RedisEndpoint;
  /** SIDEKIQ_NAMESPACE, SIDEKIQ_VERSION when set. */
  readonly environment: Readonly<Record<string, string>>;
}

interface FunctionSpec {
  readonly entry: string;
  readonly handlerExport?: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly reservedConcurrency: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly description: string;
  readonly logRetention: logs.RetentionDays;
  readonly skipBundling: boolean;
  /** Present: the function runs in the VPC with this security group and the Redis environment. */
  readonly redis?: RedisPlacement & { readonly securityGroup: ec2.ISecurityGroup };
}

/** A function with its own log group and a role that can write to it (and manage ENIs in a VPC). */
function sidekiqFunction(scope: Construct, id: string, spec: FunctionSpec): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: spec.logRetention });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `sidekiq-lambda: ${spec.description}`,
    managedPolicies: spec.redis ? [iam.ManagedPolicy.fromAwsManagedPolicyName(VPC_ACCESS)] : [],
  });
  logGroup.grantWrite(role);
  const redis = spec.redis;
  if (redis) {
    acknowledge(role, {
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${VPC_ACCESS}]`,
      reason: 'A function in a VPC needs to create and delete its ENIs; the AWS managed policy is the minimal documented set.',
    });
    redis.redis.grantAuthRead(role);
  }
  const fn = nodeFunction(scope, id, {
    entry: spec.entry,
    handlerExport: spec.handlerExport,
    skipBundling: spec.skipBundling,
    description: spec.description,
    timeout: seconds(spec.timeoutSeconds),
    memorySize: spec.memoryMb,
    reservedConcurrentExecutions: spec.reservedConcurrency,
    role,
    logGroup,
    // The Redis settings name the AUTH secret by ARN: a function's configuration is readable by
    // anyone with lambda:GetFunctionConfiguration, so the token itself is never in it.
    environment: { ...spec.environment, ...(redis && { ...redis.redis.environment, ...redis.environment }) },
    ...(redis && { vpc: redis.vpc, vpcSubnets: redis.subnets, securityGroups: [redis.securityGroup] }),
  });
  acknowledge(fn, {
    id: 'AwsSolutions-L1',
    reason: `The project targets ${RUNTIME.name} (the poller's image and dev mode run Node 22); move all three together.`,
  });
  return fn;
}

export interface JobFunctionProps {
  readonly root: string;
  readonly logRetention: logs.RetentionDays;
  readonly skipBundling: boolean;
  readonly placement: RedisPlacement;
  readonly securityGroup: ec2.ISecurityGroup;
}

/** The function of one job declaration. */
export function jobFunction(scope: Construct, job: ResolvedJob, props: JobFunctionProps): lambda.Function {
  return sidekiqFunction(scope, constructId(job.class), {
    entry: resolve(props.root, job.entry),
    handlerExport: job.handlerExport,
    timeoutSeconds: job.timeoutSeconds,
    memoryMb: job.memoryMb,
    reservedConcurrency: job.concurrency,
    environment: job.environment,
    description: `Sidekiq job ${job.class} (queue ${job.queue})`,
    logRetention: props.logRetention,
    skipBundling: props.skipBundling,
    ...(job.needsRedis && { redis: { ...props.placement, securityGroup: props.securityGroup } }),
  });
}

export interface SchedulerProps {
  readonly entry?: string;
  readonly logRetention: logs.RetentionDays;
  readonly skipBundling: boolean;
  readonly placement: RedisPlacement;
  readonly securityGroup: ec2.ISecurityGroup;
  /** The periodic jobs' settings (`SIDEKIQ_LAMBDA_CRON`, `SIDEKIQ_CRON_VERSION`). */
  readonly environment?: Readonly<Record<string, string>>;
}

/** Promotes due scheduled and retry jobs and fires due periodic jobs; one at a time, every minute. */
export class Scheduler extends Construct {
  public readonly function: lambda.Function;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: SchedulerProps) {
    super(scope, id);
    this.function = sidekiqFunction(this, 'Function', {
      entry: props.entry ?? schedulerEntry(),
      timeoutSeconds: INFRA_DEFAULTS.schedulerTimeoutSeconds,
      memoryMb: INFRA_DEFAULTS.schedulerMemoryMb,
      // Only one promoter of ours at a time; it loops every second until shortly before its timeout.
      reservedConcurrency: 1,
      environment: props.environment ?? {},
      description: 'Sidekiq scheduler: promotes due scheduled and retry jobs',
      logRetention: props.logRetention,
      skipBundling: props.skipBundling,
      redis: { ...props.placement, securityGroup: props.securityGroup },
    });
    // A tick that waited (throttled behind the running one) is worthless a minute later.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = new events.Rule(this, 'EveryMinute', {
      description: 'sidekiq-lambda: run the scheduler every minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}
