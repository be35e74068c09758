/**
 * A handler's enqueues travel in its answer and the poller writes them with the job's
 * acknowledgement: they land if and only if the job succeeds, once — never for a failed attempt —
 * and the function needs no Redis. Real Redis, the local Lambda endpoint, the poller as ECS runs it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, type Stack } from '../support/stack.js';
import { Client } from '../../lib/client.js';
import { promoteDue } from '../../lib/sidekiq/scheduled.js';
import { keys } from '../../lib/protocol/keys.js';
import { changeRoute, publishDeclarations } from '../../lib/routing/table.js';

const t = useRedis();
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** A function that cannot reach Redis: everything it enqueues must go through its answer. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1/0', LOG_LEVEL: 'error' };

const replies = async (): Promise<string[]> => (await t.redis.lrange('queue:replies', 0, -1)).map((p) => JSON.parse(p).args[0] as string);
const scheduled = async (): Promise<string[]> => (await t.redis.zrange('schedule', 0, -1)).map((p) => JSON.parse(p).args[0] as string);

describe('enqueueing back through the answer', () => {
  it('writes nothing for a failed attempt, and exactly once when its retry succeeds', async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'EnqJob', queue: 'q', handler: 'enqueueThenFail', environment: NO_REDIS }]);
    const jid = await new Client({ redis: t.redis }).push({ class: 'EnqJob', queue: 'q', args: [] });
    // Act 1: the first attempt enqueues, then fails
    await eventually(async () => (await t.redis.zcard('retry')) === 1, 15_000, 'the failed attempt in the retry set');
    // Assess 1: nothing it enqueued was written
    expect(await replies()).toEqual([]);
    expect(await scheduled()).toEqual([]);
    // Act 2: the retry comes due and succeeds
    await t.redis.zadd('retry', 'XX', '1', (await t.redis.zrange('retry', 0, 0))[0]!);
    await promoteDue({ redis: t.redis, keys: keys() });
    await eventually(async () => (await t.redis.zcard('retry')) === 0 && (await t.redis.llen('queue:replies')) === 1, 15_000, 'the retry to succeed');
    // Assess 2: its jobs, once each, with the job's success
    await eventually(async () => stack!.running.poller.busy() === 0, 5000, 'the poller to settle');
    expect(await replies()).toEqual([jid]);
    expect(await scheduled()).toEqual([jid]);
    expect(await t.redis.smembers('queues')).toContain('replies');
    const [payload, score] = await t.redis.zrange('schedule', 0, 0, 'WITHSCORES');
    expect(JSON.parse(payload!)).toMatchObject({ class: 'ReplyJob', queue: 'replies', retry: true });
    expect(JSON.parse(payload!)).not.toHaveProperty('at');
    expect(Number(score)).toBeGreaterThan(Date.now() / 1000 + 200);
  });

  it("writes each job's enqueues with its own outcome in a batch", async () => {
    // Prepare: one invocation of three jobs, the middle one failing
    stack = await startStack(t.url, [{ class: 'EnqJob', queue: 'q', handler: 'enqueueThenFail', environment: NO_REDIS, batchSize: 3 }]);
    const client = new Client({ redis: t.redis });
    const [a, b, c] = await client.pushBulk({ class: 'EnqJob', queue: 'q', args: [['ok'], ['fail'], ['ok']] });
    // Act
    await eventually(async () => (await t.redis.zcard('retry')) === 1 && (await t.redis.llen('queue:replies')) === 2, 15_000, 'the batch');
    // Assess
    expect((await replies()).sort()).toEqual([a, c].sort());
    expect((await scheduled()).sort()).toEqual([a, c].sort());
    expect(JSON.parse((await t.redis.zrange('retry', 0, 0))[0]!).jid).toBe(b);
  });

  it('sends what it enqueues for a class routed to Lambda to that class’s Lambda queue, as a push from Redis would', async () => {
    // Prepare: ReplyJob shares `replies` with Ruby and is routed 100% to Lambda (its poller is elsewhere)
    const K = keys();
    await publishDeclarations(t.redis, K, [{ class: 'ReplyJob', queue: 'replies', shared: true, function: 'fn', timeoutSeconds: 10, concurrency: 1, batchSize: 1 }], 'poller-elsewhere', Date.now());
    await changeRoute(t.redis, K, 'ReplyJob', { percent: 100, paused: false, by: 'test', at: Date.now() }, 'test', Date.now());
    stack = await startStack(t.url, [{ class: 'EnqJob', queue: 'q', handler: 'enqueueThenFail', environment: NO_REDIS }]);
    const jid = await new Client({ redis: t.redis, routing: false }).push({ class: 'EnqJob', queue: 'q', args: ['ok'] });
    // Act
    await eventually(async () => (await t.redis.llen('queue:lambda.ReplyJob')) === 1, 15_000, 'the job it enqueued');
    // Assess: now and in 300 s, both on ReplyJob's Lambda side, marked with the queue Ruby would have run them from
    expect(await t.redis.llen('queue:replies')).toBe(0);
    const now = JSON.parse((await t.redis.lrange('queue:lambda.ReplyJob', 0, -1))[0]!) as Record<string, unknown>;
    const later = JSON.parse((await t.redis.zrange('schedule', 0, -1))[0]!) as Record<string, unknown>;
    for (const j of [now, later]) expect(j).toMatchObject({ class: 'ReplyJob', args: [jid], queue: 'lambda.ReplyJob', routed_from: 'replies' });
    expect(await t.redis.smembers('queues')).toContain('lambda.ReplyJob');
  });

  it('fails a job whose enqueues cannot be written (a queue key of another type), writing none of them', async () => {
    // Prepare: `queue:replies` is a string
    await t.redis.set('queue:replies', 'not a list');
    stack = await startStack(t.url, [{ class: 'EnqJob', queue: 'q', handler: 'enqueueThenFail', environment: NO_REDIS }]);
    await new Client({ redis: t.redis }).push({ class: 'EnqJob', queue: 'q', args: ['ok'] });
    // Act
    await eventually(async () => (await t.redis.zcard('retry')) === 1, 15_000, 'the job in the retry set');
    // Assess: the retry says why; nothing was scheduled either
    expect(JSON.parse((await t.redis.zrange('retry', 0, 0))[0]!)).toMatchObject({ error_class: 'SidekiqLambda::EnqueueRefused', error_message: expect.stringContaining('queue:replies holds another type') });
    expect(await t.redis.zcard('schedule')).toBe(0);
    expect(await t.redis.get('queue:replies')).toBe('not a list');
  });

  it("fails a job whose enqueues would not fit in Lambda's 6 MB answer, saying how much and what to do", async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'BigJob', queue: 'q', handler: 'enqueueBig', environment: NO_REDIS }]);
    const client = new Client({ redis: t.redis });
    const fits = await client.push({ class: 'BigJob', queue: 'q', args: [2] });
    const tooBig = await client.push({ class: 'BigJob', queue: 'q', args: [7] });
    // Act
    await eventually(async () => (await t.redis.zcard('retry')) === 1 && (await t.redis.llen('queue:replies')) === 2, 30_000, 'both outcomes');
    // Assess: 2 MiB fit and were written; 7 MiB failed the job with the reason, nothing written
    const retry = JSON.parse((await t.redis.zrange('retry', 0, 0))[0]!) as Record<string, unknown>;
    expect(retry).toMatchObject({ jid: tooBig, error_class: 'SidekiqLambda::ResponseTooLarge' });
    expect(retry.error_message).toMatch(/^the job enqueued 7 job\(s\), \d+ bytes, which do not fit in Lambda's 6291456-byte response .*needsRedis: true/);
    expect(await t.redis.zcard('dead')).toBe(0);
    expect(fits).toMatch(/^[0-9a-f]{24}$/);
  });
});
