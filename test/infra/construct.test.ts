/**
 * The construct's contracts, read off the synthesized template (bundling skipped).
 */
import { describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { decodeRoutes, defineJobs, routeOf } from '../../lib/jobs.js';
import { decodeCron } from '../../lib/periodic.js';
import { SidekiqLambda as SidekiqLambdaConstruct, type SidekiqLambda } from '../../infra/construct.js';
import { WARNINGS } from '../../infra/validate.js';
import { DECLARATIONS, idOf, joinToText, makeSidekiq, once, warnings } from './support.js';

/** The default deployment, synthesized once and only read. */
const defaults = once(() => makeSidekiq());
const fnId = (sidekiq: SidekiqLambda, cls: string) => idOf(sidekiq.functions.get(cls)!);
const clientSgs = (sidekiq: SidekiqLambda) => sidekiq.network.redisClients.map(idOf);
/** The default deployment's dimension: stack `Test`, construct `Sidekiq`. */
const DEPLOYMENT = { Name: 'Deployment', Value: 'Test/Sidekiq' };

function pollerContainer(template: ReturnType<typeof makeSidekiq>['template']) {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  expect(defs).toHaveLength(1);
  return (defs[0] as { Properties: { ContainerDefinitions: Array<Record<string, unknown>> } }).Properties.ContainerDefinitions[0]!;
}

/** Every SidekiqLambda metric a template reads, as `name [dimension, value, …]`: alarms, scaling policies and dashboards. */
function metricsRead(t: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> }): Set<string> {
  const read = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      // A dashboard's metric: [namespace, name, dimension, value, …, options?]
      if (v[0] === 'SidekiqLambda' && typeof v[1] === 'string') read.add(`${v[1]} ${JSON.stringify(v.slice(2).filter((x) => typeof x === 'string'))}`);
      v.forEach(visit);
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.Namespace === 'SidekiqLambda' && typeof o.MetricName === 'string') {
        read.add(`${o.MetricName} ${JSON.stringify(((o.Dimensions ?? []) as { Name: string; Value: string }[]).flatMap((d) => [d.Name, d.Value]))}`);
      }
      Object.values(o).forEach(visit);
    }
  };
  for (const r of Object.values(t.Resources)) {
    if (r.Type !== 'AWS::CloudWatch::Dashboard') visit(r.Properties);
    else {
      const [sep, parts] = (r.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      visit(JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'token')).join(sep)));
    }
  }
  return read;
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

    it("gets Redis settings and the AUTH secret's ARN in its environment and reads the secret itself: no ECS secret, no token", () => {
      // Prepare
      const { sidekiq, template } = defaults();
      const secret = { Ref: idOf(sidekiq.managedRedis!.authSecret) };
      // Act
      const container = pollerContainer(template);
      const env = envOf(container);
      // Assess
      expect(env).toMatchObject({ REDIS_PORT: '6379', REDIS_TLS: 'true', SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '100', SIDEKIQ_LAMBDA_HEALTH_PORT: '8080', REDIS_AUTH_SECRET_ARN: secret });
      expect(env.REDIS_HOST).toEqual({ 'Fn::GetAtt': [idOf(sidekiq.managedRedis!.replicationGroup), 'PrimaryEndPoint.Address'] });
      expect(env.REDIS_AUTH_TOKEN).toBeUndefined();
      expect(container.Secrets).toBeUndefined();
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: idOf(sidekiq.poller.taskDefinition.taskRole) }],
        PolicyDocument: { Statement: Match.arrayWith([{ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: secret }]) },
      });
      // The token is resolved by CloudFormation only where ElastiCache needs it, never into a configuration.
      const resolved = Object.entries(template.toJSON().Resources as Record<string, { Type: string }>).filter(([, r]) => JSON.stringify(r).includes('{{resolve:secretsmanager'));
      expect(resolved.map(([, r]) => r.Type)).toEqual(['AWS::ElastiCache::ReplicationGroup']);
    });

    it('runs with a read-only root file system and a writable /tmp', () => {
      const container = pollerContainer(defaults().template);
      expect(container).toMatchObject({ ReadonlyRootFilesystem: true, MountPoints: [{ ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' }] });
      defaults().template.hasResourceProperties('AWS::ECS::TaskDefinition', { Volumes: [{ Name: 'tmp' }] });
    });

    it('passes queues, namespace and Sidekiq version through when set', () => {
      const { template } = makeSidekiq({ queues: 'track,3 diagnostics,1 unsolved_puzzles,1', namespace: 'myapp', sidekiqVersion: 7 });
      expect(envOf(pollerContainer(template))).toMatchObject({ SIDEKIQ_LAMBDA_QUEUES: 'track,3 diagnostics,1 unsolved_puzzles,1', SIDEKIQ_NAMESPACE: 'myapp', SIDEKIQ_VERSION: '7' });
    });

    it('may invoke exactly the declared functions: one statement per function ARN, no wildcards', () => {
      const { sidekiq, template } = defaults();
      const taskRole = idOf(sidekiq.poller.taskDefinition.taskRole);
      const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: taskRole }] } }));
      expect(policy).toHaveLength(1);
      const statements = (policy[0] as { Properties: { PolicyDocument: { Statement: Array<{ Action: unknown }> } } }).Properties.PolicyDocument.Statement;
      expect(statements.filter((st) => JSON.stringify(st.Action).includes('lambda:'))).toEqual(
        DECLARATIONS.map((d) => ({ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [fnId(sidekiq, d.class), 'Arn'] } })),
      );
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
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttled', Dimensions: [{ Name: 'Deployment', Value: 'Test/Sidekiq' }, { Name: 'JobClass', Value: 'ReportJob' }] });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnLogicalId } }] });
      expect(routeAgain).toThrow('SidekiqLambda: job class ReportJob is routed twice');
    });

    it("scales the task count on its own deployment's Utilization (running jobs as a share of maxInFlight) and on CPU, within min and max", () => {
      // Prepare / Act
      const { template } = makeSidekiq({ minTasks: 2, maxTasks: 6, targetUtilizationPercent: 60, targetCpuPercent: 75 });
      // Assess: not on the backlog — a task added while every class is at its cap across pollers adds nothing
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6, ScalableDimension: 'ecs:service:DesiredCount' });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          CustomizedMetricSpecification: { Namespace: 'SidekiqLambda', MetricName: 'Utilization', Statistic: 'Average', Dimensions: [{ Name: 'Deployment', Value: 'Test/Sidekiq' }] },
          TargetValue: 60,
        },
      });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' }, TargetValue: 75 },
      });
      template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
      expect(JSON.stringify(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'))).not.toContain('BacklogPerTask');
    });

    it('may protect its own tasks from scale-in while a job that outlasts its shutdown wait runs, and warns about such jobs', () => {
      // Prepare / Act: a 900 s job; ECS waits at most 120 s after SIGTERM
      const { sidekiq, stack, template } = makeSidekiq({ jobs: [...DECLARATIONS, { class: 'ReportJob', queue: 'track', entry: 'functions/track-user.ts', timeoutSeconds: 900 }] });
      // Assess: the longest wait ECS allows, and protection for twice the longest timeout, in minutes
      expect(envOf(pollerContainer(template))).toMatchObject({ SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '115', SIDEKIQ_LAMBDA_PROTECTION_MAX_MINUTES: '30' });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: idOf(sidekiq.poller.taskDefinition.taskRole) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'],
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':task/', { Ref: idOf(sidekiq.poller.cluster) }, '/*']] },
            },
          ]),
        },
      });
      expect(warnings(stack).filter((w) => w.includes('longer than the poller waits'))).toEqual([WARNINGS.longJob.message('ReportJob', 900, 115, 30)]);
      expect(WARNINGS.longJob.message('ReportJob', 900, 115, 30)).toBe(
        'SidekiqLambda: job ReportJob may run 900 s, longer than the poller waits for running jobs when ECS stops it (shutdownTimeoutSeconds 115 s; ECS allows at most 120 s). ' +
          'Deploys and scale-in wait while a poller runs jobs (task scale-in protection, at most 30 min at a stretch); ' +
          'a job still running when a task stops anyway (a crash, protection lapsed) runs again. Make it idempotent, or shorter',
      );
    });

    it('waits on SIGTERM as long as the longest job by default, and then asks for no protection; or when it is turned off', () => {
      // Prepare / Act: the longest declared job runs 60 s
      const fits = makeSidekiq();
      const off = makeSidekiq({ shutdownTimeoutSeconds: 25, maxProtectionMinutes: 0 });
      // Assess
      expect(envOf(pollerContainer(fits.template))).toMatchObject({ SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '65', SIDEKIQ_LAMBDA_PROTECTION_MAX_MINUTES: '0' });
      expect(pollerContainer(fits.template).StopTimeout).toBe(70);
      expect(envOf(pollerContainer(off.template))).toMatchObject({ SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '25', SIDEKIQ_LAMBDA_PROTECTION_MAX_MINUTES: '0' });
      for (const { template } of [fits, off]) expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('TaskProtection');
      expect(warnings(fits.stack).filter((w) => w.includes('longer than the poller waits'))).toEqual([]);
      expect(warnings(off.stack).filter((w) => w.includes('longer than the poller waits'))).toEqual([
        WARNINGS.longJob.message('TrackUserJob', 30, 25, 0),
        WARNINGS.longJob.message('SudokuSolver', 60, 25, 0),
      ]);
      expect(WARNINGS.longJob.message('TrackUserJob', 30, 25, 0)).toContain('Task scale-in protection is off (maxProtectionMinutes: 0), so a deploy or scale-in runs it again; ');
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
      expect(envOf(container)).toMatchObject({
        REDIS_HOST: 'sidekiq.abc123.ng.0001.use1.cache.amazonaws.com', REDIS_PORT: '6380', REDIS_TLS: 'false', REDIS_AUTH_SECRET_ARN: 'prod/redis', REDIS_AUTH_SECRET_FIELD: 'token',
      });
      expect(container.Secrets).toBeUndefined();
      for (const client of clientSgs(sidekiq)) {
        template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
          GroupId: 'sg-0123456789abcdef0', FromPort: 6380, ToPort: 6380, SourceSecurityGroupId: { 'Fn::GetAtt': [client, 'GroupId'] },
        });
      }
    });

    it('runs without secrets when noAuth is explicit', () => {
      const { template } = makeSidekiq({}, (s) => ({ existingRedis: { host: 'redis.internal', noAuth: true, securityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'Sg', 'sg-0123456789abcdef0') } }));
      expect(pollerContainer(template).Secrets).toBeUndefined();
      expect(JSON.stringify(template.toJSON())).not.toMatch(/REDIS_AUTH|secretsmanager/);
    });

    it('uses its database index and ElastiCache RBAC user, in the poller, the scheduler and needsRedis functions', () => {
      // Prepare / Act
      const { template } = makeSidekiq({}, (s) => ({
        existingRedis: { host: 'r.internal', database: 3, username: 'sidekiq', authSecret: secretsmanager.Secret.fromSecretNameV2(s, 'Auth', 'prod/redis'), securityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'Sg', 'sg-0123456789abcdef0') },
      }));
      // Assess
      const expected = { REDIS_HOST: 'r.internal', REDIS_DB: '3', REDIS_USERNAME: 'sidekiq', REDIS_AUTH_SECRET_ARN: 'prod/redis' };
      expect(envOf(pollerContainer(template))).toMatchObject(expected);
      for (const description of ['SudokuSolver', 'scheduler']) {
        template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp(description), Environment: { Variables: Match.objectLike(expected) } });
      }
      expect(warnings(makeSidekiq({}, (s) => ({ existingRedis: { host: 'r.internal', authSecret: secretsmanager.Secret.fromSecretNameV2(s, 'Auth', 'prod/redis'), securityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'Sg', 'sg-0123456789abcdef0') } })).stack).filter((w) => w.includes('existingRedis'))).toEqual([]);
    });

    it('warns at synth when no security group is given, and when an AUTH token would travel without TLS', () => {
      // Prepare / Act
      const { stack } = makeSidekiq({}, (s) => ({ existingRedis: { host: 'r.internal', tls: false, authSecret: secretsmanager.Secret.fromSecretNameV2(s, 'Auth', 'prod/redis') } }));
      // Assess
      expect(warnings(stack).filter((w) => w.includes('existingRedis'))).toEqual([WARNINGS.noSecurityGroup.message, WARNINGS.authWithoutTls.message]);
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

    it('without needsRedis: no VPC attachment, no Redis settings, no access to the AUTH secret', () => {
      // Prepare
      const { sidekiq, template } = defaults();
      // Act / Assess: TrackUserJob and FailJob do not declare needsRedis
      for (const cls of ['TrackUserJob', 'FailJob']) {
        const fn = sidekiq.functions.get(cls)!;
        template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp(`job ${cls} `), VpcConfig: Match.absent(), Environment: Match.absent() });
        template.hasResourceProperties('AWS::IAM::Role', { Description: Match.stringLikeRegexp(cls), ManagedPolicyArns: Match.absent() });
        const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: idOf(fn.role!) }] } });
        expect(JSON.stringify(policies)).not.toMatch(/secretsmanager|ec2:/);
      }
    });

    it('with needsRedis: in the VPC with the Redis settings, and the AUTH secret by ARN with read access to it', () => {
      const { sidekiq, template } = defaults();
      const secret = { Ref: idOf(sidekiq.managedRedis!.authSecret) };
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('SudokuSolver'),
        VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [idOf(sidekiq.network.jobsSecurityGroup), 'GroupId'] }], SubnetIds: Match.anyValue() },
        Environment: { Variables: Match.objectLike({ REDIS_TLS: 'true', REDIS_AUTH_SECRET_ARN: secret, REDIS_AUTH_TOKEN: Match.absent() }) },
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: idOf(sidekiq.functions.get('SudokuSolver')!.role!) }],
        PolicyDocument: { Statement: Match.arrayWith([{ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: secret }]) },
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
        Environment: { Variables: Match.objectLike({ REDIS_PORT: '6379', REDIS_AUTH_SECRET_ARN: { Ref: idOf(sidekiq.managedRedis!.authSecret) } }) },
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
          Namespace: 'SidekiqLambda', MetricName: 'QueueLatency', Dimensions: [{ Name: 'Deployment', Value: 'Test/Sidekiq' }, { Name: 'Queue', Value: queue }],
          Statistic: 'Maximum', Threshold: 120, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 3,
        });
      }
    });

    it('alarms when the dead set grows, when no poller reports, and when a class is throttled for 5 minutes', () => {
      const { template } = defaults();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([Match.objectLike({ Expression: 'DIFF(dead)' }), Match.objectLike({ Id: 'dead', MetricStat: Match.objectLike({ Metric: { MetricName: 'DeadSetSize', Namespace: 'SidekiqLambda', Dimensions: [DEPLOYMENT] } }) })]),
        Threshold: 0, ComparisonOperator: 'GreaterThanThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'BacklogPerTask', Statistic: 'SampleCount', Threshold: 1, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 5, TreatMissingData: 'breaching',
      });
      for (const d of DECLARATIONS) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'Throttled', Dimensions: [DEPLOYMENT, { Name: 'JobClass', Value: d.class }], Statistic: 'Sum', EvaluationPeriods: 5, Threshold: 0,
        });
      }
    });

    it('alarms on the failed-job rate and on the scheduler falling behind, from metrics the poller publishes', () => {
      const { template } = defaults();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 10,
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'IF(ok + failed > 0, 100 * failed / (ok + failed), 0)' }),
          Match.objectLike({ Id: 'failed', MetricStat: Match.objectLike({ Metric: { MetricName: 'Failed', Namespace: 'SidekiqLambda', Dimensions: [DEPLOYMENT] }, Stat: 'Sum' }) }),
        ]),
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 120,
        EvaluationPeriods: 3,
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'MAX([scheduled, retry])' }),
          Match.objectLike({ Id: 'scheduled', MetricStat: Match.objectLike({ Metric: { MetricName: 'ScheduledLag', Namespace: 'SidekiqLambda', Dimensions: [DEPLOYMENT] } }) }),
          Match.objectLike({ Id: 'retry', MetricStat: Match.objectLike({ Metric: { MetricName: 'RetryLag', Namespace: 'SidekiqLambda', Dimensions: [DEPLOYMENT] } }) }),
        ]),
      });
    });

    it("alarms on the scheduler's errors, each job function's errors and its longest run against its timeout", () => {
      const { sidekiq, template } = defaults();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: idOf(sidekiq.scheduler!.function) } }], EvaluationPeriods: 2, Threshold: 0,
      });
      for (const job of defineJobs(DECLARATIONS)) {
        const fn = { Ref: fnId(sidekiq, job.class) };
        template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: fn }], Statistic: 'Sum', Threshold: 0 });
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda', MetricName: 'Duration', Dimensions: [{ Name: 'FunctionName', Value: fn }], Statistic: 'Maximum', Threshold: job.timeoutSeconds * 1000 * 0.8,
        });
      }
    });

    it("alarms on a new Redis's memory and engine CPU, on every node", () => {
      const { sidekiq, template } = makeSidekiq({ redisProps: { multiAz: true }, alarmThresholds: { redisMemoryPercent: 70 } });
      const rg = idOf(sidekiq.managedRedis!.replicationGroup);
      for (const node of ['001', '002']) {
        const dims = [{ Name: 'CacheClusterId', Value: { 'Fn::Join': ['-', [{ Ref: rg }, node]] } }];
        template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ElastiCache', MetricName: 'DatabaseMemoryUsagePercentage', Dimensions: dims, Threshold: 70 });
        template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ElastiCache', MetricName: 'EngineCPUUtilization', Dimensions: dims, Threshold: 80 });
      }
      expect(JSON.stringify(makeSidekiq({}, (s) => ({ existingRedis: { host: 'r', noAuth: true, securityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'Sg', 'sg-0123456789abcdef0') } })).template.toJSON())).not.toContain('AWS/ElastiCache');
    });

    it('warns at synth when no alarm topic is set', () => {
      expect(warnings(defaults().stack)).toContain(WARNINGS.noAlarmTopic.message);
      expect(warnings(makeSidekiq({}, (s) => ({ alarmTopic: new sns.Topic(s, 'Pager', { enforceSSL: true }) })).stack)).not.toContain(WARNINGS.noAlarmTopic.message);
    });

    it('shows every alarm on the dashboard, in widgets of at most 100 (CloudWatch refuses more in one)', () => {
      // Prepare / Act: 40 classes, 3 alarms each, and a queue latency alarm for each queue
      const jobs = Array.from({ length: 40 }, (_, i) => ({ class: `Job${i}`, queue: `q${i % 4}`, entry: 'functions/track-user.ts' }));
      const { template } = makeSidekiq({ jobs });
      // Assess
      const [sep, parts] = (Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } }).Properties.DashboardBody['Fn::Join'];
      const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : '"token"')).join(sep).replace(/""token""/g, '"token"')) as { widgets: Array<{ type: string; y: number; properties: { title: string; alarms?: unknown[] } }> };
      const statuses = body.widgets.filter((w) => w.type === 'alarm');
      expect(statuses.map((w) => [w.properties.title, w.properties.alarms!.length])).toEqual([
        ['Alarms', 7],
        ['Alarms per queue and class', 100],
        ['Alarms per queue and class (continued)', 24],
      ]);
      expect(statuses[2]!.y).toBe(statuses[1]!.y + 4);
      expect(Math.max(...body.widgets.map((w) => w.y))).toBe(statuses[2]!.y);
    });

    it('reads only its own deployment: two stacks in one app share no metric, alarm input or scaling input', () => {
      // Prepare: staging and production, the same construct, one app (one account and region)
      const app = new App({ builtinCloudFormationValidation: false });
      const stacks = ['Staging', 'Production'].map((name) => {
        const stack = new Stack(app, name);
        new SidekiqLambdaConstruct(stack, 'Sidekiq', { jobs: DECLARATIONS, skipBundling: true });
        return stack;
      });
      // Act
      type Json = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
      const [staging, production] = stacks.map((stack) => Template.fromStack(stack).toJSON() as Json) as [Json, Json];
      // Assess: every SidekiqLambda metric read anywhere — alarms, scaling, the dashboard — carries
      // the stack's own Deployment, which is what its poller is told to publish
      const [a, b] = [metricsRead(staging), metricsRead(production)];
      expect(a.size).toBeGreaterThan(10);
      expect([...a].filter((m) => b.has(m))).toEqual([]);
      for (const m of a) expect(m).toMatch(/"Deployment","Staging\/Sidekiq"/);
      for (const m of b) expect(m).toMatch(/"Deployment","Production\/Sidekiq"/);
      const deploymentOf = (t: Json) =>
        Object.values(t.Resources).flatMap((r) => (r.Type === 'AWS::ECS::TaskDefinition' ? [envOf((r.Properties.ContainerDefinitions as Record<string, unknown>[])[0]!).SIDEKIQ_LAMBDA_DEPLOYMENT] : []));
      expect(deploymentOf(staging)).toEqual(['Staging/Sidekiq']);
      expect(deploymentOf(production)).toEqual(['Production/Sidekiq']);
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
