/**
 * Poison payloads — valid JSON whose fields break a careless reader (an object with a `toString`
 * key where a string or number belongs) — never stop a poller, nor every poller that fetches them
 * after: they settle like any other job, and the rest keep running. Real Redis, the local Lambda
 * endpoint, and pollers as ECS runs them.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, executions, HANDLERS } from '../support/stack.js';
import { buildCli, spawnPoller, type PollerProcess } from '../support/poller-process.js';
import { startLocalLambda } from '../../lib/local/endpoint.js';
import { Client } from '../../lib/client.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(() => buildCli());
const route = (cls: string, queue: string): Route => ({ class: cls, queue, function: `fn-${cls}`, timeoutSeconds: 30, concurrency: 5, batchSize: 1 });

async function endpoint(classes: string[]): Promise<string> {
  const l = await startLocalLambda({ port: 0, functions: classes.map((c) => ({ name: `fn-${c}`, entry: HANDLERS, handlerExport: 'ok', timeoutSeconds: 30, memoryMb: 256, concurrency: 10, environment: { REDIS_URL: t.url, LOG_LEVEL: 'warn' } })) });
  cleanups.push(() => l.close());
  return l.url;
}

describe('poison payloads', () => {
  it('a unique-lock field that throws when read holds no slot: the next job runs', async () => {
    // Prepare: room for three jobs at once; a job whose lock_ttl is an object
    const lambdaUrl = await endpoint(['PJob', 'GoodJob']);
    const stack = await startStack(t.url, [], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '3' }, { lambdaUrl, extraRoutes: [route('PJob', 'qp'), route('GoodJob', 'qg')] });
    cleanups.push(() => stack.close());
    await t.redis.lpush('queue:qp', '{"class":"PJob","args":[],"jid":"aaaaaaaaaaaaaaaaaaaaaaaa","queue":"qp","lock":"until_executed","lock_digest":"uniquejobs:p","lock_ttl":{"toString":1}}');
    // Act
    const good = (await new Client({ redis: t.redis, routing: false }).push({ class: 'GoodJob', queue: 'qg', args: [] }))!;
    // Assess: the good job runs; the poison one ran too (its lock read as no TTL) and nothing is held
    await eventually(async () => (await executions(t.redis)).has(good), 15_000, 'the good job');
    await eventually(async () => (await executions(t.redis)).has('aaaaaaaaaaaaaaaaaaaaaaaa'), 15_000, 'the poison job');
    await eventually(() => stack.running.poller.busy() === 0 && stack.running.poller.running() === 0, 5000, 'nothing held');
  });

  it('a Pro batch id that throws when printed: the job goes to the dead set, the poller keeps running', async () => {
    // Prepare
    const lambdaUrl = await endpoint(['PJob', 'GoodJob']);
    const p: PollerProcess = spawnPoller(t.url, lambdaUrl, [route('PJob', 'qp'), route('GoodJob', 'qg')]);
    cleanups.push(async () => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    });
    await p.ready;
    // Act
    await t.redis.lpush('queue:qp', '{"class":"PJob","args":[],"jid":"bbbbbbbbbbbbbbbbbbbbbbbb","queue":"qp","bid":{"toString":1}}');
    // Assess: the job is dead (Lambda cannot honour a batch), with the reason; a later job still runs
    const [dead] = await eventually(async () => {
      const d = await t.redis.zrange('dead', 0, -1);
      return d.length > 0 ? d : undefined;
    }, 15_000, 'the batch job in the dead set');
    expect(JSON.parse(dead!)).toMatchObject({ jid: 'bbbbbbbbbbbbbbbbbbbbbbbb', error_class: 'SidekiqLambda::UnsupportedFeature' });
    const good = (await new Client({ redis: t.redis, routing: false }).push({ class: 'GoodJob', queue: 'qg', args: [] }))!;
    await eventually(async () => (await executions(t.redis)).has(good), 15_000, 'a later job');
    expect(p.child.exitCode).toBeNull();
  });
});
