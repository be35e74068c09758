/**
 * `SidekiqLambda`: everything that runs Sidekiq jobs on Lambda, in one `new` statement.
 *
 * Tasks:
 * 1. Validate the props (fixed messages, `validate.ts`), then compose: the network, Redis (brought
 *    or created), one function per job declaration, the poller service, the scheduler, monitoring.
 * 2. Admit to Redis exactly the poller, the scheduler and the functions declared `needsRedis`.
 * 3. `route(job, fn)`: the one call that routes a class, lets the poller invoke its function and
 *    puts it on the alarms and dashboard.
 * 4. Name the deployment (the `Deployment` dimension of every metric), and warn at synth about a
 *    job that can outlast the poller's shutdown wait.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV, POLLER_DEFAULTS } from '../lib/config.js';
import { defineJobs, type ResolvedJob } from '../lib/jobs.js';
import { encodeCron } from '../lib/periodic.js';
import { pollerImage } from './code.js';
import { jobFunction, Scheduler, type RedisPlacement } from './functions.js';
import { Monitoring } from './monitoring.js';
import { Network } from './network.js';
import { PollerService } from './poller.js';
import { INFRA_DEFAULTS, type SidekiqLambdaProps } from './props.js';
import { protectionMinutes, shutdownSeconds, validateProps, WARNINGS } from './validate.js';
import { ExistingRedis, ManagedRedis, type RedisEndpoint } from './redis.js';

/**
 * Runs the declared Sidekiq job classes as Lambda functions, drained from Redis by a poller on ECS Fargate.
 *
 * @example
 * import jobs from './sidekiq-lambda.config.js';
 * new SidekiqLambda(stack, 'Sidekiq', { jobs });
 */
export class SidekiqLambda extends Construct {
  /** The declarations with every default applied. */
  public readonly jobs: readonly ResolvedJob[];
  public readonly network: Network;
  public readonly vpc: ec2.IVpc;
  public readonly redis: RedisEndpoint;
  /** Present when this construct created the replication group. */
  public readonly managedRedis?: ManagedRedis;
  public readonly poller: PollerService;
  /** The job functions, by job class. */
  public readonly functions: ReadonlyMap<string, lambda.Function>;
  /** Absent when `scheduler: false`. */
  public readonly scheduler?: Scheduler;
  public readonly monitoring: Monitoring;
  /** The value of the `Deployment` dimension on every metric of this deployment. */
  public readonly deployment: string;

