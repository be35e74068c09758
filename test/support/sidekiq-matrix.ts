/**
 * The Sidekiq matrix (test/ruby/<entry>/Gemfile.lock), free of any test runner so benchmarks use it too:
 * 1. `SIDEKIQS` lists the entries — Debian's 6.4.1 and the newest 7.3.x — with the versions their lockfiles pin;
 * 2. `sk.problem()` says why an entry cannot run here (naming the missing gem), once per process;
 * 3. `sk.run` / `sk.spawn` / `sk.command` start Ruby with exactly that entry's gems, through test/ruby/exec.
 * Tests use it through test/support/ruby.ts (`forEachSidekiq`).
 *
 * @example
 * const sk = SIDEKIQS.find((s) => s.major === 7)!;
 * if (!sk.problem()) console.log(sk.run('print Sidekiq::VERSION', redisUrl)); // 7.3.10
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tied } from './tied.js';

/** The repository: two folders up from this file, or — in a benchmark bundled elsewhere — the working directory. */
const ROOT = ((): string => {
  const here = fileURLToPath(new URL('../..', import.meta.url));
  return existsSync(join(here, 'test/ruby/exec')) ? here : process.cwd();
})();
/** The one script that sets up an entry's environment (shared with the install script and benchmarks). */
export const RUBY_EXEC = join(ROOT, 'test/ruby/exec');

/**
 * Ruby that sets ActiveJob up on Sidekiq as a Rails app on the entry would (test/ruby/active_job.rb): Sidekiq's
 * own adapter from 7.3 on, Rails' before. Use it in place of `ActiveJob::Base.queue_adapter = :sidekiq`.
 */
export const REQUIRE_ACTIVE_JOB = `require ${JSON.stringify(join(ROOT, 'test/ruby/active_job.rb'))}`;

/** One entry of the Sidekiq matrix. */
export interface Sidekiq {
  /** The entry's folder under test/ruby, e.g. `sidekiq-7.3`. */
  readonly entry: string;
  /** The Sidekiq version its Gemfile.lock pins, e.g. `7.3.10`. */
  readonly version: string;
  /** Sidekiq's major version: 6 or 7 (8 needs Ruby 3.2 and rests on fixtures). */
  readonly major: number;
  /** `Sidekiq 7.3.10`: the name of the entry's `describe` block. */
  readonly label: string;
  /** Every gem the lockfile pins, by name: `gems.get('activejob')` → `7.2.4`. */
  readonly gems: ReadonlyMap<string, string>;
  /** Why this entry cannot run here (naming the missing gem), or undefined when it can. Spawns Ruby once. */
  problem(): string | undefined;
  /** The command line that runs `args` with this entry's gems: `[test/ruby/exec, entry, ...args]`. */
  command(args: readonly string[]): [string, string[]];
  /**
   * Runs `ruby -e script` with REDIS_URL set; returns stdout. Throws with stderr on failure. Sidekiq is
   * required first with its logger at WARN: 7.x logs its Redis connection at INFO on stdout.
   */
  run(script: string, redisUrl: string, env?: NodeJS.ProcessEnv): string;
  /** Starts a long-running Ruby process (`args` are ruby's) with REDIS_URL set. */
  spawn(args: readonly string[], redisUrl: string, env?: NodeJS.ProcessEnv): ChildProcess;
  /** The path of a gem's executable in this entry, e.g. `bin('sidekiq')`. */
  bin(name: string, gem?: string): string;
}

/** Reads `name (version)` lines of a Gemfile.lock's specs. */
export function lockedGems(lockfile: string): Map<string, string> {
  const gems = new Map<string, string>();
  for (const m of lockfile.matchAll(/^ {4}([A-Za-z0-9_.-]+) \(([^)]+)\)$/gm)) gems.set(m[1]!, m[2]!);
  return gems;
}

const QUIET = 'require "sidekiq"; Sidekiq.logger.level = Logger::WARN';

