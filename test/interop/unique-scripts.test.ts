/**
 * Our sidekiq-unique-jobs scripts (lib/redis/unique-*.lua) against the gem's own, differentially: each lock state is
 * made by the real gem (its client's locks), saved, changed once by the gem's worker-side call (`unlock`, the
 * `lock(wait: 0)` a failed `until_executing` job makes, the death handler's `delete_by_digest`) and once by ours from
 * the same saved state; Redis must end the same — every key, type, member, value and expiry, times aside.
 */
import { describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq } from '../support/ruby.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { readUniqueLock, type UniqueLock } from '../../lib/protocol/unique.js';
import { UniqueLocks } from '../../lib/sidekiq/unique.js';

const t = useRedis();
const D = 'uniquejobs:5f0c0ffee0ddf00d';
const [A, B, C] = ['a'.repeat(24), 'b'.repeat(24), 'c'.repeat(24)];

/** The Ruby prelude: `item(jid, type, limit, ttl)` and `smith(…)`, the gem's Locksmith for it. */
const PRELUDE = `
  require "sidekiq"; require "sidekiq-unique-jobs"; require "json"
  D = ${JSON.stringify(D)}
  def item(jid, type = "until_executed", limit = 1, ttl = nil, digest = D)
    {"jid" => jid, "class" => "UJob", "queue" => "q", "args" => [], "lock" => type, "lock_digest" => digest, "lock_limit" => limit, "lock_ttl" => ttl}
  end
  def smith(*a) = SidekiqUniqueJobs::Locksmith.new(item(*a))
`;

/** Every key, readable, with times replaced by "T" and expiries by whether there is one. */
async function state(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await t.redis.keys('*')).sort()) {
    const type = await t.redis.type(key);
    const ttl = (await t.redis.pttl(key)) > 0 ? 'expires' : 'persists';
    let value: unknown;
    if (type === 'string') value = await t.redis.get(key);
    else if (type === 'list') value = await t.redis.lrange(key, 0, -1);
    else if (type === 'hash') value = Object.fromEntries(Object.keys(await t.redis.hgetall(key)).sort().map((f) => [f, 'T']));
    else if (type === 'zset') {
      const members = await t.redis.zrange(key, 0, -1);
      value = key.endsWith('changelog') ? members.map((m) => ({ ...(JSON.parse(m) as object), time: 'T' })).map((m) => JSON.stringify(m)).sort() : members.sort();
    }
    out[key] = { type, ttl, value };
  }
  return out;
}

/** DUMP of every key with its expiry, to put the same state back. */
async function save(): Promise<[string, number, Buffer][]> {
  const all: [string, number, Buffer][] = [];
  for (const key of await t.redis.keys('*')) all.push([key, Math.max(0, await t.redis.pttl(key)), (await t.redis.dumpBuffer(key))!]);
  return all;
}
async function restore(saved: [string, number, Buffer][]): Promise<void> {
  await t.redis.flushdb();
  for (const [key, ttl, dump] of saved) await t.redis.restore(key, ttl, dump);
}

const lockOf = (jid: string, type = 'until_executed', limit = 1, ttl: number | null = null, digest = D): UniqueLock =>
  readUniqueLock({ class: 'UJob', queue: 'q', args: [], jid, lock: type, lock_digest: digest, lock_limit: limit, lock_ttl: ttl })!;

interface Case {
  readonly name: string;
  /** Ruby making the state with the gem's client. */
  readonly setup: string;
  /** The gem's worker-side call; prints its result. */
  readonly gem: string;
  /** Ours; returns the same kind of result. */
  readonly ours: (locks: UniqueLocks) => Promise<unknown>;
}

const unlock = (jid: string, type?: string, limit?: number, ttl?: number | null) => (l: UniqueLocks) => l.unlock(lockOf(jid, type, limit, ttl), D).then((ok) => (ok ? jid : null));
const relock = (jid: string, type?: string, limit?: number, ttl?: number | null) => (l: UniqueLocks) => l.lock(lockOf(jid, type, limit, ttl), D).then((ok) => (ok ? jid : null));

