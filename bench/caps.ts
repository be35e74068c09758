/**
 * The poller at the settings deployments run, each against its bound (Little's law: a class capped
 * at `c` concurrent invocations of latency `L`, with `b` jobs per invocation, can do at most
 * c·b/L jobs/s), printing achieved jobs/s, the bound and the ratio (goal ≥ 0.8):
 *
 * (a) one class at caps 1, 5 and 20, batch sizes 1 and 10;
 * (b) a `default` queue shared by ten classes with mixed caps (100 ms), one of them slow (1 s);
 * (c) three pollers on one Redis sharing one class's cap of 20 — with the Lambda endpoint reserving
 *     exactly 20, so any invocation over the cap would be refused (counted as 429s).
 *
 * L is measured, not assumed: the mean round trip of one invocation of the same function through
 * the same local endpoint, one at a time (the handler sleeps 20 ms; the endpoint adds its own).
 *
 * Usage: npm run bench caps   (BENCH_QUICK=1 for shorter drains)
 */
import { Redis } from 'ioredis';
import { startRedisServer } from '../test/support/redis.js';
import { startLocalLambda } from '../lib/local/endpoint.js';
import { DirectInvoker } from '../lib/lambda/invoker.js';
import { makeEvent } from '../lib/protocol/event.js';
import type { Route } from '../lib/jobs.js';
import { diagnosis, drain, type Drain, fill, fillOne, fmt, inflightOf, pollersUp, ROOT, startPoller, stop } from './support.js';

const QUICK = process.env.BENCH_QUICK === '1';
/** Seconds each drain should take at its bound. */
const SECONDS = QUICK ? 1.5 : 4;
const SLEEP_MS = 20;
/** (b) keeps the invocation rate (~600/s) well inside what the endpoint sharing these 2 cores can serve. */
const SHARED_MS = 100;
const SLOW_MS = 1000;
const HANDLERS = `${ROOT}bench/fixtures/noop.ts`;

/** Mean latency of one invocation, ms, one after another. */
async function measureLatency(lambdaUrl: string, fn: string, sleepMs: number, n = 40): Promise<number> {
  const inv = new DirectInvoker({ maxSockets: 1, maxTimeoutSeconds: 30, endpoint: lambdaUrl, localCredentials: true });
  const event = JSON.stringify(makeEvent([{ payload: JSON.stringify({ class: 'X', args: [sleepMs], jid: 'a'.repeat(24), queue: 'q' }), queue: 'q' }]));
  for (let i = 0; i < 5; i++) await inv.invoke(fn, event, 30);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await inv.invoke(fn, event, 30);
  inv.close();
  return (performance.now() - t0) / n;
}

/**
 * An untimed drain first: the local endpoint's execution environments (Lambda's cold starts, not
 * the poller's cost) and the JIT are not measured.
 */
async function warmUp(redis: Redis, cls: string, queue: string, n: number, ms = SLEEP_MS): Promise<void> {
  await fillOne(redis, cls, queue, n, () => [ms]);
  await drain(redis, [], queue, n, () => inflightOf(redis));
}

const route = (cls: string, queue: string, fn: string, concurrency: number, batchSize = 1): Route => ({ class: cls, queue, function: fn, timeoutSeconds: 30, concurrency, batchSize });

interface Row {
  readonly name: string;
  readonly jobsPerSec: number;
  readonly bound: number;
  /** The pollers' CPU over the drain, as a share of one core each. */
  readonly cpu: number;
}

function row(name: string, d: Drain, bound: number, pollers = 1): Row {
  return { name, jobsPerSec: d.jobsPerSec, bound, cpu: (d.cpuUsPerJob * d.jobsPerSec) / 1e6 / pollers };
}

function print(rows: readonly Row[]): void {
  console.log('scenario                                          jobs/s        bound (c·b/L)   ratio   poller CPU');
  for (const r of rows) console.log(`${r.name.padEnd(48)} ${fmt(r.jobsPerSec).padStart(8)}  ${fmt(r.bound).padStart(14)}   ${fmt(r.jobsPerSec / r.bound, 2).padStart(5)}   ${fmt(r.cpu * 100).padStart(5)}%`);
}

