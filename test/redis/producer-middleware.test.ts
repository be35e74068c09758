/**
 * Producer middleware on the Redis `Client`: what a middleware changes is what Redis holds, a
 * stopped push writes nothing (no queue entry, no `queues` member, no `schedule` entry), and a bulk
 * push writes exactly the jobs the chain let through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../lib/client.js';
import { producerMiddleware, useProducer } from '../../lib/producer/middleware.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { ROUTED_FROM } from '../../lib/protocol/routing.js';
import { changeRoute, publishDeclarations } from '../../lib/routing/table.js';
import { useRedis } from '../support/redis.js';

const t = useRedis();
const NOW = 1_795_334_852_000;

const clients: Client[] = [];
function makeClient(routing = false): Client {
  const c = new Client({ redis: t.url, now: () => NOW, routing });
  clients.push(c);
  return c;
}
afterEach(async () => {
  producerMiddleware.clear();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('producer middleware on Redis', () => {
  it('writes the job as the middleware left it: custom key, queue, time', async () => {
    // Prepare
    useProducer((job, next) => {
      job.tenant_id = 'acme';
      if (job.class === 'Moved') job.queue = 'moved';
      if (job.class === 'Later') job.at = NOW / 1000 + 3600;
      return next();
    });
    const client = makeClient();
    // Act
    const a = await client.performAsync('Moved', 1);
    const b = await client.performIn(60, 'Later', 2);
    // Assess
    expect(await t.redis.smembers('queues')).toEqual(['moved']);
    const [moved] = await t.redis.lrange('queue:moved', 0, -1);
    expect(JSON.parse(moved!)).toMatchObject({ class: 'Moved', queue: 'moved', tenant_id: 'acme', jid: a, args: [1] });
    const [later, score] = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
    expect(JSON.parse(later!)).toMatchObject({ class: 'Later', tenant_id: 'acme', jid: b });
    expect(Number(score)).toBe(NOW / 1000 + 3600);
  });

  it('a stopped push writes nothing and resolves null', async () => {
    // Prepare
    useProducer(() => false);
    const client = makeClient();
    // Act
    const jids = [await client.performAsync('A'), await client.performIn(60, 'A'), ...(await client.pushBulk({ class: 'A', args: [[1], [2]] }))];
    // Assess
    expect(jids).toEqual([null, null, null, null]);
    expect(await t.redis.keys('*')).toEqual([]);
  });

  it('pushBulk writes exactly the jobs the chain let through, in order', async () => {
    // Prepare
    useProducer((job, next) => ((job.args[0] as number) > 2 ? next() : undefined));
    const client = makeClient();
    // Act
    const jids = await client.pushBulk({ class: 'A', queue: 'bulk', args: [[1], [2], [3], [4]], batchSize: 3 });
    // Assess
    expect(jids.slice(0, 2)).toEqual([null, null]);
    const held = (await t.redis.lrange('queue:bulk', 0, -1)).reverse().map((p) => JSON.parse(p) as { jid: string; args: number[] });
    expect(held.map((p) => [p.jid, p.args[0]])).toEqual([
      [jids[2], 3],
      [jids[3], 4],
    ]);
  });

  it('routing places the job after the chain: a routed class still goes to its Lambda queue, with what the middleware added', async () => {
    // Prepare: TrackUserJob routed 100% to Lambda
    const K = makeKeys();
    await publishDeclarations(t.redis, K, [{ class: 'TrackUserJob', queue: 'default', function: 'fn', timeoutSeconds: 30, concurrency: 10, batchSize: 1, shared: true }], 'poller-1', Date.now());
    await changeRoute(t.redis, K, 'TrackUserJob', { percent: 100, paused: false, by: 'test', at: NOW }, 'test', NOW);
    const queues: string[] = [];
    useProducer((job, next) => (queues.push(job.queue), (job.tenant_id = 'acme'), next()));
    const client = makeClient(true);
    // Act
    await client.performAsync('TrackUserJob', 1);
    await client.pushBulk({ class: 'TrackUserJob', args: [[2], [3]] });
    // Assess
    expect(queues).toEqual(['default', 'default', 'default']);
    const routed = (await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).map((p) => JSON.parse(p) as Record<string, unknown>);
    expect(routed.map((j) => [j.queue, j[ROUTED_FROM], j.tenant_id])).toEqual(Array(3).fill(['lambda.TrackUserJob', 'default', 'acme']));
    expect(await t.redis.llen('queue:default')).toBe(0);
  });
});
