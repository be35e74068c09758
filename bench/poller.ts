/**
 * Poller benchmark: no-op jobs through Redis → poller → local Lambda endpoint → handler →
 * acknowledgement, side by side in one run with real Sidekiq 6.4.1 draining the same number of
 * no-op jobs from the same Redis. Prints jobs/s, the poller's CPU per job, its RSS, and
 * enqueue-to-start latency p50/p99, each with the ratio to Sidekiq; then batching, and memory with
 * 1,000 jobs in flight and with backlogs of 1,000 and 1,000,000 jobs.
 *
 * Usage: npm run bench poller   (BENCH_JOBS=50000 BENCH_QUICK=1 to shorten)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, startRedisServer } from '../test/support/redis.js';
import { startLocalLambda } from '../lib/local/endpoint.js';
import type { Route } from '../lib/jobs.js';
import { Client } from '../lib/client.js';
import { benchSidekiqs, type Sidekiq } from './sidekiqs.js';
import { tied } from '../test/support/tied.js';
import { diagnosis, drain, fillOne, fmt, inflightOf, pollersUp, ratio, ROOT, rssMb, sleep, startPoller as spawnPoller, stop, until, type Drain } from './support.js';

const HANDLERS = `${ROOT}bench/fixtures/noop.ts`;
const WORKERS = `${ROOT}bench/fixtures/workers.rb`;
const N = Number(process.env.BENCH_JOBS ?? 50_000);
const QUICK = process.env.BENCH_QUICK === '1';
const WARM_UP = Math.min(10_000, Math.ceil(N / 5));

/**
 * An untimed drain of WARM_UP jobs first, on both sides: JIT warm-up, connection pools and the
 * local endpoint's execution environments (Lambda's cold starts, not the poller's cost) are not
 * measured, as the latency runs exclude cold starts too.
 */
async function warmUp(redis: Redis, queue: string, inflight: () => Promise<number>): Promise<void> {
  await fillOne(redis, 'NoopWorker', queue, WARM_UP);
  await drain(redis, [], queue, WARM_UP, inflight);
}

/** Pushes `rate` jobs/s in bursts every 50 ms for `seconds`, and waits until all have started. */
async function paced(redis: Redis, client: Client, cls: string, queue: string, rate: number, seconds: number): Promise<number[]> {
  await redis.del('bench:latency');
  const total = rate * seconds;
  const burst = rate / 20;
  const start = Date.now();
  for (let i = 0; i < total; i += burst) {
    await client.pushBulk({ class: cls, queue, args: Array.from({ length: burst }, () => []) });
    await sleep(Math.max(0, start + ((i + burst) / rate) * 1000 - Date.now()));
  }
  await until(async () => (await redis.llen('bench:latency')) >= total, 60_000, `latency run on ${queue}`);
  return (await redis.lrange('bench:latency', 0, -1)).map(Number).sort((a, b) => a - b);
}

/** Enqueue-to-start latency at a steady rate, after a warm-up round at the same rate (cold starts excluded on both sides). */
async function latency(redis: Redis, client: Client, cls: string, queue: string, rate: number, seconds: number): Promise<{ p50: number; p99: number }> {
  await paced(redis, client, cls, queue, rate, 1);
  const xs = await paced(redis, client, cls, queue, rate, seconds);
  return { p50: xs[Math.floor(xs.length * 0.5)]!, p99: xs[Math.floor(xs.length * 0.99)]! };
}

/** Sidekiq of one matrix entry, `-c 10`, with its own gems. */
function startSidekiq(sk: Sidekiq, url: string, queues: string[]): ChildProcess {
  const [cmd, args] = sk.command([sk.bin('sidekiq'), '-r', WORKERS, ...queues.flatMap((q) => ['-q', q]), '-c', '10']);
  return spawn(...tied(cmd, args, 'TERM'), { env: { ...process.env, REDIS_URL: url, RAILS_ENV: 'production' }, stdio: 'ignore' });
}

/** The Ruby process's pid: the entry's exec script execs Ruby in place, so it is the child's. */
function rubyPid(child: ChildProcess): number {
  return child.pid!;
}