export async function main(): Promise<void> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  const env = { REDIS_URL: server.url, LOG_LEVEL: 'warn' };
  const fn = (name: string, concurrency: number) => ({ name, entry: HANDLERS, handlerExport: 'sleepy', timeoutSeconds: 30, memoryMb: 256, concurrency, environment: env });
  // A sleeping handler costs little CPU: room for hundreds of invocations in each worker thread.
  const lambda = await startLocalLambda({ port: 0, invocationsPerEnvironment: 100, functions: [fn('sleepy', 1000), fn('reserved20', 20)] });
  diagnosis.describe = async () => `queue lengths ${JSON.stringify(await Promise.all(['queue:caps', 'queue:default', 'queue:shared'].map((q) => redis.llen(q))))}, in flight ${await inflightOf(redis)}, retry ${await redis.zcard('retry')}, dead ${await redis.zcard('dead')}`;
  const rows: Row[] = [];
  try {
    const L = await measureLatency(lambda.url, 'sleepy', SLEEP_MS);
    const Lshared = await measureLatency(lambda.url, 'sleepy', SHARED_MS, 10);
    const Lslow = await measureLatency(lambda.url, 'sleepy', SLOW_MS, 3);
    console.log(`caps benchmark: invocation latency L = ${fmt(L, 1)} ms (handler ${SLEEP_MS} ms); in (b) ${fmt(Lshared, 1)} ms, slow class ${fmt(Lslow, 1)} ms; drains of ~${SECONDS} s at the bound; max in flight 100 and max waiting 200 (the defaults) but in (a), where it is at least c·b\n`);

    // (a) one class, caps 1 / 5 / 20, batch 1 / 10
    for (const b of [1, 10]) {
      for (const c of [1, 5, 20]) {
        const bound = (c * b * 1000) / L;
        const n = Math.max(50, Math.round(bound * SECONDS));
        // The poller's own cap (max in flight, default 100) must not be the bound: give it c·b.
        const p = startPoller(server.url, lambda.url, [route('Capped', 'caps', 'sleepy', c, b)], { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: String(Math.max(100, c * b)) });
        await pollersUp(redis);
        await warmUp(redis, 'Capped', 'caps', 4 * c * b);
        await fillOne(redis, 'Capped', 'caps', n, () => [SLEEP_MS]);
        const d = await drain(redis, [p.pid!], 'caps', n, () => inflightOf(redis));
        rows.push(row(`(a) one class, cap ${c}, batch ${b}`, d, bound));
        await stop(p);
        await redis.flushdb();
      }
    }

    // (b) ten classes on `default`: caps 1, 2, 2, 3, 5, 5, 10, 10, 20 at L, and a slow class capped at 5.
    // Each gets as many jobs as its bound drains in SECONDS, shuffled together.
    const caps = [1, 2, 2, 3, 5, 5, 10, 10, 20];
    const classes = [...caps.map((c, i) => ({ cls: `Fast${i}`, cap: c, ms: SHARED_MS, lat: Lshared })), { cls: 'Slow', cap: 5, ms: SLOW_MS, lat: Lslow }];
    const counts = classes.map((k) => Math.max(1, Math.round((k.cap * SECONDS * 1000) / k.lat)));
    const jobs = classes.flatMap((k, i) => Array.from({ length: counts[i]! }, () => ({ cls: k.cls, args: [k.ms] })));
    // Classes drain side by side, each in rounds of its cap: the whole drain takes its slowest class's rounds.
    const boundSeconds = Math.max(...classes.map((k, i) => (Math.ceil(counts[i]! / k.cap) * k.lat) / 1000));
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
    }
    {
      const p = startPoller(server.url, lambda.url, classes.map((k) => route(k.cls, 'default', 'sleepy', k.cap)));
      await pollersUp(redis);
      await warmUp(redis, 'Fast8', 'default', 100, SHARED_MS);
      await fill(redis, jobs, 'default');
      const d = await drain(redis, [p.pid!], 'default', jobs.length, () => inflightOf(redis));
      rows.push(row(`(b) ten classes on default (${jobs.length} jobs)`, d, jobs.length / boundSeconds));
      await stop(p);
      await redis.flushdb();
    }

    // (c) three pollers, one class capped at 20, a function reserving exactly 20
    {
      const c = 20;
      const bound = (c * 1000) / L;
      const n = Math.round(bound * SECONDS * 1.5);
      const before = lambda.stats().reserved20!;
      const ps = [0, 1, 2].map(() => startPoller(server.url, lambda.url, [route('Shared', 'shared', 'reserved20', c)]));
      await pollersUp(redis, 3);
      await warmUp(redis, 'Shared', 'shared', 4 * c);
      await fillOne(redis, 'Shared', 'shared', n, () => [SLEEP_MS]);
      const d = await drain(redis, ps.map((p) => p.pid!), 'shared', n, () => inflightOf(redis));
      const after = lambda.stats().reserved20!;
      rows.push(row(`(c) three pollers, cap ${c} shared (${fmt(n)} jobs)`, d, bound, 3));
      await Promise.all(ps.map(stop));
      print(rows);
      console.log(`\n(c) the endpoint saw at most ${after.peak} invocations at once (reserved ${c}) and refused ${after.throttled - before.throttled} (429)`);
    }
  } finally {
    await lambda.close();
    redis.disconnect();
    await server.stop();
  }
}

await main();
