/**
 * Real Ruby Sidekiq for interop tests. Tests that need it use `describeRuby`, which skips loudly
 * where Ruby Sidekiq is not installed — and fails under CI=true, where it must be.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { describe, it } from 'vitest';

let cached: string | undefined | null = null;

/** Why Ruby Sidekiq is unusable here, or undefined when it works. */
export function rubyProblem(): string | undefined {
  if (cached !== null) return cached;
  const r = spawnSync('ruby', ['-e', 'require "sidekiq"; require "sidekiq/api"; require "active_job"; print Sidekiq::VERSION'], { encoding: 'utf8' });
  cached = r.status === 0 ? undefined : `ruby with ruby-sidekiq and ruby-activejob is not installed (${(r.error?.message ?? r.stderr ?? '').trim().split('\n')[0]}); apt-get install ruby ruby-sidekiq ruby-activejob`;
  return cached;
}

/** `describe` for tests that drive real Ruby Sidekiq: loud skip locally, failure under CI=true. */
export function describeRuby(name: string, body: () => void): void {
  describeNeeding(name, rubyProblem(), body);
}

const gemProblems = new Map<string, string | undefined>();

/**
 * Why a Debian Ruby library is unusable here (`require` fails), or undefined when it loads.
 * `aptPackage` is named in the message, e.g. `gemProblem('fugit', 'ruby-fugit')`.
 */
export function gemProblem(feature: string, aptPackage: string): string | undefined {
  if (!gemProblems.has(feature)) {
    const r = spawnSync('ruby', ['-e', `require ${JSON.stringify(feature)}`], { encoding: 'utf8' });
    gemProblems.set(feature, r.status === 0 ? undefined : `ruby with ${aptPackage} is not installed (${(r.error?.message ?? r.stderr ?? '').trim().split('\n')[0]}); apt-get install ruby ${aptPackage}`);
  }
  return gemProblems.get(feature);
}

/** `describe` for tests that need a Debian Ruby library: loud skip locally, failure under CI=true. */
export function describeRubyGem(name: string, feature: string, aptPackage: string, body: () => void): void {
  describeNeeding(name, gemProblem(feature, aptPackage), body);
}

function describeNeeding(name: string, problem: string | undefined, body: () => void): void {
  if (!problem) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs its Ruby libraries (required under CI=true)', () => {
        throw new Error(problem);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": ${problem} ***\n`);
  describe.skip(name, body);
}

/** Runs a Ruby script with REDIS_URL set; returns stdout. Throws with stderr on failure. */
export function runRuby(script: string, redisUrl: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync('ruby', ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: redisUrl, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ruby failed: ${err.stderr || err.message}`);
  }
}

/** Starts a long-running Ruby process (e.g. a `sidekiq` server) with REDIS_URL set. */
export function spawnRuby(args: string[], redisUrl: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('ruby', args, { env: { ...process.env, REDIS_URL: redisUrl, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
