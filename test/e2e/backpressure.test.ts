/**
 * The poller never holds or runs more than its caps allow, and backs off from a throttling
 * Lambda: a batch too large split into single invocations, jobs an idle watch brings beyond the
 * caps, and a throttled class re-invoked. Real Redis, the local Lambda endpoint (whose reserved
 * concurrency answers 429 when exceeded) and the poller wired as `sidekiq-lambda poller` wires it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, executions, renderJob, HANDLERS } from '../support/stack.js';
import { startLocalLambda } from '../../lib/local/endpoint.js';
import { Client } from '../../lib/client.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One function with reserved concurrency 1, shared by every route given. */
async function sharedFunction(handlerExport: string): Promise<string> {
  const l = await startLocalLambda({
    port: 0,
    functions: [{ name: 'fn-shared', entry: HANDLERS, handlerExport, timeoutSeconds: 30, memoryMb: 256, concurrency: 1, environment: { REDIS_URL: t.url, LOG_LEVEL: 'warn' } }],
  });
  cleanups.push(() => l.close());
  return l.url;
}

const route = (cls: string, queue: string, batchSize = 1): Route => ({ class: cls, queue, function: 'fn-shared', timeoutSeconds: 30, concurrency: 1, batchSize });

type Snapshot = { classes: Record<string, { throttled: number; processed: number; inFlightInvocations: number }> };

describe('backpressure', () => {
  it('splits a batch too large for Lambda into single invocations, one at a time within the class cap', async () => {
    // Prepare: three 2.5 MiB jobs fetched as one batch (7.5 MiB: over Lambda's 6 MiB)
    const lambdaUrl = await sharedFunction('batch');
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'BigJob', queue: 'big', args: [0, 1, 2].map(() => ['ok', 'x'.repeat(2.5 * 1024 * 1024)]) }) as string[];
    // Act
    const stack = await startStack(t.url, [], {}, { lambdaUrl, extraRoutes: [route('BigJob', 'big', 3)] });
    cleanups.push(() => stack.close());
    // Assess: each ran once in its own invocation; none was sent while another held the one slot
    await eventually(async () => (await executions(t.redis)).size === 3 && stack.running.poller.busy() === 0, 30_000, 'the three jobs');
    const runs = await executions(t.redis);
    expect(jids.map((j) => runs.get(j))).toEqual([1, 1, 1]);
    expect(await t.redis.scard('e2e:requests')).toBe(3);
    expect((stack.running.poller.snapshot() as Snapshot).classes.BigJob!.throttled).toBe(0);
    expect(await t.redis.zcard('dead')).toBe(0);
    expect(await t.redis.zcard('retry')).toBe(0);
  });

  it('at shutdown, puts back the jobs of a split batch not yet sent, and sends no more', async () => {
    // Prepare: three 2.5 MiB jobs of 1 s each fetched as one batch (too large: split)
    const lambdaUrl = await sharedFunction('slow');
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'BigJob', queue: 'big', args: [0, 1, 2].map(() => [1, 'x'.repeat(2.5 * 1024 * 1024)]) }) as string[];
    const stack = await startStack(t.url, [], {}, { lambdaUrl, extraRoutes: [route('BigJob', 'big', 3)] });
    cleanups.push(() => stack.close());
    await eventually(async () => (await t.redis.llen('queue:big')) === 0, 10_000, 'the batch to be fetched');
    // Act: stop while the first single invocation runs
    await new Promise((r) => setTimeout(r, 300));
    await stack.running.poller.stop();
    // Assess: the first job ran; the other two are back on their queue, untouched, and nothing is in flight
    const runs = await executions(t.redis);
    expect(runs.size).toBe(1);
    const back = (await t.redis.lrange('queue:big', 0, -1)).map((r) => JSON.parse(r).jid as string);
    expect([...runs.keys(), ...back].sort()).toEqual([...jids].sort());
    expect(back).toHaveLength(2);
    expect(await t.redis.llen(`sidekiq-lambda:inflight|${stack.running.poller.identity}|big`)).toBe(0);
    expect(await t.redis.zcard('retry')).toBe(0);
  });

  it('puts back a job an idle watch brings beyond the caps, instead of running it over them', async () => {
    // Prepare: room for one job; idle, so it watches both queues
    const lambdaUrl = await sharedFunction('slow');
    const stack = await startStack(t.url, [], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: '1' }, { lambdaUrl, extraRoutes: [route('AJob', 'a'), route('BJob', 'b')] });
    cleanups.push(() => stack.close());
    await new Promise((r) => setTimeout(r, 300));
    // Act: a job lands on each queue at the same moment; both watches wake
    const a = await renderJob(t.redis, 'AJob', 'a', [0.5]);
    const b = await renderJob(t.redis, 'BJob', 'b', [0.5]);
    let most = 0;
    const sampler = setInterval(() => {
      const { classes } = stack.running.poller.snapshot() as Snapshot;
      most = Math.max(most, classes.AJob!.inFlightInvocations + classes.BJob!.inFlightInvocations);
    }, 1);
    cleanups.push(() => clearInterval(sampler));
    await t.redis.multi().lpush('queue:a', a).lpush('queue:b', b).exec();
    // Assess: both run once, one after the other: never two invocations under a cap of one
    await eventually(async () => (await executions(t.redis)).size === 2 && stack.running.poller.busy() === 0, 20_000, 'both jobs');
    const runs = await executions(t.redis);
    expect([runs.get(JSON.parse(a).jid), runs.get(JSON.parse(b).jid)]).toEqual([1, 1]);
    expect(most).toBe(1);
    const snap = stack.running.poller.snapshot() as Snapshot;
    expect(snap.classes.AJob!.throttled + snap.classes.BJob!.throttled).toBe(0);
    expect(await t.redis.zcard('retry')).toBe(0);
  });

  it('pauses a throttled class, longer each time, instead of re-invoking it in a tight loop', async () => {
    // Prepare: AJob holds the function's only slot for 3 s
    const lambdaUrl = await sharedFunction('slow');
    const stack = await startStack(t.url, [], {}, { lambdaUrl, extraRoutes: [route('AJob', 'a'), route('BJob', 'b')] });
    cleanups.push(() => stack.close());
    const client = new Client({ redis: t.redis });
    await client.push({ class: 'AJob', queue: 'a', args: [3] });
    await eventually(() => stack.running.poller.busy() === 1, 10_000, 'AJob to start');
    // Act: BJob is throttled until AJob finishes
    const jid = await client.push({ class: 'BJob', queue: 'b', args: [0] }) as string;
    // Assess: it runs once AJob is done, with retry_count untouched, after a handful of 429s
    // (50 ms doubling: about 6 in 3 s), not the hundreds a tight loop makes
    await eventually(async () => (await executions(t.redis)).get(jid) === 1, 20_000, 'BJob to run');
    const throttled = (stack.running.poller.snapshot() as Snapshot).classes.BJob!.throttled;
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThanOrEqual(12);
    expect(await t.redis.zcard('retry')).toBe(0);
  });
});
