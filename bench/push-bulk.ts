/**
 * Benchmark: `Client#pushBulk` of 100,000 jobs against Ruby `Sidekiq::Client.push_bulk` of the
 * same 100,000 jobs, on the same Redis in one run; prints both rates and the ratio (goal ≥ 1.0×).
 *
 * Fairness: the same args shape, the same batch size (1000 jobs per round trip: Sidekiq 6.4's
 * push_bulk has no batch_size, so the Ruby side slices; 7.1+ does exactly that inside), a string
 * class on both sides, and a monotonic clock around the pushes only — Ruby's boot, building the
 * argument arrays and connecting are outside the timed region on both sides. The database is
 * flushed before each run and the queue length checked after it. Best of ROUNDS runs each.
 *
 * Redis: REDIS_URL (its database is FLUSHED), else a throwaway redis-server. JOBS=n, BATCH=n,
 * ROUNDS=n to change the defaults. Needs `ruby` with ruby-sidekiq for the comparison.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Client } from '../lib/client.js';
import { startRedisServer, type RedisServer } from '../test/support/redis.js';

const JOBS = Number(process.env.JOBS ?? 100_000);
const BATCH = Number(process.env.BATCH ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

function argsFor(i: number): unknown[] {
  return [i, `user-${i}`, { plan: 'pro', amount: 12.5 }];
}

async function ours(url: string, redis: Redis): Promise<number> {
  await redis.flushdb();
  const all = Array.from({ length: JOBS }, (_, i) => argsFor(i));
  const client = new Client({ redis: url });
  try {
    await client.ready();
    const start = performance.now();
    await client.pushBulk({ class: 'HardJob', args: all, batchSize: BATCH });
    const seconds = (performance.now() - start) / 1000;
    const n = await redis.llen('queue:default');
    if (n !== JOBS) throw new Error(`ours: expected ${JOBS} jobs in queue:default, found ${n}`);
    return seconds;
  } finally {
    await client.close();
  }
}

const RUBY = `
$VERBOSE = nil
require "sidekiq"
Sidekiq.logger.level = Logger::WARN
jobs, batch = ARGV.map(&:to_i)
all = Array.new(jobs) { |i| [i, "user-#{i}", {"plan" => "pro", "amount" => 12.5}] }
Sidekiq.redis { |c| c.ping } # connect outside the timed region
start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
all.each_slice(batch) { |slice| Sidekiq::Client.push_bulk("class" => "HardJob", "args" => slice) }
print Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
`;

async function ruby(url: string, redis: Redis): Promise<number> {
  await redis.flushdb();
  const out = execFileSync('ruby', ['-e', RUBY, String(JOBS), String(BATCH)], { encoding: 'utf8', env: { ...process.env, REDIS_URL: url } });
  const n = await redis.llen('queue:default');
  if (n !== JOBS) throw new Error(`ruby: expected ${JOBS} jobs in queue:default, found ${n}`);
  return Number(out);
}

function rubyAvailable(): boolean {
  try {
    execFileSync('ruby', ['-e', 'require "sidekiq"'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const rate = (s: number): string => `${Math.round(JOBS / s).toLocaleString('en-US')} jobs/s`;

let server: RedisServer | undefined;
let url = process.env.REDIS_URL;
if (!url) {
  server = await startRedisServer();
  url = server.url;
}
const redis = new Redis(url);
try {
  console.log(`pushBulk: ${JOBS.toLocaleString('en-US')} jobs, batches of ${BATCH}, best of ${ROUNDS}, Redis ${url}`);
  const withRuby = rubyAvailable();
  if (!withRuby) console.log('ruby with ruby-sidekiq not found: measuring ours only');
  const mine: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    mine.push(await ours(url, redis));
    if (withRuby) theirs.push(await ruby(url, redis));
  }
  const best = (xs: number[]): number => Math.min(...xs);
  console.log(`  ours (Client#pushBulk)              ${rate(best(mine)).padStart(16)}   runs: ${mine.map((s) => s.toFixed(3)).join(' s, ')} s`);
  if (withRuby) {
    console.log(`  Ruby (Sidekiq::Client.push_bulk)    ${rate(best(theirs)).padStart(16)}   runs: ${theirs.map((s) => s.toFixed(3)).join(' s, ')} s`);
    console.log(`  ratio ours/Ruby: ${(best(theirs) / best(mine)).toFixed(2)}×   (goal ≥ 1.0×)`);
  }
  await redis.flushdb();
} finally {
  redis.disconnect();
  await server?.stop();
}
