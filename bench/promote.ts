/**
 * Benchmark: promote 100,000 due jobs with ours (`promoteDue`) and with Ruby Sidekiq's
 * `Sidekiq::Scheduled::Enq#enqueue_jobs`, on the same Redis in one run, once per Sidekiq of the matrix
 * (Debian's 6.4.1 and 7.3.x: bench/sidekiqs.ts); print every rate and one ratio per Sidekiq (goal ≥ 30×).
 *
 * Redis: REDIS_URL (its database is FLUSHED), else a throwaway redis-server. JOBS=n to change the
 * count (BENCH_QUICK=1: 5,000), BATCH=n for our batch size. Needs the matrix installed
 * (test/ruby/install) for the comparison; SIDEKIQ_MATRIX=sidekiq-7.3 narrows it.
 */
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../test/support/redis.js';
import { keys as makeKeys } from '../lib/protocol/keys.js';
import { promoteDue } from '../lib/sidekiq/scheduled.js';
import { benchSidekiqs, QUICK, runRubyBench, type Sidekiq } from './sidekiqs.js';

const K = makeKeys();

/** A payload as Ruby's Client writes a scheduled job (no enqueued_at), about 200 bytes. */
function payload(i: number): string {
  const jid = i.toString(16).padStart(24, '0');
  return `{"retry":true,"queue":"default","class":"HardJob","args":[${i},"user-${i}",{"plan":"pro","amount":12.5}],"jid":"${jid}","created_at":1795334800.1234567}`;
}

async function seed(redis: Redis, n: number): Promise<void> {
  await redis.flushdb();
  for (let start = 0; start < n; start += 10_000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(n, start + 10_000); i++) args.push(String(1700000000 + i / 1e4), payload(i));
    await redis.zadd(K.schedule, ...args);
  }
}

interface Figures {
  seconds: number;
  rate: number;
  cpuUsPerJob?: number;
}

async function ours(redis: Redis, n: number, batchSize: number): Promise<Figures> {
  await seed(redis, n);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await promoteDue({ redis, keys: K, batchSize });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const queued = await redis.llen(K.queue('default'));
  if (r.promoted !== n || queued !== n) throw new Error(`ours promoted ${r.promoted}, queue holds ${queued}, expected ${n}`);
  return { seconds, rate: n / seconds, cpuUsPerJob: (cpu.user + cpu.system) / n };
}

function ruby(sk: Sidekiq, url: string, n: number): Figures {
  const out = runRubyBench(sk, `
    require 'sidekiq'; require 'sidekiq/scheduled'
    Sidekiq.logger.level = :warn
    Sidekiq.redis { |c| c.ping }
    # 7.x builds Enq with the configuration.
    enq = Sidekiq.respond_to?(:default_configuration) ? Sidekiq::Scheduled::Enq.new(Sidekiq.default_configuration) : Sidekiq::Scheduled::Enq.new
    c0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    enq.enqueue_jobs
    t = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    c = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - c0
    n = Sidekiq.redis { |r| r.llen('queue:default') }
    print [n, t, c].join(' ')
  `, [], { REDIS_URL: url });
  const [moved, seconds, cpu] = out.trim().split(' ').map(Number) as [number, number, number];
  if (moved !== n) throw new Error(`${sk.label} moved ${moved}, expected ${n}`);
  return { seconds, rate: n / seconds, cpuUsPerJob: (cpu * 1e6) / n };
}

export async function main(): Promise<void> {
  const n = Number(process.env.JOBS ?? (QUICK ? 5_000 : 100_000));
  const batch = Number(process.env.BATCH ?? 1000);
  let server: RedisServer | undefined;
  const url = process.env.REDIS_URL ?? (server = await startRedisServer()).url;
  const redis = new Redis(url);
  try {
    const a = await ours(redis, n, batch);
    console.log(`promote ${n} due jobs  ours:  ${a.rate.toFixed(0)} jobs/s (${a.seconds.toFixed(2)} s, batch ${batch}, ${a.cpuUsPerJob!.toFixed(1)} µs Node CPU/job)`);
    const theirs: [Sidekiq, Figures][] = [];
    for (const sk of benchSidekiqs()) {
      await seed(redis, n);
      const b = ruby(sk, url, n);
      theirs.push([sk, b]);
      console.log(`promote ${n} due jobs  ${sk.label} Enq:  ${b.rate.toFixed(0)} jobs/s (${b.seconds.toFixed(2)} s, ${b.cpuUsPerJob!.toFixed(1)} µs Ruby CPU/job)`);
    }
    for (const [sk, b] of theirs) console.log(`ratio ours/${sk.label}: ${(a.rate / b.rate).toFixed(1)}× its rate (goal ≥ 30×)`);
  } finally {
    redis.disconnect();
    await server?.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
