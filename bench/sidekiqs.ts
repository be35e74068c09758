/**
 * The Ruby side of a benchmark, once per entry of the Sidekiq matrix (test/ruby/<entry>/Gemfile.lock):
 * 1. `benchSidekiqs()` lists the entries installed here and says on stdout which ones are not, and why;
 * 2. `runRubyBench(sk, script, args, env)` runs a timed Ruby script with that entry's gems and returns its stdout;
 * 3. `sk.command([...])` gives the command line for a long-running Ruby side (a `sidekiq` server);
 * 4. `QUICK` (BENCH_QUICK=1) asks for a reduced size that only proves the benchmark works.
 *
 * @example
 * for (const sk of benchSidekiqs()) {
 *   const seconds = Number(runRubyBench(sk, RUBY, [String(JOBS)], { REDIS_URL: url }));
 *   console.log(`ratio ours/${sk.label}: ${(seconds / ours).toFixed(2)}×`);
 * }
 */
import { execFileSync } from 'node:child_process';
import { isSelected, SIDEKIQS, type Sidekiq } from '../test/support/sidekiq-matrix.js';

export type { Sidekiq } from '../test/support/sidekiq-matrix.js';

/** BENCH_QUICK=1: a reduced size, to prove a benchmark runs — not for figures. */
export const QUICK = process.env.BENCH_QUICK === '1';

/** The selected (SIDEKIQ_MATRIX) entries whose gems are installed; prints a line for each one that is not. */
export function benchSidekiqs(): Sidekiq[] {
  const ready: Sidekiq[] = [];
  for (const sk of SIDEKIQS.filter(isSelected)) {
    const problem = sk.problem();
    if (problem) console.log(`  ${sk.label}: not measured — ${problem}`);
    else ready.push(sk);
  }
  return ready;
}

/**
 * redis-rb 4.8 (beside Sidekiq 6.x) prints a deprecation line on every SADD Sidekiq 6's client
 * makes; writing 100,000 of them would slow the Ruby side we compare against.
 */
const QUIET_REDIS = "begin; require 'redis'; Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=); rescue LoadError; end";

/** Runs `ruby -e script args…` with the entry's gems; returns stdout (stderr passes through). */
export function runRubyBench(sk: Sidekiq, script: string, args: readonly string[], env: NodeJS.ProcessEnv): string {
  const [cmd, argv] = sk.command(['ruby', '-e', QUIET_REDIS, '-e', script, ...args]);
  return execFileSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
}
