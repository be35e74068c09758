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
import { spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';
import { isSelected, SIDEKIQS, type Sidekiq } from './sidekiq-matrix.js';

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
  describeNeeding(name, sk.problem(), `the Sidekiq matrix entry ${sk.entry}`, body);
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
  describeNeeding(name, gemProblem(feature, aptPackage), aptPackage, body);
}

function describeNeeding(name: string, problem: string | undefined, what: string, body: () => void): void {
  if (!problem) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs ${what} (required under CI=true)`, () => {
        throw new Error(problem);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": ${problem} ***\n`);
  describe.skip(name, body);
}
