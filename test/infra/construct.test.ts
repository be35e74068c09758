/**
 * The construct's contracts, read off the synthesized template (bundling skipped).
 */
import { describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { decodeRoutes, defineJobs, routeOf } from '../../lib/jobs.js';
import { decodeCron } from '../../lib/periodic.js';
import type { SidekiqLambda } from '../../infra/construct.js';
import { DECLARATIONS, idOf, joinToText, makeSidekiq, once } from './support.js';

/** The default deployment, synthesized once and only read. */
const defaults = once(() => makeSidekiq());
const fnId = (sidekiq: SidekiqLambda, cls: string) => idOf(sidekiq.functions.get(cls)!);
const clientSgs = (sidekiq: SidekiqLambda) => sidekiq.network.redisClients.map(idOf);

function pollerContainer(template: ReturnType<typeof makeSidekiq>['template']) {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  expect(defs).toHaveLength(1);
  return (defs[0] as { Properties: { ContainerDefinitions: Array<Record<string, unknown>> } }).Properties.ContainerDefinitions[0]!;
}

function envOf(container: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries((container.Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
}

describe('SidekiqLambda', () => {
  describe('the poller', () => {
    it('runs on ARM64 Fargate, stops 5 s after its shutdown deadline, and checks /healthz', () => {
      // Prepare / Act
      const { template } = makeSidekiq({ shutdownTimeoutSeconds: 40 });
      // Assess
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
        ContainerDefinitions: [
          Match.objectLike({
            Command: ['poller'],
            StopTimeout: 45,
            LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
            HealthCheck: Match.objectLike({ Command: ['CMD', 'node', '-e', Match.stringLikeRegexp("127\\.0\\.0\\.1:8080/healthz")] }),
            LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          }),
        ],
      });
      expect(envOf(pollerContainer(template)).SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT).toBe('40');
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('carries the routes in SIDEKIQ_LAMBDA_JOBS, which decode back to the declarations with the deployed names', () => {
      // Prepare
      const { sidekiq, template } = defaults();
      // Act
      const routes = decodeRoutes(joinToText(envOf(pollerContainer(template)).SIDEKIQ_LAMBDA_JOBS));
      // Assess
      expect(routes).toEqual(defineJobs(DECLARATIONS).map((job) => routeOf(job, fnId(sidekiq, job.class))));
    });

    it('gets Redis settings in its environment and the AUTH token as an ECS secret, never in plain text', () => {
      const { sidekiq, template } = defaults();
      const container = pollerContainer(template);
      const env = envOf(container);
      expect(env).toMatchObject({ REDIS_PORT: '6379', REDIS_TLS: 'true', SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '100', SIDEKIQ_LAMBDA_HEALTH_PORT: '8080' });
      expect(env.REDIS_HOST).toEqual({ 'Fn::GetAtt': [idOf(sidekiq.managedRedis!.replicationGroup), 'PrimaryEndPoint.Address'] });
      expect(env.REDIS_AUTH_TOKEN).toBeUndefined();
      expect(container.Secrets).toEqual([{ Name: 'REDIS_AUTH_TOKEN', ValueFrom: { Ref: idOf(sidekiq.managedRedis!.authSecret) } }]);
    });

    it('passes queues, namespace and Sidekiq version through when set', () => {
      const { template } = makeSidekiq({ queues: 'track,3 diagnostics,1', namespace: 'myapp', sidekiqVersion: '7' });
      expect(envOf(pollerContainer(template))).toMatchObject({ SIDEKIQ_LAMBDA_QUEUES: 'track,3 diagnostics,1', SIDEKIQ_NAMESPACE: 'myapp', SIDEKIQ_VERSION: '7' });
    });

    it('may invoke exactly the declared functions: one statement per function ARN, no wildcards', () => {
      const { sidekiq, template } = defaults();
      const taskRole = idOf(sidekiq.poller.taskDefinition.taskRole);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: taskRole }],
        PolicyDocument: {
          Statement: DECLARATIONS.map((d) => ({ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [fnId(sidekiq, d.class), 'Arn'] } })),
        },
      });
      const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(policies).not.toMatch(/lambda:\*|"Resource":"\*"/);
    });

    it('routes a class and grants its invoke in one call', () => {
      // Prepare
      const [job] = defineJobs([{ class: 'ReportJob', queue: 'reports', entry: '-' }]);
      let fn: lambda.Function | undefined;
      let routeAgain = () => {};
      // Act
      const { template } = makeSidekiq({}, undefined, (sidekiq, stack) => {
        fn = new lambda.Function(stack, 'Reports', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('x') });
        sidekiq.route(job!, fn);
        routeAgain = () => sidekiq.route(job!, fn!);
      });
      // Assess
      const fnLogicalId = idOf(fn!);
      const routes = decodeRoutes(joinToText(envOf(pollerContainer(template)).SIDEKIQ_LAMBDA_JOBS));
      expect(routes.at(-1)).toEqual(routeOf(job!, fnLogicalId));
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: Match.arrayWith([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [fnLogicalId, 'Arn'] } }]) },
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttled', Dimensions: [{ Name: 'JobClass', Value: 'ReportJob' }] });
      expect(routeAgain).toThrow('SidekiqLambda: job class ReportJob is routed twice');
    });

    it('scales the task count on BacklogPerTask, not CPU, within min and max', () => {
      const { template } = makeSidekiq({ minTasks: 2, maxTasks: 6, targetBacklogPerTask: 250 });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6, ScalableDimension: 'ecs:service:DesiredCount' });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          CustomizedMetricSpecification: { Namespace: 'SidekiqLambda', MetricName: 'BacklogPerTask', Statistic: 'Average' },
          TargetValue: 250,
        },
      });
      template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 1);
    });

    it('leaves the task count to autoscaling on deploys unless desiredTasks is set', () => {
      defaults().template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: Match.absent(), LaunchType: 'FARGATE' });
      makeSidekiq({ minTasks: 1, desiredTasks: 3 }).template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 3 });
    });

    it('rolls back a deployment whose tasks never become healthy', () => {
      defaults().template.hasResourceProperties('AWS::ECS::Service', {
        DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      });
    });
  });

  describe('a new Redis', () => {
    it('is a replication group with cluster mode disabled, TLS, encryption at rest and a generated AUTH token', () => {
      const { sidekiq, template } = defaults();
      const secret = idOf(sidekiq.managedRedis!.authSecret);
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        Engine: 'redis',
        NumCacheClusters: 1,
        NumNodeGroups: Match.absent(),
        TransitEncryptionEnabled: true,
        AtRestEncryptionEnabled: true,
        AuthToken: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secret }, ':SecretString:::}}']] },
      });
      template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: { ExcludePunctuation: true, PasswordLength: 64 } });
      template.hasResource('AWS::ElastiCache::ReplicationGroup', { DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    });

    it('never evicts keys: maxmemory-policy noeviction', () => {
      const { sidekiq, template } = defaults();
      template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', { CacheParameterGroupFamily: 'redis7', Properties: { 'maxmemory-policy': 'noeviction' } });
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { CacheParameterGroupName: { Ref: idOf(sidekiq.managedRedis!.parameterGroup) } });
    });

    it('adds a replica in a second AZ with automatic failover when multiAz, on Valkey when asked', () => {
      const { template } = makeSidekiq({ redisProps: { multiAz: true, engine: 'valkey' } });
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        Engine: 'valkey', EngineVersion: '8.0', NumCacheClusters: 2, AutomaticFailoverEnabled: true, MultiAZEnabled: true,
      });
      template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', { CacheParameterGroupFamily: 'valkey8' });
    });

    it('admits only the poller, the scheduler and the needsRedis functions, and sends nothing out', () => {
      const { sidekiq, template } = defaults();
      const redisSg = idOf(sidekiq.managedRedis!.securityGroup);
      const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
        .map((r) => (r as { Properties: Record<string, unknown> }).Properties)
        .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [redisSg, 'GroupId'] }));
      expect(ingress.map((p) => [(p.SourceSecurityGroupId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0], p.FromPort, p.ToPort]).sort()).toEqual(
        clientSgs(sidekiq).map((sg) => [sg, 6379, 6379]).sort(),
      );
      expect(clientSgs(sidekiq)).toEqual([sidekiq.network.pollerSecurityGroup, sidekiq.network.schedulerSecurityGroup, sidekiq.network.jobsSecurityGroup].map(idOf));
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('sidekiq-lambda Redis'),
        SecurityGroupIngress: Match.absent(),
        SecurityGroupEgress: [Match.objectLike({ CidrIp: '255.255.255.255/32' })],
      });
    });
  });

  describe('an existing Redis', () => {
    it('is reached with its host, port and TLS setting and its AUTH secret, and creates no ElastiCache', () => {
      const { sidekiq, template } = makeSidekiq({}, (s) => ({
        existingRedis: {
          host: 'sidekiq.abc123.ng.0001.use1.cache.amazonaws.com',
          port: 6380,
          tls: false,
          authSecret: secretsmanager.Secret.fromSecretNameV2(s, 'Auth', 'prod/redis'),
          authSecretField: 'token',
          securityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'RedisSg', 'sg-0123456789abcdef0'),
        },
      }));
      template.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 0);
      const container = pollerContainer(template);
      expect(envOf(container)).toMatchObject({ REDIS_HOST: 'sidekiq.abc123.ng.0001.use1.cache.amazonaws.com', REDIS_PORT: '6380', REDIS_TLS: 'false' });
      expect(JSON.stringify(container.Secrets)).toContain(':token::');
      for (const client of clientSgs(sidekiq)) {
        template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
          GroupId: 'sg-0123456789abcdef0', FromPort: 6380, ToPort: 6380, SourceSecurityGroupId: { 'Fn::GetAtt': [client, 'GroupId'] },
        });
      }
    });

    it('runs without secrets when noAuth is explicit', () => {
      const { template } = makeSidekiq({ existingRedis: { host: 'redis.internal', noAuth: true } });
      expect(pollerContainer(template).Secrets).toBeUndefined();
      expect(JSON.stringify(template.findResources('AWS::Lambda::Function'))).not.toContain('REDIS_AUTH_TOKEN');
    });
  });

  describe('the network', () => {
    it('creates a VPC with one NAT gateway by default and uses an existing one when given', () => {
      defaults().template.resourceCountIs('AWS::EC2::NatGateway', 1);
      const { template } = makeSidekiq({}, (s) => ({
        existingVpc: ec2.Vpc.fromVpcAttributes(s, 'Vpc', {
          vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['eu-west-1a', 'eu-west-1b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
        }),
      }));
      template.resourceCountIs('AWS::EC2::VPC', 0);
      template.hasResourceProperties('AWS::ElastiCache::SubnetGroup', { SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] });
    });
  });

  describe('the job functions', () => {
    it('get Node 22 on ARM64 with the declared timeout, memory and reserved concurrency', () => {
      const { template } = defaults();
      for (const job of defineJobs(DECLARATIONS)) {
        template.hasResourceProperties('AWS::Lambda::Function', {
          Description: Match.stringLikeRegexp(`^Sidekiq job ${job.class} `),
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          Timeout: job.timeoutSeconds,
          MemorySize: job.memoryMb,
          ReservedConcurrentExecutions: job.concurrency,
        });
      }
    });

    it('run in the VPC, with Redis settings, only when they need Redis', () => {
      const { sidekiq, template } = defaults();
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('TrackUserJob'), VpcConfig: Match.absent(), Environment: Match.absent(),
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('SudokuSolver'),
        VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [idOf(sidekiq.network.jobsSecurityGroup), 'GroupId'] }], SubnetIds: Match.anyValue() },
        Environment: { Variables: Match.objectLike({ REDIS_TLS: 'true', REDIS_AUTH_TOKEN: { 'Fn::Join': ['', Match.arrayWith(['{{resolve:secretsmanager:'])] } }) },
      });
    });

    it('each have a role that writes only to their own log group', () => {
      const { sidekiq, template } = defaults();
      const fn = sidekiq.functions.get('TrackUserJob')!;
      const role = idOf(fn.role!);
      template.hasResourceProperties('AWS::IAM::Role', { RoleName: Match.absent(), ManagedPolicyArns: Match.absent(), Description: Match.stringLikeRegexp('TrackUserJob') });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: role }],
        PolicyDocument: { Statement: [{ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [idOf(fn.logGroup), 'Arn'] } }] },
      });
    });
  });

  describe('the scheduler', () => {
    it('runs every minute, one at a time, in the VPC with its own security group', () => {
      const { sidekiq, template } = defaults();
      const fn = idOf(sidekiq.scheduler!.function);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('scheduler'),
        ReservedConcurrentExecutions: 1,
        Timeout: 60,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        VpcConfig: Match.objectLike({ SecurityGroupIds: [{ 'Fn::GetAtt': [idOf(sidekiq.network.schedulerSecurityGroup), 'GroupId'] }] }),
        Environment: { Variables: Match.objectLike({ REDIS_PORT: '6379' }) },
      });
    });

    it('carries the periodic jobs in SIDEKIQ_LAMBDA_CRON, which decode back to the declarations (`[]` when none)', () => {
      // Prepare
      const jobs = defineJobs([{ ...DECLARATIONS[0]!, cron: { cron: '0 6 * * *', timezone: 'Europe/Berlin' } }, ...DECLARATIONS.slice(1)], {
        cron: [{ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*/5 * * * *' }],
      });
      // Act
      const { sidekiq, template } = makeSidekiq({ jobs, sidekiqCronVersion: '1' });
      const env = (template.findResources('AWS::Lambda::Function')[idOf(sidekiq.scheduler!.function)] as { Properties: { Environment: { Variables: Record<string, string> } } }).Properties.Environment.Variables;
      // Assess
      expect(decodeCron(env.SIDEKIQ_LAMBDA_CRON!)).toEqual(jobs.cron);
      expect(jobs.cron.map((e) => e.name)).toEqual(['TrackUserJob', 'cleanup']);
      expect(env.SIDEKIQ_CRON_VERSION).toBe('1');
      defaults().template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('scheduler'), Environment: { Variables: Match.objectLike({ SIDEKIQ_LAMBDA_CRON: '[]' }) } });
    });

    it('is left out with scheduler: false', () => {
      makeSidekiq({ scheduler: false }).template.resourceCountIs('AWS::Events::Rule', 0);
    });
  });

  describe('monitoring', () => {
    it('alarms on each queue\'s latency above the threshold', () => {
      const { template } = makeSidekiq({ queueLatencyAlarmSeconds: 120 });
      for (const queue of ['track', 'unsolved_puzzles', 'diagnostics']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'SidekiqLambda', MetricName: 'QueueLatency', Dimensions: [{ Name: 'Queue', Value: queue }],
          Statistic: 'Maximum', Threshold: 120, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 3,
        });
      }
    });

    it('alarms when the dead set grows, when no poller reports, and when a class is throttled for 5 minutes', () => {
      const { template } = defaults();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([Match.objectLike({ Expression: 'DIFF(dead)' }), Match.objectLike({ Id: 'dead', MetricStat: Match.objectLike({ Metric: { MetricName: 'DeadSetSize', Namespace: 'SidekiqLambda' } }) })]),
        Threshold: 0, ComparisonOperator: 'GreaterThanThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'BacklogPerTask', Statistic: 'SampleCount', Threshold: 1, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 5, TreatMissingData: 'breaching',
      });
      for (const d of DECLARATIONS) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'Throttled', Dimensions: [{ Name: 'JobClass', Value: d.class }], Statistic: 'Sum', EvaluationPeriods: 5, Threshold: 0,
        });
      }
      template.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 3 + DECLARATIONS.length);
    });

    it('sends alarms and recoveries to the alarm topic', () => {
      let pager: sns.Topic | undefined;
      const { template } = makeSidekiq({}, (s) => ({ alarmTopic: (pager = new sns.Topic(s, 'Pager', { enforceSSL: true })) }));
      const topic = { Ref: idOf(pager!) };
      template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic], OKActions: [topic] });
    });

    it('draws a dashboard of latency, backlog, in flight, outcomes per class and the dead set', () => {
      const { template } = defaults();
      const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
      for (const text of ['QueueLatency', 'QueueBacklog', 'BacklogPerTask', 'InFlight', 'Processed', 'Failed', 'Throttled', 'DeadSetSize', 'SudokuSolver', 'unsolved_puzzles', '\\"type\\":\\"alarm\\"']) {
        expect(body).toContain(text);
      }
    });
  });
});
