import { describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { cancelJob, clearQueue, findJob, killJob, latencyOf, queueList, retryAll, retryJob, stats, type ApiContext } from '../../lib/sidekiq/api.js';
import { opsCommand, type Io } from '../../lib/cli/ops.js';

const t = useRedis();
const K = makeKeys();
const NOW = 1795334852000;
const ctx = (): ApiContext => ({ redis: t.redis, keys: K, version: 7, now: () => NOW });
const jidOf = (n: number): string => n.toString(16).padStart(24, '0');

function makeJob(n: number, over = ''): string {
  return `{"retry":true,"queue":"default","class":"HardJob","args":[12345678901234567890],"jid":"${jidOf(n)}","created_at":1795334800.0,"enqueued_at":1795334842.0${over}}`;
}
const retryEntry = (n: number, count = 0): string =>
  makeJob(n, `,"error_message":"boom","error_class":"RuntimeError","failed_at":1795334800.5,"retry_count":${count}`);

function makeIo(tty = false, answer = 'n'): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, tty, out: (l) => lines.push(l), err: (l) => errors.push(l), ask: async () => answer };
}

describe('api', () => {
  describe('latencyOf', () => {
    it('reads float-seconds and integer-ms enqueued_at alike', () => {
      expect(latencyOf('{"enqueued_at":1795334842.0}', NOW)).toBe(10);
      expect(latencyOf('{"enqueued_at":1795334842000}', NOW)).toBe(10);
      expect(latencyOf('{"created_at":1795334850.0}', NOW)).toBe(2);
      expect(latencyOf(null, NOW)).toBe(0);
      expect(latencyOf('garbage', NOW)).toBe(0);
    });
  });

  describe('stats', () => {
    it('reports counters, queues with latency, set sizes and live processes', async () => {
      // Prepare
      await t.redis.mset('stat:processed', '200', 'stat:failed', '50');
      await t.redis.sadd('queues', 'default', 'low');
      await t.redis.lpush('queue:default', makeJob(2), makeJob(1));
      await t.redis.zadd('schedule', '1795334900.0', makeJob(3));
      await t.redis.zadd('retry', '1795334900.0', retryEntry(4));
      await t.redis.zadd('dead', '1795334800.0', retryEntry(5), '1795334801.0', retryEntry(6));
      await t.redis.sadd('processes', 'live:1:aaaaaaaaaaaa', 'gone:2:bbbbbbbbbbbb');
      await t.redis.hset('live:1:aaaaaaaaaaaa', 'info', '{}', 'busy', '3');
      // Act
      const s = await stats(ctx());
      // Assess
      expect(s).toEqual({
        processed: 200, failed: 50, successRate: 75,
        queues: [{ name: 'default', size: 2, latency: 10 }, { name: 'low', size: 0, latency: 0 }],
        enqueued: 2, scheduled: 1, retries: 1, dead: 2, processes: 1, busy: 3,
      });
    });
  });

  describe('findJob', () => {
    it('finds a jid in a queue, a sorted set, or nowhere', async () => {
      await t.redis.sadd('queues', 'default');
      await t.redis.lpush('queue:default', makeJob(1));
      await t.redis.zadd('retry', '1795334900.5', retryEntry(2));
      expect(await findJob(ctx(), jidOf(1))).toEqual([{ where: 'queue', queue: 'default', payload: makeJob(1) }]);
      expect(await findJob(ctx(), jidOf(2))).toEqual([{ where: 'retry', score: 1795334900.5, payload: retryEntry(2) }]);
      expect(await findJob(ctx(), jidOf(9))).toEqual([]);
    });

    it('scans a long queue in chunks and reports progress', async () => {
      await t.redis.sadd('queues', 'big');
      const jobs = Array.from({ length: 2500 }, (_, i) => makeJob(i).replace('"default"', '"big"'));
      await t.redis.lpush('queue:big', ...jobs);
      const progress: number[] = [];
      const found = await findJob({ ...ctx(), progress: (d) => progress.push(d) }, jidOf(7));
      expect(found).toHaveLength(1);
      expect(progress.at(-1)).toBe(2500);
    });
  });

  describe('cancelJob', () => {
    it('removes queued, scheduled and retry entries by exact bytes and leaves the dead set', async () => {
      await t.redis.lpush('queue:default', makeJob(1));
      await t.redis.sadd('queues', 'default');
      await t.redis.zadd('schedule', '1795334900.0', makeJob(2));
      await t.redis.zadd('dead', '1795334900.0', retryEntry(3));
      expect((await cancelJob(ctx(), jidOf(1))).map((l) => l.where)).toEqual(['queue']);
      expect((await cancelJob(ctx(), jidOf(2))).map((l) => l.where)).toEqual(['schedule']);
      expect(await cancelJob(ctx(), jidOf(3))).toEqual([]);
      expect(await t.redis.llen('queue:default')).toBe(0);
      expect(await t.redis.zcard('schedule')).toBe(0);
      expect(await t.redis.zcard('dead')).toBe(1);
    });
  });

  describe('retryJob', () => {
    it("puts a retry back on its queue as Sidekiq's Retry Now does: retry_count − 1, fresh enqueued_at, same jid", async () => {
      // Prepare
      await t.redis.zadd('retry', '1795334999.0', retryEntry(1, 0));
      // Act
      const done = await retryJob(ctx(), jidOf(1));
      // Assess
      expect(done).toHaveLength(1);
      expect(await t.redis.zcard('retry')).toBe(0);
      expect(await t.redis.smembers('queues')).toEqual(['default']);
      expect(await t.redis.lrange('queue:default', 0, -1)).toEqual([
        retryEntry(1, -1).replace('"enqueued_at":1795334842.0', '"enqueued_at":1795334852.0'),
      ]);
    });

    it('retries from the dead set too', async () => {
      await t.redis.zadd('dead', '1795334000.0', retryEntry(2, 24));
      await retryJob(ctx(), jidOf(2));
      const [job] = await t.redis.lrange('queue:default', 0, -1);
      expect(job).toContain('"retry_count":23}');
      expect(await t.redis.zcard('dead')).toBe(0);
    });
  });

  describe('retryAll', () => {
    it('moves every readable entry in batches and leaves unreadable ones', async () => {
      const args: string[] = [];
      for (let i = 0; i < 2100; i++) args.push(String(1795334000 + i), retryEntry(i));
      await t.redis.zadd('dead', ...args, '1.0', 'not json');
      const r = await retryAll(ctx(), 'dead');
      expect(r).toEqual({ moved: 2100, skipped: 1 });
      expect(await t.redis.llen('queue:default')).toBe(2100);
      expect(await t.redis.zrange('dead', 0, -1)).toEqual(['not json']);
    });
  });

  describe('killJob', () => {
    it('moves a retry to the dead set with its bytes, scored now, and trims the set', async () => {
      // Prepare: an entry older than 180 days must be trimmed.
      await t.redis.zadd('dead', String((NOW - 181 * 86_400_000) / 1000), retryEntry(8));
      await t.redis.zadd('retry', '1795334999.0', retryEntry(1));
      // Act
      const done = await killJob(ctx(), jidOf(1));
      // Assess
      expect(done).toHaveLength(1);
      expect(await t.redis.zrange('dead', 0, -1, 'WITHSCORES')).toEqual([retryEntry(1), '1795334852']);
    });
  });

  describe('clearQueue', () => {
    it('unlinks the queue and removes it from `queues`', async () => {
      await t.redis.sadd('queues', 'low', 'default');
      await t.redis.lpush('queue:low', makeJob(1), makeJob(2));
      expect(await clearQueue(ctx(), 'low')).toBe(2);
      expect(await t.redis.smembers('queues')).toEqual(['default']);
      expect(await t.redis.exists('queue:low')).toBe(0);
      expect(await queueList(ctx())).toEqual([{ name: 'default', size: 0, latency: 0 }]);
    });
  });
});

