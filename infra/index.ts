/**
 * `sidekiq-lambda/infra`: the CDK construct, for the CDK app a team already has.
 *
 * @example
 * import { SidekiqLambda } from 'sidekiq-lambda/infra';
 * import jobs from './sidekiq-lambda.config.js';
 * new SidekiqLambda(stack, 'Sidekiq', { jobs });
 */
export { SidekiqLambda } from './construct.js';
export { INFRA_DEFAULTS, STOP_MARGIN_SECONDS, type AlarmThresholds, type ExistingRedisProps, type RedisProps, type SidekiqLambdaProps } from './props.js';
export { ERRORS, WARNINGS, validateProps } from './validate.js';
export { ExistingRedis, ManagedRedis, type RedisEndpoint } from './redis.js';
export { Network } from './network.js';
export { PollerService } from './poller.js';
export { Scheduler, jobFunction } from './functions.js';
export { Monitoring } from './monitoring.js';
export { SidekiqLambdaStack, type SidekiqLambdaStackProps } from './stack.js';
