/**
 * What the poller writes is read and acted on by real Ruby Sidekiq, every Sidekiq of the matrix:
 * RetrySet and DeadSet entries; "Retry now", kill and delete from Ruby; the Busy page and Quiet/Stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq } from '../support/ruby.js';
import { startStack, eventually, executions, type Stack } from '../support/stack.js';
import { Client } from '../../lib/client.js';

const t = useRedis();
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

forEachSidekiq((sk) => describe('poller ↔ Ruby Sidekiq', () => {
  it('writes retry and dead entries that Sidekiq::RetrySet and DeadSet read, and Ruby retries run again', async () => {
    // Prepare: one failure to retry, one straight to the dead set
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    const client = new Client({ redis: t.redis });
    const retried = await client.push({ class: 'FailJob', queue: 'q', args: ['boom ünïcode'], backtrace: 3 }) as string;
    const dead = await client.push({ class: 'FailJob', queue: 'q', args: ['gone'], retry: 0 }) as string;
    await eventually(async () => (await t.redis.zcard('retry')) === 1 && (await t.redis.zcard('dead')) === 1);
    // Act: Ruby reads both sets, then retries both
    const out = sk.run(
      `require "sidekiq/api"; require "json"
       Sidekiq.redis { |c| c.ping }
       r = Sidekiq::RetrySet.new.first
       d = Sidekiq::DeadSet.new.first
       bt = r.error_backtrace
       puts JSON.generate({
         retry_size: Sidekiq::RetrySet.new.size, dead_size: Sidekiq::DeadSet.new.size,
         r_jid: r.jid, r_class: r.display_class, r_args: r.display_args, r_msg: r.item["error_message"], r_err: r.item["error_class"],
         r_count: r.item["retry_count"], r_failed_at: r.item["failed_at"].class.name, r_at: r.at.to_f, bt_size: bt.size,
         d_jid: d.jid, d_msg: d.item["error_message"]
       })
       r.retry
       d.retry`,
      t.url,
    );
    const seen = JSON.parse(out.trim().split('\n').pop()!);
    // Assess
    expect(seen).toMatchObject({ retry_size: 1, dead_size: 1, r_jid: retried, r_class: 'FailJob', r_args: ['boom ünïcode'], r_msg: 'boom ünïcode', r_err: 'CustomError', r_count: 0, r_failed_at: 'Float', d_jid: dead, d_msg: 'gone' });
    expect(seen.bt_size).toBeGreaterThan(0);
    expect(seen.bt_size).toBeLessThanOrEqual(3);
    // The poller runs both again: the retried one fails into retry with retry_count 0 again (Ruby made it −1)
    await eventually(async () => (await executions(t.redis)).get(retried) === 2 && (await executions(t.redis)).get(dead) === 2, 15_000, 'the retried jobs to run again');
    await eventually(async () => (await t.redis.zcard('retry')) === 1 && (await t.redis.zcard('dead')) === 1);
    const again = JSON.parse((await t.redis.zrange('retry', 0, 0))[0]!);
    expect(again).toMatchObject({ jid: retried, retry_count: 0 });
    expect(typeof again.retried_at).toBe('number');
  });

  it('keeps a job whose long error message ends in an emoji: Ruby reads its retry entry and promotes it', async () => {
    // Prepare: a failure whose message is 9,999 characters, an emoji, then more (cut at 10,000 characters)
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    const message = 'x'.repeat(9_999) + '😀' + 'y';
    const jid = await new Client({ redis: t.redis }).push({ class: 'FailJob', queue: 'q', args: [message] });
    await eventually(async () => (await t.redis.zcard('retry')) === 1, 15_000, 'the retry entry');
    await stack.close();
    stack = undefined;
    // Act: Ruby reads the entry, then its own scheduler promotes it once due
    await t.redis.zadd('retry', 'XX', '1', (await t.redis.zrange('retry', 0, 0))[0]!);
    const out = sk.run(
      `require "sidekiq/api"; require "sidekiq/scheduled"; require "json"
       e = Sidekiq::RetrySet.new.first
       seen = { jid: e.jid, length: e.item["error_message"].length, tail: e.item["error_message"][-2..] }
       Sidekiq::Scheduled::Enq.${sk.major >= 7 ? 'new(Sidekiq.default_configuration)' : 'new'}.enqueue_jobs
       print JSON.generate(seen.merge(queued: Sidekiq::Queue.new("q").map(&:jid), retry: Sidekiq::RetrySet.new.size))`,
      t.url,
    );
    // Assess: 10,000 characters, the emoji whole; the job is back on its queue, not lost
    expect(JSON.parse(out)).toEqual({ jid, length: 10_000, tail: 'x😀', queued: [jid], retry: 0 });
  });

  it('Ruby kills a retry entry and deletes entries of both sets; the dead one keeps our error fields', async () => {
    // Prepare: two failures in retry, one in dead
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    const client = new Client({ redis: t.redis });
    const toKill = await client.push({ class: 'FailJob', queue: 'q', args: ['kill me'] });
    const toDelete = await client.push({ class: 'FailJob', queue: 'q', args: ['delete me'] });
    const deadOne = await client.push({ class: 'FailJob', queue: 'q', args: ['dead'], retry: 0 });
    await eventually(async () => (await t.redis.zcard('retry')) === 2 && (await t.redis.zcard('dead')) === 1);
    await stack.close();
    stack = undefined;
    // Act: SortedEntry#kill, #delete, as the Web UI's buttons do
    const out = sk.run(
      `require "sidekiq/api"; require "json"
       Sidekiq::RetrySet.new.find_job(${JSON.stringify(toKill)}).kill
       Sidekiq::RetrySet.new.find_job(${JSON.stringify(toDelete)}).delete
       Sidekiq::DeadSet.new.find_job(${JSON.stringify(deadOne)}).delete
       d = Sidekiq::DeadSet.new.to_a
       print JSON.generate({retry: Sidekiq::RetrySet.new.size, dead: d.map { |e| [e.jid, e.item["error_class"], e.item["error_message"], e.item["retry_count"]] }})`,
      t.url,
    );
    // Assess
    expect(JSON.parse(out)).toEqual({ retry: 0, dead: [[toKill, 'CustomError', 'kill me', 0]] });
    expect(await t.redis.llen('queue:q')).toBe(0);
  });

  it('renders a retry entry\'s detail page in the Sidekiq Web UI', async () => {
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    await new Client({ redis: t.redis }).push({ class: 'FailJob', queue: 'q', args: ['web'] });
    await eventually(async () => (await t.redis.zcard('retry')) === 1);
    const out = sk.run(
      `require "sidekiq/web"; require "rack/mock"; require "securerandom"
       r = Sidekiq::RetrySet.new.first
       app = Sidekiq::Web.new
       res = Rack::MockRequest.new(app).get("/retries/#{r.score}-#{r.jid}", "rack.session" => {})
       puts res.status
       puts(res.body.include?("FailJob") ? "has-class" : "no-class")`,
      t.url,
    );
    expect(out.trim().split('\n').slice(-2)).toEqual(['200', 'has-class']);
  });

  it('obeys Quiet and Stop sent by Sidekiq::Process#quiet! and #stop!', async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    const id = stack.running.poller.identity;
    const signal = (method: string) =>
      sk.run(`require "sidekiq/api"; p = Sidekiq::ProcessSet.new.find { |x| x["identity"] == ${JSON.stringify(id)} } or abort("no process"); p.${method}`, t.url);
    // Act: quiet
    signal('quiet!');
    await eventually(async () => (await t.redis.hget(id, 'quiet')) === 'true', 10_000, 'the process to show quiet');
    const client = new Client({ redis: t.redis });
    await client.push({ class: 'OkJob', queue: 'q', args: [] });
    await new Promise((r) => setTimeout(r, 1500));
    // Assess: a quiet poller fetches nothing, and Ruby sees it as stopping
    expect(await t.redis.llen('queue:q')).toBe(1);
    expect(sk.run(`require "sidekiq/api"; print Sidekiq::ProcessSet.new.find { |x| x["identity"] == ${JSON.stringify(id)} }.stopping?`, t.url)).toBe('true');
    // Act: stop
    signal('stop!');
    await stack.running.poller.done;
    expect(await t.redis.sismember('processes', id)).toBe(0);
  });

  it('shows on the Web UI Busy page with the job it is running, and in Sidekiq::Workers', async () => {
    stack = await startStack(t.url, [{ class: 'SlowJob', queue: 'q', handler: 'slow' }]);
    const jid = await new Client({ redis: t.redis }).push({ class: 'SlowJob', queue: 'q', args: [3] });
    await eventually(async () => (await t.redis.hlen(`${stack!.running.poller.identity}:work`)) === 1, 10_000, 'the job in the work hash');
    const out = sk.run(
      `require "sidekiq/web"; require "sidekiq/api"; require "rack/mock"
       res = Rack::MockRequest.new(Sidekiq::Web.new).get("/busy", "rack.session" => {})
       puts res.status
       puts res.body.include?(${JSON.stringify(stack.running.poller.identity.split(':').slice(0, 2).join(':'))})
       puts res.body.include?("sidekiq-lambda")
       puts Sidekiq::Workers.new.map { |_p, _t, w| w.respond_to?(:job) ? w.job.jid : w["payload"]["jid"] }.join(",")`,
      t.url,
    );
    expect(out.trim().split('\n').slice(-4)).toEqual(['200', 'true', 'true', jid]);
  });
}));
