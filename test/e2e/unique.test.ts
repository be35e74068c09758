/**
 * sidekiq-unique-jobs' contract kept on Lambda, end to end against the real gem (the Sidekiq matrix entries that pin
 * it: 8.x needs Sidekiq 7+): Ruby enqueues through the gem's client middleware (a second enqueue refused by the
 * lock), the real poller runs the job on the local Lambda endpoint, then Ruby enqueues again — accepted exactly when
 * the gem's server middleware would have released the lock by then. A lock never released would refuse every later
 * enqueue of the class silently: each type is run through enqueue twice, run, enqueue again; failures too.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, type Sidekiq } from '../support/ruby.js';
import { startStack, eventually, executions, type Stack } from '../support/stack.js';

const t = useRedis();
const UNIQUE_APP = fileURLToPath(new URL('./fixtures/unique_app.rb', import.meta.url));
const ENTRY = fileURLToPath(new URL('./fixtures/neighbour-handlers.ts', import.meta.url));

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The poller running `classes` from queue `unique` on the `latched` handler. */
async function start(...classes: string[]): Promise<Stack> {
  stack = await startStack(t.url, classes.map((c) => ({ class: c, queue: 'unique', handler: 'latched', entry: ENTRY, timeoutSeconds: 30, concurrency: 4 })));
  return stack;
}

