/**
 * Real Ruby Sidekiq for interop tests, once per entry of the Sidekiq matrix (test/support/sidekiq-matrix.ts):
 * `forEachSidekiq(body)` runs a test body once per entry, inside `describe('Sidekiq <version>')`; it skips an
 * entry loudly where its gems are not installed, and fails under CI=true, naming the entry and the missing gem.
 * Inside, `sk.run` / `sk.spawn` start Ruby with exactly that entry's gems.
 *
 * @example
 * forEachSidekiq((sk) => {
 *   it('Ruby reads our job', async () => {
 *     expect(sk.run('require "sidekiq/api"; print Sidekiq::Queue.new.size', t.url)).toBe('1');
 *   });
 * });
 */
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'vitest';
import { isSelected, SIDEKIQ_6, SIDEKIQS, type Sidekiq } from './sidekiq-matrix.js';

export { REQUIRE_ACTIVE_JOB, SIDEKIQ_6, SIDEKIQS, type Sidekiq } from './sidekiq-matrix.js';

/**
 * Runs `body` once per Sidekiq under test, each inside `describe(sk.label)`. An entry whose gems are missing is
 * skipped with a loud warning locally and fails under CI=true with a message naming the entry and the gem.
 */
export function forEachSidekiq(body: (sk: Sidekiq) => void, opts: { only?: (sk: Sidekiq) => boolean } = {}): void {
  for (const sk of SIDEKIQS) {
    if (opts.only && !opts.only(sk)) continue;
    describeSidekiq(sk, sk.label, () => body(sk));
  }
}

/** `describe` for one entry: loud skip locally where it is missing or deselected, failure under CI=true. */
export function describeSidekiq(sk: Sidekiq, name: string, body: () => void): void {
  if (!isSelected(sk)) {
    console.warn(`\n*** SKIPPED "${name}" (${sk.entry}): not in SIDEKIQ_MATRIX=${process.env.SIDEKIQ_MATRIX} ***\n`);
    describe.skip(name, body);
    return;
  }
  const problem = sk.problem();
  if (!problem) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs the Sidekiq matrix entry ${sk.entry} (required under CI=true)`, () => {
        throw new Error(problem);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": ${problem} ***\n`);
  describe.skip(name, body);
}

/**
 * `describe` for tests that drive Debian's Sidekiq 6.4.1 only.
 * @deprecated Use `forEachSidekiq` so the test runs against every Sidekiq of the matrix.
 */
export function describeRuby(name: string, body: () => void): void {
  describeSidekiq(SIDEKIQ_6, name, body);
}

/** @deprecated Use `sk.run` inside `forEachSidekiq`. Runs on Debian's Sidekiq 6.4.1. */
export function runRuby(script: string, redisUrl: string, env: NodeJS.ProcessEnv = {}): string {
  return SIDEKIQ_6.run(script, redisUrl, env);
}

/** @deprecated Use `sk.spawn` inside `forEachSidekiq`. Runs on Debian's Sidekiq 6.4.1. */
export function spawnRuby(args: string[], redisUrl: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return SIDEKIQ_6.spawn(args, redisUrl, env);
}
