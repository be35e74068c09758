/**
 * Invalid props fail before anything is created, with fixed messages.
 */
import { describe, expect, it } from 'vitest';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { SidekiqLambdaProps } from '../../infra/props.js';
import { ERRORS, validateProps } from '../../infra/validate.js';
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

  it('refuses a database index below 0 and an empty RBAC user name', () => {
    expect(errorOf({ existingRedis: { host: 'r', noAuth: true, database: -1 } })).toBe('SidekiqLambda: existingRedis.database must be an integer of at least 0');
    expect(errorOf({ existingRedis: { host: 'r', noAuth: true, database: 1.5 } })).toBe(ERRORS.database);
    expect(errorOf({ existingRedis: { host: 'r', noAuth: true, username: ' ' } })).toBe('SidekiqLambda: existingRedis.username must not be empty; leave it out for the default user');
    expect(errorOf({ existingRedis: { host: 'r', authSecret: secret, database: 15, username: 'sidekiq' } })).toBeUndefined();
  });

  it('refuses a Sidekiq version other than 6, 7 or 8 (for callers without the types)', () => {
    expect(errorOf({ sidekiqVersion: '7' as unknown as 7 })).toBe('SidekiqLambda: sidekiqVersion must be 6, 7 or 8 (the oldest Sidekiq that reads this Redis)');
    expect(errorOf({ sidekiqVersion: 5 as unknown as 6 })).toBe(ERRORS.sidekiqVersion);
    expect(errorOf({ sidekiqVersion: 8 })).toBeUndefined();
  });

  it('refuses maxInFlight below 1, and targets and thresholds that are not positive', () => {
    expect(errorOf({ maxInFlight: 0 })).toBe('SidekiqLambda: maxInFlight must be an integer of at least 1 (the jobs one poller holds at once)');
    expect(errorOf({ targetUtilizationPercent: -10 })).toBe('SidekiqLambda: targetUtilizationPercent must be a number above 0 and at most 100');
    expect(errorOf({ targetUtilizationPercent: 120 })).toBe(ERRORS.targetUtilization);
    expect(errorOf({ targetCpuPercent: 0 })).toBe('SidekiqLambda: targetCpuPercent must be a number above 0 and at most 100');
    expect(errorOf({ queueLatencyAlarmSeconds: -1 })).toBe('SidekiqLambda: queueLatencyAlarmSeconds must be a number above 0');
    expect(errorOf({ alarmThresholds: { failedJobPercent: -5 } })).toBe('SidekiqLambda: alarmThresholds.failedJobPercent must be a number above 0');
    expect(errorOf({ maxProtectionMinutes: -1 })).toBe('SidekiqLambda: maxProtectionMinutes must be an integer from 0 to 2880 (ECS protects a task for at most 48 hours)');
    expect(errorOf({ deploymentName: '' })).toBe('SidekiqLambda: deploymentName must be 1 to 255 characters');
    expect(errorOf({ maxInFlight: 1, targetUtilizationPercent: 100, targetCpuPercent: 50, maxProtectionMinutes: 0 })).toBeUndefined();
  });

  it('refuses queues that name a queue no job uses, or leave out one a job uses', () => {
    expect(errorOf({ queues: 'track diagnostics unsolved_puzzles default' })).toBe(
      'SidekiqLambda: queues names "default", but no declared job uses it: the poller would take its jobs and fail them as unrouted. Remove it from queues, or declare its job classes',
    );
    expect(errorOf({ queues: 'track,2 diagnostics,1' })).toBe(
      'SidekiqLambda: job SudokuSolver uses queue "unsolved_puzzles", which queues leaves out: its jobs would never be drained. Add "unsolved_puzzles" to queues',
    );
    expect(errorOf({ queues: 'track,2 diagnostics,1 unsolved_puzzles,1' })).toBeUndefined();
  });

  it('refuses two job classes, or two queues, whose construct IDs would collide', () => {
    const jobs = [
      { class: 'Admin::ReportJob', queue: 'reports', entry: 'r.ts' },
      { class: 'AdminReportJob', queue: 'reports', entry: 'r.ts' },
    ];
    expect(errorOf({ jobs })).toBe(
      'SidekiqLambda: job classes Admin::ReportJob and AdminReportJob would share the construct ID AdminReportJob (IDs keep only letters and digits); ' +
        'route one of them to a function of your own with sidekiq.route(job, fn) instead of declaring it in jobs',
    );
    expect(errorOf({ jobs: [{ class: 'A', queue: 'bulk-mail', entry: 'a.ts' }, { class: 'B', queue: 'bulk_mail', entry: 'b.ts' }] })).toBe(
      'SidekiqLambda: queues bulk-mail and bulk_mail would share the construct ID bulkmail (IDs keep only letters and digits); rename one of the queues',
    );
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
