/**
 * The poller's outcomes through real parts: Redis, the local Lambda endpoint (Invoke API) and the
 * fixture handlers. Each test pushes with the producer library and reads Redis as Sidekiq would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, executions, type Stack } from '../support/stack.js';
import { Client } from '../../lib/client.js';

const t = useRedis();
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function push(cls: string, queue: string, args: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
  const client = new Client({ redis: t.redis });
  return (await client.push({ class: cls, queue, args, ...extra })) as string;
}

/** The retry set's entries, or undefined while it is empty (for `eventually`). */
async function retryEntries(): Promise<Record<string, unknown>[] | undefined> {
  const all = (await t.redis.zrange('retry', 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);
  return all.length > 0 ? all : undefined;
}

describe('poller outcomes', () => {
  it('keeps a job whose handler asks for a retry past what a time can hold: in the retry set, a century away', async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'FarJob', queue: 'q', handler: 'farRetry' }]);
    const jid = await push('FarJob', 'q', [1e308]);
    // Act
    const [entry] = await eventually(retryEntries, 15_000, 'the retry entry');
    // Assess: written, with a finite score about a century ahead; nothing left in flight
    expect(entry).toMatchObject({ jid, error_class: 'Error' });
    const [, score] = await t.redis.zrange('retry', 0, 0, 'WITHSCORES');
    expect(Number(score) - Date.now() / 1000).toBeGreaterThan(99 * 365 * 24 * 3600);
    expect(Number.isFinite(Number(score))).toBe(true);
    await eventually(() => stack!.running.poller.busy() === 0, 5000, 'nothing in flight');
  });

  it('acknowledges a success and counts it in stat:processed and the daily counter', async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    const jid = await push('OkJob', 'q', [1, 'two']);
    // Act
    await eventually(async () => (await executions(t.redis)).get(jid) === 1, 15_000, 'the job to run');
    await eventually(async () => (await t.redis.keys('sidekiq-lambda:inflight*')).length === 0 || (await t.redis.llen(`sidekiq-lambda:inflight|${stack!.running.poller.identity}|q`)) === 0);
    await stack.close();
    stack = undefined;
    // Assess
    const day = new Date().toISOString().slice(0, 10);
    expect(await t.redis.get('stat:processed')).toBe('1');
    expect(await t.redis.get(`stat:processed:${day}`)).toBe('1');
    expect(await t.redis.llen('queue:q')).toBe(0);
    expect(await t.redis.zcard('retry')).toBe(0);
  });

  it('writes a thrown error to the retry set with Sidekiq\'s fields', async () => {
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    const jid = await push('FailJob', 'q', ['kaput'], { backtrace: true });
    const [entry] = await eventually(retryEntries, 15_000, 'a retry entry');
    expect(entry).toMatchObject({ jid, class: 'FailJob', queue: 'q', error_class: 'CustomError', error_message: 'kaput', retry_count: 0 });
    expect(typeof entry!.failed_at).toBe('number');
    expect(typeof entry!.error_backtrace).toBe('string');
    const [, score] = await t.redis.zrange('retry', 0, 0, 'WITHSCORES');
    const delay = Number(score) - (entry!.failed_at as number);
    expect(delay).toBeGreaterThanOrEqual(15);
    expect(delay).toBeLessThan(15 + 10);
    await stack.close();
    stack = undefined;
    expect(await t.redis.get('stat:failed')).toBe('1');
  });

  it('drops retry: false, and sends retry: 0 to the dead set on the first failure', async () => {
    stack = await startStack(t.url, [{ class: 'FailJob', queue: 'q', handler: 'fail' }]);
    const dropped = await push('FailJob', 'q', ['x'], { retry: false });
    const dead = await push('FailJob', 'q', ['y'], { retry: 0 });
    await eventually(async () => (await t.redis.zcard('dead')) === 1 && (await executions(t.redis)).get(dropped) === 1);
    const [d] = (await t.redis.zrange('dead', 0, -1)).map((s) => JSON.parse(s));
    expect(d).toMatchObject({ jid: dead, error_message: 'y', retry_count: 0 });
    expect(await t.redis.zcard('retry')).toBe(0);
  });

  it('honours the handler\'s discard, kill and retry-in requests', async () => {
    stack = await startStack(t.url, [{ class: 'DirJob', queue: 'q', handler: 'directive' }]);
    const discarded = await push('DirJob', 'q', ['discard']);
    const killed = await push('DirJob', 'q', ['kill']);
    const later = await push('DirJob', 'q', ['retryIn']);
    await eventually(async () => (await executions(t.redis)).size === 3 && (await t.redis.zcard('dead')) === 1 && (await t.redis.zcard('retry')) === 1);
    expect(JSON.parse((await t.redis.zrange('dead', 0, 0))[0]!)).toMatchObject({ jid: killed, error_message: 'hopeless' });
    const [retryJson, score] = await t.redis.zrange('retry', 0, 0, 'WITHSCORES');
    const r = JSON.parse(retryJson!);
    expect(r.jid).toBe(later);
    expect(Number(score) - r.failed_at).toBeGreaterThanOrEqual(120);
    expect(Number(score) - r.failed_at).toBeLessThan(130);
    expect((await executions(t.redis)).get(discarded)).toBe(1);
  });

  it('fails a job whose class has no function through the retry path, naming the class', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    const jid = await push('UnknownJob', 'q', []);
    const [entry] = await eventually(retryEntries);
    expect(entry).toMatchObject({ jid, error_class: 'SidekiqLambda::NoFunctionDeclared' });
    expect(entry!.error_message).toContain('UnknownJob');
  });

  it('routes an ActiveJob by its wrapped class', async () => {
    stack = await startStack(t.url, [{ class: 'MyActiveJob', queue: 'q', handler: 'ok' }]);
    const aj = { job_class: 'MyActiveJob', job_id: 'b8a1c3e2-0000-4000-8000-000000000000', provider_job_id: null, queue_name: 'q', priority: null, arguments: [1], executions: 0, exception_executions: {}, locale: 'en', timezone: 'UTC', enqueued_at: '2026-11-22T08:10:15Z' };
    const jid = await push('ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', 'q', [aj], { wrapped: 'MyActiveJob' });
    await eventually(async () => (await executions(t.redis)).get(jid) === 1);
  });

  it('fails a timed-out function with Lambda\'s error through the retry path', async () => {
    stack = await startStack(t.url, [{ class: 'SlowJob', queue: 'q', handler: 'slow', timeoutSeconds: 1 }]);
    const jid = await push('SlowJob', 'q', [5]);
    const [entry] = await eventually(retryEntries, 20_000);
    expect(entry).toMatchObject({ jid, error_class: 'Sandbox.Timedout' });
    expect(entry!.error_message).toContain('Task timed out after 1.00 seconds');
  });

  it('sends a payload too large for Lambda straight to the dead set, saying why', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    const jid = await push('OkJob', 'q', ['x'.repeat(7 * 1024 * 1024)]);
    await eventually(async () => (await t.redis.zcard('dead')) === 1);
    const d = JSON.parse((await t.redis.zrange('dead', 0, 0))[0]!);
    expect(d).toMatchObject({ jid, error_class: 'SidekiqLambda::PayloadTooLarge' });
    expect(d.error_message).toContain('a retry cannot help');
  });

  it('retries when the function does not exist, logging loudly', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, {
      extraRoutes: [{ class: 'GhostJob', queue: 'g', function: 'no-such-function', timeoutSeconds: 5, concurrency: 2, batchSize: 1 }],
    });
    const jid = await push('GhostJob', 'g', []);
    const [entry] = await eventually(retryEntries);
    expect(entry).toMatchObject({ jid, error_class: 'ResourceNotFoundException' });
    expect(stack.logs.some((l) => l.level === 'error' && String(l.msg).includes('no-such-function'))).toBe(true);
  });

  it('retries on a network error (at-least-once)', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, { lambdaUrl: 'http://127.0.0.1:9' });
    const jid = await push('OkJob', 'q', []);
    const [entry] = await eventually(retryEntries);
    expect(entry).toMatchObject({ jid });
    expect(entry!.error_message).toContain('at-least-once');
  });

  it('retries the jobs of an invocation the poller itself failed on, and keeps running', async () => {
    // Prepare: fault injection — the first Invoke throws inside the poller (a bug, not Lambda)
    let calls = 0;
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, {
      wrapInvoker: (real) => ({
        invoke: (fn, event, timeout) => (++calls === 1 ? Promise.reject(new TypeError('boom')) : real.invoke(fn, event, timeout)),
        close: () => real.close(),
      }),
    });
    // Act
    const failed = await push('OkJob', 'q', []);
    const [entry] = await eventually(retryEntries);
    const next = await push('OkJob', 'q', []);
    // Assess: the first job is in the retry set, saying why; nothing is left in flight; the loop runs on
    expect(entry).toMatchObject({ jid: failed, error_class: 'SidekiqLambda::PollerError', retry_count: 0 });
    expect(entry!.error_message).toContain('boom');
    await eventually(async () => (await executions(t.redis)).get(next) === 1, 15_000, 'the next job to run');
    await eventually(async () => stack!.running.poller.busy() === 0 && (await t.redis.llen(`sidekiq-lambda:inflight|${stack!.running.poller.identity}|q`)) === 0, 5000, 'nothing in flight');
  });

  it('moves malformed payloads to the dead set as they are, and keeps running', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    const poison = ['{not json', '{"args":[]}', '{"class":"OkJob","args":"nope"}', '[]'];
    await t.redis.lpush('queue:q', ...poison);
    const jid = await push('OkJob', 'q', []);
    await eventually(async () => (await t.redis.zcard('dead')) === 4 && (await executions(t.redis)).get(jid) === 1);
    expect((await t.redis.zrange('dead', 0, -1)).sort()).toEqual([...poison].sort());
  });

  it('writes and counts nothing for a job another poller recovered while it ran', async () => {
    // Prepare: a job running for 1 s
    stack = await startStack(t.url, [{ class: 'SlowJob', queue: 'q', handler: 'slow' }]);
    const jid = await push('SlowJob', 'q', [1]);
    const inflight = `sidekiq-lambda:inflight|${stack.running.poller.identity}|q`;
    const [raw] = await eventually(async () => {
      const held = await t.redis.lrange(inflight, 0, -1);
      return held.length === 1 ? held : undefined;
    }, 10_000, 'the job in flight');
    // Act: another poller takes it over (it recovers the list after a lapsed heartbeat)
    expect(await t.redis.lrem(inflight, 1, raw!)).toBe(1);
    await eventually(async () => (await executions(t.redis)).get(jid) === 1 && stack!.running.poller.busy() === 0, 10_000, 'the run to end');
    await stack.close();
    stack = undefined;
    // Assess: the outcome was not written or counted here; the recovered copy will be
    expect(await t.redis.get('stat:processed')).toBeNull();
    expect(await t.redis.llen(inflight)).toBe(0);
  });

  it('runs a batch with one outcome per job and one invocation', async () => {
    stack = await startStack(t.url, [{ class: 'BatchJob', queue: 'q', handler: 'batch', batchSize: 10 }]);
    const client = new Client({ redis: t.redis });
    await stack.running.poller.setQuiet();
    const jids = await client.pushBulk({ class: 'BatchJob', queue: 'q', args: [['ok'], ['fail'], ['ok']] });
    await stack.close();
    stack = await startStack(t.url, [{ class: 'BatchJob', queue: 'q', handler: 'batch', batchSize: 10 }]);
    await eventually(async () => (await executions(t.redis)).size === 3 && (await t.redis.zcard('retry')) === 1);
    expect(JSON.parse((await t.redis.zrange('retry', 0, 0))[0]!).jid).toBe(jids[1]);
    expect(await t.redis.scard('e2e:requests')).toBe(1);
  });

  it('answers /healthz and /stats for ECS and people', async () => {
    stack = await startStack(t.url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }]);
    await push('OkJob', 'q', []);
    await eventually(async () => (await executions(t.redis)).size === 1);
    const base = `http://127.0.0.1:${stack.running.health.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const stats = (await (await fetch(`${base}/stats`)).json()) as { classes: Record<string, { processed: number }>; inFlight: number; fetchLagMs: object };
    expect(stats.classes.OkJob).toMatchObject({ processed: 1, failed: 0, throttled: 0, cap: 10 });
    expect(stats).toHaveProperty('fetchLagMs');
    const stopping = stack.running.poller.stop();
    expect(stack.running.poller.problem()).toBe('stopping'); // /healthz answers 503 while draining
    await stopping;
  });
});

