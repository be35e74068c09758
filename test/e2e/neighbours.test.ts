/**
 * Fields other gems put in the payload, through the real poller, real Redis and the local Lambda endpoint: expiring
 * jobs (Sidekiq Pro's `expires_in`) are dropped when fetched, counted and logged; jobs using a feature Lambda cannot
 * honour (a Pro batch, an Enterprise unique or encrypted job, a custom unique lock) are never run and never dropped —
 * sent to Ruby, pinned there, when Ruby can take their class (and Ruby runs them without sending them back, on every
 * Sidekiq of the matrix), else to the dead set with an error that says why and what to do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq } from '../support/ruby.js';
import { startStack, eventually, executions, type Stack } from '../support/stack.js';
import { appEnv, ROUTING_APP, rubyRuns, startSidekiq, type SidekiqServer } from '../support/sidekiq-server.js';
import { Client } from '../../lib/client.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { markPayload, type RouteEntry } from '../../lib/protocol/routing.js';
import { unhonourable, unhonourableMessage, UNHONOURABLE_ERROR } from '../../lib/protocol/neighbours.js';
import { changeRoute } from '../../lib/routing/table.js';

const t = useRedis();
const K = makeKeys();
let stack: Stack | undefined;
let ruby: SidekiqServer | undefined;
afterEach(async () => {
  await stack?.close();
  await ruby?.kill();
  stack = ruby = undefined;
});

const entry = (percent: number): RouteEntry => ({ percent, paused: false, by: 'test', at: Date.now() });
const push = (cls: string, queue: string, args: unknown[], extra: Record<string, unknown> = {}): Promise<string> => new Client({ redis: t.redis }).push({ class: cls, queue, args, ...extra }) as Promise<string>;
const deadEntries = async (): Promise<Record<string, unknown>[]> => (await t.redis.zrange('dead', 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);
const stats = async (s: Stack): Promise<Record<string, any>> => (await fetch(`http://127.0.0.1:${s.running.health.port}/stats`)).json() as Promise<Record<string, any>>;

describe('expiring jobs', () => {
  it('drops a job fetched after its expires_at — acknowledged, not run, counted and logged — and runs one not yet expired', async () => {
    // Prepare: expired in float seconds (Pro, Sidekiq ≤ 7) and in integer ms (sidekiq-expiring-jobs on Sidekiq 8); one an hour ahead
    const now = Date.now();
    const expired = await push('OkJob', 'q', [1], { expires_at: now / 1000 - 60 });
    const expiredMs = await push('OkJob', 'q', [2], { expires_at: now - 1000 });
    const fresh = await push('OkJob', 'q', [3], { expires_at: now / 1000 + 3600 });
    // Act
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    await eventually(async () => (await executions(t.redis)).get(fresh) === 1 && (await stats(stack!)).classes.OkJob.expired === 2, 15_000, 'the fresh job to run and both expired ones to be dropped');
    // Assess
    const s = await stats(stack);
    expect(s.classes.OkJob).toMatchObject({ processed: 1, failed: 0, expired: 2 });
    expect(s.neighbours).toMatchObject({ expired: 2 });
    const ran = await executions(t.redis);
    expect([ran.has(expired), ran.has(expiredMs)]).toEqual([false, false]);
    const lines = stack.logs.filter((l) => l.msg === 'skipped (expired): not run');
    expect(lines.map((l) => l.jid).sort()).toEqual([expired, expiredMs].sort());
    expect(lines.find((l) => l.jid === expired)).toMatchObject({ level: 'info', class: 'OkJob', queue: 'q', reason: `expires_at ${new Date(now - 60_000).toISOString()} passed before it started` });
    await eventually(async () => (await t.redis.llen('queue:q')) === 0 && (await t.redis.keys('sidekiq-lambda:inflight|*')).length === 0);
    expect([await t.redis.zcard('retry'), await t.redis.zcard('dead')]).toEqual([0, 0]);
    await stack.close();
    stack = undefined;
    // Sidekiq counts a job its middleware did not run as processed, as Pro's expiry does.
    expect(await t.redis.get('stat:processed')).toBe('3');
  });
});

describe('features Lambda cannot honour', () => {
  it('sends each to the dead set when Ruby cannot take its class, saying why and what to do — even with retry: false', async () => {
    // Prepare: OkJob is the poller's alone (its queue q is drained by the poller, no route, not shared)
    const jobs = {
      bid: await push('OkJob', 'q', [1], { bid: 'b-9f2c' }),
      unique_for: await push('OkJob', 'q', [2], { unique_for: 3600, retry: false }),
      encrypt: await push('OkJob', 'q', [3, 'BAhbBkkiCHNlY3JldAY6BkVU'], { encrypt: true }),
      lock: await push('OkJob', 'q', [4], { lock: 'my_own_lock', lock_digest: 'uniquejobs:0f1e' }),
    };
    const plain = await push('OkJob', 'q', [5]);
    // Act
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    await eventually(async () => (await t.redis.zcard('dead')) === 4 && (await executions(t.redis)).get(plain) === 1, 15_000, 'four dead jobs and the plain one run');
    // Assess: never run, each with the error for its feature, every byte of the job kept
    const dead = await deadEntries();
    for (const [field, jid] of Object.entries(jobs)) {
      const d = dead.find((e) => e.jid === jid)!;
      const f = unhonourable(d as never)!;
      expect(f.field).toBe(field);
      expect(d).toMatchObject({ class: 'OkJob', queue: 'q', error_class: UNHONOURABLE_ERROR, error_message: unhonourableMessage(f, 'OkJob', 'q'), retry_count: 0 });
    }
    expect(dead.find((e) => e.jid === jobs.bid)!.error_message).toBe(
      'OkJob cannot run on Lambda: it is part of a Sidekiq Pro batch (bid b-9f2c), whose counts and callbacks only Sidekiq Pro\'s Ruby middleware keeps. ' +
        "Ruby cannot take it: OkJob has no share in Ruby and no queue Ruby drains (its queue q is this poller's). " +
        'Let Ruby run such jobs — declare OkJob with shared: true in sidekiq-lambda.config.ts, so Ruby drains its queue — then retry this job from the dead set; or enqueue OkJob without bid',
    );
    expect(dead.find((e) => e.jid === jobs.encrypt)!.args).toEqual([3, 'BAhbBkkiCHNlY3JldAY6BkVU']);
    const ran = await executions(t.redis);
    expect(Object.values(jobs).some((j) => ran.has(j))).toBe(false);
    expect((await stats(stack)).neighbours).toMatchObject({ dead: { bid: 1, unique_for: 1, encrypt: 1, lock: 1 } });
  });

  it('sends them to Ruby, pinned, when Ruby drains the class’s queue — routed 100% to Lambda and all', async () => {
    // Prepare: TrackUserJob shared with Ruby (Ruby drains default), all of it routed to Lambda: the producer
    // placed these jobs on the Lambda queue, marked with their Ruby queue
    stack = await startStack(t.url, [{ class: 'TrackUserJob', queue: 'default', shared: true, handler: 'ok' }]);
    await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
    const raw = (extra: string): string => markPayload(`{"retry":true,"queue":"default","class":"TrackUserJob","args":[1],"jid":"0123456789abcdef0123456${extra}","created_at":1795334852.25,${extra === '1' ? '"bid":"b-1"' : '"encrypt":true'}}`, 'lambda.TrackUserJob', 'default');
    // Act: the poller reads the table within ROUTE_CACHE_MS; push once it has
    await eventually(async () => (stack!.running.poller.snapshot() as { routing: { routes: number } }).routing.routes === 1, 10_000, 'the route read');
    await t.redis.lpush('queue:lambda.TrackUserJob', raw('1'), raw('2'));
    // Assess: on Ruby's queue, unmarked and pinned, every other byte kept; never run on Lambda
    await eventually(async () => (await t.redis.llen('queue:default')) === 2, 15_000, 'both on Ruby’s queue');
    const onRuby = await t.redis.lrange('queue:default', 0, -1);
    expect(onRuby.sort()).toEqual([
      '{"retry":true,"queue":"default","class":"TrackUserJob","args":[1],"jid":"0123456789abcdef01234561","created_at":1795334852.25,"bid":"b-1","ruby_only":"bid"}',
      '{"retry":true,"queue":"default","class":"TrackUserJob","args":[1],"jid":"0123456789abcdef01234562","created_at":1795334852.25,"encrypt":true,"ruby_only":"encrypt"}',
    ]);
    expect(await t.redis.sismember('queues', 'default')).toBe(1);
    expect((await executions(t.redis)).size).toBe(0);
    expect((stack.running.poller.snapshot() as { neighbours: object }).neighbours).toMatchObject({ sentToRuby: { bid: 1, encrypt: 1 } });
    expect(stack.logs.filter((l) => String(l.msg).startsWith('sent to Ruby: Lambda cannot honour')).map((l) => [l.msg, l.to])).toEqual(
      expect.arrayContaining([['sent to Ruby: Lambda cannot honour bid', 'default'], ['sent to Ruby: Lambda cannot honour encrypt', 'default']]),
    );
  });

  forEachSidekiq((sk) => it('Ruby runs a batch job the poller sent it, without sending it back, while the class is routed 100% to Lambda', async () => {
    // Prepare: both sides running; TrackUserJob shared and all on Lambda
    stack = await startStack(t.url, [{ class: 'TrackUserJob', queue: 'default', shared: true, handler: 'ok' }]);
    await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
    ruby = await startSidekiq(sk, t.url, t.redis, { concurrency: 2 });
    await eventually(async () => (stack!.running.poller.snapshot() as { routing: { routes: number } }).routing.routes === 1, 10_000, 'the route read');
    // Act: Ruby enqueues a plain job and a batch job; its client middleware places both on the Lambda queue
    const out = sk.run(`require ${JSON.stringify(ROUTING_APP)}; require "json"
      puts JSON.generate([TrackUserJob.perform_async(1), TrackUserJob.set("bid" => "b-77").perform_async(2)])`, t.url, appEnv());
    const [plain, batch] = JSON.parse(out.trim().split('\n').pop()!) as [string, string];
    // Assess: the plain one ran on Lambda, the batch one in Ruby — once each, nothing left anywhere
    await eventually(async () => (await executions(t.redis)).get(plain) === 1 && (await rubyRuns(t.redis)).get(batch) === 1, 30_000, 'each on its side');
    await eventually(async () => (await t.redis.llen('queue:default')) + (await t.redis.llen('queue:lambda.TrackUserJob')) === 0, 10_000, 'both queues empty');
    expect((await executions(t.redis)).has(batch)).toBe(false);
    expect((await rubyRuns(t.redis)).has(plain)).toBe(false);
  }));
});
