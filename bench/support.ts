/**
 * What the poller benchmarks share: process CPU and memory from /proc, waiting on a condition,
 * filling a queue so a drain starts at one instant, timing a drain, starting poller processes
 * exactly as ECS runs them (`sidekiq-lambda poller`), and formatting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { Client } from '../lib/client.js';
import { encodeRoutes, type Route } from '../lib/jobs.js';
import { tied } from '../test/support/tied.js';

/** `npm run bench` runs from the repository root (the bundle itself lives in a temp folder). */
export const ROOT = `${process.cwd()}/`;
const TICKS = 100; // USER_HZ

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU time (user + system) of a process so far, ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

/** Resident memory of a process, MiB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Said when a wait times out: what the benchmark can tell about why. */
export const diagnosis = { describe: async (): Promise<string> => '' };

export async function until(check: () => Promise<boolean>, timeoutMs = 300_000, what = 'benchmark step'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} timed out; ${await diagnosis.describe()}`);
    await sleep(10);
  }
}

/**
 * Fills a staging list with these jobs, in this order (pushed under a `bench-staging` namespace),
 * which `drain` renames onto the queue, so the drain starts at one instant.
 */
export async function fill(redis: Redis, jobs: readonly { cls: string; args: unknown[] }[], queue: string): Promise<void> {
  const staging = new Client({ redis, namespace: 'bench-staging' });
  for (let i = 0; i < jobs.length; i += 500) {
    // Issued in order on one connection, so the queue keeps this order.
    await Promise.all(jobs.slice(i, i + 500).map((j) => staging.push({ class: j.cls, queue, args: j.args })));
  }
  await redis.rename(`bench-staging:queue:${queue}`, 'bench:staging');
}

/** Fills with `n` jobs of one class (one pushBulk per 10,000). */
export async function fillOne(redis: Redis, cls: string, queue: string, n: number, args: (i: number) => unknown[] = (i) => [i]): Promise<void> {
  const staging = new Client({ redis, namespace: 'bench-staging' });
  for (let i = 0; i < n; i += 10_000) {
    await staging.pushBulk({ class: cls, queue, args: Array.from({ length: Math.min(10_000, n - i) }, (_, k) => args(i + k)) });
  }
  await redis.rename(`bench-staging:queue:${queue}`, 'bench:staging');
}

export interface Drain {
  readonly seconds: number;
  readonly jobsPerSec: number;
  /** CPU per job of the processes given, µs. */
  readonly cpuUsPerJob: number;
  /** RSS of the first process after the drain, MiB. */
  readonly rssMb: number;
}

/** Moves the staged jobs onto `queue:<queue>` and waits until they are all done. */
export async function drain(redis: Redis, pids: readonly number[], queue: string, n: number, inflight: () => Promise<number>): Promise<Drain> {
  const cpu0 = pids.reduce((s, p) => s + cpuMs(p), 0);
  const t0 = process.hrtime.bigint();
  await redis.sadd('queues', queue);
  await redis.rename('bench:staging', `queue:${queue}`);
  await until(async () => (await redis.llen(`queue:${queue}`)) === 0 && (await inflight()) === 0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = pids.reduce((s, p) => s + cpuMs(p), 0) - cpu0;
  return { seconds, jobsPerSec: n / seconds, cpuUsPerJob: (cpu * 1000) / n, rssMb: pids.length > 0 ? rssMb(pids[0]!) : 0 };
}

/** Jobs in every poller's in-flight lists. */
export async function inflightOf(redis: Redis): Promise<number> {
  let n = 0;
  for (const k of await redis.keys('sidekiq-lambda:inflight*')) n += await redis.llen(k);
  return n;
}

/**
 * A poller process, exactly as ECS runs it. BENCH_POLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * profiles it; BENCH_POLLER_LOGS=1 shows its log (at info).
 */
export function startPoller(url: string, lambdaUrl: string, routes: readonly Route[], env: Record<string, string> = {}): ChildProcess {
  const nodeArgs = (process.env.BENCH_POLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(...tied('node', [...nodeArgs, 'bin/sidekiq-lambda.js', 'poller'], 'TERM'), {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: url,
      SIDEKIQ_LAMBDA_JOBS: encodeRoutes(routes),
      SIDEKIQ_LAMBDA_ENDPOINT: lambdaUrl,
      SIDEKIQ_LAMBDA_HEALTH_PORT: '0',
      SIDEKIQ_LAMBDA_METRICS: 'false',
      SIDEKIQ_LAMBDA_LOG_LEVEL: process.env.BENCH_POLLER_LOGS ? 'info' : 'warn',
      ...env,
    },
    stdio: ['ignore', process.env.BENCH_POLLER_LOGS ? 'inherit' : 'ignore', 'inherit'],
  });
}

/** Waits until `n` pollers are registered. */
export async function pollersUp(redis: Redis, n = 1): Promise<void> {
  await until(async () => (await redis.hlen('sidekiq-lambda:pollers')) >= n, 30_000, 'pollers to start');
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

export const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
export const ratio = (ours: number, theirs: number): string => `${fmt(ours / theirs, 2)}×`;
