/**
 * The scheduler Lambda: invoked every minute, it promotes due scheduled and retry jobs every
 * second until shortly before its time is up, one invocation at a time (`lib/sidekiq/scheduled.ts`).
 *
 * Environment: REDIS_URL, or REDIS_HOST / REDIS_PORT / REDIS_TLS / REDIS_AUTH_TOKEN;
 * SIDEKIQ_NAMESPACE; SIDEKIQ_VERSION (6 | 7 | 8, the `enqueued_at` format);
 * SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS (default 1000).
 */
import type { Context } from 'aws-lambda';
import { redisUrlOf } from '../lib/config.js';
import { parseVersion } from '../lib/client.js';
import { connect } from '../lib/redis/connection.js';
import { keys as makeKeys } from '../lib/protocol/keys.js';
import { runScheduler, type SchedulerSummary } from '../lib/sidekiq/scheduled.js';

/** Stop this long before the Lambda's timeout, leaving time to release the lock and return. */
const MARGIN_MS = 3000;

function intervalOf(text: string | undefined): number {
  if (text === undefined || text === '') return 1000;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 10) throw new Error(`SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS must be an integer ≥ 10, got "${text}"`);
  return n;
}

const env = process.env;
const intervalMs = intervalOf(env.SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS);
const version = parseVersion(env.SIDEKIQ_VERSION);
const keys = makeKeys(env.SIDEKIQ_NAMESPACE || undefined);
// A long-lived profile: reconnects (with backoff) if Redis blips during the minute.
const redis = connect(redisUrlOf(env), { profile: 'process', name: 'sidekiq-lambda-scheduler' });
const log = (obj: object): void => console.log(JSON.stringify(obj));

export async function handler(_event: unknown, context: Context): Promise<SchedulerSummary> {
  const summary = await runScheduler({
    redis,
    keys,
    version,
    intervalMs,
    deadline: Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS,
    log,
  });
  log({ level: 'info', msg: 'scheduler: done', ...summary });
  return summary;
}
