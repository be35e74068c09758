/**
 * Moving a class between Ruby and Lambda with both sides running: a real Ruby Sidekiq server (each Sidekiq of the
 * matrix, the sidekiq-lambda gem loaded as a Rails app loads it, test/e2e/fixtures/routing_app.rb), the real poller
 * against the local Lambda endpoint, real Redis. Ruby's runs are counted in `e2e:ruby-ran`, Lambda's in `e2e:ran`.
 *
 * A canary of 10% on a queue shared with Ruby-only classes; a rollback with jobs queued, scheduled and retrying on
 * the poller's side; pause and resume in order; kill -9 of a poller and of a Ruby process mid-migration.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, SIDEKIQS, type Sidekiq } from '../support/ruby.js';
import { eventually, executions, startStack, HANDLERS, type Stack, type StackFunction } from '../support/stack.js';
import { buildCli, spawnPoller, type PollerProcess } from '../support/poller-process.js';
import { appEnv, ROUTING_APP, rubyRuns, startSidekiq, type SidekiqServer } from '../support/sidekiq-server.js';
import { startLocalLambda } from '../../lib/local/endpoint.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { readJob, type JobPayload } from '../../lib/protocol/job.js';
import { jidDraw, markPayload, ROUTED_FROM, type RouteEntry } from '../../lib/protocol/routing.js';
import { changeRoute, publishDeclarations } from '../../lib/routing/table.js';
import { migrateClass } from '../../lib/routing/migrate.js';
import { readSideStats } from '../../lib/routing/stats.js';
import { applyRoute, routeCommand } from '../../lib/cli/route.js';
import { Client } from '../../lib/client.js';
import type { Io } from '../../lib/cli/ops.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const K = makeKeys();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const entry = (percent: number, paused = false): RouteEntry => ({ percent, paused, by: 'test', at: Date.now() });
const parsed = (raw: string): JobPayload => (readJob(raw) as { job: JobPayload }).job;
const quiet: Io = { out: () => undefined, err: () => undefined, tty: false, ask: async () => '' };
const track = (handler: string, more: Partial<StackFunction> = {}): StackFunction => ({ class: 'TrackUserJob', queue: 'default', shared: true, handler, ...more });

async function stack(fns: StackFunction[]): Promise<Stack> {
  const s = await startStack(t.url, fns);
  cleanups.push(() => s.close());
  return s;
}
async function sidekiq(sk: Sidekiq, opts: Parameters<typeof startSidekiq>[3] = {}): Promise<SidekiqServer> {
  const s = await startSidekiq(sk, t.url, t.redis, opts);
  cleanups.push(() => s.kill());
  return s;
}
/** Ruby with the routing app loaded; returns the last line of output as JSON. */
function ruby<T>(sk: Sidekiq, script: string): T {
  const out = sk.run(`require ${JSON.stringify(ROUTING_APP)}; require "json"\n${script}`, t.url, appEnv());
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
/** Every run so far, on either side. */
async function runs(): Promise<{ ruby: Map<string, number>; lambda: Map<string, number> }> {
  return { ruby: await rubyRuns(t.redis), lambda: await executions(t.redis) };
}

forEachSidekiq((sk) => describe('routing with both sides running', () => {
  it('a 10% canary over 2,000 jobs on a queue shared with Ruby-only classes, two pollers and two Sidekiq processes: each job once, on the side its jid draws', async () => {
    // Prepare: two pollers declare TrackUserJob and an ActiveJob class, both sharing `default` with Ruby; two
    // Sidekiq processes drain `default`
    const fns = [track('ok', { concurrency: 20 }), { class: 'TrackUserActiveJob', queue: 'default', shared: true, handler: 'ok' }];
    const first = await stack(fns);
    const second = await startStack(t.url, [], {}, { lambdaUrl: first.lambdaUrl, extraRoutes: fns.map((f) => ({ class: f.class, queue: f.queue, function: `fn-${f.class}`, timeoutSeconds: 10, concurrency: 20, batchSize: 1, shared: true })) });
    cleanups.push(() => second.close());
    await applyRoute(t.redis, K, 'TrackUserJob', { percent: 10 }, { by: 'test', migrate: false, io: quiet });
    await applyRoute(t.redis, K, 'TrackUserActiveJob', { percent: 50 }, { by: 'test', migrate: false, io: quiet });
    const servers = await Promise.all([sidekiq(sk, { concurrency: 5 }), sidekiq(sk, { concurrency: 5 })]);
    // Act: Rails enqueues 2,000 TrackUserJobs (push_bulk and perform_async), 200 Ruby-only jobs and 100 ActiveJobs
    const out = ruby<{ track: string[]; plain: string[]; aj: string[] }>(sk, `
      track = Sidekiq::Client.push_bulk("class" => TrackUserJob, "args" => (1..1000).map { |i| [i] })
      plain = []; aj = []
      1000.times do |i|
        track << TrackUserJob.perform_async(i)
        plain << RubyOnlyJob.perform_async(i) if i % 5 == 0
        aj << TrackUserActiveJob.perform_later(i).provider_job_id if i % 10 == 0
      end
      puts JSON.generate({ track: track, plain: plain, aj: aj })
    `);
    // Assess: every job ran exactly once, on the side its jid draws
    const all = [...out.track, ...out.plain, ...out.aj];
    const r = await eventually(async () => {
      const now = await runs();
      return [...now.ruby.values(), ...now.lambda.values()].reduce((a, b) => a + b, 0) >= all.length ? now : undefined;
    }, 60_000, `${all.length} runs`);
    for (const jid of all) expect([jid, (r.ruby.get(jid) ?? 0) + (r.lambda.get(jid) ?? 0)]).toEqual([jid, 1]);
    const onLambda = out.track.filter((j) => r.lambda.has(j));
    expect(onLambda.sort()).toEqual(out.track.filter((j) => jidDraw(j) < 0.1).sort());
    expect(onLambda.length).toBeGreaterThan(140); // 10% of 2,000 is 200; ±60 is 4.5 standard deviations
    expect(onLambda.length).toBeLessThan(260);
    expect(out.aj.filter((j) => r.lambda.has(j)).sort()).toEqual(out.aj.filter((j) => jidDraw(j) < 0.5).sort());
    for (const jid of out.plain) expect(r.ruby.get(jid)).toBe(1); // Ruby-only classes untouched
    expect([await t.redis.zcard('retry'), await t.redis.zcard('dead'), await t.redis.llen('queue:default'), await t.redis.llen('queue:lambda.TrackUserJob')]).toEqual([0, 0, 0, 0]);
    // Both sides ran it, on each side in both processes; and both sides' last hour (Ruby flushes its stats at
    // shutdown, the poller at stop)
    for (const s of [first, second]) expect((s.running.poller.snapshot() as { classes: Record<string, { processed: number }> }).classes.TrackUserJob!.processed).toBeGreaterThan(0);
    await Promise.all(servers.map((s) => s.stop()));
    for (const c of cleanups.splice(0).reverse()) await c();
    const hour = (await readSideStats(t.redis, K, Date.now())).get('TrackUserJob')!;
    expect([hour.ruby.processed, hour.lambda.processed]).toEqual([2000 - onLambda.length, onLambda.length]);
  });

  it('rolls back mid-run: jobs queued, scheduled and retrying on the poller’s side all run in Ruby, none twice', async () => {
    // Prepare: TrackUserJob all on Lambda, two at a time, half a second each
    await stack([track('slow', { concurrency: 2 })]);
    await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
    await sidekiq(sk, { concurrency: 5 });
    const out = ruby<{ queued: string[]; scheduled: string[] }>(sk, `
      queued = 20.times.map { TrackUserJob.perform_async(0.5) }
      scheduled = 5.times.map { TrackUserJob.perform_in(3, 0.5) }
      puts JSON.generate({ queued: queued, scheduled: scheduled })
    `);
    // … and five failures of the poller waiting in the retry set, due in 3 s, as the poller writes them
    const retrying = Array.from({ length: 5 }, (_, i) => `e${i.toString(16).padStart(23, '0')}`);
    for (const jid of retrying) {
      const raw = JSON.stringify({ retry: true, queue: 'default', class: 'TrackUserJob', args: [0.5], jid, created_at: Date.now() / 1000, enqueued_at: Date.now() / 1000, error_message: 'boom', error_class: 'Error', failed_at: Date.now() / 1000, retry_count: 0 });
      await t.redis.zadd('retry', String(Date.now() / 1000 + 3), markPayload(raw, 'lambda.TrackUserJob', 'default'));
    }
    expect((await t.redis.zrange('schedule', 0, -1)).map(parsed).every((j) => j.queue === 'lambda.TrackUserJob')).toBe(true);
    await eventually(async () => (await executions(t.redis)).size >= 2, 20_000, 'the first runs on Lambda');
    // Act
    await applyRoute(t.redis, K, 'TrackUserJob', { percent: 0 }, { by: 'test', migrate: true, io: quiet });
    // Assess: everything ran, once; after the rollback only what was already running ran on Lambda
    const all = [...out.queued, ...out.scheduled, ...retrying];
    const r = await eventually(async () => {
      const now = await runs();
      return all.every((j) => now.ruby.has(j) || now.lambda.has(j)) ? now : undefined;
    }, 60_000, 'every job');
    for (const jid of all) expect([jid, (r.ruby.get(jid) ?? 0) + (r.lambda.get(jid) ?? 0)]).toEqual([jid, 1]);
    for (const jid of [...out.scheduled, ...retrying]) expect(r.ruby.get(jid)).toBe(1);
    expect(r.lambda.size).toBeLessThan(out.queued.length);
    expect([await t.redis.zcard('schedule'), await t.redis.zcard('retry'), await t.redis.llen('queue:lambda.TrackUserJob')]).toEqual([0, 0, 0]);
  });

  it('pauses a class (nothing runs, every job held and counted) and resumes it in order', async () => {
    // Prepare: half of TrackUserJob on Lambda, paused; one job at a time on each side
    await stack([track('ok', { concurrency: 1 })]);
    await changeRoute(t.redis, K, 'TrackUserJob', entry(50, true), 'test', Date.now());
    await sidekiq(sk, { concurrency: 1 });
    const jids = ruby<string[]>(sk, 'puts JSON.generate(20.times.map { |i| TrackUserJob.perform_async(i) })');
    // Act: both sides fetch and hold
    await eventually(async () => (await t.redis.llen(K.held('TrackUserJob'))) === 20, 20_000, '20 held jobs');
    const before = await runs();
    const listing: string[] = [];
    await routeCommand({ ...quiet, out: (l) => listing.push(l) })(['TrackUserJob', '--redis', t.url]);
    await applyRoute(t.redis, K, 'TrackUserJob', { resume: true }, { by: 'test', migrate: true, io: quiet });
    // Assess: nothing ran while paused; after the resume each side ran its share in enqueue order
    expect([before.ruby.size, before.lambda.size]).toEqual([0, 0]);
    expect(listing.join('\n')).toContain('held: 20');
    const lambdaShare = jids.filter((j) => jidDraw(j) < 0.5);
    const rubyShare = jids.filter((j) => jidDraw(j) >= 0.5);
    await eventually(async () => (await t.redis.llen('e2e:ran')) === lambdaShare.length && (await t.redis.llen('e2e:ruby-ran')) === rubyShare.length, 30_000, 'every held job');
    expect(await t.redis.lrange('e2e:ran', 0, -1)).toEqual(lambdaShare);
    expect(await t.redis.lrange('e2e:ruby-ran', 0, -1)).toEqual(rubyShare);
    expect(await t.redis.exists(K.held('TrackUserJob'))).toBe(0);
  });
}));

describe('kill -9 mid-migration', () => {
  beforeAll(() => buildCli());
  const last = SIDEKIQS[SIDEKIQS.length - 1]!;
  const first = SIDEKIQS[0]!;

  forEachSidekiq((sk) => it('of a poller: every job runs in Ruby or ran already; only jobs that poller was running run twice', async () => {
    // Prepare: two poller processes share TrackUserJob (100% on Lambda, 4 at a time), 60 jobs of 0.3 s
    const lambda = await startLocalLambda({ port: 0, functions: [{ name: 'fn-TrackUserJob', entry: HANDLERS, handlerExport: 'slow', timeoutSeconds: 30, memoryMb: 256, concurrency: 10, environment: { REDIS_URL: t.url, LOG_LEVEL: 'warn' } }] });
    cleanups.push(() => lambda.close());
    const routes: Route[] = [{ class: 'TrackUserJob', queue: 'default', function: 'fn-TrackUserJob', timeoutSeconds: 30, concurrency: 4, batchSize: 1, shared: true }];
    const [a, b] = [spawnPoller(t.url, lambda.url, routes), spawnPoller(t.url, lambda.url, routes)].map((p: PollerProcess) => {
      cleanups.push(async () => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        await p.exited;
      });
      return p;
    });
    await Promise.all([a!.ready, b!.ready]);
    await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
    await sidekiq(sk);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'TrackUserJob', args: Array.from({ length: 60 }, () => [0.3]) }) as string[];
    // The victim: a poller with jobs in flight (its in-flight list is `…inflight|<host>:<pid>:<hex>|<queue>`)
    const inflightA = await eventually(async () => {
      for (const k of await t.redis.keys('sidekiq-lambda:inflight*')) if ((await t.redis.llen(k)) > 0) return k;
      return undefined;
    }, 20_000, 'a poller with jobs in flight');
    const victim = [a!, b!].find((p) => inflightA.split('|')[1]!.split(':')[1] === String(p.child.pid))!;
    // Act: roll back; kill the poller while the route propagates and the migration runs
    const rollback = applyRoute(t.redis, K, 'TrackUserJob', { percent: 0 }, { by: 'test', migrate: true, io: quiet });
    await eventually(async () => (await t.redis.hget(K.routes, 'TrackUserJob'))?.includes('"percent":0'), 5000, 'the new route');
    const running = new Set((await t.redis.lrange(inflightA, 0, -1)).map((raw) => parsed(raw).jid));
    victim.child.kill('SIGKILL');
    await victim.exited;
    await rollback;
    // Assess: every job ran; the only jobs that ran on both sides were in the killed poller's hands
    const r = await eventually(async () => {
      const now = await runs();
      return jids.every((j) => now.ruby.has(j) || now.lambda.has(j)) ? now : undefined;
    }, 60_000, 'every job');
    for (const jid of jids) {
      const n = (r.ruby.get(jid) ?? 0) + (r.lambda.get(jid) ?? 0);
      if (n > 1) expect([jid, running.has(jid)]).toEqual([jid, true]);
    }
    await eventually(async () => (await t.redis.llen('queue:lambda.TrackUserJob')) === 0 && (await t.redis.llen('queue:default')) === 0, 20_000, 'empty queues');
  }), { only: (sk) => sk === last });

  forEachSidekiq((sk) => it('of the Ruby process migrating (the Web UI’s rollback): no job lost or doubled; running it again finishes', async () => {
    // Prepare: 20,000 TrackUserJobs waiting on Lambda's side; a poller forwarding what it fetches once rolled back
    await stack([track('slow', { concurrency: 1 })]);
    const jids = Array.from({ length: 20_000 }, (_, i) => `f${i.toString(16).padStart(23, '0')}`);
    for (let i = 0; i < jids.length; i += 1000) {
      await t.redis.lpush('queue:lambda.TrackUserJob', ...jids.slice(i, i + 1000).map((jid) => markPayload(JSON.stringify({ retry: true, queue: 'default', class: 'TrackUserJob', args: [0.3], jid }), 'lambda.TrackUserJob', 'default')));
    }
    await publishDeclarations(t.redis, K, [{ class: 'TrackUserJob', queue: 'default', function: 'fn', timeoutSeconds: 30, concurrency: 1, batchSize: 1, shared: true }], 'poller-1', Date.now());
    await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
    // Act: a Ruby process rolls back as the Web UI's button does, and is killed -9 halfway through its migration
    const child = sk.spawn(['-e', `require ${JSON.stringify(ROUTING_APP)}; require "sidekiq_lambda/operations"
      SidekiqLambda::Operations.change("TrackUserJob", :ruby, by: "kill-test")
      SidekiqLambda::Operations.migrate("TrackUserJob")`], t.url, appEnv());
    cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
    await eventually(async () => (await t.redis.llen('queue:default')) > 2000, 30_000, 'the migration under way');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lambdaLeft = await t.redis.llen('queue:lambda.TrackUserJob');
    // Assess: cut short, nothing lost or doubled; the CLI's migration (run again) finishes it
    expect(lambdaLeft).toBeGreaterThan(0);
    await migrateClass({ redis: t.redis, keys: K }, 'TrackUserJob');
    const ranOnLambda = await executions(t.redis);
    await eventually(async () => (await t.redis.llen('queue:lambda.TrackUserJob')) === 0 && (await Promise.all((await t.redis.keys('sidekiq-lambda:inflight*')).map((k) => t.redis.llen(k)))).every((n) => n === 0), 20_000, 'nothing left on Lambda’s side');
    const inRuby = (await t.redis.lrange('queue:default', 0, -1)).map(parsed);
    const all = [...inRuby.map((j) => j.jid), ...ranOnLambda.keys()];
    expect(all.length).toBe(20_000);
    expect(new Set(all).size).toBe(20_000);
    for (const j of inRuby) expect([j.queue, j[ROUTED_FROM]]).toEqual(['default', undefined]);
  }), { only: (sk) => sk === first });
});
