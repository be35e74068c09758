/**
 * No job is ever lost: kill -9, two pollers with one killed, SIGTERM, a Redis restart, and a
 * throttling storm — each with real Redis, the local Lambda endpoint and real poller processes.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis, startRedisServer } from '../support/redis.js';
import { startStack, eventually, executions, HANDLERS, type Stack } from '../support/stack.js';
import { buildCli, spawnPoller, type PollerProcess } from '../support/poller-process.js';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { Client } from '../../lib/client.js';
import { Redis } from 'ioredis';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(() => buildCli());

const slowRoute = (concurrency: number): Route => ({ class: 'SlowJob', queue: 'q', function: 'fn-SlowJob', timeoutSeconds: 30, concurrency, batchSize: 1 });

async function lambdaWithSlow(redisUrl: string, concurrency = 50): Promise<LocalLambda> {
  const l = await startLocalLambda({
    port: 0,
    functions: [{ name: 'fn-SlowJob', entry: HANDLERS, handlerExport: 'slow', timeoutSeconds: 30, memoryMb: 256, concurrency, environment: { REDIS_URL: redisUrl } }],
  });
  cleanups.push(() => l.close());
  return l;
}

function track(p: PollerProcess): PollerProcess {
  cleanups.push(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  return p;
}

async function settledEverywhere(redis: Redis): Promise<boolean> {
  const inflight = await redis.keys('sidekiq-lambda:inflight*');
  const held = await Promise.all(inflight.map((k) => redis.llen(k)));
  return (await redis.llen('queue:q')) === 0 && held.every((n) => n === 0);
}

describe('resilience', () => {
  it('kill -9 with jobs in flight, then a restart: every job completes, only in-flight ones may run twice', async () => {
    // Prepare: 30 jobs, a poller that holds at most 10
    const lambda = await lambdaWithSlow(t.url);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: Array.from({ length: 30 }, () => [1]) }) as string[];
    const first = track(spawnPoller(t.url, lambda.url, [slowRoute(50)], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '10', SIDEKIQ_LAMBDA_MAX_WAITING: '0' }));
    await first.ready;
    const inflightKey = await eventually(async () => (await t.redis.keys('sidekiq-lambda:inflight*'))[0], 10_000, 'an in-flight list');
    await eventually(async () => (await t.redis.llen(inflightKey)) === 10, 10_000, '10 jobs in flight');
    const inFlightAtKill = new Set((await t.redis.lrange(inflightKey, 0, -1)).map((raw) => JSON.parse(raw).jid as string));
    // Act
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startStack(t.url, [], {}, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(50)] });
    cleanups.push(() => second.close());
    // Assess
    await eventually(async () => (await executions(t.redis)).size === 30 && (await settledEverywhere(t.redis)), 40_000, 'all 30 jobs');
    const runs = await executions(t.redis);
    for (const jid of jids) {
      expect(runs.get(jid), `job ${jid}`).toBeGreaterThanOrEqual(1);
      if (!inFlightAtKill.has(jid)) expect(runs.get(jid), `job ${jid} was not in flight`).toBe(1);
    }
    expect(await t.redis.zcard('retry')).toBe(0);
    expect(await t.redis.zcard('dead')).toBe(0);
  });

  it('two pollers share the work; killing one loses nothing', async () => {
    const lambda = await lambdaWithSlow(t.url);
    const a = track(spawnPoller(t.url, lambda.url, [slowRoute(50)], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '5' }));
    const b = await startStack(t.url, [], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '5' }, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(50)] });
    cleanups.push(() => b.close());
    await a.ready;
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: Array.from({ length: 40 }, () => [0.3]) }) as string[];
    await eventually(async () => (await t.redis.keys('sidekiq-lambda:inflight*')).length >= 2, 10_000, 'both pollers fetching');
    a.child.kill('SIGKILL');
    await a.exited;
    await eventually(async () => (await executions(t.redis)).size === 40 && (await settledEverywhere(t.redis)), 40_000, 'all 40 jobs');
    const runs = await executions(t.redis);
    expect(jids.every((j) => (runs.get(j) ?? 0) >= 1)).toBe(true);
  });

  it('SIGTERM: stops fetching, finishes running jobs, puts waiting ones back, exits 0', async () => {
    // Prepare: 5 jobs running and 5 fetched ahead, waiting for a slot
    const lambda = await lambdaWithSlow(t.url);
    const p = track(spawnPoller(t.url, lambda.url, [slowRoute(50)], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '5', SIDEKIQ_LAMBDA_MAX_WAITING: '5', SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '20' }));
    await p.ready;
    await new Client({ redis: t.redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: Array.from({ length: 20 }, () => [1.5]) });
    const inflightKey = await eventually(async () => (await t.redis.keys('sidekiq-lambda:inflight*'))[0]);
    await eventually(async () => (await t.redis.llen(inflightKey)) === 10);
    await eventually(() => lambda.stats()['fn-SlowJob']?.active === 5, 10_000, 'five invocations running');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await t.redis.llen(inflightKey)).toBe(0);
    expect((await executions(t.redis)).size).toBe(5);
    expect(await t.redis.llen('queue:q')).toBe(15);
    expect(await t.redis.sismember('processes', p.output().match(/"identity":"([^"]+)"/)![1]!)).toBe(0);
  });

  it('SIGTERM past the deadline: exits 0 and leaves unfinished jobs in flight, recovered later', async () => {
    const lambda = await lambdaWithSlow(t.url);
    const p = track(spawnPoller(t.url, lambda.url, [slowRoute(50)], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '3', SIDEKIQ_LAMBDA_MAX_WAITING: '0', SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '1' }));
    await p.ready;
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: [[4], [4], [4]] }) as string[];
    const inflightKey = await eventually(async () => (await t.redis.keys('sidekiq-lambda:inflight*'))[0]);
    await eventually(async () => (await t.redis.llen(inflightKey)) === 3);
    // In flight is not yet running: each invocation starts once its class lease is granted.
    await eventually(() => lambda.stats()['fn-SlowJob']?.active === 3, 10_000, 'three invocations running');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await t.redis.llen(inflightKey)).toBe(3);
    const next = await startStack(t.url, [], {}, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(50)] });
    cleanups.push(() => next.close());
    await eventually(async () => (await settledEverywhere(t.redis)) && (await executions(t.redis)).size === 3, 30_000);
    const runs = await executions(t.redis);
    expect(jids.every((j) => (runs.get(j) ?? 0) >= 1)).toBe(true);
  });

  it('a Redis restart mid-run loses nothing', async () => {
    // Prepare: a Redis that persists every write, so a restart keeps the data
    const server = await startRedisServer(undefined, ['--appendonly', 'yes', '--appendfsync', 'always']);
    cleanups.push(() => server.stop());
    const redis = new Redis(server.url);
    redis.on('error', () => undefined);
    cleanups.push(() => redis.disconnect());
    const lambda = await lambdaWithSlow(server.url);
    const stack: Stack = await startStack(server.url, [], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '20' }, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(50)] });
    cleanups.push(() => stack.close());
    const jids = await new Client({ redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: Array.from({ length: 300 }, () => [0.05]) }) as string[];
    await eventually(async () => (await redis.llen('queue:q')) < 250, 20_000, 'the poller to get going');
    // Act
    await server.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await server.start();
    // Assess: every job ran or waits in the retry set (a handler that could not reach Redis failed)
    await eventually(
      async () => {
        if (!(await settledEverywhere(redis))) return false;
        const runs = await executions(redis);
        const retried = new Set((await redis.zrange('retry', 0, -1)).map((s) => JSON.parse(s).jid as string));
        return jids.every((j) => runs.has(j) || retried.has(j));
      },
      40_000,
      'every job accounted for',
    );
    expect(await redis.zcard('dead')).toBe(0);
  });

  it('a throttling storm requeues without touching retry_count, and the poller backs off', async () => {
    // Prepare: Lambda allows 2 at once, the poller is told 16
    const lambda = await lambdaWithSlow(t.url, 2);
    const stack = await startStack(t.url, [], {}, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(16)] });
    cleanups.push(() => stack.close());
    // Act
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: Array.from({ length: 40 }, () => [0.1]) }) as string[];
    // Assess
    await eventually(async () => (await executions(t.redis)).size === 40 && (await settledEverywhere(t.redis)), 40_000, 'all 40 jobs');
    const runs = await executions(t.redis);
    expect(jids.every((j) => runs.get(j) === 1)).toBe(true);
    expect(await t.redis.zcard('retry')).toBe(0);
    const snap = stack.running.poller.snapshot() as { classes: Record<string, { throttled: number; limit: number }> };
    expect(snap.classes.SlowJob!.throttled).toBeGreaterThan(0);
    expect(stack.logs.filter((l) => l.msg === 'throttled: requeued').length).toBe(snap.classes.SlowJob!.throttled);
  });

  it('keeps retrying an outcome Redis refuses to write (READONLY after a failover), then writes it once', async () => {
    // Prepare: a Redis of this test's own (it is turned into a replica), one job running for 1 s
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const redis = new Redis(server.url);
    redis.on('error', () => undefined);
    cleanups.push(() => redis.disconnect());
    const lambda = await lambdaWithSlow(server.url);
    const stack = await startStack(server.url, [], {}, { lambdaUrl: lambda.url, extraRoutes: [slowRoute(5)] });
    cleanups.push(() => stack.close());
    const [jid] = await new Client({ redis }).pushBulk({ class: 'SlowJob', queue: 'q', args: [[1]] }) as string[];
    const inflightKey = await eventually(async () => (await redis.keys('sidekiq-lambda:inflight*'))[0]);
    await eventually(async () => (await redis.llen(inflightKey)) === 1);
    // In flight is not yet running: its invocation starts once its class lease is granted (a write).
    await eventually(() => stack.running.poller.running() === 1, 10_000, 'the job running');
    // Act: Redis refuses every write while the job finishes (a replica of a master that is gone)…
    await redis.replicaof('127.0.0.1', '1');
    await eventually(() => stack.logs.some((l) => String(l.msg).startsWith("could not write a job's outcome")), 10_000, 'a refused write');
    expect(await redis.llen(inflightKey)).toBe(1);
    // …then accepts them again
    await redis.replicaof('NO', 'ONE');
    // Assess: the outcome lands once; nothing is left in flight or lost. The handler's own write
    // was refused too, so the job failed, and that failure is what is recorded.
    await eventually(async () => (await redis.llen(inflightKey)) === 0, 10_000, 'the outcome to land');
    const retries = (await redis.zrange('retry', 0, -1)).map((r) => JSON.parse(r));
    expect(retries.map((r) => r.jid)).toEqual([jid]);
    expect(await redis.llen('queue:q')).toBe(0);
  });

  it('SIGTERM while Redis is down still exits within the deadline', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const lambda = await lambdaWithSlow(server.url);
    const p = track(spawnPoller(server.url, lambda.url, [slowRoute(5)], { SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '2' }));
    await p.ready;
    await server.stop();
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000); // the 2 s deadline, then bounded heartbeat and QUIT waits
  });
});
