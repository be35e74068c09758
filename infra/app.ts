/**
 * This repository's CDK app (`npx cdk synth|deploy`): the example jobs from `sidekiq-lambda.config.ts`.
 * Environment-agnostic and lookup-free, so `cdk synth` works offline without credentials; cdk-nag's
 * AwsSolutions checks run on every synth and fail it on an unacknowledged finding.
 *
 * Context: `-c skipBundling=true` synthesizes placeholder code (a quick look at the template).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import jobs from '../sidekiq-lambda.config.js';
import { PACKAGE_ROOT } from './code.js';
import { SidekiqLambdaStack } from './stack.js';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const skip = app.node.tryGetContext('skipBundling');
new SidekiqLambdaStack(app, app.node.tryGetContext('stackName') ?? 'SidekiqLambda', {
  description: 'sidekiq-lambda: Sidekiq jobs on AWS Lambda, a poller on ECS Fargate, ElastiCache Redis',
  sidekiq: { jobs, jobsRoot: PACKAGE_ROOT, skipBundling: skip === true || skip === 'true' },
});
app.synth();