  constructor(scope: Construct, id: string, props: SidekiqLambdaProps) {
    super(scope, id);
    validateProps(props);
    const { cron } = (this.jobs = defineJobs(props.jobs));
    this.deployment = props.deploymentName ?? this.defaultDeploymentName();
    const skipBundling = props.skipBundling ?? false;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    this.network = new Network(this, 'Network', props);
    this.vpc = this.network.vpc;
    if (props.existingRedis) {
      this.redis = new ExistingRedis(this, 'Redis', props.existingRedis);
    } else {
      this.managedRedis = new ManagedRedis(this, 'Redis', { ...props.redisProps, vpc: this.vpc, subnets: this.network.subnets });
      this.redis = this.managedRedis;
    }
    this.redis.allowFrom(this.network.redisClients);

    const sidekiqEnv: Record<string, string> = {
      ...(props.namespace && { [ENV.namespace]: props.namespace }),
      ...(props.sidekiqVersion && { [ENV.sidekiqVersion]: String(props.sidekiqVersion) }),
    };
    const placement: RedisPlacement = { vpc: this.vpc, subnets: this.network.subnets, redis: this.redis, environment: sidekiqEnv };
    const architecture = props.pollerArchitecture ?? ecs.CpuArchitecture.ARM64;
    const minTasks = props.minTasks ?? INFRA_DEFAULTS.minTasks;
    const longest = Math.max(...this.jobs.map((j) => j.timeoutSeconds));
    const shutdownTimeoutSeconds = shutdownSeconds(props, longest);
    const maxProtectionMinutes = protectionMinutes(props, longest);

    this.poller = new PollerService(this, 'Poller', {
      vpc: this.vpc,
      subnets: this.network.subnets,
      securityGroup: this.network.pollerSecurityGroup,
      redis: this.redis,
      image: props.pollerImage ?? pollerImage(architecture, skipBundling),
      architecture,
      cpu: props.pollerCpu ?? INFRA_DEFAULTS.pollerCpu,
      memoryMiB: props.pollerMemoryMiB ?? INFRA_DEFAULTS.pollerMemoryMiB,
      desiredTasks: props.desiredTasks,
      minTasks,
      maxTasks: props.maxTasks ?? Math.max(INFRA_DEFAULTS.maxTasks, minTasks),
      targetUtilizationPercent: props.targetUtilizationPercent ?? INFRA_DEFAULTS.targetUtilizationPercent,
      targetCpuPercent: props.targetCpuPercent ?? INFRA_DEFAULTS.targetCpuPercent,
      maxInFlight: props.maxInFlight ?? POLLER_DEFAULTS.maxInFlight,
      shutdownTimeoutSeconds,
      maxProtectionMinutes,
      deployment: this.deployment,
      healthPort: POLLER_DEFAULTS.healthPort,
      logRetention,
      environment: { ...sidekiqEnv, ...(props.queues && { [ENV.queues]: props.queues }) },
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      deployment: this.deployment,
      queueLatencyAlarmSeconds: props.queueLatencyAlarmSeconds ?? INFRA_DEFAULTS.queueLatencyAlarmSeconds,
      thresholds: { ...INFRA_DEFAULTS.alarms, ...props.alarmThresholds },
      alarmTopic: props.alarmTopic,
    });
    if (this.managedRedis) this.monitoring.watchRedis(this.managedRedis, props.redisProps?.multiAz ? 2 : 1);

    const jobsScope = new Construct(this, 'Jobs');
    const functions = new Map<string, lambda.Function>();
    for (const job of this.jobs) {
      const fn = jobFunction(jobsScope, job, {
        root: props.jobsRoot ?? process.cwd(),
        logRetention,
        skipBundling,
        placement,
        securityGroup: this.network.jobsSecurityGroup,
      });
      functions.set(job.class, fn);
      this.route(job, fn);
      if (job.timeoutSeconds > shutdownTimeoutSeconds) {
        Validations.of(fn).addWarning(WARNINGS.longJob.id, WARNINGS.longJob.message(job.class, job.timeoutSeconds, shutdownTimeoutSeconds, maxProtectionMinutes));
      }
    }
    this.functions = functions;

    if (props.scheduler ?? true) {
      this.scheduler = new Scheduler(this, 'Scheduler', {
        entry: props.schedulerEntry,
        logRetention,
        skipBundling,
        placement,
        securityGroup: this.network.schedulerSecurityGroup,
        // Always set, `[]` included: the scheduler then removes entries no longer declared.
        environment: { [ENV.cron]: encodeCron(cron), ...(props.sidekiqCronVersion && { [ENV.cronVersion]: props.sidekiqCronVersion }) },
      });
      this.monitoring.watchScheduler(this.scheduler.function);
    }
  }

  /**
   * Routes a job class to a function: the poller may invoke exactly it, and the class gets its
   * alarms and graphs. The construct calls it for every declaration; call it for a function you built.
   *
   * @example
   * sidekiq.route(resolveJob({ class: 'ReportJob', queue: 'reports', entry: '-' }), myFunction);
   */
  public route(job: ResolvedJob, fn: lambda.IFunction): void {
    this.poller.route(job, fn);
    this.monitoring.watch(job, fn);
  }

  /** `<stack name>/<path of this construct in its stack>`: unique in an account and region. */
  private defaultDeploymentName(): string {
    const stack = Stack.of(this);
    const inStack = this.node.scopes.slice(this.node.scopes.indexOf(stack) + 1).map((c) => c.node.id);
    return [stack.stackName, ...inStack].join('/');
  }
}