const CASES: Case[] = [
  { name: 'unlock by the holder', setup: `smith("${A}").lock`, gem: `p smith("${A}").unlock`, ours: unlock(A) },
  { name: 'unlock by a job that does not hold it', setup: `smith("${A}").lock`, gem: `p smith("${B}").unlock`, ours: unlock(B) },
  { name: 'unlock of an orphan (nothing held)', setup: `smith("${A}").lock; smith("${A}").unlock`, gem: `p smith("${B}").unlock`, ours: unlock(B) },
  { name: 'unlock of one of two holders (lock_limit 2)', setup: `smith("${A}", "until_executed", 2).lock; smith("${B}", "until_executed", 2).lock`, gem: `p smith("${A}", "until_executed", 2).unlock`, ours: unlock(A, 'until_executed', 2) },
  { name: 'unlock of the last of two holders (lock_limit 2)', setup: `smith("${A}", "until_executed", 2).lock; smith("${B}", "until_executed", 2).lock; smith("${B}", "until_executed", 2).unlock`, gem: `p smith("${A}", "until_executed", 2).unlock`, ours: unlock(A, 'until_executed', 2) },
  { name: 'unlock of until_expired (keeps LOCKED)', setup: `smith("${A}", "until_expired", 1, 600).lock`, gem: `p smith("${A}", "until_expired", 1, 600).unlock`, ours: unlock(A, 'until_expired', 1, 600) },
  { name: 'lock again after a failure, when free', setup: `smith("${A}", "until_executing").lock; smith("${A}", "until_executing").unlock`, gem: `p smith("${A}", "until_executing").lock(wait: 0)`, ours: relock(A, 'until_executing') },
  { name: 'lock again after a failure, when another job took it', setup: `smith("${A}", "until_executing").lock; smith("${A}", "until_executing").unlock; smith("${B}", "until_executing").lock`, gem: `p smith("${A}", "until_executing").lock(wait: 0)`, ours: relock(A, 'until_executing') },
  { name: 'lock again with a lock_ttl', setup: `smith("${C}", "until_executing", 1, 300).lock; smith("${C}", "until_executing", 1, 300).unlock`, gem: `p smith("${A}", "until_executing", 1, 300).lock(wait: 0)`, ours: relock(A, 'until_executing', 1, 300) },
  { name: 'lock with lock_limit 2 and one holder', setup: `smith("${B}", "until_executing", 2).lock`, gem: `p smith("${A}", "until_executing", 2).lock(wait: 0)`, ours: relock(A, 'until_executing', 2) },
  {
    name: 'a runtime lock another running job holds',
    setup: `SidekiqUniqueJobs::Locksmith.new(item("${B}", "while_executing", 1, nil, D + ":RUN")).lock`,
    gem: `p SidekiqUniqueJobs::Locksmith.new(item("${A}", "while_executing", 1, nil, D + ":RUN")).lock(wait: 0)`,
    ours: (l) => l.lock(lockOf(A, 'while_executing', 1, null, `${D}:RUN`), `${D}:RUN`).then((ok) => (ok ? A : null)),
  },
  {
    name: 'a runtime lock released a moment ago (the unlock’s "1" still queued)',
    setup: `s = SidekiqUniqueJobs::Locksmith.new(item("${B}", "while_executing", 1, nil, D + ":RUN")); s.lock; SidekiqUniqueJobs::Locksmith.new(item("${B}", "while_executing", 1, nil, D + ":RUN")).unlock`,
    gem: `p SidekiqUniqueJobs::Locksmith.new(item("${A}", "while_executing", 1, nil, D + ":RUN")).lock(wait: 0)`,
    ours: (l) => l.lock(lockOf(A, 'while_executing', 1, null, `${D}:RUN`), `${D}:RUN`).then((ok) => (ok ? A : null)),
  },
  { name: 'lock when held already (duplicate)', setup: `smith("${A}").lock`, gem: `p smith("${A}").lock(wait: 0)`, ours: relock(A) },
  {
    name: 'the death handler deletes the queue-time and the runtime lock',
    setup: `smith("${A}", "until_and_while_executing").lock; SidekiqUniqueJobs::Locksmith.new(item("${A}", "until_and_while_executing", 1, nil, D + ":RUN")).lock`,
    gem: `p SidekiqUniqueJobs::Digests.new.delete_by_digest(D)`,
    ours: (l) => l.deleteDigest(D),
  },
];

forEachSidekiq((sk) => {
  const version = sk.gems.get('sidekiq-unique-jobs');
  if (!version) {
    const why = `the Sidekiq matrix entry ${sk.entry} has no sidekiq-unique-jobs in test/ruby/${sk.entry}/Gemfile.lock`;
    if (sk.major >= 7 && process.env.CI === 'true') it('needs sidekiq-unique-jobs (required under CI=true)', () => expect.fail(why));
    else {
      console.warn(`\n*** SKIPPED the unique-lock scripts on ${sk.label}: ${why}${sk.major < 7 ? ' (its 8.x needs Sidekiq 7 or later)' : ''} ***\n`);
      it.skip(`unique-lock scripts (${why})`, () => undefined);
    }
    return;
  }
  describe(`our unique-lock scripts against sidekiq-unique-jobs ${version}'s`, () => {
    for (const c of CASES) {
      it(c.name, async () => {
        // Prepare: the state, made by the gem, saved
        sk.run(`${PRELUDE}\n${c.setup}`, t.url);
        const saved = await save();
        // Act: the gem's call, then ours from the same state
        const gemResult = JSON.parse(sk.run(`${PRELUDE}\n${c.gem}`, t.url).trim().split('\n').pop()!.replace(/^nil$/, 'null').replace(/^false$/, 'null')) as unknown;
        const afterGem = await state();
        await restore(saved);
        const ourResult = await c.ours(new UniqueLocks(t.redis, makeKeys()));
        const afterOurs = await state();
        // Assess
        expect(ourResult).toEqual(gemResult);
        expect(afterOurs).toEqual(afterGem);
      });
    }
  });
});
