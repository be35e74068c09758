/**
 * The poller: an ECS Fargate service that drains Sidekiq queues and invokes one function per class.
 *
 * Tasks:
 * 1. Run the poller's image (ARM64 by default) with the Redis settings and the routes in its
 *    environment — the AUTH secret's ARN, never the token: the poller reads it, and reads it again
 *    after a rotation —; a `/healthz` health check; logs with retention; a read-only root file
 *    system; a stop timeout past the poller's shutdown deadline so in-flight jobs finish.
 * 2. `route(job, fn)`: add a class to `SIDEKIQ_LAMBDA_JOBS` and let the task role invoke exactly
 *    that function, in one call, so routing and permission cannot drift.
 * 3. Scale the task count on what more tasks can share: the poller's `Utilization` (jobs in
 *    running invocations as a share of `maxInFlight`; jobs waiting for a capped class's lease do
 *    not count, since another task could not run them either), and on CPU.
 * 4. Let a poller protect itself from scale-in and deploys while it runs jobs (the ECS agent's
 *    task-protection endpoint, bounded by `maxProtectionMinutes`).
 * 5. Acknowledge each cdk-nag finding on the exact resource and finding it is about.
 */
import { ArnFormat, Lazy, Stack, type CfnElement } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../lib/config.js';
import { encodeRoutes, routeOf, type ResolvedJob, type Route } from '../lib/jobs.js';
import { DIMENSION, METRIC, METRICS_NAMESPACE } from '../lib/poller/metrics.js';
import { seconds } from './code.js';
import { acknowledge } from './nag.js';
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
  readonly targetUtilizationPercent: number;
  readonly targetCpuPercent: number;
  readonly maxInFlight: number;
  readonly shutdownTimeoutSeconds: number;
  /** 0: the poller never asks for scale-in protection. */
  readonly maxProtectionMinutes: number;
  /** The `Deployment` dimension of every metric it publishes. */
  readonly deployment: string;
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
  /** The metric the task count tracks: this deployment's `Utilization`, averaged over the running pollers. */
  public readonly utilizationMetric: cloudwatch.Metric;
  private readonly routes: Route[] = [];

  constructor(scope: Construct, id: string, props: PollerServiceProps) {
    super(scope, id);
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc });
    acknowledge(this.cluster, {
      id: 'AwsSolutions-ECS4',
      reason: 'The poller publishes its own metrics (queue latency, backlog, in flight) as EMF; Container Insights would add per-task cost for little more.',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: props.architecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      // The root file system is read-only; Node and the poller write nothing, but a scratch /tmp costs nothing.
      volumes: [{ name: 'tmp' }],
    });
    acknowledge(this.taskDefinition, {
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds only non-secret settings (Redis host, routes, caps, the AUTH secret\'s ARN); the poller reads the token from Secrets Manager itself.',
    });
    this.container = this.taskDefinition.addContainer('poller', {
      image: props.image,
      command: ['poller'],
      essential: true,
      readonlyRootFilesystem: true,
      environment: {
        ...props.redis.environment,
        [ENV.jobs]: Lazy.string({ produce: () => encodeRoutes(this.routes) }),
        [ENV.maxInFlight]: String(props.maxInFlight),
        [ENV.shutdownTimeout]: String(props.shutdownTimeoutSeconds),
        [ENV.healthPort]: String(props.healthPort),
        [ENV.deployment]: props.deployment,
        [ENV.protectionMaxMinutes]: String(props.maxProtectionMinutes),
        ...props.environment,
      },
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
    this.container.addMountPoints({ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false });
    props.redis.grantAuthRead(this.taskDefinition.taskRole);
    // The execution role pulls the image: ecr:GetAuthorizationToken has no resource-level permissions.
    const pullPolicy = this.taskDefinition.executionRole?.node.tryFindChild('DefaultPolicy');
    if (pullPolicy) {
      acknowledge(pullPolicy, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'The execution role needs ecr:GetAuthorizationToken, which has no resource-level permissions, to pull the poller image.',
      });
    }
    if (props.maxProtectionMinutes > 0) this.allowTaskProtection();
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
    this.utilizationMetric = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.utilization,
      dimensionsMap: { [DIMENSION.deployment]: props.deployment },
      statistic: cloudwatch.Stats.AVERAGE,
      period: seconds(60),
    });
    this.scaling.scaleToTrackCustomMetric('Utilization', {
      metric: this.utilizationMetric,
      targetValue: props.targetUtilizationPercent,
      scaleOutCooldown: seconds(60),
      scaleInCooldown: seconds(300),
    });
    this.scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.targetCpuPercent,
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

  /**
   * The ECS agent's task-protection endpoint acts with the task role: it may protect tasks of this
   * cluster only (task ARNs end in a random ID, hence the one wildcard, acknowledged on this policy).
   */
  private allowTaskProtection(): void {
    const tasks = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    const role = this.taskDefinition.taskRole;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'], resources: [tasks] }));
    const clusterId = Stack.of(this).getLogicalId(this.cluster.node.defaultChild as CfnElement);
    acknowledge(role.node.tryFindChild('DefaultPolicy')!, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${clusterId}>/*]`,
      reason: 'Scale-in protection is set on the poller\'s own task, whose ARN ends in an ID known only at run time; the grant covers tasks of this cluster only.',
    });
  }
}

