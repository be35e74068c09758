/**
 * Real Ruby Sidekiq — each Sidekiq of the matrix — reads what we write: the API (`ProcessSet`, `WorkSet`,
 * `Stats`, the sorted sets) and every Web UI page, rendered by `Sidekiq::Web` through `Rack::MockRequest`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { forEachSidekiq } from '../support/ruby.js';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { Heartbeat, makeIdentity, type RemoteSignal, type WorkEntry } from '../../lib/sidekiq/heartbeat.js';
import { Stats } from '../../lib/sidekiq/stats.js';
import { Client } from '../../lib/client.js';
import { failedPayload } from '../../lib/sidekiq/retry.js';
import { readJob, type JobPayload } from '../../lib/protocol/job.js';
import { score } from '../../lib/protocol/time.js';
import { killJob, retryJob } from '../../lib/sidekiq/api.js';
import { promoteDue } from '../../lib/sidekiq/scheduled.js';
import { eventually } from '../support/stack.js';

const t = useRedis();
const K = makeKeys();
let running: Heartbeat | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function makeHeartbeat(work: WorkEntry[], intervalMs = 5000) {
  const signals: RemoteSignal[] = [];
  let quiet = false;
  const stats = new Stats();
  const hb = new Heartbeat({
    redis: t.redis, keys: K, identity: makeIdentity('lambdahost'), tag: 'orders', labels: ['blue'], concurrency: 50,
    queues: [{ name: 'default', weight: 0 }, { name: 'low', weight: 0 }], version: 'sidekiq-lambda/0.1.0',
    source: { busy: () => work.length, work: () => work, quiet: () => quiet }, stats, intervalMs,
    onSignal: (s) => {
      signals.push(s);
      if (s === 'TSTP') quiet = true;
    },
  });
  return { hb, signals, stats };
}

/** A retry entry exactly as our poller writes it. */
async function writeRetry(client: Client, n: number): Promise<{ jid: string; score: string }> {
  const jid = n.toString(16).padStart(24, 'e');
  await client.push({ class: 'HardJob', args: [n, 12345678901234567890n.toString()], jid, queue: 'scratch' });
  const raw = (await t.redis.rpop('queue:scratch'))!;
  await t.redis.srem(K.queues, 'scratch');
  const job = (readJob(raw) as { job: JobPayload }).job;
  const now = Date.now();
  const failed = failedPayload(raw, { job, queue: 'default', error: { class: 'RuntimeError', message: `boom ${n}`, backtrace: ['a.ts:1'] }, now, version: 7 });
  const s = score(now + 60_000);
  await t.redis.zadd(K.retry, s, failed);
  return { jid, score: s };
}

