/**
 * Per-class routing against a real Redis: the table with its change log and cache, the poller's
 * declarations, the forward / move / rewrite scripts (each job atomically, at most once), the
 * migration of a class's waiting jobs and the release of held ones in order, the producer's hook,
 * the per-side stats, Sidekiq's Metrics-tab keys against golden fixtures of real Sidekiq 7.3.10 and
 * 8.1.7, and the `route` command.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { readJob, type JobPayload } from '../../lib/protocol/job.js';
import { jidDraw, markPayload, ROUTED_FROM, writeRouteEntry, type RouteEntry } from '../../lib/protocol/routing.js';
import { changeRoute, loadView, publishDeclarations, RoutingCache, routeLog } from '../../lib/routing/table.js';
import { countJobs, migrateClass, releaseAllHeld, releaseHeld } from '../../lib/routing/migrate.js';
import { readSideStats } from '../../lib/routing/stats.js';
import { tallyRun, writeJobMetrics, type RunTally } from '../../lib/sidekiq/metrics.js';
import { RunRecorder } from '../../lib/poller/recorder.js';
import { createLogger } from '../../lib/log.js';
import { Client } from '../../lib/client.js';
import { Fetcher } from '../../lib/poller/fetch.js';
import { registerScripts } from '../../lib/redis/scripts.js';
import { applyRoute, routeCommand } from '../../lib/cli/route.js';
import type { Io } from '../../lib/cli/ops.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const K = makeKeys();
const NOW = Date.UTC(2026, 1, 4, 8, 3, 30);
const TRACK: Route = { class: 'TrackUserJob', queue: 'default', function: 'fn', timeoutSeconds: 30, concurrency: 10, batchSize: 1, shared: true };
const OWN: Route = { class: 'OwnJob', queue: 'own', function: 'fn', timeoutSeconds: 30, concurrency: 10, batchSize: 1 };

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const entry = (percent: number, paused = false): RouteEntry => ({ percent, paused, by: 'test', at: NOW });
async function route(cls: string, e: RouteEntry | undefined): Promise<void> {
  await changeRoute(t.redis, K, cls, e, 'test', NOW);
}
async function declare(...routes: Route[]): Promise<void> {
  await publishDeclarations(t.redis, K, routes, 'poller-1', Date.now());
}
/** A jid whose draw is in [lo, hi), the n-th such. */
function jidIn(lo: number, hi: number, n = 0): string {
  for (let i = 0, found = 0; ; i++) {
    const jid = (0x100000 + i).toString(16).padStart(24, '0');
    if (jidDraw(jid) >= lo && jidDraw(jid) < hi && found++ === n) return jid;
  }
}
function payload(cls: string, jid: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ retry: true, queue: 'default', class: cls, args: [1.5, 'x'], jid, created_at: 1795334852.0, enqueued_at: 1795334852.0, ...extra });
}
const parsed = (raw: string): JobPayload => (readJob(raw) as { job: JobPayload }).job;
/** The poller's writer of per-side stats and Sidekiq's Metrics, for Sidekiq `version`. */
const recorder = (version: 6 | 7 | 8 = 7): RunRecorder => new RunRecorder({ redis: t.redis, keys: K, version, log: createLogger({ sink: () => undefined }) });
/** Writes `runs` into Sidekiq's Metrics keys only, as the recorder does (no per-side stats). */
async function writeMetrics(version: 6 | 7 | 8, runs: RunTally, now: number): Promise<void> {
  const m = t.redis.pipeline();
  writeJobMetrics(m, K, version, runs, now);
  await m.exec();
}

function io(): Io & { lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { lines, errs, out: (l) => lines.push(l), err: (l) => errs.push(l), tty: false, ask: async () => '' };
}

