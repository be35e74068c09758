/**
 * Reconnects: a watching connection that drops loses nothing; a fetch reply lost with the main
 * connection leaves a job the poller must still run; and after the poller's own reconnect it gives
 * other pollers one TTL to beat again before recovering their jobs. Each test has a Redis of its own, since it kills clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer } from '../support/redis.js';
import { startStack, eventually, executions, renderJob } from '../support/stack.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ownRedis(): Promise<{ url: string; redis: Redis }> {
  const server = await startRedisServer();
  cleanups.push(() => server.stop());
  const redis = new Redis(server.url);
  redis.on('error', () => undefined);
  cleanups.push(() => redis.disconnect());
  return { url: server.url, redis };
}

/** Kills every client connection with this name; returns how many. */
async function killClients(redis: Redis, name: string): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /\bid=(\d+)/.exec(line)![1]!);
  for (const id of ids) await redis.client('KILL', 'ID', id);
  return ids.length;
}

/** Waits until a client with this name is connected. */
async function connected(redis: Redis, name: string): Promise<void> {
  await eventually(async () => ((await redis.client('LIST')) as string).includes(` name=${name} `), 5000, `a connection named ${name}`);
}

const k = makeKeys();

describe('reconnect', () => {
  it('loses nothing when a watching connection drops, and still wakes for the next job', async () => {
    // Prepare: an idle poller, watching its queue (a watch takes nothing from the queue)
    const { url, redis } = await ownRedis();
    const stack = await startStack(url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    cleanups.push(() => stack.close());
    await connected(redis, 'sidekiq-lambda-poller-fetch');
    // Act: the watching connection drops; a job arrives while it reconnects, and another after
    expect(await killClients(redis, 'sidekiq-lambda-poller-fetch')).toBeGreaterThan(0);
    const first = await renderJob(redis, 'OkJob', 'q');
    await redis.lpush('queue:q', first);
    await connected(redis, 'sidekiq-lambda-poller-fetch');
    const second = await renderJob(redis, 'OkJob', 'q');
    await redis.lpush('queue:q', second);
    // Assess: both run, once each, and nothing is left in flight
    const jids = [first, second].map((r) => JSON.parse(r).jid as string);
    await eventually(async () => (await executions(redis)).size === 2, 15_000, 'both jobs to run');
    const runs = await executions(redis);
    expect(jids.map((j) => runs.get(j))).toEqual([1, 1]);
    await eventually(async () => (await redis.llen(k.inflight(stack.running.poller.identity, 'q'))) === 0, 5000, 'their acknowledgements');
  });

  it('tries a reconcile Redis refused again, until the lost job runs', async () => {
    // Prepare: an idle poller, and a job in its in-flight list it never saw
    const { url, redis } = await ownRedis();
    const stack = await startStack(url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    cleanups.push(() => stack.close());
    const identity = stack.running.poller.identity;
    const lost = await renderJob(redis, 'OkJob', 'q');
    await redis.lpush(k.inflight(identity, 'q'), lost);
    // Act: Redis refuses writes (a replica) for 2.5 s, while the poller reconnects and reconciles…
    await redis.replicaof('127.0.0.1', '1');
    expect(await killClients(redis, 'sidekiq-lambda-poller')).toBe(1);
    await new Promise((r) => setTimeout(r, 2500));
    expect(stack.logs.some((l) => /failed; retrying/.test(String(l.msg)) && String(l.error).includes('READONLY'))).toBe(true);
    expect(await redis.lrange(k.inflight(identity, 'q'), 0, -1)).toEqual([lost]);
    // …then accepts them again
    await redis.replicaof('NO', 'ONE');
    // Assess: the reconcile is tried again and the job runs
    await eventually(async () => (await executions(redis)).get(JSON.parse(lost).jid) === 1, 15_000, 'the lost job to run');
  });

  it('does not hold off recovery because a blocking connection keeps dropping', async () => {
    // Prepare: an idle poller (TTL 3 s, recovery every 1 s) whose blocking connection dropped, and
    // a dead poller's job in flight
    const { url, redis } = await ownRedis();
    const stack = await startStack(url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    cleanups.push(() => stack.close());
    await connected(redis, 'sidekiq-lambda-poller-fetch');
    await killClients(redis, 'sidekiq-lambda-poller-fetch');
    await new Promise((r) => setTimeout(r, 300));
    const other = 'other:1:eeeeeeeeeeee';
    const held = await renderJob(redis, 'OkJob', 'q');
    await redis.hset(k.pollers, other, JSON.stringify(['q']));
    await redis.lpush(k.inflight(other, 'q'), held);
    // Act: the blocking connection keeps dropping, every 500 ms for 6 s
    let recovered = false;
    for (let i = 0; i < 12 && !recovered; i++) {
      await killClients(redis, 'sidekiq-lambda-poller-fetch');
      await new Promise((r) => setTimeout(r, 500));
      recovered = (await redis.llen(k.inflight(other, 'q'))) === 0;
    }
    // Assess: recovered meanwhile (a hold would last a TTL from each drop), and run
    expect(recovered).toBe(true);
    await eventually(async () => (await executions(redis)).get(JSON.parse(held).jid) === 1, 15_000, 'the recovered job to run');
  });

  it("after its own reconnect, waits one TTL before recovering other pollers' jobs", async () => {
    // Prepare: a poller (TTL 3 s, recovery every 1 s) whose connection drops and comes back
    const { url, redis } = await ownRedis();
    const stack = await startStack(url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    cleanups.push(() => stack.close());
    expect(await killClients(redis, 'sidekiq-lambda-poller')).toBe(1);
    await connected(redis, 'sidekiq-lambda-poller');
    // Act: another poller's process key is absent — in an outage it may only not have beaten yet
    const other = 'other:1:eeeeeeeeeeee';
    const held = await renderJob(redis, 'OkJob', 'q');
    await redis.hset(k.pollers, other, JSON.stringify(['q']));
    await redis.lpush(k.inflight(other, 'q'), held);
    // Assess: left alone for a TTL (two recovery passes would have moved it)…
    await new Promise((r) => setTimeout(r, 2000));
    expect(await redis.lrange(k.inflight(other, 'q'), 0, -1)).toEqual([held]);
    // …then, still silent, it is taken for dead and its job recovered and run
    await eventually(async () => (await executions(redis)).get(JSON.parse(held).jid) === 1, 15_000, 'the recovered job to run');
    expect(await redis.hexists(k.pollers, other)).toBe(0);
  });
});
