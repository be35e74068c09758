/**
 * Benchmark: `Client#pushBulk` of 100,000 jobs against Ruby `Sidekiq::Client.push_bulk` of the
 * same 100,000 jobs, on the same Redis in one run, once per Sidekiq of the matrix (Debian's 6.4.1 and
 * 7.3.x: bench/sidekiqs.ts); prints every rate and one ratio per Sidekiq (goal ≥ 1.0×).
 *
 * Fairness: the same args shape, the same batch size (1000 jobs per round trip: Sidekiq 6.4's
 * push_bulk has no batch_size, so the Ruby side slices; 7.1+ does exactly that inside), a string
 * class on both sides, and a monotonic clock around the pushes only — Ruby's boot, building the
 * argument arrays and connecting are outside the timed region on both sides. The database is
 * flushed before each run and the queue length checked after it. Best of ROUNDS runs each.
 *
 * Redis: REDIS_URL (its database is FLUSHED), else a throwaway redis-server. JOBS=n, BATCH=n,
 * ROUNDS=n to change the defaults; BENCH_QUICK=1 for 5,000 jobs, one round. Needs the matrix installed
 * (test/ruby/install) for the comparison; SIDEKIQ_MATRIX=sidekiq-7.3 narrows it.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Client } from '../lib/client.js';
import { startRedisServer, type RedisServer } from '../test/support/redis.js';
import { benchSidekiqs, QUICK, runRubyBench, type Sidekiq } from './sidekiqs.js';

const JOBS = Number(process.env.JOBS ?? (QUICK ? 5_000 : 100_000));
const BATCH = Number(process.env.BATCH ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 1 : 3));

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

async function ruby(sk: Sidekiq, url: string, redis: Redis): Promise<number> {
  await redis.flushdb();
  const out = runRubyBench(sk, RUBY, [String(JOBS), String(BATCH)], { REDIS_URL: url });
  const n = await redis.llen('queue:default');
  if (n !== JOBS) throw new Error(`${sk.label}: expected ${JOBS} jobs in queue:default, found ${n}`);
  return Number(out);
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
  const sidekiqs = benchSidekiqs();
  if (sidekiqs.length === 0) console.log('  no Sidekiq of the matrix is installed (test/ruby/install): measuring ours only');
  const mine: number[] = [];
  const theirs = new Map<Sidekiq, number[]>(sidekiqs.map((sk) => [sk, []]));
  for (let r = 0; r < ROUNDS; r++) {
    mine.push(await ours(url, redis));
    for (const sk of sidekiqs) theirs.get(sk)!.push(await ruby(sk, url, redis));
  }
  const best = (xs: number[]): number => Math.min(...xs);
  const runs = (xs: number[]): string => `runs: ${xs.map((s) => s.toFixed(3)).join(' s, ')} s`;
  console.log(`  ours (Client#pushBulk)                       ${rate(best(mine)).padStart(16)}   ${runs(mine)}`);
  for (const [sk, xs] of theirs) console.log(`  ${`${sk.label} (Sidekiq::Client.push_bulk)`.padEnd(44)} ${rate(best(xs)).padStart(16)}   ${runs(xs)}`);
  for (const [sk, xs] of theirs) console.log(`  ratio ours/${sk.label}: ${(best(xs) / best(mine)).toFixed(2)}×   (goal ≥ 1.0×)`);
  await redis.flushdb();
} finally {
  redis.disconnect();
  await server?.stop();
}
