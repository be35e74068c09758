/**
 * The worker side of sidekiq-unique-jobs (lib/sidekiq/unique.ts) on real Redis: what each lock type does before a
 * run and after each way a job leaves flight. (The scripts themselves are checked against the gem's in
 * test/interop/unique-scripts.test.ts, and every type end to end with the gem in test/e2e/unique.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { readUniqueLock, type UniqueLock } from '../../lib/protocol/unique.js';
import { UniqueLocks, type UniqueEnd } from '../../lib/sidekiq/unique.js';
import { UniqueHook } from '../../lib/poller/uniqueness.js';
import type { RunningJob } from '../../lib/poller/outcomes.js';
import type { JobPayload } from '../../lib/protocol/job.js';
import { createLogger } from '../../lib/log.js';

const t = useRedis();
const D = 'uniquejobs:5f0c0ffee0ddf00d';
const [A, B] = ['a'.repeat(24), 'b'.repeat(24)];

const lockOf = (jid: string, type: string, extra: Record<string, unknown> = {}): UniqueLock =>
  readUniqueLock({ class: 'UJob', queue: 'q', args: [], jid, lock: type, lock_digest: type.startsWith('while') ? `${D}:RUN` : D, ...extra })!;
const locks = (): UniqueLocks => new UniqueLocks(t.redis, makeKeys());
const holders = (digest = D): Promise<string[]> => t.redis.hkeys(`${digest}:LOCKED`);

/** The client's lock on enqueue (the gem's client middleware). */
async function enqueued(jid: string, type: string): Promise<UniqueLock> {
  const l = lockOf(jid, type);
  if (!type.startsWith('while')) expect(await locks().lock(l, l.digest)).toBe(true);
  return l;
}