const started = async (): Promise<string[]> => t.redis.lrange('e2e:started', 0, -1);
const ran = async (jid: string): Promise<number> => (await executions(t.redis)).get(jid) ?? 0;
/** Nothing left in the queue or in flight. */
const drained = async (): Promise<boolean> => (await t.redis.llen('queue:unique')) === 0 && (await t.redis.keys('sidekiq-lambda:inflight|*')).length === 0;
const payloads = async (key: string, kind: 'list' | 'zset'): Promise<Record<string, unknown>[]> =>
  (kind === 'list' ? await t.redis.lrange(key, 0, -1) : await t.redis.zrange(key, 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);

forEachSidekiq((sk) => {
  const version = sk.gems.get('sidekiq-unique-jobs');
  if (!version) {
    const why = `the Sidekiq matrix entry ${sk.entry} has no sidekiq-unique-jobs in test/ruby/${sk.entry}/Gemfile.lock`;
    if (sk.major >= 7 && process.env.CI === 'true') it('needs sidekiq-unique-jobs (required under CI=true)', () => expect.fail(why));
    else {
      console.warn(`\n*** SKIPPED sidekiq-unique-jobs on ${sk.label}: ${why}${sk.major < 7 ? ' (its 8.x needs Sidekiq 7 or later)' : ''} ***\n`);
      it.skip(`sidekiq-unique-jobs (${why})`, () => undefined);
    }
    return;
  }

  /** Ruby enqueues each [class, args, options?] through the gem's client middleware: the jids, null where the lock refused. */
  function enqueue(...calls: [cls: string, args: unknown[], opts?: Record<string, unknown>][]): (string | null)[] {
    const out = (sk as Sidekiq).run(
      `require ${JSON.stringify(UNIQUE_APP)}; require "json"
       calls = JSON.parse(ENV.fetch("CALLS"))
       puts JSON.generate(calls.map { |c, a, o| k = Object.const_get(c); (o ? k.set(o) : k).perform_async(*a) })`,
      t.url,
      { CALLS: JSON.stringify(calls) },
    );
    return JSON.parse(out.trim().split('\n').pop()!) as (string | null)[];
  }

  /** The lock digest the gem's client wrote into the job waiting in `queue:unique`. */
  async function digestOf(jid: string): Promise<string> {
    const job = (await payloads('queue:unique', 'list')).find((j) => j.jid === jid)!;
    return job.lock_digest as string;
  }

  describe(`sidekiq-unique-jobs ${version}`, () => {
    it('until_executed: refused while queued and while running, released after the success, accepted again', async () => {
      // Prepare: the first enqueue takes the lock, the second is refused
      const [a, refused] = enqueue(['UntilExecutedJob', ['k1']], ['UntilExecutedJob', ['k1']]);
      expect(a).toMatch(/^[0-9a-f]{24}$/);
      expect(refused).toBeNull();
      const digest = await digestOf(a!);
      await t.redis.set('e2e:hold:k1', '1');
      // Act: the poller runs it on Lambda; Ruby tries again while it runs
      await start('UntilExecutedJob');
      await eventually(async () => (await started()).includes(a!), 15_000, 'the job to start');
      expect(enqueue(['UntilExecutedJob', ['k1']])).toEqual([null]);
      await t.redis.del('e2e:hold:k1');
      await eventually(async () => (await ran(a!)) === 1 && (await t.redis.exists(`${digest}:LOCKED`)) === 0, 15_000, 'the run and the unlock');
      // Assess: the gem's keys are gone, its changelog tells, and Ruby enqueues again — which runs too
      expect(await t.redis.zscore('uniquejobs:digests', digest)).toBeNull();
      expect(await t.redis.exists(digest)).toBe(0);
      const log = (await t.redis.zrange('uniquejobs:changelog', 0, -1)).map((e) => JSON.parse(e) as Record<string, unknown>);
      expect(log).toContainEqual(expect.objectContaining({ digest, job_id: a, script: 'unlock.lua', message: 'Unlocked' }));
      const [again] = enqueue(['UntilExecutedJob', ['k1']]);
      expect(again).toMatch(/^[0-9a-f]{24}$/);
      await eventually(async () => (await ran(again!)) === 1, 15_000, 'the new job to run');
    });

    it('until_executed: a failed job keeps its lock while it retries; its successful retry releases it', async () => {
      const [a] = enqueue(['UntilExecutedJob', ['k2', 'once']]);
      const digest = await digestOf(a!);
      await start('UntilExecutedJob');
      const [entry] = await eventually(async () => {
        const r = await payloads('retry', 'zset');
        return r.length > 0 ? r : undefined;
      }, 15_000, 'the retry entry');
      expect(entry).toMatchObject({ jid: a, retry_count: 0, error_message: 'failed on purpose (once)' });
      // Refused while the job waits to be retried: the gem keeps an until_executed lock on failure.
      expect(await t.redis.hkeys(`${digest}:LOCKED`)).toEqual([a]);
      expect(enqueue(['UntilExecutedJob', ['k2', 'once']])).toEqual([null]);
      // Act: the Web UI's "Retry now" (Sidekiq's own API); the retry succeeds on Lambda
      sk.run('require "sidekiq/api"; Sidekiq::RetrySet.new.retry_all', t.url);
      await eventually(async () => (await ran(a!)) === 2 && (await t.redis.exists(`${digest}:LOCKED`)) === 0, 15_000, 'the retry and the unlock');
      // Assess
      expect(enqueue(['UntilExecutedJob', ['k2', 'once']])[0]).toMatch(/^[0-9a-f]{24}$/);
    });

    it('until_executed: a job that dies loses its lock (the gem’s death handler)', async () => {
      const [a] = enqueue(['UntilExecutedJob', ['k3', 'always'], { retry: 0 }]);
      const digest = await digestOf(a!);
      await start('UntilExecutedJob');
      await eventually(async () => (await t.redis.zcard('dead')) === 1 && (await drained()), 15_000, 'the dead job');
      await eventually(async () => (await t.redis.exists(`${digest}:LOCKED`, digest)) === 0, 15_000, 'the lock deleted');
      expect(await t.redis.zscore('uniquejobs:digests', digest)).toBeNull();
      expect(enqueue(['UntilExecutedJob', ['k3', 'always'], { retry: 0 }])[0]).toMatch(/^[0-9a-f]{24}$/);
    });

    it('until_executing: released before the invoke (accepted while it runs); locked again while a failure retries', async () => {
      const [a, refused] = enqueue(['UntilExecutingJob', ['k4', 'once']], ['UntilExecutingJob', ['k4', 'once']]);
      expect(refused).toBeNull();
      const digest = await digestOf(a!);
      await t.redis.set('e2e:hold:k4', '1');
      await start('UntilExecutingJob');
      await eventually(async () => (await started()).includes(a!), 15_000, 'the job to start');
      // While it runs, the lock is gone: Ruby's enqueue is accepted.
      expect(await t.redis.exists(`${digest}:LOCKED`)).toBe(0);
      const [b] = enqueue(['UntilExecutingJob', ['k4', 'once']]);
      expect(b).toMatch(/^[0-9a-f]{24}$/);
      await t.redis.del('e2e:hold:k4');
      // Both fail once: each is locked again for its retry (the gem's lock(wait: 0)); one of them holds it.
      await eventually(async () => (await t.redis.zcard('retry')) >= 1 && (await ran(a!)) === 1 && (await ran(b!)) === 1, 20_000, 'both to run');
      await eventually(async () => (await t.redis.zcard('retry')) === 2 && (await drained()), 15_000, 'both retries');
      const holders = await t.redis.hkeys(`${digest}:LOCKED`);
      expect(holders).toHaveLength(1);
      expect([a, b]).toContain(holders[0]);
      expect(enqueue(['UntilExecutingJob', ['k4', 'once']])).toEqual([null]);
      // Act: retry both now; each is released before its run and succeeds
      sk.run('require "sidekiq/api"; Sidekiq::RetrySet.new.retry_all', t.url);
      await eventually(async () => (await ran(a!)) === 2 && (await ran(b!)) === 2 && (await drained()), 20_000, 'both retries to run');
      // Assess
      expect(await t.redis.exists(`${digest}:LOCKED`)).toBe(0);
      expect(enqueue(['UntilExecutingJob', ['k4', 'once']])[0]).toMatch(/^[0-9a-f]{24}$/);
    });

    it('while_executing: one runs at a time; a job finding the runtime lock held is skipped (no on_conflict) or retried (raise)', async () => {
      // Prepare: the client lock of while_executing never refuses; two jobs of each class with the same args
      const [a1, a2, r1, r2] = enqueue(['WhileExecutingJob', ['k5']], ['WhileExecutingJob', ['k5']], ['WhileExecutingRaiseJob', ['k6']], ['WhileExecutingRaiseJob', ['k6']]);
      expect([a1, a2, r1, r2].every((j) => typeof j === 'string')).toBe(true);
      const runDigest = await digestOf(a1!);
      expect(runDigest.endsWith(':RUN')).toBe(true);
      await t.redis.mset('e2e:hold:k5', '1', 'e2e:hold:k6', '1');
      // Act
      await start('WhileExecutingJob', 'WhileExecutingRaiseJob');
      await eventually(async () => (await drained()) === false && (await started()).length === 2 && (await t.redis.zcard('retry')) === 1, 15_000, 'one of each running, the other settled');
      await eventually(async () => stack!.logs.some((l) => String(l.msg) === 'skipped (unique): not run'), 15_000, 'the skip logged');
      const running = await started();
      const first = running.find((j) => j === a1 || j === a2)!;
      const skipped = first === a1 ? a2 : a1;
      // Assess: the plain one was dropped as the gem drops it, the raise one went down the retry path with the gem's error
      expect(stack!.logs.find((l) => String(l.msg) === 'skipped (unique): not run')).toMatchObject({ jid: skipped, class: 'WhileExecutingJob', reason: `another job is running with its runtime lock ${runDigest}` });
      const [retry] = await payloads('retry', 'zset');
      const raiseDigest = retry!.lock_digest as string;
      expect(retry).toMatchObject({ class: 'WhileExecutingRaiseJob', error_class: 'SidekiqUniqueJobs::Conflict', error_message: `Item with the key: ${raiseDigest} is already scheduled or processing` });
      expect(await t.redis.hkeys(`${runDigest}:LOCKED`)).toEqual([first]);
      await t.redis.del('e2e:hold:k5', 'e2e:hold:k6');
      await eventually(async () => (await ran(first)) === 1 && (await t.redis.exists(`${runDigest}:LOCKED`)) === 0, 15_000, 'the run and the runtime lock released');
      expect(await ran(skipped!)).toBe(0);
      // A later job runs: the runtime lock was released.
      const [c] = enqueue(['WhileExecutingJob', ['k5']]);
      await eventually(async () => (await ran(c!)) === 1, 15_000, 'the later job to run');
    });

    it('while_executing: a job finding the runtime lock held goes to the dead set as it is (reject), or comes back later as a new job (reschedule)', async () => {
      const [j1, j2, s1, s2] = enqueue(['WhileExecutingRejectJob', ['k9']], ['WhileExecutingRejectJob', ['k9']], ['WhileExecutingRescheduleJob', ['k10']], ['WhileExecutingRescheduleJob', ['k10']]);
      const queued = new Map((await payloads('queue:unique', 'list')).map((j) => [j.jid as string, j]));
      const raws = new Map((await t.redis.lrange('queue:unique', 0, -1)).map((r) => [(JSON.parse(r) as { jid: string }).jid, r]));
      await t.redis.mset('e2e:hold:k9', '1', 'e2e:hold:k10', '1');
      await start('WhileExecutingRejectJob', 'WhileExecutingRescheduleJob');
      await eventually(async () => (await started()).length === 2 && (await t.redis.zcard('dead')) === 1 && (await t.redis.zcard('schedule')) === 1, 15_000, 'one of each running, the other settled');
      const running = await started();
      const rejected = running.includes(j1!) ? j2! : j1!;
      const rescheduled = running.includes(s1!) ? s2! : s1!;
      // Assess: the rejected job in the dead set byte for byte, as the gem's DeadSet#kill writes it (no error fields)
      const [dead, deadScore] = await t.redis.zrange('dead', 0, 0, 'WITHSCORES');
      expect(dead).toBe(raws.get(rejected));
      expect(Number(deadScore)).toBeGreaterThan(Date.now() / 1000 - 60);
      // … and the rescheduled one as a new job in schedule_in (30 s), the same class, queue, args and lock
      const [copy, at] = await t.redis.zrange('schedule', 0, 0, 'WITHSCORES');
      const job = JSON.parse(copy!) as Record<string, unknown>;
      const original = queued.get(rescheduled)!;
      expect(job.jid).not.toBe(rescheduled);
      expect(job).toMatchObject({ class: 'WhileExecutingRescheduleJob', queue: 'unique', args: ['k10'], lock: 'while_executing', lock_digest: original.lock_digest });
      expect(job).not.toHaveProperty('enqueued_at');
      expect(Number(at) - (job.created_at as number)).toBeCloseTo(30, 0);
      expect([await ran(rejected), await ran(rescheduled)]).toEqual([0, 0]);
      await t.redis.del('e2e:hold:k9', 'e2e:hold:k10');
      await eventually(async () => (await drained()) && (await t.redis.keys('uniquejobs:*:RUN:LOCKED')).length === 0, 15_000, 'both runs and their runtime locks released');
    });

    it('until_and_while_executing: released before the run, runtime lock held during it; accepted again afterwards', async () => {
      const [a, refused] = enqueue(['UntilAndWhileExecutingJob', ['k7']], ['UntilAndWhileExecutingJob', ['k7']]);
      expect(refused).toBeNull();
      const digest = await digestOf(a!);
      await t.redis.set('e2e:hold:k7', '1');
      await start('UntilAndWhileExecutingJob');
      await eventually(async () => (await started()).includes(a!), 15_000, 'the job to start');
      expect(await t.redis.exists(`${digest}:LOCKED`)).toBe(0);
      expect(await t.redis.hkeys(`${digest}:RUN:LOCKED`)).toEqual([a]);
      // Accepted while it runs; run now, it would find the runtime lock held: skipped, as the gem does.
      const [b] = enqueue(['UntilAndWhileExecutingJob', ['k7']]);
      expect(b).toMatch(/^[0-9a-f]{24}$/);
      await eventually(async () => stack!.logs.some((l) => l.jid === b && String(l.msg) === 'skipped (unique): not run'), 15_000, 'the second to be skipped');
      await t.redis.del('e2e:hold:k7');
      await eventually(async () => (await ran(a!)) === 1 && (await t.redis.exists(`${digest}:RUN:LOCKED`, `${digest}:LOCKED`)) === 0, 15_000, 'the run and both locks released');
      expect(await ran(b!)).toBe(0);
      const [c] = enqueue(['UntilAndWhileExecutingJob', ['k7']]);
      await eventually(async () => (await ran(c!)) === 1, 15_000, 'the later job to run');
    });

    it('until_expired: the lock outlives the run until its lock_ttl', async () => {
      const [a, refused] = enqueue(['UntilExpiredJob', ['k8']], ['UntilExpiredJob', ['k8']]);
      expect(refused).toBeNull();
      const digest = await digestOf(a!);
      await start('UntilExpiredJob');
      await eventually(async () => (await ran(a!)) === 1 && (await drained()), 15_000, 'the run');
      await eventually(async () => stack!.logs.some((l) => l.jid === a && l.msg === 'done'), 15_000, 'the outcome');
      expect(await t.redis.hkeys(`${digest}:LOCKED`)).toEqual([a]);
      expect(await t.redis.pttl(`${digest}:LOCKED`)).toBeGreaterThan(500_000);
      expect(await t.redis.zscore('uniquejobs:expiring_digests', digest)).not.toBeNull();
      expect(enqueue(['UntilExpiredJob', ['k8']])).toEqual([null]);
    });
  });
});
