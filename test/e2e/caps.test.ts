/**
 * The poller at the settings users run: declared per-class caps, several classes on one queue,
 * several pollers on one Redis. Real Redis, the local Lambda endpoint (which counts the most
 * invocations it ever ran at once) and pollers wired as `sidekiq-lambda poller` wires them.
 * Speed targets live in `bench/poller.ts`; these tests check conditions with generous deadlines.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, executions, HANDLERS, type Stack } from '../support/stack.js';
import { buildCli, spawnPoller, type PollerProcess } from '../support/poller-process.js';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { Client } from '../../lib/client.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(() => buildCli());

function track(p: PollerProcess): PollerProcess {
  cleanups.push(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  return p;
}

/** One endpoint serving `fn-<class>` for each class, with room for far more than any cap. */
async function endpoint(classes: readonly string[], handlerExport = 'slow'): Promise<LocalLambda> {
  const l = await startLocalLambda({
    port: 0,
    functions: classes.map((c) => ({ name: `fn-${c}`, entry: HANDLERS, handlerExport, timeoutSeconds: 30, memoryMb: 256, concurrency: 100, environment: { REDIS_URL: t.url, LOG_LEVEL: 'warn' } })),
  });
  cleanups.push(() => l.close());
  return l;
}

const route = (cls: string, queue: string, concurrency: number, batchSize = 1): Route => ({ class: cls, queue, function: `fn-${cls}`, timeoutSeconds: 30, concurrency, batchSize });

async function poller(lambdaUrl: string, routes: Route[], env: Record<string, string> = {}): Promise<Stack> {
  const stack = await startStack(t.url, [], env, { lambdaUrl, extraRoutes: routes });
  cleanups.push(() => stack.close());
  return stack;
}

/** Counts the executions of these jids. */
async function ran(jids: readonly string[]): Promise<number> {
  const runs = await executions(t.redis);
  return jids.filter((j) => runs.has(j)).length;
}

