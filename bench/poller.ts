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
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startRedisServer } from '../test/support/redis.js';
import { startLocalLambda } from '../lib/local/endpoint.js';
import { encodeRoutes, type Route } from '../lib/jobs.js';
import { Client } from '../lib/client.js';

// `npm run bench` runs from the repository root (the bundle itself lives in a temp folder).
const ROOT = `${process.cwd()}/`;
const HANDLERS = `${ROOT}bench/fixtures/noop.ts`;
const WORKERS = `${ROOT}bench/fixtures/workers.rb`;
const N = Number(process.env.BENCH_JOBS ?? 50_000);
const QUICK = process.env.BENCH_QUICK === '1';
const WARM_UP = Math.min(10_000, Math.ceil(N / 5));
const TICKS = 100; // USER_HZ

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

let diagnose: () => Promise<string> = async () => '';

async function until(check: () => Promise<boolean>, timeoutMs = 300_000, what = 'benchmark step'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} timed out; ${await diagnose()}`);
    await sleep(10);
  }
}

/**
 * Fills a staging list (the same payloads, pushed under a `bench-staging` namespace) that `drain`
 * renames onto the queue, so the drain starts at one instant for both sides.
 */
async function fill(redis: Redis, cls: string, queue: string, n: number): Promise<void> {
  const staging = new Client({ redis, namespace: 'bench-staging' });
  for (let i = 0; i < n; i += 10_000) {
    await staging.pushBulk({ class: cls, queue, args: Array.from({ length: Math.min(10_000, n - i) }, (_, k) => [i + k]) });
  }
  await redis.rename(`bench-staging:queue:${queue}`, 'bench:staging');
}

interface Drain {
  jobsPerSec: number;
  cpuUsPerJob: number;
  rssMb: number;
}

async function drain(redis: Redis, pid: number, queue: string, n: number, inflight: () => Promise<number>): Promise<Drain> {
  const cpu0 = cpuMs(pid);
  const t0 = process.hrtime.bigint();
  await redis.sadd('queues', queue);
  await redis.rename('bench:staging', `queue:${queue}`);
  await until(async () => (await redis.llen(`queue:${queue}`)) === 0 && (await inflight()) === 0);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuMs(pid) - cpu0;
  return { jobsPerSec: n / secs, cpuUsPerJob: (cpu * 1000) / n, rssMb: rssMb(pid) };
}

/**
 * An untimed drain of WARM_UP jobs first, on both sides: JIT warm-up, connection pools and the
 * local endpoint's execution environments (Lambda's cold starts, not the poller's cost) are not
 * measured, as the latency runs exclude cold starts too.
 */
async function warmUp(redis: Redis, queue: string, inflight: () => Promise<number>): Promise<void> {
  await fill(redis, 'NoopWorker', queue, WARM_UP);
  await redis.sadd('queues', queue);
  await redis.rename('bench:staging', `queue:${queue}`);
  await until(async () => (await redis.llen(`queue:${queue}`)) === 0 && (await inflight()) === 0, 120_000, 'warm-up');
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

function startSidekiq(url: string, queues: string[]): ChildProcess {
  return spawn('sidekiq', ['-r', WORKERS, ...queues.flatMap((q) => ['-q', q]), '-c', '10'], { env: { ...process.env, REDIS_URL: url, RAILS_ENV: 'production' }, stdio: 'ignore' });
}

function startPoller(url: string, lambdaUrl: string, routes: Route[], maxInFlight: number): ChildProcess {
  // BENCH_POLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the poller processes.
  const nodeArgs = (process.env.BENCH_POLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn('node', [...nodeArgs, 'bin/sidekiq-lambda.js', 'poller'], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: url,
      SIDEKIQ_LAMBDA_JOBS: encodeRoutes(routes),
      SIDEKIQ_LAMBDA_ENDPOINT: lambdaUrl,
      SIDEKIQ_LAMBDA_HEALTH_PORT: '0',
      SIDEKIQ_LAMBDA_METRICS: 'false',
      SIDEKIQ_LAMBDA_MAX_IN_FLIGHT: String(maxInFlight),
      SIDEKIQ_LAMBDA_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const ratio = (ours: number, theirs: number) => `${fmt(ours / theirs, 2)}×`;

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
  diagnose = async () =>
    `retry set ${await redis.zcard('retry')}, dead set ${await redis.zcard('dead')}, latency samples ${await redis.llen('bench:latency')}; first retry: ${(await redis.zrange('retry', 0, 0))[0]?.slice(0, 400)}`;
  const inflightOf = async () => {
    const ks = await redis.keys('sidekiq-lambda:inflight*');
    let n = 0;
    for (const k of ks) n += await redis.llen(k);
    return n;
  };
  console.log(`poller benchmark: ${fmt(N)} no-op jobs after ${fmt(WARM_UP)} untimed warm-up jobs on each side, Redis ${server.url}, Sidekiq 6.4.1 -c 10 vs poller (max in flight 100; batched: 300 jobs = 30 invocations)\n`);
  try {
    // Sidekiq
    const sk = startSidekiq(server.url, ['bench_rb', 'bench_lat_rb']);
    await until(async () => (await redis.scard('processes')) > 0, 60_000);
    await warmUp(redis, 'bench_rb', async () => 0);
    await fill(redis, 'NoopWorker', 'bench_rb', N);
    const rb = await drain(redis, sk.pid!, 'bench_rb', N, async () => 0);
    const rbLat = await latency(redis, client, 'LatencyWorker', 'bench_lat_rb', 1000, QUICK ? 2 : 5);
    await stop(sk);

    // The poller, one Invoke per job
    const p1 = startPoller(server.url, lambda.url, routes(1), 100);
    await until(async () => (await redis.hlen('sidekiq-lambda:pollers')) > 0, 30_000);
    await warmUp(redis, 'bench_ts', inflightOf);
    await fill(redis, 'NoopWorker', 'bench_ts', N);
    const ts = await drain(redis, p1.pid!, 'bench_ts', N, inflightOf);
    const tsLat = await latency(redis, client, 'LatencyWorker', 'bench_lat_ts', 1000, QUICK ? 2 : 5);
    await stop(p1);

    // Batching: up to 10 jobs per Invoke
    // 30 invocations of 10 jobs in flight: the same Lambda concurrency as 1/Invoke at a cap of 30.
    const p2 = startPoller(server.url, lambda.url, routes(10), 300);
    await until(async () => (await redis.hlen('sidekiq-lambda:pollers')) > 0, 30_000);
    await warmUp(redis, 'bench_ts', inflightOf);
    await fill(redis, 'NoopWorker', 'bench_ts', N);
    const tsBatch = await drain(redis, p2.pid!, 'bench_ts', N, inflightOf);
    await stop(p2);

    console.log('                         Sidekiq 6.4.1     poller (1/Invoke)   ratio     poller (batch 10)   ratio');
    console.log(`throughput (jobs/s)      ${fmt(rb.jobsPerSec).padStart(12)}  ${fmt(ts.jobsPerSec).padStart(18)}   ${ratio(ts.jobsPerSec, rb.jobsPerSec).padStart(6)}  ${fmt(tsBatch.jobsPerSec).padStart(18)}   ${ratio(tsBatch.jobsPerSec, rb.jobsPerSec).padStart(6)}`);
    console.log(`CPU per job (µs)         ${fmt(rb.cpuUsPerJob, 1).padStart(12)}  ${fmt(ts.cpuUsPerJob, 1).padStart(18)}   ${ratio(ts.cpuUsPerJob, rb.cpuUsPerJob).padStart(6)}  ${fmt(tsBatch.cpuUsPerJob, 1).padStart(18)}   ${ratio(tsBatch.cpuUsPerJob, rb.cpuUsPerJob).padStart(6)}`);
    console.log(`RSS after drain (MiB)    ${fmt(rb.rssMb, 1).padStart(12)}  ${fmt(ts.rssMb, 1).padStart(18)}   ${ratio(ts.rssMb, rb.rssMb).padStart(6)}  ${fmt(tsBatch.rssMb, 1).padStart(18)}   ${ratio(tsBatch.rssMb, rb.rssMb).padStart(6)}`);
    console.log(`latency p50 (ms)         ${fmt(rbLat.p50).padStart(12)}  ${fmt(tsLat.p50).padStart(18)}   ${ratio(tsLat.p50 || 1, rbLat.p50 || 1).padStart(6)}   (1,000 jobs/s steady)`);
    console.log(`latency p99 (ms)         ${fmt(rbLat.p99).padStart(12)}  ${fmt(tsLat.p99).padStart(18)}   ${ratio(tsLat.p99 || 1, rbLat.p99 || 1).padStart(6)}`);
    console.log(`Lambda invocations: ${fmt(N)} (1/Invoke) vs ~${fmt(Math.ceil(N / 10))} (batch 10)`);

    // Memory: 1,000 jobs in flight; backlog 1,000 vs 1,000,000
    const p3 = startPoller(server.url, lambda.url, routes(1), 1000);
    await until(async () => (await redis.hlen('sidekiq-lambda:pollers')) > 0, 30_000);
    const rssIdle = rssMb(p3.pid!);
    await client.pushBulk({ class: 'HoldJob', queue: 'bench_hold', args: Array.from({ length: 2000 }, () => [30]) });
    await until(async () => (await inflightOf()) >= 1000, 60_000);
    await sleep(2000);
    const rss1k = rssMb(p3.pid!);
    const backlog = QUICK ? 100_000 : 1_000_000;
    for (let i = 0; i < backlog; i += 10_000) await client.pushBulk({ class: 'HoldJob', queue: 'bench_hold', args: Array.from({ length: 10_000 }, () => [30]) });
    await sleep(3000);
    const rssBig = rssMb(p3.pid!);
    console.log(`\nmemory: poller RSS idle ${fmt(rssIdle, 1)} MiB; with 1,000 jobs in flight and a backlog of ~1,000: ${fmt(rss1k, 1)} MiB; backlog of ${fmt(backlog)}: ${fmt(rssBig, 1)} MiB (target ≤ 150 MiB, flat)`);
    p3.kill('SIGKILL');
  } finally {
    await lambda.close();
    redis.disconnect();
    await server.stop();
  }
}

await main();
