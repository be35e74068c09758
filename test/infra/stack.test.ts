/**
 * This repository's stack as `cdk synth` builds it (cdk.json's feature flags): cdk-nag's AwsSolutions
 * pack on the fast synth and on a fully bundled one, acknowledgments scoped to the exact resource
 * and finding, and one snapshot.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import jobs from '../../sidekiq-lambda.config.js';
import { PACKAGE_ROOT } from '../../infra/code.js';
import { SidekiqLambdaStack } from '../../infra/stack.js';
import { makeSidekiq, once } from './support.js';

/** The context `cdk synth` runs with: cdk.json's feature flags. */
const CDK_CONTEXT = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

function appStack(skipBundling = true): SidekiqLambdaStack {
  return new SidekiqLambdaStack(new App({ context: CDK_CONTEXT }), 'SidekiqLambda', { sidekiq: { jobs, jobsRoot: PACKAGE_ROOT, skipBundling } });
}
const fastStack = once(() => appStack());

/** AwsSolutions findings left unacknowledged, as `severity rule at path`. */
function findings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));
}

/** Every acknowledgment in the tree, with the construct it is recorded on. */
function acknowledgments(scope: IConstruct): Array<{ id: string; reason: string; on: IConstruct }> {
  return scope.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => ({ data: m.data as Record<string, string>, on: c })))
    .flatMap(({ data, on }) => Object.entries(data).map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), reason, on })))
    .filter((a) => a.id.startsWith('AwsSolutions-'));
}

describe('cdk.json', () => {
  it("sets every feature flag the installed aws-cdk-lib recommends (among them the VPC's default security group locked down)", () => {
    const recommended = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'node_modules/aws-cdk-lib/recommended-feature-flags.json'), 'utf8')) as Record<string, unknown>;
    expect(CDK_CONTEXT).toMatchObject(recommended);
    expect(CDK_CONTEXT['@aws-cdk/aws-ec2:restrictDefaultSecurityGroup']).toBe(true);
    Template.fromStack(fastStack()).hasResourceProperties('Custom::VpcRestrictDefaultSG', {});
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the app stack', () => {
    expect(findings(fastStack())).toEqual([]);
  });

  it('finds nothing unacknowledged with an existing Redis and VPC, or with Multi-AZ Valkey and an alarm topic', () => {
    const existing = makeSidekiq({}, (s: Stack) => ({
      existingVpc: ec2.Vpc.fromVpcAttributes(s, 'Vpc', { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['a', 'b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] }),
      existingRedis: { host: 'redis.internal', authSecret: secretsmanager.Secret.fromSecretNameV2(s, 'Auth', 'redis') },
    }));
    const multiAz = makeSidekiq({ redisProps: { multiAz: true, engine: 'valkey' } }, (s: Stack) => ({
      alarmTopic: new sns.Topic(s, 'Pager', { enforceSSL: true, masterKey: undefined }),
    }));
    expect(findings(existing.stack)).toEqual([]);
    expect(findings(multiAz.sidekiq)).toEqual([]);
  });

  it('finds nothing unacknowledged in the fully bundled app stack (real function bundles and the poller image asset)', { timeout: 180_000 }, () => {
    // Prepare / Act: what `cdk synth` builds, ECR pull permissions and all
    const stack = appStack(false);
    // Assess
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).toContain('ecr:GetAuthorizationToken');
    expect(findings(stack)).toEqual([]);
  });

  it("fails the synth when a wildcard is added to the poller's task role", () => {
    // Prepare: the app as infra/app.ts builds it, cdk-nag as a validation plugin
    const checkedApp = () => {
      const app = new App({ context: CDK_CONTEXT });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      return { app, stack: new SidekiqLambdaStack(app, 'SidekiqLambda', { sidekiq: { jobs, jobsRoot: PACKAGE_ROOT, skipBundling: true } }) };
    };
    const clean = checkedApp();
    const { app, stack } = checkedApp();
    // Act: the mistake a later change could make
    stack.sidekiq.poller.taskDefinition.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: ['*'] }));
    // Assess
    expect(() => clean.app.synth()).not.toThrow();
    expect(findings(stack)).toEqual(['error AwsSolutions-IAM5[Resource::*] at SidekiqLambda/Sidekiq/Poller/Task/TaskRole/DefaultPolicy/Resource']);
    expect(() => app.synth()).toThrow(/SidekiqLambda\/Sidekiq\/Poller\/Task\/TaskRole\/DefaultPolicy\/Resource[^\n]*\n\s+Acknowledge with 'AwsSolutions::AwsSolutions-IAM5\[Resource::\*\]'/);
  });

  it('acknowledges each finding on the exact CloudFormation resource it is about, naming the finding where the rule has several', () => {
    // Prepare / Act (aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; those are not ours)
    const acks = acknowledgments(fastStack());
    // Assess
    expect(new Set(acks.map((a) => a.id.replace(/\[.*/, '')))).toEqual(
      new Set(['AwsSolutions-VPC7', 'AwsSolutions-SMG4', 'AwsSolutions-AEC4', 'AwsSolutions-AEC5', 'AwsSolutions-ECS4', 'AwsSolutions-ECS2', 'AwsSolutions-IAM5', 'AwsSolutions-IAM4', 'AwsSolutions-L1']),
    );
    for (const a of acks) {
      expect(a.reason.length, `${a.id} needs a reason`).toBeGreaterThan(40);
      expect(CfnResource.isCfnResource(a.on), `${a.id} is recorded on ${a.on.node.path}, not on a CloudFormation resource`).toBe(true);
      if (/^AwsSolutions-IAM[45]/.test(a.id)) expect(a.id, 'an IAM acknowledgment names its finding').toMatch(/\[(Resource|Action|Policy)::.+\]$/);
    }
  });
});

describe("the poller's image", () => {
  it('builds on a base image pinned by digest', () => {
    const from = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8').split('\n').filter((line) => line.startsWith('FROM '));
    expect(from).toEqual([expect.stringMatching(/^FROM public\.ecr\.aws\/docker\/library\/node:22-alpine@sha256:[0-9a-f]{64}$/)]);
  });
});

describe('SidekiqLambdaStack', () => {
  it('matches its snapshot', () => {
    expect(Template.fromStack(fastStack()).toJSON()).toMatchSnapshot();
  });
});