describe('caps', () => {
  it('keeps a capped class busy: a freed slot starts the next job at once', async () => {
    // Prepare: 200 jobs of 20 ms under a cap of 2 (the bound is 100 jobs/s: about 2 s)
    const lambda = await endpoint(['CappedJob']);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'CappedJob', queue: 'capped', args: Array.from({ length: 200 }, () => [0.02]) }) as string[];
    // Act
    await poller(lambda.url, [route('CappedJob', 'capped', 2)]);
    // Assess: all ran, well inside what 1 s stalls between rounds would take (100 s), never over the cap
    await eventually(async () => (await ran(jids)) === 200, 20_000, '200 jobs under a cap of 2');
    expect(lambda.stats()['fn-CappedJob']!.peak).toBe(2);
    expect(lambda.stats()['fn-CappedJob']!.throttled).toBe(0);
  });

  it('lets a fast class on a shared queue run past a slow class at its cap', async () => {
    // Prepare: four 3 s jobs of a class capped at 2 at the head of `default`, then 100 fast jobs of another
    const lambda = await endpoint(['SlowJob', 'FastJob']);
    const client = new Client({ redis: t.redis });
    const slow = await client.pushBulk({ class: 'SlowJob', queue: 'default', args: Array.from({ length: 4 }, () => [3]) }) as string[];
    const fast = await client.pushBulk({ class: 'FastJob', queue: 'default', args: Array.from({ length: 100 }, () => [0.01]) }) as string[];
    // Act
    const stack = await poller(lambda.url, [route('SlowJob', 'default', 2), route('FastJob', 'default', 5)]);
    // Assess: every fast job ran while the slow class was still on its first round (it needs 6 s)
    await eventually(async () => (await ran(fast)) === 100, 20_000, 'the fast jobs');
    expect(await ran(slow)).toBe(0);
    const classes = (stack.running.poller.snapshot() as { classes: Record<string, { inFlightInvocations: number }> }).classes;
    expect(classes.SlowJob!.inFlightInvocations).toBe(2);
    expect(lambda.stats()['fn-SlowJob']!.peak).toBe(2);
    await eventually(async () => (await ran(slow)) === 4, 20_000, 'the slow jobs');
  });

  it('shows jobs waiting for a slot on the Busy page, and runs them in fetch order', async () => {
    // Prepare: five 1 s jobs under a cap of 1
    const lambda = await endpoint(['OneAtATime']);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'OneAtATime', queue: 'one', args: Array.from({ length: 5 }, () => [0.3]) }) as string[];
    // Act
    const stack = await poller(lambda.url, [route('OneAtATime', 'one', 1)]);
    // Assess: the work hash lists running and waiting jobs (it holds twice what the cap runs)
    const identity = stack.running.poller.identity;
    await eventually(async () => (await t.redis.hlen(`${identity}:work`)) === 2, 5000, 'two entries on the Busy page');
    await eventually(async () => (await ran(jids)) === 5, 20_000, 'the five jobs');
    expect(await t.redis.lrange('e2e:ran', 0, -1)).toEqual(jids);
  });

  it('holds a class cap across three pollers on one Redis', async () => {
    // Prepare: 300 jobs of 50 ms, a cap of 4 (the bound is 80 jobs/s: about 4 s)
    const lambda = await endpoint(['SharedJob']);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SharedJob', queue: 'shared', args: Array.from({ length: 300 }, () => [0.05]) }) as string[];
    // Act: three pollers, each declaring the full cap
    const stacks = await Promise.all([0, 1, 2].map(() => poller(lambda.url, [route('SharedJob', 'shared', 4)])));
    // Assess: all ran; Lambda never saw more than 4 at once; every poller got a share
    await eventually(async () => (await ran(jids)) === 300, 60_000, '300 jobs across three pollers');
    expect(lambda.stats()['fn-SharedJob']!.peak).toBe(4);
    const processed = stacks.map((s) => (s.running.poller.snapshot() as { classes: Record<string, { processed: number }> }).classes.SharedJob!.processed);
    expect(processed.reduce((a, b) => a + b, 0)).toBe(300);
    for (const p of processed) expect(p).toBeGreaterThan(30);
  });

  it('kill -9 of a poller holding leases: the other poller gets them back and runs every job', async () => {
    // Prepare: two poller processes sharing a cap of 2, 20 jobs of 0.3 s
    const lambda = await endpoint(['SharedJob']);
    const routes = [route('SharedJob', 'shared', 2)];
    const [a, b] = [spawnPoller(t.url, lambda.url, routes), spawnPoller(t.url, lambda.url, routes)].map(track);
    await Promise.all([a!.ready, b!.ready]);
    const jids = await new Client({ redis: t.redis }).pushBulk({ class: 'SharedJob', queue: 'shared', args: Array.from({ length: 20 }, () => [0.3]) }) as string[];
    const leases = 'sidekiq-lambda:leases|SharedJob';
    const holders = async (): Promise<string[]> => Object.keys(await t.redis.hgetall(leases)).filter((f) => f.startsWith('h|'));
    await eventually(async () => (await holders()).length === 2, 10_000, 'both pollers holding a lease');
    // Act: a dies holding its lease and its jobs
    a!.child.kill('SIGKILL');
    await a!.exited;
    // Assess: its jobs and its lease come back (after its 3 s TTL); b runs everything; never over the cap
    await eventually(async () => (await ran(jids)) === 20, 60_000, 'every job');
    await eventually(async () => (await holders()).length <= 1, 10_000, "the dead poller's lease handed back");
    expect(lambda.stats()['fn-SharedJob']!.peak).toBeLessThanOrEqual(2);
    expect(await t.redis.llen('queue:shared')).toBe(0);
  });

  it('a quiet poller gives back its leases, so another runs the class at its full cap', async () => {
    // Prepare: poller A holds both leases of a cap of 2
    const lambda = await endpoint(['SJob']);
    const a = await poller(lambda.url, [route('SJob', 'qs', 2)]);
    const client = new Client({ redis: t.redis, routing: false });
    await client.pushBulk({ class: 'SJob', queue: 'qs', args: [[0.5], [0.5], [0.5], [0.5]] });
    const leases = 'sidekiq-lambda:leases|SJob';
    const hA = `h|${a.running.poller.identity}`;
    await eventually(async () => (await t.redis.hget(leases, hA)) === '2', 10_000, 'A holding both leases');
    // Act: A is quieted; its running jobs end
    a.running.poller.setQuiet();
    await eventually(() => a.running.poller.running() === 0, 10_000, "A's running jobs to end");
    // Assess: A holds no lease and waits for none; B runs 6 jobs two at a time
    await eventually(async () => (await t.redis.hget(leases, hA)) === null, 5000, "A's leases given back");
    expect(await t.redis.hget(leases, `w|${a.running.poller.identity}`)).toBeNull();
    const b = await poller(lambda.url, [route('SJob', 'qs', 2)]);
    const more = (await client.pushBulk({ class: 'SJob', queue: 'qs', args: Array.from({ length: 6 }, () => [0.5]) })) as string[];
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, b.running.poller.running())), 20);
    await eventually(async () => (await ran(more)) === 6, 30_000, "B's jobs");
    clearInterval(sampler);
    expect(peak).toBe(2);
  });
});