describe('routing', () => {
  describe('the table', () => {
    it('records each change with who, when and what, newest first, and reads back as a view', async () => {
      // Act
      await route('TrackUserJob', entry(10));
      await changeRoute(t.redis, K, 'TrackUserJob', { ...entry(100), by: 'alice@laptop', at: NOW + 1000 }, 'alice@laptop', NOW + 1000);
      await changeRoute(t.redis, K, 'TrackUserJob', { ...entry(100, true), by: 'bob', at: NOW + 2000 }, 'bob', NOW + 2000);
      await changeRoute(t.redis, K, 'Other', undefined, 'bob', NOW + 3000);
      // Assess
      expect(await routeLog(t.redis, K)).toEqual([
        { at: NOW + 3000, by: 'bob', class: 'Other', from: 'unrouted', to: 'removed' },
        { at: NOW + 2000, by: 'bob', class: 'TrackUserJob', from: 'lambda 100%', to: 'paused (lambda 100%)' },
        { at: NOW + 1000, by: 'alice@laptop', class: 'TrackUserJob', from: 'lambda 10%', to: 'lambda 100%' },
        { at: NOW, by: 'test', class: 'TrackUserJob', from: 'unrouted', to: 'lambda 10%' },
      ]);
      expect(await routeLog(t.redis, K, 'Other')).toHaveLength(1);
      expect((await loadView(t.redis, K)).routes.get('TrackUserJob')).toEqual({ percent: 100, paused: true, by: 'bob', at: NOW + 2000 });
    });

    it('is read at most once per cache period, and a failed read keeps the last view', async () => {
      // Prepare
      let clock = 0;
      let reads = 0;
      let fail = false;
      const cache = new RoutingCache(async () => {
        reads++;
        if (fail) throw new Error('down');
        return loadView(t.redis, K);
      }, 2000, () => clock);
      await route('A', entry(5));
      // Act / Assess
      expect((await cache.get()).routes.get('A')?.percent).toBe(5);
      await route('A', entry(50));
      clock = 1999;
      expect((await cache.get()).routes.get('A')?.percent).toBe(5);
      clock = 2000;
      expect((await cache.get()).routes.get('A')?.percent).toBe(50);
      fail = true;
      clock = 5000;
      expect((await cache.get()).routes.get('A')?.percent).toBe(50);
      expect(reads).toBe(3);
    });

    it("publishes a poller's declarations with the queue it drains for each class", async () => {
      await declare(TRACK, OWN);
      const view = await loadView(t.redis, K);
      expect(view.declared.get('TrackUserJob')).toMatchObject({ queue: 'default', shared: true, lambdaQueue: 'lambda.TrackUserJob', by: 'poller-1' });
      expect(view.declared.get('OwnJob')).toMatchObject({ queue: 'own', shared: false, lambdaQueue: 'own' });
    });
  });

  describe('Fetcher.forward', () => {
    it('leaves flight and lands on its destination in one step, and writes nothing for a job no longer in flight', async () => {
      // Prepare
      const redis = new Redis(t.url);
      closers.push(() => redis.disconnect());
      const fetcher = new Fetcher(redis, () => new Redis(t.url), K, 'p1');
      const raw = payload('TrackUserJob', jidIn(0, 1), { queue: 'lambda.TrackUserJob', routed_from: 'default' });
      await t.redis.lpush(K.inflight('p1', 'lambda.TrackUserJob'), raw);
      const back = '{"back":true}';
      // Act
      const first = await fetcher.forward({ queue: 'lambda.TrackUserJob', raw }, { queue: 'default' }, back);
      const again = await fetcher.forward({ queue: 'lambda.TrackUserJob', raw }, { queue: 'default' }, back);
      const held = await fetcher.forward({ queue: 'lambda.TrackUserJob', raw }, { held: 'TrackUserJob' }, back);
      // Assess
      expect([first, again, held]).toEqual([true, false, false]);
      expect(await t.redis.lrange('queue:default', 0, -1)).toEqual([back]);
      expect(await t.redis.smembers('queues')).toEqual(['default']);
      expect(await t.redis.exists(K.inflight('p1', 'lambda.TrackUserJob'), K.held('TrackUserJob'))).toBe(0);
    });
  });

  describe('migrateClass', () => {
    it('rolls a class back: its queued, scheduled and retrying jobs on the Lambda side go to Ruby, unmarked, in order', async () => {
      // Prepare: three jobs on the Lambda queue (oldest at the right), one scheduled, one retrying, other classes around
      await declare(TRACK);
      const jids = [0, 1, 2].map((n) => jidIn(0, 1, n));
      const marked = jids.map((j) => markPayload(payload('TrackUserJob', j), 'lambda.TrackUserJob', 'default'));
      await t.redis.lpush('queue:lambda.TrackUserJob', ...marked);
      await t.redis.lpush('queue:default', payload('RubyOnlyJob', jidIn(0, 1, 9)));
      const scheduled = markPayload(payload('TrackUserJob', jidIn(0, 1, 3)), 'lambda.TrackUserJob', 'default');
      const retrying = markPayload(payload('TrackUserJob', jidIn(0, 1, 4), { retry_count: 0, error_class: 'E' }), 'lambda.TrackUserJob', 'default');
      await t.redis.zadd('schedule', '1795334900.5', scheduled, '1795334900.5', payload('RubyOnlyJob', jidIn(0, 1, 8)));
      await t.redis.zadd('retry', '1795334999.25', retrying);
      await route('TrackUserJob', entry(0));
      // Act
      const r = await migrateClass({ redis: t.redis, keys: K }, 'TrackUserJob');
      // Assess: moved ahead of what Ruby had (fetched next), oldest first; sets rewritten in place, same scores
      expect(r).toEqual({ toLambda: 0, toRuby: 3, rewritten: 2, missed: 0 });
      const dflt = await t.redis.lrange('queue:default', 0, -1);
      expect(dflt.map((d) => parsed(d).jid)).toEqual([jidIn(0, 1, 9), jids[2], jids[1], jids[0]]);
      expect(dflt.slice(1)).toEqual([2, 1, 0].map((i) => payload('TrackUserJob', jids[i]!)));
      expect(await t.redis.llen('queue:lambda.TrackUserJob')).toBe(0);
      expect(await t.redis.zrange('schedule', 0, -1, 'WITHSCORES')).toEqual(expect.arrayContaining([payload('TrackUserJob', jidIn(0, 1, 3)), '1795334900.5']));
      expect(await t.redis.zrange('retry', 0, -1, 'WITHSCORES')).toEqual([payload('TrackUserJob', jidIn(0, 1, 4), { retry_count: 0, error_class: 'E' }), '1795334999.25']);
    });

    it("moves a class to Lambda: only its share leaves Ruby's queue, marked; Ruby-only classes stay untouched", async () => {
      // Prepare: 50% on Lambda
      await declare(TRACK);
      const lam = [0, 1].map((n) => jidIn(0, 0.5, n));
      const rb = [0, 1].map((n) => jidIn(0.5, 1, n));
      const other = payload('RubyOnlyJob', jidIn(0, 0.5, 5));
      await t.redis.lpush('queue:default', payload('TrackUserJob', lam[0]!), other, payload('TrackUserJob', rb[0]!), payload('TrackUserJob', lam[1]!), payload('TrackUserJob', rb[1]!));
      await route('TrackUserJob', entry(50));
      // Act
      const r = await migrateClass({ redis: t.redis, keys: K, chunk: 2 }, 'TrackUserJob');
      // Assess
      expect(r.toLambda).toBe(2);
      expect((await t.redis.lrange('queue:default', 0, -1)).map((d) => parsed(d).jid)).toEqual([rb[1], rb[0], jidIn(0, 0.5, 5)]);
      expect(await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).toEqual([1, 0].map((i) => markPayload(payload('TrackUserJob', lam[i]!), 'lambda.TrackUserJob', 'default')));
      expect(await t.redis.smembers('queues')).toEqual(['lambda.TrackUserJob']);
    });

    it('is safe while a consumer pops the same list: every job ends up popped or moved, exactly once', async () => {
      // Prepare: 2,000 jobs on the Lambda queue, rolled back to Ruby while a consumer pops them
      await declare(TRACK);
      const raws = Array.from({ length: 2000 }, (_, i) => markPayload(payload('TrackUserJob', `c${i.toString(16).padStart(23, '0')}`), 'lambda.TrackUserJob', 'default'));
      await t.redis.lpush('queue:lambda.TrackUserJob', ...raws);
      await route('TrackUserJob', entry(0));
      const consumer = new Redis(t.url);
      closers.push(() => consumer.disconnect());
      const popped: string[] = [];
      let stop = false;
      const popping = (async () => {
        while (!stop) {
          const r = await consumer.rpop('queue:lambda.TrackUserJob');
          if (r) popped.push(parsed(r).jid);
          else await new Promise((res) => setTimeout(res, 1));
        }
      })();
      // Act
      const r = await migrateClass({ redis: t.redis, keys: K, chunk: 50 }, 'TrackUserJob');
      stop = true;
      await popping;
      // Assess
      const moved = (await t.redis.lrange('queue:default', 0, -1)).map((d) => parsed(d).jid);
      expect(moved.length).toBe(r.toRuby);
      expect(popped.length + moved.length).toBe(2000);
      expect(new Set([...popped, ...moved]).size).toBe(2000);
      expect(popped.length).toBeGreaterThan(0);
    });

    it("releases a resumed class's held jobs to their sides, in their order, and keeps a paused class's", async () => {
      // Prepare: held jobs, newest at the left as consumers push them
      await declare(TRACK);
      const jids = [0, 1, 2, 3].map((n) => jidIn(n < 2 ? 0 : 0.5, n < 2 ? 0.5 : 1, n));
      await t.redis.lpush(K.held('TrackUserJob'), ...jids.map((j) => payload('TrackUserJob', j)));
      await route('TrackUserJob', entry(50, true));
      expect(await releaseHeld({ redis: t.redis, keys: K }, 'TrackUserJob')).toBe(0);
      // Act
      await route('TrackUserJob', entry(50));
      const n = await releaseHeld({ redis: t.redis, keys: K }, 'TrackUserJob');
      // Assess: each side's jobs in their original order, the oldest at the right (fetched first)
      expect(n).toBe(4);
      expect((await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).map((d) => parsed(d).jid)).toEqual([jids[1], jids[0]]);
      expect((await t.redis.lrange('queue:default', 0, -1)).map((d) => parsed(d).jid)).toEqual([jids[3], jids[2]]);
      expect(await t.redis.exists(K.held('TrackUserJob'))).toBe(0);
    });

    it('sweeps many classes at once: releases the resumed ones that hold jobs, leaves the paused ones held', async () => {
      // Prepare: TrackUserJob resumed with a held job, PausedJob still paused with one, IdleJob resumed with none
      await declare(TRACK, { ...TRACK, class: 'PausedJob' }, { ...TRACK, class: 'IdleJob' });
      await t.redis.lpush(K.held('TrackUserJob'), payload('TrackUserJob', jidIn(0, 1)));
      await t.redis.lpush(K.held('PausedJob'), payload('PausedJob', jidIn(0, 1)));
      await route('TrackUserJob', entry(0));
      await route('PausedJob', entry(0, true));
      await route('IdleJob', entry(0));
      // Act
      const released = await releaseAllHeld({ redis: t.redis, keys: K }, ['TrackUserJob', 'PausedJob', 'IdleJob']);
      // Assess
      expect([...released]).toEqual([['TrackUserJob', 1]]);
      expect(await t.redis.llen('queue:default')).toBe(1);
      expect([await t.redis.llen(K.held('TrackUserJob')), await t.redis.llen(K.held('PausedJob'))]).toEqual([0, 1]);
    });

    it('counts a class’s jobs per side and held', async () => {
      await declare(TRACK);
      await t.redis.lpush('queue:default', payload('TrackUserJob', 'a'), payload('TrackUserJob', 'b'), payload('RubyOnlyJob', 'c'));
      await t.redis.lpush('queue:lambda.TrackUserJob', markPayload(payload('TrackUserJob', 'd'), 'lambda.TrackUserJob', 'default'));
      await t.redis.zadd('schedule', '1', payload('TrackUserJob', 'e'), '2', markPayload(payload('TrackUserJob', 'f'), 'lambda.TrackUserJob', 'default'));
      await t.redis.zadd('retry', '1', payload('TrackUserJob', 'g'));
      await t.redis.lpush(K.held('TrackUserJob'), payload('TrackUserJob', 'h'));
      const counts = await countJobs(t.redis, K, await loadView(t.redis, K), ['TrackUserJob']);
      expect(counts.get('TrackUserJob')).toEqual({ ruby: { queued: 2, scheduled: 1, retries: 1 }, lambda: { queued: 1, scheduled: 1, retries: 0 }, held: 1, partial: false });
    });
  });

  describe('the producer', () => {
    function client(opts: { routing?: boolean } = {}): Client {
      const c = new Client({ redis: t.url, now: () => 1795334852000, ...opts });
      closers.push(() => c.close());
      return c;
    }

    it('writes an unrouted class exactly as without routing', async () => {
      await declare(TRACK);
      await route('Other', entry(100));
      await client().push({ class: 'TrackUserJob', args: [1], jid: 'aaaaaaaaaaaaaaaaaaaaaaaa' });
      await client({ routing: false }).push({ class: 'TrackUserJob', args: [1], jid: 'aaaaaaaaaaaaaaaaaaaaaaaa' });
      const [a, b] = await t.redis.lrange('queue:default', 0, -1);
      expect(a).toBe(b);
    });

    it("sends Lambda's share of push, performIn and pushBulk to the Lambda queue, marked, and Ruby's share as before", async () => {
      // Prepare
      await declare(TRACK);
      await route('TrackUserJob', entry(30));
      const c = client();
      // Act
      const lam = await c.push({ class: 'TrackUserJob', args: [1], jid: jidIn(0, 0.3) });
      const rb = await c.push({ class: 'TrackUserJob', args: [2], jid: jidIn(0.3, 1) });
      const later = await c.push({ class: 'TrackUserJob', args: [3], jid: jidIn(0, 0.3, 1), at: 1795335852 });
      const bulk = await c.pushBulk({ class: 'TrackUserJob', args: Array.from({ length: 1000 }, (_, i) => [i]) });
      // Assess
      const onLambda = (await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).map(parsed);
      const inRuby = (await t.redis.lrange('queue:default', 0, -1)).map(parsed);
      expect(onLambda.map((j) => j.jid)).toContain(lam);
      expect(inRuby.map((j) => j.jid)).toContain(rb);
      for (const j of onLambda) expect([j.queue, j[ROUTED_FROM], jidDraw(j.jid) < 0.3]).toEqual(['lambda.TrackUserJob', 'default', true]);
      for (const j of inRuby) expect([j.queue, j[ROUTED_FROM], jidDraw(j.jid) < 0.3]).toEqual(['default', undefined, false]);
      expect(onLambda.length + inRuby.length).toBe(1002);
      const share = bulk.filter((j) => onLambda.some((o) => o.jid === j)).length / 1000;
      expect(share).toBeGreaterThan(0.24);
      expect(share).toBeLessThan(0.36);
      const [sched] = (await t.redis.zrange('schedule', 0, -1)).map(parsed);
      expect([sched!.jid, sched!.queue, sched![ROUTED_FROM]]).toEqual([later, 'lambda.TrackUserJob', 'default']);
      expect((await t.redis.smembers('queues')).sort()).toEqual(['default', 'lambda.TrackUserJob']);
    });

    it('routes an ActiveJob by its wrapped class', async () => {
      await declare(TRACK);
      await route('TrackUserJob', entry(100));
      const { defineJob } = await import('../../lib/client.js');
      await defineJob<[number]>('TrackUserJob', { activeJob: true, client: client() }).performAsync(7);
      const [j] = (await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).map(parsed);
      expect([j!.wrapped, j!.queue, j![ROUTED_FROM]]).toEqual(['TrackUserJob', 'lambda.TrackUserJob', 'default']);
    });
  });

  describe('stats', () => {
    it('adds each side’s runs to the minute and reads the last hour back with averages over successes', async () => {
      const lambda = recorder();
      lambda.record('TrackUserJob', true, 80);
      lambda.record('TrackUserJob', true, 100);
      lambda.record('TrackUserJob', false, 5000);
      await lambda.flush(NOW - 30 * 60_000);
      await t.redis.hincrby(K.routeStats(NOW), 'TrackUserJob|ruby|p', 4);
      await t.redis.hincrby(K.routeStats(NOW - 61 * 60_000), 'TrackUserJob|ruby|p', 100); // older than an hour
      const stats = await readSideStats(t.redis, K, NOW);
      expect(stats.get('TrackUserJob')).toEqual({ ruby: { processed: 4, failed: 0, ms: 0, avgMs: 0 }, lambda: { processed: 3, failed: 1, ms: 180, avgMs: 90 } });
      expect(await t.redis.ttl(K.routeStats(NOW - 30 * 60_000))).toBeGreaterThan(7000);
    });
  });

  describe("Sidekiq's Metrics tab", () => {
    interface Fixture {
      runs: [string, boolean, number][];
      flushes: string[];
      commands: string[][];
    }
    const fixture = (v: string): Fixture => JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/sidekiq/${v}/metrics.json`, import.meta.url)), 'utf8')) as Fixture;

    /** Every key's value and TTL (hashes as objects, histograms as their 26 counters). */
    async function state(): Promise<Record<string, unknown>> {
      const out: Record<string, unknown> = {};
      for (const key of (await t.redis.keys('*')).sort()) {
        const type = await t.redis.type(key);
        const ttl = Math.round((await t.redis.ttl(key)) / 10) * 10;
        out[key] = type === 'hash' ? { hash: await t.redis.hgetall(key), ttl } : { bits: await t.redis.call('BITFIELD', key, ...Array.from({ length: 26 }, (_, i) => ['GET', 'u16', `#${i}`]).flat()), ttl };
      }
      return out;
    }
    async function replay(f: Fixture): Promise<Record<string, unknown>> {
      await t.redis.flushdb();
      for (const c of f.commands) await t.redis.call(c[0]!, ...c.slice(1));
      return state();
    }
    async function ours(version: 7 | 8, f: Fixture): Promise<Record<string, unknown>> {
      await t.redis.flushdb();
      for (const at of f.flushes) {
        const runs: RunTally = new Map();
        for (const [cls, ok, ms] of f.runs) tallyRun(runs, cls.replace(' (λ)', ''), ok, ms);
        await writeMetrics(version, runs, Date.parse(at));
      }
      return state();
    }

    it('with SIDEKIQ_VERSION=8, writes exactly what Sidekiq 8.1.7 writes for the same runs', async () => {
      const f = fixture('8.1.7');
      expect(await ours(8, f)).toEqual(await replay(f));
    });

    it('by default (7), writes what Sidekiq 7.3.10 writes and what 8.1.7 writes, so either version’s tab shows the runs', async () => {
      const s7 = await replay(fixture('7.3.10'));
      const s8 = await replay(fixture('8.1.7'));
      expect(Object.keys(s7).some((k) => k.startsWith('j|2026'))).toBe(true);
      expect(await ours(7, fixture('7.3.10'))).toEqual({ ...s7, ...s8 });
    });

    it('with SIDEKIQ_VERSION=6 writes nothing (6.x has no Metrics tab)', async () => {
      const runs: RunTally = new Map();
      tallyRun(runs, 'A', true, 1);
      await writeMetrics(6, runs, NOW);
      expect(await t.redis.dbsize()).toBe(0);
    });
  });

  describe('sidekiq-lambda route', () => {
    it('refuses a Lambda share for a class no poller declares, with how to declare it, and changes nothing', async () => {
      const out = io();
      await expect(routeCommand(out)(['TrackUserJob', '--lambda', '10%', '--redis', t.url])).rejects.toThrow(
        "TrackUserJob cannot run on Lambda: no running poller declares it. Declare it in sidekiq-lambda.config.ts — { class: 'TrackUserJob', queue: '<its Sidekiq queue>', shared: true, entry: 'functions/<file>.ts' } — deploy the poller, then route it again",
      );
      expect(await t.redis.exists(K.routes, K.routeLog)).toBe(0);
    });

    it('changes a route, logs it, and lists every class with its jobs per side and the last hour', async () => {
      // Prepare
      await declare(TRACK, OWN);
      await t.redis.lpush('queue:default', payload('TrackUserJob', 'a'));
      await recorder().flush(); // nothing recorded: no key
      const s = recorder();
      s.record('TrackUserJob', true, 40);
      await s.flush();
      const out = io();
      // Act
      await routeCommand(out)(['TrackUserJob', '--lambda', '10%', '--by', 'alice', '--no-migrate', '--redis', t.url]);
      await routeCommand(out)(['--redis', t.url]);
      await routeCommand(out)(['--log', '--redis', t.url]);
      // Assess
      expect(out.lines[0]).toBe('TrackUserJob: lambda 10% (was unrouted), by alice; every process applies it within 2 s');
      const listing = out.lines.slice(1, -1).join('\n');
      expect(listing).toContain('OwnJob  unrouted');
      expect(listing).toMatch(/TrackUserJob {2}lambda 10% {2}\(set .* by alice\)/);
      expect(listing).toContain('waiting    ruby: 1 queued, 0 scheduled, 0 retrying   lambda: 0 queued, 0 scheduled, 0 retrying   held: 0');
      expect(listing).toContain('last hour  ruby: nothing run   lambda: 1 processed, 0 failed, avg 40 ms');
      expect(out.lines.at(-1)).toMatch(/Z {2}TrackUserJob: unrouted → lambda 10% {2}by alice$/);
    });

    it('rolls back with --ruby and migrates the waiting jobs once every process has the route', async () => {
      await declare(TRACK);
      await route('TrackUserJob', entry(100));
      await t.redis.lpush('queue:lambda.TrackUserJob', markPayload(payload('TrackUserJob', 'a'), 'lambda.TrackUserJob', 'default'));
      const out = io();
      await applyRoute(t.redis, K, 'TrackUserJob', { percent: 0 }, { by: 'bob', migrate: true, io: out, waitMs: 0 });
      expect(out.lines).toEqual(['TrackUserJob: ruby (was lambda 100%), by bob; every process applies it within 2 s', 'TrackUserJob: moved 0 waiting jobs to Lambda and 1 to Ruby; rewrote 0 scheduled/retry entries']);
      expect(await t.redis.lrange('queue:default', 0, -1)).toEqual([payload('TrackUserJob', 'a')]);
    });

    it('refuses a Ruby share for a class whose queue the poller drains', async () => {
      await declare(OWN);
      await expect(routeCommand(io())(['OwnJob', '--ruby', '--redis', t.url])).rejects.toThrow('OwnJob runs only on Lambda: its queue own is drained by the poller, so Ruby never sees its jobs.');
      await expect(routeCommand(io())(['OwnJob', '--lambda', '10%', '--ruby', '--redis', t.url])).rejects.toThrow('give one change at a time, not --lambda and --ruby');
    });

    it('prints the table as JSON for scripts', async () => {
      await declare(TRACK);
      await t.redis.hset(K.routes, 'TrackUserJob', writeRouteEntry(entry(25)));
      const out = io();
      await routeCommand(out)(['TrackUserJob', '--json', '--redis', t.url]);
      expect(JSON.parse(out.lines[0]!)).toMatchObject({ class: 'TrackUserJob', route: 'lambda 25%', percent: 25, paused: false, waiting: { held: 0 }, log: [] });
    });
  });

  it('registers its scripts on a connection once', () => {
    const r = new Redis(t.url, { lazyConnect: true });
    expect(registerScripts(r)).toBe(registerScripts(r));
    r.disconnect();
  });
});
