import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { planMove, promoteArgs, promoteDue, runScheduler, INVALID_JOB_ERROR } from '../../lib/sidekiq/scheduled.js';
import { registerScripts } from '../../lib/redis/scripts.js';

const t = useRedis();
const K = makeKeys();
const NOW = 1795334852000;
const clock = () => NOW;

/** A scheduled payload the way Ruby writes it: a big integer and a Ruby float survive only byte-exact. */
function job(jid: string, extra = ''): string {
  return `{"retry":true,"queue":"default","class":"HardJob","args":[12345678901234567890,1.0,"x"],"jid":"${jid}","created_at":1795334800.1234567${extra}}`;
}

describe('scheduled', () => {
  describe('planMove', () => {
    it('routes by `queue` and appends enqueued_at as float seconds for Sidekiq 6/7', () => {
      // Prepare
      const raw = job('a'.repeat(24));
      // Act
      const p = planMove(raw, NOW, 7);
      // Assess
      expect(p.queue).toBe('default');
      expect(p.payload).toBe(raw.slice(0, -1) + ',"enqueued_at":1795334852.0}');
    });

    it('writes integer milliseconds for Sidekiq 8', () => {
      expect(planMove(job('b'.repeat(24)), NOW + 5, 8).payload).toMatch(/,"enqueued_at":1795334852005}$/);
    });

    it('replaces an existing enqueued_at in place', () => {
      const raw = '{"class":"A","args":[],"enqueued_at":1.5,"queue":"low","retry_count":0}';
      expect(planMove(raw, NOW, 6).payload).toBe('{"class":"A","args":[],"enqueued_at":1795334852.0,"queue":"low","retry_count":0}');
    });

    it('sends unparseable members to the dead set: invalid JSON as it is, JSON objects with the reason', () => {
      expect(planMove('{"class":', NOW, 7)).toMatchObject({ queue: undefined, payload: '{"class":' });
      const p = planMove('{"args":[1]}', NOW, 7);
      expect(p.queue).toBeUndefined();
      expect(JSON.parse(p.payload)).toMatchObject({ args: [1], error_class: INVALID_JOB_ERROR });
      expect(p.reason).toMatch(/class/);
    });
  });

  describe('promoteDue', () => {
    it('moves due jobs to their queues, byte-identical but for enqueued_at, and leaves future ones', async () => {
      // Prepare
      const due = job('1'.repeat(24));
      const later = job('2'.repeat(24));
      await t.redis.zadd(K.schedule, '1795334851.5', due, '1795334860.0', later);
      // Act
      const r = await promoteDue({ redis: t.redis, keys: K, version: 7, now: clock });
      // Assess
      expect(r).toEqual({ promoted: 1, dead: 0, lost: 0, byQueue: { default: 1 } });
      expect(await t.redis.lrange('queue:default', 0, -1)).toEqual([due.slice(0, -1) + ',"enqueued_at":1795334852.0}']);
      expect(await t.redis.smembers('queues')).toEqual(['default']);
      expect(await t.redis.zrange(K.schedule, 0, -1)).toEqual([later]);
    });

    it('promotes a retry to `queue`, which the retry writer set from retry_queue (as Sidekiq job_retry.rb does)', async () => {
      // Sidekiq writes queue = retry_queue || popped queue when it schedules the retry; Enq then
      // pushes to `queue`. A retry entry therefore already names its retry queue in `queue`.
      const raw = '{"retry":true,"queue":"low","retry_queue":"low","class":"A","args":[],"jid":"333333333333333333333333","enqueued_at":1795334800.0,"error_message":"x","error_class":"E","failed_at":1795334800.5,"retry_count":0}';
      await t.redis.zadd(K.retry, '1795334850.0', raw);
      const r = await promoteDue({ redis: t.redis, keys: K, version: 7, now: clock });
      expect(r.byQueue).toEqual({ low: 1 });
      expect(await t.redis.lrange('queue:low', 0, -1)).toEqual([raw.replace('"enqueued_at":1795334800.0', '"enqueued_at":1795334852.0')]);
      expect(await t.redis.zcard(K.retry)).toBe(0);
    });

    it('pushes the earliest due job first, so it is fetched first', async () => {
      const a = job('a'.repeat(24));
      const b = job('b'.repeat(24));
      await t.redis.zadd(K.schedule, '1795334851.0', b, '1795334850.0', a);
      await promoteDue({ redis: t.redis, keys: K, now: clock });
      const list = await t.redis.lrange('queue:default', 0, -1);
      expect(list.map((j) => JSON.parse(j).jid[0])).toEqual(['b', 'a']); // a at the right end
    });

    it('moves unparseable members to the dead set without blocking the rest of the batch', async () => {
      // Prepare
      const good = job('4'.repeat(24));
      await t.redis.zadd(K.schedule, '1795334800.0', 'not json', '1795334801.0', '{"args":[]}', '1795334802.0', good);
      const logs: object[] = [];
      // Act
      const r = await promoteDue({ redis: t.redis, keys: K, now: clock, log: createLogger({ sink: (l) => void logs.push(JSON.parse(l) as object) }) });
      // Assess
      expect(r).toMatchObject({ promoted: 1, dead: 2 });
      expect(await t.redis.llen('queue:default')).toBe(1);
      const dead = await t.redis.zrange(K.dead, 0, -1, 'WITHSCORES');
      expect(dead).toContain('not json');
      expect(dead.find((m) => m.startsWith('{"args":[]'))).toMatch(/"error_message":"sidekiq-lambda scheduler: class/);
      expect(Number(dead[1])).toBe(1795334852);
      expect(logs).toHaveLength(2);
      expect(await t.redis.zcard(K.schedule)).toBe(0);
    });

    it('sends a job whose queue key holds another type to the dead set instead of losing it', async () => {
      await t.redis.set('queue:default', 'oops');
      const raw = job('5'.repeat(24));
      await t.redis.zadd(K.schedule, '1795334800.0', raw);
      const r = await promoteDue({ redis: t.redis, keys: K, now: clock });
      expect(r.dead).toBe(1);
      expect(await t.redis.zrange(K.dead, 0, -1)).toEqual([raw]);
    });

    it('prefixes keys, never values, under a namespace', async () => {
      const NS = makeKeys('myapp');
      await t.redis.zadd('myapp:schedule', '1795334800.0', job('6'.repeat(24)));
      await promoteDue({ redis: t.redis, keys: NS, now: clock });
      expect(await t.redis.llen('myapp:queue:default')).toBe(1);
      expect(await t.redis.smembers('myapp:queues')).toEqual(['default']);
      expect(await t.redis.exists('queue:default', 'queues')).toBe(0);
    });

    it('moves more than one batch', async () => {
      const args: string[] = [];
      for (let i = 0; i < 2500; i++) args.push(String(1795334000 + i / 10), job(i.toString(16).padStart(24, '0')));
      await t.redis.zadd(K.schedule, ...args);
      const r = await promoteDue({ redis: t.redis, keys: K, now: clock, batchSize: 1000 });
      expect(r.promoted).toBe(2500);
      expect(await t.redis.llen('queue:default')).toBe(2500);
    });

    it('leaves a member alone when another promoter took it or it was rescheduled after the read', async () => {
      // Prepare: plans built from a read, then the world changes before the move.
      registerScripts(t.redis);
      const taken = job('7'.repeat(24));
      const moved = job('8'.repeat(24));
      const plans = [planMove(taken, NOW, 7), planMove(moved, NOW, 7)];
      await t.redis.zadd(K.schedule, '1795334999.0', moved); // rescheduled into the future; `taken` is gone
      // Act
      const statuses = await t.redis.sklPromote_v3(...(promoteArgs(K, plans, NOW, K.schedule) as [number, ...string[]]));
      // Assess
      expect(statuses).toEqual([0, 0]);
      expect(await t.redis.llen('queue:default')).toBe(0);
      expect(await t.redis.zcard(K.schedule)).toBe(1);
    });

    it('moves exactly the planned members when they are not the head of the set', async () => {
      // Prepare: `a` is due and first, but not in this batch (it arrived after the read).
      registerScripts(t.redis);
      const [a, b, c] = [job('a'.repeat(24)), job('b'.repeat(24)), job('c'.repeat(24))];
      await t.redis.zadd(K.schedule, '1795334000.0', a, '1795334001.0', b, '1795334002.0', c);
      const plans = [planMove(b, NOW, 7), planMove(c, NOW, 7)];
      // Act
      const statuses = await t.redis.sklPromote_v3(...(promoteArgs(K, plans, NOW, K.schedule) as [number, ...string[]]));
      // Assess
      expect(statuses).toEqual([1, 1]);
      expect(await t.redis.zrange(K.schedule, 0, -1)).toEqual([a]);
      expect((await t.redis.lrange('queue:default', 0, -1)).map((j) => JSON.parse(j).jid[0])).toEqual(['c', 'b']);
    });

    it('pushes each job exactly once when two promoters race over 20,000 due jobs', async () => {
      // Prepare
      const n = 20_000;
      const args: string[] = [];
      for (let i = 0; i < n; i++) args.push('1795334000.0', job(i.toString(16).padStart(24, '0')));
      for (let i = 0; i < args.length; i += 2000) await t.redis.zadd(K.schedule, ...args.slice(i, i + 2000));
      const other = t.redis.duplicate();
      // Act
      const [a, b] = await Promise.all([
        promoteDue({ redis: t.redis, keys: K, now: clock, batchSize: 500 }),
        promoteDue({ redis: other, keys: K, now: clock, batchSize: 500 }),
      ]);
      other.disconnect();
      // Assess
      expect(a.promoted + b.promoted).toBe(n);
      const jids = (await t.redis.lrange('queue:default', 0, -1)).map((j) => JSON.parse(j).jid as string);
      expect(new Set(jids).size).toBe(n);
      expect(jids).toHaveLength(n);
    });
  });

  describe('runScheduler', () => {
    it('promotes a job about one interval after it becomes due, then releases the lock', async () => {
      // Prepare
      const due = Date.now() + 1500;
      await t.redis.zadd(K.schedule, String(due / 1000), job('9'.repeat(24)));
      let arrived = 0;
      const watcher = setInterval(() => {
        void t.redis.llen('queue:default').then((n) => {
          if (n > 0 && !arrived) arrived = Date.now();
        });
      }, 20);
      // Act
      const summary = await runScheduler({ redis: t.redis, keys: K, intervalMs: 250, deadline: Date.now() + 2500 });
      clearInterval(watcher);
      // Assess
      expect(summary).toMatchObject({ promoted: 1, ranAsLeader: true });
      expect(summary.rounds).toBeGreaterThanOrEqual(8);
      expect(arrived - due).toBeGreaterThanOrEqual(0);
      expect(arrived - due).toBeLessThan(600);
      expect(await t.redis.exists(K.schedulerLock)).toBe(0);
    });

    it('runs one scheduler at a time: the second waits for the lock', async () => {
      const other = t.redis.duplicate();
      const first = runScheduler({ redis: t.redis, keys: K, intervalMs: 50, deadline: Date.now() + 600 });
      await new Promise((r) => setTimeout(r, 100));
      const second = runScheduler({ redis: other, keys: K, intervalMs: 50, deadline: Date.now() + 1200 });
      const [a, b] = await Promise.all([first, second]);
      other.disconnect();
      expect(a.ranAsLeader).toBe(true);
      expect(b.ranAsLeader).toBe(true); // took over once the first released it
      expect(b.rounds).toBeLessThanOrEqual(16); // ~22 had it run alongside the first for its 0.5 s
      expect(a.rounds + b.rounds).toBeGreaterThan(10);
    });

    it('does not run while another holder keeps the lock', async () => {
      await t.redis.set(K.schedulerLock, 'someone-else', 'PX', 5000);
      await t.redis.zadd(K.schedule, '1.0', job('a'.repeat(24)));
      const s = await runScheduler({ redis: t.redis, keys: K, intervalMs: 50, deadline: Date.now() + 300 });
      expect(s).toMatchObject({ ranAsLeader: false, rounds: 0, promoted: 0 });
      expect(await t.redis.get(K.schedulerLock)).toBe('someone-else');
    });
  });
});
