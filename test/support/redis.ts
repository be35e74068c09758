/**
 * Real Redis for tests (STYLE.md §9): `REDIS_URL` when set — each test file then takes its own db
 * index from the vitest worker id — otherwise a throwaway `redis-server` on a free port per file.
 * Call `useRedis()` at the top of a test file; it flushes the database before each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { tied } from './tied.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Stops the server (e.g. to test a Redis restart); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch (e) {
      r.disconnect();
      // A server started with --requirepass answers, and refuses: it is up.
      if (/NOAUTH/.test((e as Error).message)) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

/** Starts a throwaway `redis-server` (no persistence) on a free port. */
export async function startRedisServer(port?: number, extraArgs: string[] = []): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'skl-redis-'));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(...tied('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs]), {
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    await waitForPing(p);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  process.once('exit', () => child?.kill('SIGKILL'));
  return {
    url: `redis://127.0.0.1:${p}/0`,
    port: p,
    stop,
    start,
  };
}

export interface TestRedis {
  /** The URL of this file's database. */
  url: string;
  /** A connection for the test to inspect state. */
  redis: Redis;
  /** The throwaway server, when one was started (undefined under REDIS_URL). */
  server?: RedisServer;
}

/**
 * Gives the test file a real Redis database, flushed before each test.
 *
 * @example
 * const t = useRedis();
 * it('pushes', async () => { await t.redis.llen('queue:default'); });
 */
export function useRedis(): TestRedis {
  const ctx = {} as TestRedis;
  beforeAll(async () => {
    if (process.env.REDIS_URL) {
      const u = new URL(process.env.REDIS_URL);
      const db = 1 + (Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) % 15);
      u.pathname = `/${db}`;
      ctx.url = u.toString();
    } else {
      ctx.server = await startRedisServer();
      ctx.url = ctx.server.url;
    }
    ctx.redis = new Redis(ctx.url);
    ctx.redis.on('error', () => undefined);
  });
  beforeEach(async () => {
    await ctx.redis.flushdb();
  });
  afterAll(async () => {
    ctx.redis?.disconnect();
    await ctx.server?.stop();
  });
  return ctx;
}

