/**
 * The poller: an ECS Fargate service that drains Sidekiq queues and invokes one function per class.
 *
 * Tasks:
 * 1. Run the poller's image (ARM64 by default) with the Redis settings and the routes in its
 *    environment and the AUTH token as an ECS secret; a `/healthz` health check; logs with retention;
 *    a stop timeout past the poller's shutdown deadline so in-flight jobs finish.
 * 2. `route(job, fn)`: add a class to `SIDEKIQ_LAMBDA_JOBS` and let the task role invoke exactly
 *    that function, in one call, so routing and permission cannot drift.
 * 3. Scale the task count on the poller's own `BacklogPerTask` metric, not on CPU (a poller waiting
 *    on Lambda is idle while its queues grow).
 */
import { Lazy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../lib/config.js';
import { encodeRoutes, routeOf, type ResolvedJob, type Route } from '../lib/jobs.js';
import { METRIC, METRICS_NAMESPACE } from '../lib/poller/metrics.js';
import { seconds } from './code.js';
import { STOP_MARGIN_SECONDS } from './props.js';
import type { RedisEndpoint } from './redis.js';

export interface PollerServiceProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly redis: RedisEndpoint;
  readonly image: ecs.ContainerImage;
  readonly architecture: ecs.CpuArchitecture;
  readonly cpu: number;
  readonly memoryMiB: number;
  /** Unset: a deploy keeps the count autoscaling chose. */
  readonly desiredTasks?: number;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly targetBacklogPerTask: number;
  readonly maxInFlight: number;
  readonly shutdownTimeoutSeconds: number;
  readonly healthPort: number;
  readonly logRetention: logs.RetentionDays;
  /** Extra poller environment: SIDEKIQ_LAMBDA_QUEUES, SIDEKIQ_NAMESPACE, SIDEKIQ_VERSION. */
  readonly environment: Readonly<Record<string, string>>;
}

/** The container health check: Node's own fetch, so the image needs no curl or wget. */
export function healthCheckCommand(port: number): string[] {
  return ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${port}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`];
}

export class PollerService extends Construct {
  public readonly cluster: ecs.Cluster;
  public readonly logGroup: logs.LogGroup;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly service: ecs.FargateService;
  public readonly scaling: ecs.ScalableTaskCount;
  /** The metric the task count tracks: `BacklogPerTask`, averaged over the running pollers. */
  public readonly backlogMetric: cloudwatch.Metric;
  private readonly routes: Route[] = [];

  constructor(scope: Construct, id: string, props: PollerServiceProps) {
    super(scope, id);
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc });
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-ECS4',
      reason: 'The poller publishes its own metrics (queue latency, backlog, in flight) as EMF; Container Insights would add per-task cost for little more.',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: props.architecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds only non-secret settings (Redis host, routes, caps); the AUTH token is injected as an ECS secret.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'The execution role needs ecr:GetAuthorizationToken, which has no resource-level permissions, to pull the poller image.',
    });
    const authToken = props.redis.ecsAuthToken();
    this.container = this.taskDefinition.addContainer('poller', {
      image: props.image,
      command: ['poller'],
      essential: true,
      environment: {
        ...props.redis.environment,
        [ENV.jobs]: Lazy.string({ produce: () => encodeRoutes(this.routes) }),
        [ENV.maxInFlight]: String(props.maxInFlight),
        [ENV.shutdownTimeout]: String(props.shutdownTimeoutSeconds),
        [ENV.healthPort]: String(props.healthPort),
        ...props.environment,
      },
      secrets: authToken ? { [ENV.redisAuthToken]: authToken } : undefined,
      portMappings: [{ containerPort: props.healthPort }],
      healthCheck: {
        command: healthCheckCommand(props.healthPort),
        interval: seconds(30),
        timeout: seconds(5),
        retries: 3,
        startPeriod: seconds(30),
      },
      // SIGKILL comes only after the poller's own deadline has passed, with a margin.
      stopTimeout: seconds(props.shutdownTimeoutSeconds + STOP_MARGIN_SECONDS),
      // tini as PID 1 forwards SIGTERM and reaps children.
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'poller', logGroup: this.logGroup }),
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.desiredTasks,
      securityGroups: [props.securityGroup],
      vpcSubnets: props.subnets,
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });
    this.scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    this.backlogMetric = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.backlogPerTask,
      statistic: cloudwatch.Stats.AVERAGE,
      period: seconds(60),
    });
    this.scaling.scaleToTrackCustomMetric('BacklogPerTask', {
      metric: this.backlogMetric,
      targetValue: props.targetBacklogPerTask,
      scaleOutCooldown: seconds(60),
      scaleInCooldown: seconds(300),
    });
    this.node.addValidation({ validate: () => (this.routes.length ? [] : ['the poller has no routes: call route(job, fn)']) });
  }

  /**
   * Routes a job class to a function and lets the poller invoke exactly that function.
   *
   * @example
   * poller.route(job, fn); // SIDEKIQ_LAMBDA_JOBS gains the class; the task role gains lambda:InvokeFunction on fn
   */
  public route(job: ResolvedJob, fn: lambda.IFunction): void {
    if (this.routes.some((r) => r.class === job.class)) throw new Error(`SidekiqLambda: job class ${job.class} is routed twice`);
    this.routes.push(routeOf(job, fn.functionName));
    // The function's own ARN, no `:*` qualifier wildcard: the poller invokes $LATEST by name.
    this.taskDefinition.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
    );
  }
}