forEachSidekiq((sk) => describe('Ruby Sidekiq reads our state', () => {
  it('ProcessSet, Workers, Stats and the sorted sets see our process, jobs and counters', async () => {
    // Prepare
    const client = new Client({ redis: t.redis });
    const jid = await client.push({ class: 'HardJob', args: [1], queue: 'default' });
    const payload = (await t.redis.lindex('queue:default', 0))!;
    const { hb, stats } = makeHeartbeat([{ tid: 'abc', queue: 'default', payload, runAt: Date.now() }]);
    stats.processed(10);
    stats.failed(3);
    await hb.beat();
    const retry = await writeRetry(client, 2);
    await client.push({ class: 'LaterJob', args: [], at: Date.now() / 1000 + 3600 });
    const killed = await writeRetry(client, 3);
    await killJob({ redis: t.redis, keys: K }, killed.jid);
    // Act
    const out = JSON.parse(sk.run(`
      require 'sidekiq'; require 'sidekiq/api'; require 'json'
      ps = Sidekiq::ProcessSet.new.to_a
      s = Sidekiq::Stats.new
      puts JSON.dump({
        processes: ps.map { |p| { identity: p.identity, quiet: p.stopping?, busy: p['busy'], queues: p['queues'], labels: p.labels, concurrency: p['concurrency'], tag: p.tag } },
        # What 7.x reads beside (the Busy page's weights, version and embedded label).
        process7: ps.map { |p| p.respond_to?(:weights) ? { weights: p.weights, version: p.version, embedded: p.embedded? } : nil },
        # 6.x yields a Hash with the payload parsed; 7.x a Sidekiq::Work whose #job parses it.
        workers: Sidekiq::Workers.new.map { |pid, tid, w| w.respond_to?(:job) ? [pid, tid, w.queue, w.job.jid, w.run_at.to_i] : [pid, tid, w['queue'], w['payload']['jid'], w['run_at']] },
        stats: { processed: s.processed, failed: s.failed, retry: s.retry_size, scheduled: s.scheduled_size, dead: s.dead_size, workers: s.workers_size, processes: s.processes_size, enqueued: s.enqueued },
        retries: Sidekiq::RetrySet.new.map { |e| [e.jid, e['retry_count'], e['error_class'], e.queue] },
        scheduled: Sidekiq::ScheduledSet.new.map { |e| e.klass },
        dead: Sidekiq::DeadSet.new.map { |e| e.jid },
      })
    `, t.url));
    // Assess
    expect(out.processes).toEqual([{ identity: hb.identity, quiet: false, busy: 1, queues: ['default', 'low'], labels: ['blue', 'sidekiq-lambda'], concurrency: 50, tag: 'orders' }]);
    expect(out.process7).toEqual([sk.major >= 7 ? { weights: [{ default: 0, low: 0 }], version: 'sidekiq-lambda/0.1.0', embedded: false } : null]);
    expect(out.workers).toEqual([[hb.identity, 'abc', 'default', jid, expect.any(Number)]]);
    expect(out.stats).toEqual({ processed: 10, failed: 3, retry: 1, scheduled: 1, dead: 1, workers: 1, processes: 1, enqueued: 1 });
    expect(out.retries).toEqual([[retry.jid, 0, 'RuntimeError', 'default']]);
    expect(out.scheduled).toEqual(['LaterJob']);
    expect(out.dead).toEqual([killed.jid]);
  });

  it('every Web UI page answers 200 and shows our process and jobs', async () => {
    // Prepare: a busy process, queued, scheduled, retry and dead jobs, and an unreadable dead entry.
    const client = new Client({ redis: t.redis });
    const jid = await client.push({ class: 'QueuedJob', args: ['x'], queue: 'default' });
    const payload = (await t.redis.lindex('queue:default', 0))!;
    const { hb } = makeHeartbeat([{ tid: 'tid1', queue: 'default', payload, runAt: Date.now() }]);
    await hb.beat();
    const retry = await writeRetry(client, 5);
    const sjid = await client.push({ class: 'ScheduledJob', args: [], at: Date.now() / 1000 + 3600 });
    const killed = await writeRetry(client, 6);
    await killJob({ redis: t.redis, keys: K }, killed.jid);
    await t.redis.zadd(K.schedule, '1.0', '{"args":["no class"]}', '2.0', 'not json at all');
    await promoteDue({ redis: t.redis, keys: K }); // both unreadable entries → the morgue
    // Act
    const pages = ['/', '/stats', '/busy', '/queues', '/queues/default', '/retries', `/retries/${retry.score}-${retry.jid}`, '/scheduled', '/morgue', ...(sk.major >= 7 ? ['/metrics'] : [])];
    const out = JSON.parse(sk.run(`
      require 'sidekiq'; require 'sidekiq/api'; require 'sidekiq/web'; require 'rack/mock'; require 'json'
      require 'rack/session/cookie'
      web = Rack::Builder.new { use Rack::Session::Cookie, secret: 's' * 64; run Sidekiq::Web }
      app = Rack::MockRequest.new(web)
      r = {}
      ${JSON.stringify(pages)}.each { |p| res = app.get(p); r[p] = [res.status, res.body] }
      puts JSON.dump(r)
    `, t.url)) as Record<string, [number, string]>;
    // Assess
    for (const p of pages) expect([p, out[p]![0]]).toEqual([p, 200]);
    expect(out['/busy']![1]).toContain('lambdahost:' + process.pid);
    expect(out['/busy']![1]).toContain('sidekiq-lambda');
    expect(out['/busy']![1]).toContain('QueuedJob');
    expect(out['/busy']![1]).toMatch(/Queues: <\/b>\s*default, low/);
    if (sk.major >= 7) expect(out['/busy']![1]).toMatch(/Version: <\/b>\s*sidekiq-lambda\/0\.1\.0/);
    expect(JSON.parse(out['/stats']![1]).sidekiq).toMatchObject({ busy: 1, processes: 1, enqueued: 1, scheduled: 1, retries: 1, dead: 3 });
    expect(out['/queues']![1]).toContain('default');
    expect(out['/queues/default']![1]).toContain(jid);
    expect(out['/retries']![1]).toContain('boom 5');
    expect(out[`/retries/${retry.score}-${retry.jid}`]![1]).toContain(retry.jid);
    expect(out['/scheduled']![1]).toContain('ScheduledJob');
    expect(out['/scheduled']![1]).toContain(sjid);
    expect(out['/morgue']![1]).toContain('boom 6');
    expect(out['/morgue']![1]).toContain('SidekiqLambda::InvalidJob');
  });

  it("Process#quiet! and #stop! from Ruby reach onSignal within one heartbeat, and quiet shows", async () => {
    // Prepare
    const { hb, signals } = makeHeartbeat([], 300);
    running = hb;
    await hb.start();
    // Act
    sk.run(`require 'sidekiq/api'; Sidekiq::ProcessSet.new.each(&:quiet!)`, t.url);
    await eventually(() => signals.includes('TSTP') && t.redis.hget(hb.identity, 'quiet').then((q) => q === 'true'), 10_000, 'the quiet beat');
    const quiet = sk.run(`require 'sidekiq/api'; print Sidekiq::ProcessSet.new.first.stopping?`, t.url);
    sk.run(`require 'sidekiq/api'; Sidekiq::ProcessSet.new.each(&:stop!)`, t.url);
    await eventually(() => signals.includes('TERM'), 10_000, 'TERM');
    // Assess
    expect(signals).toEqual(['TSTP', 'TERM']);
    expect(quiet).toBe('true');
  });

  it("a retry put back by Ruby's SortedEntry#retry and one by our retryJob land on the queue alike", async () => {
    const client = new Client({ redis: t.redis });
    const a = await writeRetry(client, 7);
    const b = await writeRetry(client, 8);
    sk.run(`require 'sidekiq/api'; Sidekiq::RetrySet.new.find_job('${a.jid}').retry`, t.url);
    await retryJob({ redis: t.redis, keys: K }, b.jid);
    const jobs = (await t.redis.lrange('queue:default', 0, -1)).map((j) => JSON.parse(j) as JobPayload);
    expect(jobs.map((j) => [j.jid, j.retry_count])).toEqual([[b.jid, -1], [a.jid, -1]]);
    expect(await t.redis.zcard(K.retry)).toBe(0);
  });
}));