describe('unique locks on the worker side', () => {
  it('until_executed: runs holding its lock, unlocks after success, keeps it for a retry; a duplicate does not run', async () => {
    const a = await enqueued(A, 'until_executed');
    const s = await locks().start(a);
    expect(s).toEqual({ run: true, lock: a, runLocked: false });
    await locks().finish(a, 'retry', s);
    expect(await holders()).toEqual([A]);
    await locks().finish(a, 'ok', await locks().start(a));
    expect(await holders()).toEqual([]);
    expect(await t.redis.zscore('uniquejobs:digests', D)).toBeNull();
    // another job holds it: a duplicate, not run
    await enqueued(B, 'until_executed');
    expect(await locks().start(lockOf(A, 'until_executed'))).toMatchObject({ run: false, conflict: 'duplicate', reason: `another job holds its lock ${D}` });
  });

  it('until_executed: takes back a lock that is gone (expired, reaped) and releases it after the run', async () => {
    const a = lockOf(A, 'until_executed');
    const s = await locks().start(a);
    expect(s.run).toBe(true);
    expect(await holders()).toEqual([A]);
    await locks().finish(a, 'ok', s);
    expect(await holders()).toEqual([]);
  });

  it('until_executing: unlocks before the run, locks again for a retry or a requeue — unless another job took it', async () => {
    const a = await enqueued(A, 'until_executing');
    const s = await locks().start(a);
    expect([s.run, await holders()]).toEqual([true, []]);
    await locks().finish(a, 'retry', s);
    expect(await holders()).toEqual([A]);
    const again = await locks().start(a);
    await enqueued(B, 'until_executing');
    await locks().finish(a, 'requeue', again);
    expect(await holders()).toEqual([B]);
  });

  it('while_executing: holds the runtime lock during the run; a second job meets its on_conflict; released whatever the outcome', async () => {
    const a = lockOf(A, 'while_executing');
    const b = lockOf(B, 'while_executing', { on_conflict: 'raise' });
    const sa = await locks().start(a);
    expect(sa).toEqual({ run: true, lock: a, runLocked: true });
    expect(await holders(`${D}:RUN`)).toEqual([A]);
    expect(await locks().start(b)).toMatchObject({ run: false, conflict: 'raise', reason: `another job is running with its runtime lock ${D}:RUN` });
    expect(await locks().start(lockOf(B, 'while_executing_reject'))).toMatchObject({ run: false, conflict: 'reject' });
    await locks().finish(a, 'retry', sa);
    expect(await holders(`${D}:RUN`)).toEqual([]);
    expect(await locks().start(b)).toMatchObject({ run: true, runLocked: true });
  });

  it('until_and_while_executing: releases the queue-time lock, holds the runtime lock; a retry gets the first back', async () => {
    const a = await enqueued(A, 'until_and_while_executing');
    const s = await locks().start(a);
    expect([s.run, await holders(), await holders(`${D}:RUN`)]).toEqual([true, [], [A]]);
    await locks().finish(a, 'retry', s);
    expect([await holders(), await holders(`${D}:RUN`)]).toEqual([[A], []]);
    // a job whose queue-time lock another holds is not run
    await t.redis.del(`${D}:LOCKED`, D);
    await enqueued(B, 'until_and_while_executing');
    expect(await locks().start(a)).toMatchObject({ run: false, conflict: 'duplicate' });
  });

  it('until_expired: keeps its lock after the run', async () => {
    const a = lockOf(A, 'until_expired', { lock_ttl: 600 });
    expect(await locks().lock(a, D)).toBe(true);
    await locks().finish(a, 'ok', await locks().start(a));
    expect(await holders()).toEqual([A]);
    expect(await t.redis.zscore('uniquejobs:expiring_digests', D)).not.toBeNull();
  });

  it('a job that dies loses every key of its digest, the runtime lock’s too (the death handler)', async () => {
    const a = await enqueued(A, 'until_and_while_executing');
    await locks().lock(a, `${D}:RUN`);
    await locks().finish(a, 'dead');
    expect(await t.redis.keys(`${D}*`)).toEqual([]);
  });

  it('a job that will never run (expired, discarded) releases the queue-time lock it holds; a skipped one touches nothing', async () => {
    const cases: [type: string, end: UniqueEnd, held: string[]][] = [
      ['until_executed', 'gone', []],
      ['until_executing', 'gone', []],
      ['until_and_while_executing', 'gone', []],
      ['until_expired', 'gone', [A]],
      ['until_executed', 'skipped', [A]],
      ['until_executed', 'retry', [A]],
    ];
    for (const [type, end, held] of cases) {
      await t.redis.flushdb();
      const a = await enqueued(A, type);
      if (type === 'until_expired') await locks().lock(a, D);
      await locks().finish(a, end);
      expect([type, end, await holders()]).toEqual([type, end, held]);
    }
  });

  it('a batch asks all its locks at once: in input order, the first job of a digest runs, the next is skipped, a job without a lock runs', async () => {
    const hook = new UniqueHook({ locks: locks(), log: createLogger({ sink: () => undefined }), givenUp: () => false });
    const job = (jid: string, extra: Record<string, unknown> = {}): RunningJob => {
      const payload = { class: 'UJob', queue: 'q', args: [], jid, ...extra } as JobPayload;
      return { raw: JSON.stringify(payload), queue: 'q', job: payload };
    };
    const ctx = { now: Date.now(), version: 7 as const };
    for (const type of ['until_executed', 'while_executing', 'until_and_while_executing']) {
      await t.redis.flushdb();
      const digest = type.startsWith('while') ? `${D}:RUN` : D;
      const [a, b, c] = [job(A, { lock: type, lock_digest: digest }), job(B, { lock: type, lock_digest: digest }), job('c'.repeat(24))];
      if (type === 'until_and_while_executing') await locks().lock(lockOf(A, type), D); // as the client locked A at enqueue
      const { run, skipped } = await hook.start([a, b, c], ctx);
      expect([type, run.map((j) => j.job.jid), skipped.map((s) => [s.j.job.jid, s.plan.kind])]).toEqual([type, [A, 'c'.repeat(24)], [[B, 'skipped']]]);
      // asked again (a batch too large, sent again job by job): the first answers
      expect((await hook.start([b], ctx)).skipped.map((s) => s.j.job.jid)).toEqual([B]);
    }
  });
});
