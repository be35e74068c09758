/**
 * This repository's stack: cdk-nag's AwsSolutions pack, acknowledgments with reasons, one snapshot.
 */
import { describe, expect, it } from 'vitest';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import jobs from '../../sidekiq-lambda.config.js';
import { PACKAGE_ROOT } from '../../infra/code.js';
import { SidekiqLambdaStack } from '../../infra/stack.js';
import { makeSidekiq, once } from './support.js';

const appStack = once(() => new SidekiqLambdaStack(new App(), 'SidekiqLambda', { sidekiq: { jobs, jobsRoot: PACKAGE_ROOT, skipBundling: true } }));

/** AwsSolutions findings left unacknowledged, as `rule at path`. */
function findings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));
}

/** Every acknowledgment in the tree, as [rule id, reason]. */
function acknowledgments(scope: IConstruct): Array<[string, string]> {
  return scope.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((m) => Object.entries(m.data as Record<string, string>))
    .map(([id, reason]) => [id.replace(/^annotation::/i, ''), reason]);
}

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the app stack', () => {
    expect(findings(appStack())).toEqual([]);
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

  it('acknowledges each rule with a reason', () => {
    // Prepare / Act (aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; those are not ours)
    const acks = acknowledgments(appStack()).filter(([id]) => id.startsWith('AwsSolutions-'));
    // Assess
    expect(new Set(acks.map(([id]) => id.replace(/\[.*/, '')))).toEqual(
      new Set(['AwsSolutions-VPC7', 'AwsSolutions-SMG4', 'AwsSolutions-AEC4', 'AwsSolutions-AEC5', 'AwsSolutions-ECS4', 'AwsSolutions-ECS2', 'AwsSolutions-IAM5', 'AwsSolutions-IAM4', 'AwsSolutions-L1']),
    );
    for (const [id, reason] of acks) expect(reason.length, `${id} needs a reason`).toBeGreaterThan(40);
  });
});

describe('SidekiqLambdaStack', () => {
  it('matches its snapshot', () => {
    expect(Template.fromStack(appStack()).toJSON()).toMatchSnapshot();
  });
});
