/**
 * /healthz tells ECS the truth: healthy while Redis restarts within a failover's time (replacing
 * every poller then only slows recovery), unhealthy when the fetch loop is stuck on a connection
 * that stopped answering without closing — and healthy again once it answers.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startStack, eventually } from '../support/stack.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP proxy to Redis that can stop passing bytes either way while keeping every connection open. */
async function freezingProxy(target: RedisServer): Promise<{ url: string; freeze(): void; thaw(): void }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = netConnect(target.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
      if (frozen) s.pause();
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}/0`,
    freeze: () => {
      frozen = true;
      for (const s of sockets) s.pause();
    },
    thaw: () => {
      frozen = false;
      for (const s of sockets) s.resume();
    },
  };
}

async function health(port: number): Promise<{ status: number; body: { status: string; problem?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; problem?: string } };
}

describe('/healthz', () => {
  it('stays healthy while Redis restarts within the bound', async () => {
    // Prepare
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const stack = await startStack(server.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, { health: { stuckAfterMs: 1000, redisAwayLimitMs: 60_000 } });
    cleanups.push(() => stack.close());
    const port = stack.running.health.port;
    expect((await health(port)).status).toBe(200);
    // Act: Redis goes away for 3 s
    await server.stop();
    const during: number[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      during.push((await health(port)).status);
    }
    await server.start();
    // Assess: healthy throughout, and fetching again afterwards
    expect(during).toEqual([200, 200, 200, 200, 200, 200]);
    await eventually(async () => (await health(port)).status === 200, 10_000, 'healthy after the restart');
  });

  it('says the fetch loop is stuck when Redis stops answering on an open connection, and recovers', async () => {
    // Prepare: the poller reaches Redis through a proxy; idle, it watches its queue (2 s watches)
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const proxy = await freezingProxy(server);
    const stack = await startStack(proxy.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, { health: { stuckAfterMs: 1000 } });
    cleanups.push(async () => {
      proxy.thaw();
      await stack.close();
    });
    const port = stack.running.health.port;
    // Act: the network stops passing bytes; the connections stay open
    proxy.freeze();
    // Assess: unhealthy, naming the stuck loop, once a watch outlived its timeout by a second
    const stuck = await eventually(async () => {
      const h = await health(port);
      return h.status === 503 ? h : undefined;
    }, 15_000, 'an unhealthy /healthz');
    expect(stuck.body).toEqual({ status: 'unhealthy', problem: expect.stringMatching(/^the fetch loop is stuck: Redis has not answered a fetch for \d+ s$/) });
    proxy.thaw();
    await eventually(async () => (await health(port)).status === 200, 15_000, 'healthy again');
  });
});