function startPoller(url: string, lambdaUrl: string, routes: Route[], maxInFlight: number, env: Record<string, string> = {}): ChildProcess {
  return spawnPoller(url, lambdaUrl, routes, { SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: String(maxInFlight), ...env });
}

interface RubySide {
  readonly sk: Sidekiq;
  readonly drain: Drain;
  readonly lat: { p50: number; p99: number };
}

/** The poller's /stats (memory breakdown included). */
async function stats(port: number): Promise<{ memory: NodeJS.MemoryUsage }> {
  return (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { memory: NodeJS.MemoryUsage };
}

const MiB = (b: number): string => fmt(b / 1024 / 1024, 1);

export async function main(): Promise<void> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  const client = new Client({ redis });
  const routes = (batchSize: number): Route[] => [
    { class: 'NoopWorker', queue: 'bench_ts', function: 'noop', timeoutSeconds: 30, concurrency: 200, batchSize },
    { class: 'LatencyWorker', queue: 'bench_lat_ts', function: 'latency', timeoutSeconds: 30, concurrency: 200, batchSize: 1 },
    { class: 'HoldJob', queue: 'bench_hold', function: 'hold', timeoutSeconds: 60, concurrency: 1000, batchSize: 1 },
  ];
  // Throughput mode (several invocations per worker thread) so the endpoint, which shares these
  // two cores, costs as little as it can; handler logs off, as in a quiet production function.
  const env = { REDIS_URL: server.url, LOG_LEVEL: 'warn' };
  const lambda = await startLocalLambda({
    port: 0,
    invocationsPerEnvironment: 100,
    functions: [
      { name: 'noop', entry: HANDLERS, handlerExport: 'noop', timeoutSeconds: 30, memoryMb: 256, concurrency: 200, environment: env },
      { name: 'latency', entry: HANDLERS, handlerExport: 'latency', timeoutSeconds: 30, memoryMb: 256, concurrency: 200, environment: env },
      { name: 'hold', entry: HANDLERS, handlerExport: 'hold', timeoutSeconds: 60, memoryMb: 128, concurrency: 1000, environment: env },
    ],
  });
  diagnosis.describe = async () =>
    `retry set ${await redis.zcard('retry')}, dead set ${await redis.zcard('dead')}, latency samples ${await redis.llen('bench:latency')}; first retry: ${(await redis.zrange('retry', 0, 0))[0]?.slice(0, 400)}`;
  const inflight = () => inflightOf(redis);
  const sidekiqs = benchSidekiqs();
  console.log(`poller benchmark: ${fmt(N)} no-op jobs after ${fmt(WARM_UP)} untimed warm-up jobs on each side, Redis ${server.url}, ${sidekiqs.map((s) => s.label).join(' and ')} -c 10 vs the poller (max in flight 100; batched: 300 jobs = 30 invocations)\n`);
  try {
    // Sidekiq, each version of the matrix
    const ruby: RubySide[] = [];
    for (const sk of sidekiqs) {
      const child = startSidekiq(sk, server.url, ['bench_rb', 'bench_lat_rb']);
      await until(async () => (await redis.scard('processes')) > 0, 60_000, `${sk.label} to start`);
      await warmUp(redis, 'bench_rb', async () => 0);
      await fillOne(redis, 'NoopWorker', 'bench_rb', N);
      const d = await drain(redis, [rubyPid(child)], 'bench_rb', N, async () => 0);
      const lat = await latency(redis, client, 'LatencyWorker', 'bench_lat_rb', 1000, QUICK ? 2 : 5);
      await stop(child);
      await redis.flushdb();
      ruby.push({ sk, drain: d, lat });
    }

    // The poller, one Invoke per job
    const p1 = startPoller(server.url, lambda.url, routes(1), 100);
    await pollersUp(redis);
    await warmUp(redis, 'bench_ts', inflight);
    await fillOne(redis, 'NoopWorker', 'bench_ts', N);
    const ts = await drain(redis, [p1.pid!], 'bench_ts', N, inflight);
    const tsLat = await latency(redis, client, 'LatencyWorker', 'bench_lat_ts', 1000, QUICK ? 2 : 5);
    await stop(p1);

    // Batching: up to 10 jobs per Invoke
    // 30 invocations of 10 jobs in flight: the same Lambda concurrency as 1/Invoke at a cap of 30.
    const p2 = startPoller(server.url, lambda.url, routes(10), 300);
    await pollersUp(redis);
    await warmUp(redis, 'bench_ts', inflight);
    await fillOne(redis, 'NoopWorker', 'bench_ts', N);
    const tsBatch = await drain(redis, [p2.pid!], 'bench_ts', N, inflight);
    await stop(p2);

    const cols = ruby.map((r) => r.sk.label);
    const line = (name: string, ours: number, theirs: (r: RubySide) => number, d = 0, lowerIsBetter = false): string => {
      const vs = ruby.map((r) => `${fmt(theirs(r), d).padStart(10)} ${(lowerIsBetter ? ratio(theirs(r), ours) : ratio(ours, theirs(r))).padStart(6)}`).join('   ');
      return `${name.padEnd(24)}${fmt(ours, d).padStart(12)}   ${vs}`;
    };
    console.log(`${''.padEnd(24)}${'poller'.padStart(12)}   ${cols.map((c) => `${c.padStart(10)}  ratio`).join('   ')}`);
    console.log(line('throughput 1/Invoke', ts.jobsPerSec, (r) => r.drain.jobsPerSec));
    console.log(line('throughput batch 10', tsBatch.jobsPerSec, (r) => r.drain.jobsPerSec));
    console.log(line('CPU per job (µs)', ts.cpuUsPerJob, (r) => r.drain.cpuUsPerJob, 1, true));
    console.log(line('RSS after drain (MiB)', ts.rssMb, (r) => r.drain.rssMb, 1, true));
    console.log(line('latency p50 (ms)', tsLat.p50, (r) => r.lat.p50, 0, true));
    console.log(line('latency p99 (ms)', tsLat.p99, (r) => r.lat.p99, 0, true));
    console.log('(ratios: > 1 means the poller is better; latency at 1,000 jobs/s steady)');
    console.log(`Lambda invocations: ${fmt(N)} (1/Invoke) vs ~${fmt(Math.ceil(N / 10))} (batch 10)`);

    // Memory: 1,000 jobs in flight; backlog 1,000 vs 1,000,000; where it goes
    const port = await freePort();
    const p3 = startPoller(server.url, lambda.url, routes(1), 1000, { SIDEKIQ_LAMBDA_HEALTH_PORT: String(port) });
    await pollersUp(redis);
    await sleep(1000);
    const rssIdle = rssMb(p3.pid!);
    const idle = (await stats(port)).memory;
    await client.pushBulk({ class: 'HoldJob', queue: 'bench_hold', args: Array.from({ length: 2000 }, () => [30]) });
    await until(async () => (await inflight()) >= 1000, 60_000);
    await sleep(2000);
    const rss1k = rssMb(p3.pid!);
    const busy = (await stats(port)).memory;
    const backlog = QUICK ? 100_000 : 1_000_000;
    for (let i = 0; i < backlog; i += 10_000) await client.pushBulk({ class: 'HoldJob', queue: 'bench_hold', args: Array.from({ length: 10_000 }, () => [30]) });
    await sleep(3000);
    const rssBig = rssMb(p3.pid!);
    console.log(`\nmemory: poller RSS idle ${fmt(rssIdle, 1)} MiB; with 1,000 jobs in flight and a backlog of ~1,000: ${fmt(rss1k, 1)} MiB; backlog of ${fmt(backlog)}: ${fmt(rssBig, 1)} MiB (target ≤ 150 MiB, flat)`);
    for (const [name, m] of [['idle', idle], ['1,000 in flight', busy]] as const) {
      console.log(`  ${name}: V8 heap used ${MiB(m.heapUsed)} of ${MiB(m.heapTotal)} MiB, external ${MiB(m.external)} MiB (array buffers ${MiB(m.arrayBuffers)}), the rest of RSS (code, the V8/Node runtime itself, stacks) ${MiB(m.rss - m.heapTotal - m.external)} MiB`);
    }
    p3.kill('SIGKILL');
  } finally {
    await lambda.close();
    redis.disconnect();
    await server.stop();
  }
}

await main();
