/**
 * This repository's stack: the `SidekiqLambda` construct around the example jobs, nothing else.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SidekiqLambda } from './construct.js';
import type { SidekiqLambdaProps } from './props.js';

export interface SidekiqLambdaStackProps extends StackProps {
  /** The construct's props: at least `jobs`. */
  readonly sidekiq: SidekiqLambdaProps;
}

/**
 * @example
 * new SidekiqLambdaStack(app, 'SidekiqLambda', { sidekiq: { jobs } });
 */
export class SidekiqLambdaStack extends Stack {
  public readonly sidekiq: SidekiqLambda;

  constructor(scope: Construct, id: string, props: SidekiqLambdaStackProps) {
    super(scope, id, props);
    this.sidekiq = new SidekiqLambda(this, 'Sidekiq', props.sidekiq);
    const { managedRedis, poller, monitoring } = this.sidekiq;
    new CfnOutput(this, 'RedisHost', { value: this.sidekiq.redis.host, description: 'Point Rails (Sidekiq) at this Redis' });
    if (managedRedis) {
      new CfnOutput(this, 'RedisAuthSecret', { value: managedRedis.authSecret.secretArn, description: 'The AUTH token, for Rails' });
    }
    new CfnOutput(this, 'PollerLogGroup', { value: poller.logGroup.logGroupName });
    new CfnOutput(this, 'PollerService', { value: poller.service.serviceName });
    new CfnOutput(this, 'Dashboard', { value: monitoring.dashboard.dashboardName });
  }
}
