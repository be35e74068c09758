/**
 * The scheduler Lambda: invoked every minute, it promotes due scheduled and retry jobs every
 * second until shortly before its time is up, one invocation at a time (`lib/sidekiq/scheduled.ts`).
 *
 * Environment: REDIS_URL, or REDIS_HOST / REDIS_PORT / REDIS_TLS / REDIS_DB / REDIS_USERNAME with
 * REDIS_AUTH_SECRET_ARN (the token is read from the secret and read again after a rotation; what the
 * CDK construct sets) or REDIS_AUTH_TOKEN;
 * SIDEKIQ_NAMESPACE; SIDEKIQ_VERSION (6 | 7 | 8, the `enqueued_at` format);
 * SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS (default 1000); periodic jobs: SIDEKIQ_LAMBDA_CRON (the declared
 * entries), SIDEKIQ_CRON_VERSION, SIDEKIQ_CRON_NAMESPACES, SIDEKIQ_CRON_GRACE_SECONDS.
 */
import type { Context } from 'aws-lambda';
import { schedulerConfigFromEnv } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { connect } from '../lib/redis/connection.js';
import { keys as makeKeys } from '../lib/protocol/keys.js';
import { runScheduler, type SchedulerSummary } from '../lib/sidekiq/scheduled.js';
import { CronPoller } from '../lib/sidekiq/cron-poller.js';

/** Stop this long before the Lambda's timeout, leaving time to release the lock and return. */
const MARGIN_MS = 3000;

const config = schedulerConfigFromEnv();
const keys = makeKeys(config.namespace);
// A long-lived profile: reconnects (with backoff) if Redis blips during the minute.
const redis = connect(config.redisUrl, { profile: 'process', name: 'sidekiq-lambda-scheduler' });
const log = createLogger({ level: config.logLevel });

export async function handler(_event: unknown, context: Context): Promise<SchedulerSummary> {
  const summary = await runScheduler({
    redis,
    keys,
    version: config.sidekiqVersion,
    intervalMs: config.intervalMs,
    deadline: Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS,
    log,
    // One per invocation: the declared entries are written to Redis once a minute.
    cron: new CronPoller({ redis, keys, ...config.cron, sidekiqVersion: config.sidekiqVersion, log }),
  });
  log.info('scheduler: done', { ...summary });
  return summary;
}