describe('ops commands', () => {
  const run = (name: string, argv: string[], io = makeIo()) => opsCommand(name, io)([...argv, '--redis', t.url]);

  it('stats --json prints the report', async () => {
    await t.redis.set('stat:processed', '4');
    const io = makeIo();
    expect(await run('stats', ['--json'], io)).toBe(0);
    expect(JSON.parse(io.lines[0]!)).toMatchObject({ processed: 4, failed: 0, successRate: 100 });
  });

  it('job prints where the job is, and exits 2 when not found', async () => {
    await t.redis.zadd('schedule', '1795334900.0', makeJob(1));
    const io = makeIo();
    expect(await run('job', [jidOf(1)], io)).toBe(0);
    expect(io.lines[0]).toBe(`schedule (score 1795334900)\n${makeJob(1)}`);
    expect(await run('job', [jidOf(2)], makeIo())).toBe(2);
  });

  it('refuses a destructive command without a terminal unless --yes', async () => {
    await t.redis.sadd('queues', 'low');
    await t.redis.lpush('queue:low', makeJob(1));
    const io = makeIo(false);
    expect(await run('clear', ['low'], io)).toBe(1);
    expect(io.errors[0]).toMatch(/not a terminal; pass --yes/);
    expect(await t.redis.llen('queue:low')).toBe(1);
    expect(await run('clear', ['low', '--yes'])).toBe(0);
    expect(await t.redis.exists('queue:low')).toBe(0);
  });

  it('asks on a terminal and does nothing on "n"', async () => {
    await t.redis.zadd('retry', '1795334999.0', retryEntry(1));
    expect(await run('kill', [jidOf(1)], makeIo(true, 'n'))).toBe(1);
    expect(await t.redis.zcard('retry')).toBe(1);
    expect(await run('kill', [jidOf(1)], makeIo(true, 'y'))).toBe(0);
    expect(await t.redis.zcard('dead')).toBe(1);
  });

  it('retry --all --yes puts the retry set back', async () => {
    await t.redis.zadd('retry', '1795334999.0', retryEntry(1), '1795334998.0', retryEntry(2));
    const io = makeIo();
    expect(await run('retry', ['--all', '--yes'], io)).toBe(0);
    expect(io.lines[0]).toBe('2 jobs put back on their queues');
    expect(await t.redis.llen('queue:default')).toBe(2);
  });

  it('scheduler --for promotes due jobs and stops', async () => {
    await t.redis.zadd('schedule', '1.0', makeJob(1));
    const io = makeIo();
    expect(await run('scheduler', ['--for', '0.3', '--interval', '100'], io)).toBe(0);
    expect(JSON.parse(io.lines[0]!)).toMatchObject({ promoted: 1, ranAsLeader: true });
  });
});
