import { describe, expect, it } from 'vitest';
import type { Context } from 'aws-lambda';
import { useRedis } from '../support/redis.js';

const t = useRedis();

describe('functions/scheduler', () => {
  it('promotes until shortly before its time is up, then returns what it moved and frees the lock', async () => {
    // Prepare: the entry point reads its environment at module scope.
    process.env.REDIS_URL = t.url;
    process.env.SIDEKIQ_NAMESPACE = 'app';
    process.env.SIDEKIQ_VERSION = '8';
    process.env.SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS = '100';
    process.env.SIDEKIQ_LAMBDA_CRON = '[{"name":"cleanup","class":"CleanupJob","cron":"0 3 * * *"}]';
    process.env.SIDEKIQ_CRON_VERSION = '2';
    const { handler } = await import('../../functions/scheduler.js');
    const due = Date.now() + 500;
    await t.redis.zadd('app:schedule', String(due / 1000), '{"queue":"q","class":"A","args":[],"jid":"0123456789abcdef01234567"}');
    const end = Date.now() + 4000;
    const context = { getRemainingTimeInMillis: () => end - Date.now() } as unknown as Context;
    // Act
    const started = Date.now();
    const summary = await handler({}, context);
    // Assess
    expect(Date.now() - started).toBeGreaterThan(800); // ran until 3 s before the end, not once
    expect(Date.now()).toBeLessThan(end - 2500);
    expect(summary).toMatchObject({ promoted: 1, byQueue: { q: 1 }, ranAsLeader: true });
    const [job] = await t.redis.lrange('app:queue:q', 0, -1);
    expect(job).toMatch(/,"enqueued_at":\d{13}}$/); // Sidekiq 8: integer ms
    expect(await t.redis.exists('app:sidekiq-lambda:scheduler-lock')).toBe(0);
    // The declared periodic jobs are written where sidekiq-cron 2.x keeps them, under the namespace.
    expect(await t.redis.smembers('app:cron_jobs:default')).toEqual(['cron_job:default:cleanup']);
    expect(await t.redis.hmget('app:cron_job:default:cleanup', 'klass', 'cron', 'declared_by')).toEqual(['CleanupJob', '0 3 * * * UTC', 'sidekiq-lambda']);
  });
});
