/**
 * Periodic jobs against real Redis: the declared entries written where sidekiq-cron keeps them (1.x
 * and 2.x layouts), and fired once per fire time however many pollers tick at once. The clock is
 * injected; nothing waits for real minutes.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../lib/client.js';
import { createLogger } from '../../lib/log.js';
import { resolveCronEntry, type CronEntry, type CronEntryDeclaration } from '../../lib/periodic.js';
import { entryFields } from '../../lib/protocol/cron-entry.js';
import { cronKeys, keys as makeKeys, type CronLayout } from '../../lib/protocol/keys.js';
import { CronPoller } from '../../lib/sidekiq/cron-poller.js';
import { fireCronEntry, findCronEntry, listCronEntries, resolveCronLayout, runCronEntry, setCronStatus, syncCronEntries, type CronStore } from '../../lib/sidekiq/cron.js';
import { runScheduler } from '../../lib/sidekiq/scheduled.js';
import { changeRoute, publishDeclarations } from '../../lib/routing/table.js';
import { useRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';

const t = useRedis();
const K = makeKeys();
const T = (iso: string): number => Date.parse(iso);
/** Created at 10:02:30; the entry fires every 5 minutes. */
const CREATED = T('2024-03-09T10:02:30Z');
const CLEANUP: CronEntryDeclaration = { name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*/5 * * * *', args: [1, 'two'] };

const opened: Redis[] = [];
afterEach(() => {
  for (const r of opened.splice(0)) r.disconnect();
});
function connection(): Redis {
  const r = t.redis.duplicate();
  opened.push(r);
  return r;
}

function store(layout: CronLayout, now: () => number = () => CREATED, redis: Redis = t.redis): CronStore {
  return { redis, keys: K, cron: cronKeys(K, layout), namespaces: ['default'], client: new Client({ redis, now }) };
}

/** A poller on its own connection with a clock the test moves. */
function poller(layout: CronLayout, clock: { now: number }, entries?: readonly CronEntry[], lines?: string[]) {
  return new CronPoller({ redis: connection(), keys: K, layout, entries, now: () => clock.now, log: lines ? createLogger({ sink: (l) => lines.push(l) }) : undefined });
}

const queued = async (q = 'maintenance') => (await t.redis.lrange(`queue:${q}`, 0, -1)).map((j) => JSON.parse(j) as Record<string, unknown>);

describe.each([1, 2] as const)('periodic jobs, sidekiq-cron %d.x layout', (layout) => {
  const ck = cronKeys(K, layout);
  const key = ck.entry('cleanup', 'default');

  describe('syncCronEntries', () => {
    it('writes a declared entry as sidekiq-cron saves one, its latest fire time marked enqueued', async () => {
      // Prepare
      const entry = resolveCronEntry(CLEANUP);
      // Act
      const r = await syncCronEntries(store(layout), [entry], { now: CREATED });
      // Assess
      expect(r).toEqual({ created: ['cleanup'], updated: [], removed: [], skipped: [] });
      expect(await t.redis.smembers(ck.jobs('default'))).toEqual([key]);
      expect(await t.redis.hgetall(ck.hash(key))).toEqual({ ...Object.fromEntries(entryFields(entry, '*/5 * * * * UTC', layout)), status: 'enabled', last_enqueue_time: '' });
      expect(await t.redis.zrange(ck.enqueued(key), 0, -1, 'WITHSCORES')).toEqual(['2024-03-09T10:00:00Z', '1709978550']);
    });

    it('updates what changed, never status or last run, and removes only our entries no longer declared', async () => {
      // Prepare: ours, and one Ruby wrote (no mark).
      const s = store(layout);
      await syncCronEntries(s, [resolveCronEntry(CLEANUP), resolveCronEntry({ class: 'GoneJob', cron: '@hourly' })], { now: CREATED });
      await setCronStatus(s, 'cleanup', 'disabled');
      await t.redis.hset(ck.hash(key), 'last_enqueue_time', '2024-03-09 10:00:01 +0000');
      const rubys = ck.entry('ruby', 'default');
      await t.redis.hset(ck.hash(rubys), { name: 'ruby', klass: 'RubyJob', cron: '0 * * * *' });
      await t.redis.sadd(ck.jobs('default'), rubys);
      const ownedByRuby = ck.entry('RubyJob', 'default');
      await t.redis.hset(ck.hash(ownedByRuby), { name: 'RubyJob', klass: 'RubyJob', cron: '0 * * * *' });
      await t.redis.sadd(ck.jobs('default'), ownedByRuby);
      // Act
      const again = await syncCronEntries(s, [resolveCronEntry(CLEANUP)], { now: CREATED });
      const changed = await syncCronEntries(s, [resolveCronEntry({ ...CLEANUP, cron: '*/10 * * * *' }), resolveCronEntry({ class: 'RubyJob', cron: '@daily' })], { now: CREATED });
      // Assess
      expect(again).toEqual({ created: [], updated: [], removed: ['GoneJob'], skipped: [] });
      expect(changed).toEqual({ created: [], updated: ['cleanup'], removed: [], skipped: ['RubyJob'] });
      expect(await t.redis.hmget(ck.hash(key), 'cron', 'status', 'last_enqueue_time')).toEqual(['*/10 * * * * UTC', 'disabled', '2024-03-09 10:00:01 +0000']);
      expect((await t.redis.smembers(ck.jobs('default'))).sort()).toEqual([ownedByRuby, key, rubys].sort());
      expect(await t.redis.hget(ck.hash(ownedByRuby), 'cron')).toBe('0 * * * *');
      const gone = ck.entry('GoneJob', 'default');
      expect(await t.redis.exists(ck.hash(gone), ck.enqueued(gone), ck.jidHistory(gone))).toBe(0);
    });
  });

  describe('CronPoller', () => {
    it('does not fire on creation, then fires the next fire time once, with sidekiq-cron’s bookkeeping', async () => {
      // Prepare
      const clock = { now: CREATED };
      const p = poller(layout, clock, [resolveCronEntry(CLEANUP)]);
      // Act
      const first = await p.tick();
      clock.now = T('2024-03-09T10:05:01.250Z');
      const fired = await p.tick();
      const again = await p.tick();
      // Assess
      expect(first).toEqual({ fired: 0, taken: 0 });
      expect(fired).toEqual({ fired: 1, taken: 0 });
      expect(again).toEqual({ fired: 0, taken: 0 });
      const jobs = await queued();
      expect(jobs).toEqual([{ retry: true, queue: 'maintenance', class: 'CleanupJob', args: [1, 'two'], jid: expect.any(String), created_at: 1709978701.25, enqueued_at: 1709978701.25 }]);
      expect(await t.redis.smembers('queues')).toEqual(['maintenance']);
      expect(await t.redis.hget(ck.hash(key), 'last_enqueue_time')).toBe('2024-03-09 10:05:01 +0000');
      expect(await t.redis.lrange(ck.jidHistory(key), 0, -1)).toEqual([JSON.stringify({ jid: jobs[0]!.jid, enqueued: '2024-03-09 10:05:01 +0000' })]);
      expect(await t.redis.zrange(ck.enqueued(key), 0, -1)).toEqual(['2024-03-09T10:00:00Z', '2024-03-09T10:05:00Z']);
    });

    it('enqueues a fire time once when five pollers on five connections tick at the same instant', async () => {
      // Prepare
      await syncCronEntries(store(layout), [resolveCronEntry(CLEANUP)], { now: CREATED });
      const clock = { now: T('2024-03-09T10:05:02Z') };
      const pollers = Array.from({ length: 5 }, () => poller(layout, clock));
      // Act
      const ticks = await Promise.all(pollers.map((p) => p.tick()));
      // Assess: one fired; the others found it taken, or read the entry after the fire and had nothing due
      expect(ticks.reduce((n, r) => n + r.fired, 0)).toBe(1);
      expect(ticks.reduce((n, r) => n + r.taken, 0)).toBeLessThanOrEqual(4);
      expect(await queued()).toHaveLength(1);
    });

    it('after downtime fires only the latest fire time, and only within 60 s (sidekiq-cron’s catch-up)', async () => {
      // Prepare: down from 10:02:30 until 10:16:05.
      const clock = { now: CREATED };
      const p = poller(layout, clock, [resolveCronEntry(CLEANUP)]);
      await p.tick();
      // Act
      clock.now = T('2024-03-09T10:16:05Z'); // 10:15 is 65 s old: lost, like 10:05 and 10:10
      const late = await p.tick();
      clock.now = T('2024-03-09T10:20:30Z');
      const next = await p.tick();
      // Assess
      expect(late.fired).toBe(0);
      expect(next.fired).toBe(1);
      expect(await t.redis.zrange(ck.enqueued(key), 0, -1)).toEqual(['2024-03-09T10:00:00Z', '2024-03-09T10:20:00Z']);
    });

    it('leaves a fire time Ruby claimed, a disabled entry, and a queue key that is not a list', async () => {
      // Prepare
      const clock = { now: CREATED };
      const lines: string[] = [];
      const p = poller(layout, clock, [resolveCronEntry(CLEANUP)], lines);
      await p.tick();
      await t.redis.zadd(ck.enqueued(key), '1709978700.0', '2024-03-09T10:05:00Z'); // as Ruby's poller claims it
      // Act
      clock.now = T('2024-03-09T10:05:10Z');
      const claimed = await p.tick();
      await setCronStatus(store(layout), 'cleanup', 'disabled');
      clock.now = T('2024-03-09T10:10:10Z');
      const disabled = await p.tick();
      await setCronStatus(store(layout), 'cleanup', 'enabled');
      await t.redis.set('queue:maintenance', 'not a list');
      clock.now = T('2024-03-09T10:15:10Z');
      const notAList = await p.tick();
      // Assess
      expect([claimed, disabled, notAList]).toEqual([{ fired: 0, taken: 1 }, { fired: 0, taken: 0 }, { fired: 0, taken: 0 }]);
      expect(await t.redis.zrange(ck.enqueued(key), 0, -1)).toEqual(['2024-03-09T10:00:00Z', '2024-03-09T10:05:00Z']);
      expect(await t.redis.hget(ck.hash(key), 'last_enqueue_time')).toBe('');
      expect(lines.some((l) => l.includes('other than a list'))).toBe(true);
    });

    it('says once, not every round, why it leaves an entry to Ruby', async () => {
      // Prepare: what fugit versions fire on different weeks; and a message the producer refuses.
      const s = store(layout);
      for (const [name, fields] of [
        ['weekly', { name: 'weekly', klass: 'A', cron: '0 0 * * mon%2' }],
        ['badqueue', { name: 'badqueue', klass: 'A', cron: '* * * * *', message: '{"queue":"a b","class":"A","args":[]}' }],
      ] as const) {
        await t.redis.hset(ck.hash(ck.entry(name, 'default')), fields);
        await t.redis.sadd(ck.jobs('default'), ck.entry(name, 'default'));
      }
      const lines: string[] = [];
      const clock = { now: T('2024-03-11T00:00:30Z') };
      const p = poller(layout, clock, undefined, lines);
      // Act
      await p.tick();
      clock.now += 60_000;
      await p.tick();
      // Assess
      expect(await listCronEntries(s)).toHaveLength(2);
      expect(await t.redis.llen('queue:a b')).toBe(0);
      const said = lines.filter((l) => l.includes('not fired here')).map((l) => JSON.parse(l) as { entry: string; problem: string });
      expect(said.map((l) => l.entry).sort()).toEqual(['badqueue', 'weekly']);
      expect(said.find((l) => l.entry === 'weekly')!.problem).toMatch(/'%' \(every n-th week\)/);
    });

    it('fires a class routed to Lambda onto its Lambda queue, marked with its own queue, as the producer pushes it', async () => {
      // Prepare: CleanupJob shares `maintenance` with Ruby and is routed 100% to Lambda
      await publishDeclarations(t.redis, K, [{ class: 'CleanupJob', queue: 'maintenance', shared: true, function: 'fn', timeoutSeconds: 30, concurrency: 1, batchSize: 1 }], 'poller-1', CREATED);
      await changeRoute(t.redis, K, 'CleanupJob', { percent: 100, paused: false, by: 'test', at: CREATED }, 'test', CREATED);
      const clock = { now: CREATED };
      const p = poller(layout, clock, [resolveCronEntry(CLEANUP)]);
      await p.tick();
      clock.now = T('2024-03-09T10:05:01Z');
      // Act
      const fired = await p.tick();
      // Assess
      expect(fired).toEqual({ fired: 1, taken: 0 });
      expect(await queued()).toEqual([]);
      expect(await queued('lambda.CleanupJob')).toEqual([
        { retry: true, queue: 'lambda.CleanupJob', class: 'CleanupJob', args: [1, 'two'], jid: expect.any(String), created_at: 1709978701, enqueued_at: 1709978701, routed_from: 'maintenance' },
      ]);
      expect(await t.redis.smembers('queues')).toEqual(['lambda.CleanupJob']);
    });

    it('runs inside the scheduler loop, which reports what it fired', async () => {
      // Prepare
      const clock = { now: CREATED };
      const cron = poller(layout, clock, [resolveCronEntry(CLEANUP)]);
      await cron.tick();
      clock.now = T('2024-03-09T10:05:01Z');
      let stop = false;
      // Act
      const running = runScheduler({ redis: connection(), keys: K, intervalMs: 20, shouldStop: () => stop, cron });
      await eventually(async () => (await t.redis.llen('queue:maintenance')) === 1, 10_000, 'the cron job');
      stop = true;
      const summary = await running;
      // Assess
      expect(summary).toMatchObject({ ranAsLeader: true, cronFired: 1 });
      expect(await t.redis.llen('queue:maintenance')).toBe(1);
    });
  });

  describe('by hand', () => {
    it('enables, disables and enqueues now (unguarded, as the Web UI’s Enqueue Now); a stale fire is refused', async () => {
      // Prepare
      const s = store(layout, () => T('2024-03-09T10:03:00Z'));
      await syncCronEntries(s, [resolveCronEntry(CLEANUP)], { now: CREATED });
      const read = (await findCronEntry(s, 'cleanup'))!;
      // Act
      const run1 = await runCronEntry(s, 'cleanup');
      const run2 = await runCronEntry(s, 'cleanup');
      const missing = await runCronEntry(s, 'nope');
      const disabled = await setCronStatus(s, 'cleanup', 'disabled');
      const noSuch = await setCronStatus(s, 'nope', 'disabled');
      await t.redis.hset(ck.hash(key), 'cron', '*/10 * * * * UTC');
      await setCronStatus(s, 'cleanup', 'enabled');
      const stale = await fireCronEntry(s, read.stored, new Date('2024-03-09T10:00:00Z'));
      // Assess
      expect([run1?.status, run2?.status, missing, disabled, noSuch, stale]).toEqual(['pushed', 'pushed', undefined, true, false, { status: 'changed', jid: undefined }]);
      expect((await queued()).map((j) => j.jid)).toEqual([run2!.jid, run1!.jid]);
      expect(await t.redis.exists(ck.hash(ck.entry('nope', 'default')))).toBe(0);
      expect(await t.redis.hget(ck.hash(key), 'last_enqueue_time')).toBe('2024-03-09 10:03:00 +0000');
    });
  });
});

describe('resolveCronLayout', () => {
  it('takes the configured version, else what Redis holds, else Sidekiq 6 → 1.x and 2.x otherwise', async () => {
    expect(await resolveCronLayout(t.redis, K, { configured: 1 })).toEqual({ layout: 1, reason: 'configured (SIDEKIQ_CRON_VERSION)' });
    expect((await resolveCronLayout(t.redis, K, { sidekiqVersion: 6 })).layout).toBe(1);
    expect((await resolveCronLayout(t.redis, K, { sidekiqVersion: 7 })).layout).toBe(2);
    await t.redis.sadd('cron_jobs', 'cron_job:a');
    expect(await resolveCronLayout(t.redis, K, { sidekiqVersion: 7 })).toEqual({ layout: 1, reason: 'sidekiq-cron 1.x entries in Redis' });
    await t.redis.sadd('cron_jobs:default', 'cron_job:default:a');
    expect(await resolveCronLayout(t.redis, K, { sidekiqVersion: 6 })).toEqual({ layout: 2, reason: 'sidekiq-cron 2.x entries in Redis' });
  });
});