function makeSidekiq(entry: string): Sidekiq {
  const dir = join(ROOT, 'test/ruby', entry);
  const lock = join(dir, 'Gemfile.lock');
  if (!existsSync(lock)) throw new Error(`test/ruby/${entry}/Gemfile.lock is missing: run test/ruby/relock ${entry} and commit it`);
  const gems = lockedGems(readFileSync(lock, 'utf8'));
  const version = gems.get('sidekiq');
  if (!version) throw new Error(`test/ruby/${entry}/Gemfile.lock pins no sidekiq`);
  let problem: string | undefined | null = null;
  const command = (args: readonly string[]): [string, string[]] => [RUBY_EXEC, [entry, ...args]];
  const sk: Sidekiq = {
    entry,
    version,
    major: Number(version.split('.')[0]),
    label: `Sidekiq ${version}`,
    gems,
    problem() {
      if (problem !== null) return problem;
      const probe = 'require "sidekiq"; require "sidekiq/api"; require "sidekiq/web"; require "active_job"; print Sidekiq::VERSION';
      const r = spawnSync(RUBY_EXEC, [entry, 'ruby', '-e', probe], { encoding: 'utf8' });
      if (r.status === 0 && r.stdout === version) problem = undefined;
      else {
        const lines = (r.error?.message ?? r.stderr ?? '').trim().split('\n');
        const line = lines.find((l) => /Could not find|cannot load|not found|Error/.test(l)) ?? lines[0] ?? '';
        // Bundler's "Could not find sidekiq-7.3.10, … in locally installed gems", without the file:line prefix.
        const why = r.status === 0 ? `it loads Sidekiq ${r.stdout}, not the locked ${version}` : line.replace(/^\S+:\d+:in `[^']*': /, '');
        const fix = entry === 'sidekiq-6.4' ? 'apt-get install ruby ruby-sidekiq ruby-activejob ruby-redis-namespace ruby-sidekiq-cron, then test/ruby/install sidekiq-6.4' : `test/ruby/install ${entry}`;
        problem = `Sidekiq matrix entry ${entry} (Sidekiq ${version}) is not installed: ${why}. Fix: ${fix}`;
      }
      return problem;
    },
    command,
    run(script, redisUrl, env = {}) {
      try {
        return execFileSync(RUBY_EXEC, [entry, 'ruby', '-e', QUIET, '-e', script], {
          encoding: 'utf8',
          env: { ...process.env, REDIS_URL: redisUrl, ...env },
          maxBuffer: 64 * 1024 * 1024,
        });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`ruby (${entry}) failed: ${err.stderr || err.message}`);
      }
    },
    spawn(args, redisUrl, env = {}) {
      return spawn(...tied(RUBY_EXEC, [entry, 'ruby', ...args], 'TERM'), { env: { ...process.env, REDIS_URL: redisUrl, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    },
    bin(name, gem = name) {
      return execFileSync(RUBY_EXEC, [entry, 'ruby', '-e', `print Gem.bin_path(${JSON.stringify(gem)}, ${JSON.stringify(name)})`], { encoding: 'utf8' });
    },
  };
  return sk;
}

/**
 * The matrix: every test/ruby/<entry>/ with a Gemfile, oldest Sidekiq first. `SIDEKIQ_MATRIX=sidekiq-7.3` (a
 * comma-separated list) narrows a local run to some entries; the others are skipped loudly.
 */
export const SIDEKIQS: readonly Sidekiq[] = readdirSync(join(ROOT, 'test/ruby'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'test/ruby', d.name, 'Gemfile')))
  .map((d) => makeSidekiq(d.name))
  .sort((a, b) => a.version.localeCompare(b.version, 'en', { numeric: true }));

/** The entry for Debian's Sidekiq 6.4.1 (the system packages). */
export const SIDEKIQ_6 = SIDEKIQS.find((s) => s.major === 6)!;

/** Whether `SIDEKIQ_MATRIX` (unset: every entry) selects this entry. */
export function isSelected(sk: Sidekiq): boolean {
  const only = process.env.SIDEKIQ_MATRIX?.split(',').map((s) => s.trim()).filter(Boolean);
  return !only || only.length === 0 || only.includes(sk.entry);
}
