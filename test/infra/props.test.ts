/**
 * Invalid props fail before anything is created, with fixed messages.
 */
import { describe, expect, it } from 'vitest';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ERRORS, validateProps, type SidekiqLambdaProps } from '../../infra/props.js';
import { DECLARATIONS, makeSidekiq } from './support.js';

/** The message `validateProps` throws for these props (no synthesis: the messages are pure). */
function errorOf(props: Partial<SidekiqLambdaProps>): string | undefined {
  try {
    validateProps({ jobs: DECLARATIONS, ...props });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

const secret = {} as secretsmanager.ISecret;

describe('validateProps', () => {
  it('refuses an existing and a new Redis together', () => {
    expect(errorOf({ existingRedis: { host: 'r', noAuth: true }, redisProps: {} })).toBe(
      'SidekiqLambda: pass existingRedis (an endpoint you run) or redisProps (a new replication group), not both',
    );
  });

  it('refuses ElastiCache Serverless, asked for or pointed at, and says why', () => {
    const why =
      "SidekiqLambda: ElastiCache Serverless is not supported: it always runs in cluster mode, where Sidekiq's multi-key commands " +
      '(MULTI/EXEC across queue and stat keys, Lua scripts over several keys) fail with CROSSSLOT. ' +
      'Use a replication group with cluster mode disabled (redisProps) or such an existing endpoint (existingRedis)';
    expect(errorOf({ redisProps: { serverless: true } })).toBe(why);
    expect(errorOf({ existingRedis: { host: 'sidekiq-abc123.serverless.use1.cache.amazonaws.com', authSecret: secret } })).toBe(why);
  });

  it('refuses a cluster-mode configuration endpoint', () => {
    expect(errorOf({ existingRedis: { host: 'clustercfg.sidekiq.abc123.use1.cache.amazonaws.com', authSecret: secret } })).toBe(ERRORS.clusterMode);
  });

  it('asks for the AUTH secret of an existing Redis, or an explicit noAuth', () => {
    expect(errorOf({ existingRedis: { host: 'r' } })).toBe(
      'SidekiqLambda: existingRedis.authSecret is missing: pass the Secrets Manager secret that holds the AUTH token, ' +
        'or set existingRedis.noAuth: true for a Redis without AUTH',
    );
    expect(errorOf({ existingRedis: { host: 'r', authSecret: secret, noAuth: true } })).toBe(
      'SidekiqLambda: existingRedis.noAuth is true but an authSecret is given; pass one or the other',
    );
    expect(errorOf({ existingRedis: { host: 'r', authSecret: secret } })).toBeUndefined();
  });

  it('refuses a port outside 1–65535', () => {
    expect(errorOf({ existingRedis: { host: 'r', noAuth: true, port: 0 } })).toBe('SidekiqLambda: existingRedis.port must be an integer from 1 to 65535');
  });

  it('refuses an existing VPC and VPC props together', () => {
    expect(errorOf({ existingVpc: {} as ec2.IVpc, vpcProps: {} })).toBe('SidekiqLambda: pass existingVpc or vpcProps, not both');
  });

  it('refuses no jobs', () => {
    expect(errorOf({ jobs: [] })).toBe('SidekiqLambda: jobs is empty: declare at least one job class with defineJobs([...])');
  });

  it('refuses task counts that cannot scale', () => {
    expect(errorOf({ minTasks: 0 })).toBe(
      'SidekiqLambda: minTasks must be at least 1: the poller publishes the backlog metric that scales it out, so at 0 nothing would ever scale it back up',
    );
    expect(errorOf({ minTasks: 3, maxTasks: 2 })).toBe('SidekiqLambda: maxTasks must be at least minTasks');
    expect(errorOf({ minTasks: 2, maxTasks: 4, desiredTasks: 5 })).toBe('SidekiqLambda: desiredTasks must be between minTasks and maxTasks');
    expect(errorOf({ minTasks: 6 })).toBeUndefined(); // maxTasks follows minTasks up
  });

  it('refuses a shutdown deadline ECS cannot wait for', () => {
    expect(errorOf({ shutdownTimeoutSeconds: 116 })).toBe(
      'SidekiqLambda: shutdownTimeoutSeconds must be an integer from 0 to 115 (ECS stops a task after at most 120 s, and the poller needs 5 s of margin)',
    );
    expect(errorOf({ shutdownTimeoutSeconds: 115 })).toBeUndefined();
  });
});

describe('SidekiqLambda', () => {
  it('validates before creating anything, and reports declaration errors from defineJobs', () => {
    expect(() => makeSidekiq({ redisProps: { serverless: true } })).toThrow(ERRORS.serverless);
    expect(() => makeSidekiq({ jobs: [...DECLARATIONS, DECLARATIONS[0]!] })).toThrow('job TrackUserJob is declared twice');
  });

  it('checks the queues it passes to the poller', () => {
    expect(() => makeSidekiq({ queues: 'track,x' })).toThrow('SIDEKIQ_LAMBDA_QUEUES: weight of track must be a non-negative integer, got "x"');
  });
});
