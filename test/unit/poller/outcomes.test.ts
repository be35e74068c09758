import { describe, expect, it } from 'vitest';
import { planInvocation, noRouteError, planDeath, planFailure, outcomeOf, outcomeLine, uniqueEnd, POLLER_ERRORS, type Plan, type RunningJob } from '../../../lib/poller/outcomes.js';
import { queueOrder } from '../../../lib/poller/fetch.js';
import { ClassLimiter } from '../../../lib/poller/caps.js';

const NOW = 1_795_334_860_000;
const ctx = { now: NOW, version: 7 as const, random: () => 0 };

function makeJob(jid: string, extra: Record<string, unknown> = {}): RunningJob {
  const job = { retry: true, queue: 'q', class: 'EchoJob', args: [1], jid, ...extra };
  return { raw: JSON.stringify(job), queue: 'q', job: job as RunningJob['job'] };
}

describe('outcomes', () => {
  describe('planInvocation', () => {
    it('maps each result of a batch to its job', () => {
      const jobs = [makeJob('a'.repeat(24)), makeJob('b'.repeat(24))];
      const body = { sidekiqLambda: 2, results: [{ jid: 'a', status: 'ok' }, { jid: 'b', status: 'failed', error: { class: 'TypeError', message: 'bad', backtrace: [] } }] };
      const plans = planInvocation({ kind: 'response', body }, jobs, 100, ctx);
      expect(plans[0]).toEqual({ kind: 'ok' });
      expect(plans[1]).toMatchObject({ kind: 'failed', error: { class: 'TypeError' }, decision: { kind: 'retry', count: 0 } });
    });
    it('fails every job of an invocation with Lambda\'s function error', () => {
      const plans = planInvocation({ kind: 'function-error', body: { errorType: 'Error', errorMessage: 'x', trace: ['at y'] } }, [makeJob('a'), makeJob('b')], 10, ctx);
      expect(plans.map((p) => p.kind)).toEqual(['failed', 'failed']);
    });
    it('names a Lambda timeout Sandbox.Timedout', () => {
      const [p] = planInvocation({ kind: 'function-error', body: { errorMessage: '2026-11-22T10:00:00.000Z abc Task timed out after 3.00 seconds' } }, [makeJob('a')], 10, ctx);
      expect(p).toMatchObject({ kind: 'failed', error: { class: POLLER_ERRORS.timedOut, message: expect.stringContaining('Task timed out after 3.00 seconds') } });
    });
    it('requeues on throttling without touching the payload', () => {
      expect(planInvocation({ kind: 'throttled', message: 'Rate Exceeded.' }, [makeJob('a')], 10, ctx)).toEqual([{ kind: 'requeue', why: 'throttled' }]);
    });
    it('sends a too-large payload straight to the dead set, saying why', () => {
      const [p] = planInvocation({ kind: 'too-large', message: 'Request must be smaller than 6291456 bytes' }, [makeJob('a')], 7_000_000, ctx);
      expect(p).toMatchObject({ kind: 'failed', error: { class: POLLER_ERRORS.tooLarge, message: expect.stringContaining('7000000 bytes') }, decision: { kind: 'dead', reason: 'killed' } });
    });
    it('retries configuration and unknown errors', () => {
      const [c] = planInvocation({ kind: 'config', errorType: 'ResourceNotFoundException', message: 'Function not found' }, [makeJob('a')], 1, ctx);
      const [u] = planInvocation({ kind: 'unknown', errorType: 'NetworkError', message: 'socket hang up' }, [makeJob('a')], 1, ctx);
      expect(c).toMatchObject({ error: { class: 'ResourceNotFoundException' }, decision: { kind: 'retry' } });
      expect(u).toMatchObject({ error: { class: 'NetworkError', message: expect.stringContaining('at-least-once') }, decision: { kind: 'retry' } });
    });
    it('fails a malformed function response instead of taking it for success', () => {
      const [p] = planInvocation({ kind: 'response', body: { ok: true } }, [makeJob('a')], 1, ctx);
      expect(p).toMatchObject({ kind: 'failed', error: { class: 'SidekiqLambda::BadResponse' } });
    });
  });

  describe('outcomeLine', () => {
    it('says how long the job waited in its queue when that is known', () => {
      expect(outcomeLine(makeJob('a'), 'EchoJob', { kind: 'ok' }, 12, false, 340)).toEqual({ level: 'info', msg: 'done', jid: 'a', class: 'EchoJob', queue: 'q', ms: 12, waitMs: 340 });
      expect(outcomeLine(makeJob('a'), 'EchoJob', { kind: 'ok' }, 12, false)).not.toHaveProperty('waitMs');
    });
  });

  describe('noRouteError', () => {
    it('names the class and says how to declare it', () => {
      const e = noRouteError('MissingJob', 'q');
      expect(e.message).toContain('MissingJob');
      expect(e.message).toContain('defineJobs()');
      expect(e.message).toContain('shared: true');
    });
  });

  describe('jobs not run', () => {
    const error = { class: 'SidekiqLambda::UnsupportedFeature', message: 'why and what to do', backtrace: [] };
    it('planDeath sends a job to the dead set with its error written, whatever retry and dead say', () => {
      for (const extra of [{}, { retry: false }, { dead: false }, { retry: 0 }]) {
        const p = planDeath(makeJob('a', extra), error, ctx);
        expect(p).toMatchObject({ kind: 'failed', decision: { kind: 'dead', reason: 'killed', count: 0 } });
        expect(JSON.parse((p as Extract<Plan, { kind: 'failed' }>).payload)).toMatchObject({ error_class: error.class, error_message: error.message, retry_count: 0, failed_at: NOW / 1000 });
        expect(outcomeOf(p, NOW)).toMatchObject({ mode: 'dead', at: NOW });
      }
    });
    it('a skipped job is acknowledged, moved to the dead set as it is, or acknowledged with what replaces it', () => {
      expect(outcomeOf({ kind: 'skipped', why: 'expired', reason: 'r' }, NOW)).toEqual({ mode: 'ack' });
      expect(outcomeOf({ kind: 'skipped', why: 'unique', reason: 'r', then: { dead: '{"raw":1}' } }, NOW)).toEqual({ mode: 'dead', payload: '{"raw":1}', at: NOW });
      const enqueued = [{ at: NOW + 5000, payload: '{"jid":"new"}' }];
      expect(outcomeOf({ kind: 'skipped', why: 'unique', reason: 'r', then: { enqueued } }, NOW)).toEqual({ mode: 'ack', enqueued });
      expect(outcomeLine(makeJob('a'), 'EchoJob', { kind: 'skipped', why: 'expired', reason: 'gone' }, 3, false)).toEqual({ level: 'info', msg: 'skipped (expired): not run', jid: 'a', class: 'EchoJob', queue: 'q', ms: 3, reason: 'gone' });
      expect(outcomeLine(makeJob('a'), 'EchoJob', { kind: 'skipped', why: 'unique', reason: 'held', then: { enqueued } }, 3, false)).toMatchObject({ level: 'warn', msg: 'skipped (unique): rescheduled' });
    });
    it('places what a job enqueues (its answer, a unique reschedule) by the routing table, as a push would', () => {
      const view = { routes: new Map([['ReplyJob', { percent: 100, paused: false, by: 'ops', at: 1 }]]), declared: new Map([['ReplyJob', { queue: 'replies', shared: true, lambdaQueue: 'lambda.ReplyJob', by: 'p', at: 1 }]]) };
      const payload = '{"retry":true,"queue":"replies","class":"ReplyJob","args":[],"jid":"b1"}';
      const placed = '{"retry":true,"queue":"lambda.ReplyJob","class":"ReplyJob","args":[],"jid":"b1","routed_from":"replies"}';
      expect(outcomeOf({ kind: 'ok', enqueued: [{ queue: 'replies', payload }] }, NOW, view)).toEqual({ mode: 'ack', enqueued: [{ queue: 'lambda.ReplyJob', payload: placed }] });
      expect(outcomeOf({ kind: 'skipped', why: 'unique', reason: 'r', then: { enqueued: [{ at: NOW + 5000, payload }] } }, NOW, view)).toEqual({ mode: 'ack', enqueued: [{ at: NOW + 5000, payload: placed }] });
    });
    it('uniqueEnd tells a lock how its job left flight', () => {
      const failed = (extra: Record<string, unknown>, action?: 'kill' | 'discard'): Plan => planFailure(makeJob('a', extra), error, ctx, { action });
      expect([
        uniqueEnd({ kind: 'ok' }),
        uniqueEnd({ kind: 'requeue', why: 'throttled' }),
        uniqueEnd(failed({})),
        uniqueEnd(failed({}, 'kill')),
        uniqueEnd(failed({ retry: false })),
        uniqueEnd(failed({}, 'discard')),
        uniqueEnd({ kind: 'skipped', why: 'expired', reason: '' }),
        uniqueEnd({ kind: 'skipped', why: 'unique', reason: '' }),
      ]).toEqual(['ok', 'requeue', 'retry', 'dead', 'gone', 'gone', 'gone', 'skipped']);
    });
  });
});

describe('fetch', () => {
  describe('queueOrder', () => {
    it('keeps the given order when no queue has a weight (strict)', () => {
      expect(queueOrder([{ name: 'a', weight: 0 }, { name: 'b', weight: 0 }])).toEqual(['a', 'b']);
    });
    it('shuffles by weight and de-duplicates (weighted)', () => {
      const counts = { a: 0, b: 0 };
      let seed = 1;
      const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      for (let i = 0; i < 3000; i++) counts[queueOrder([{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }], rand)[0] as 'a' | 'b']++;
      expect(counts.a / 3000).toBeGreaterThan(0.65);
      expect(counts.a / 3000).toBeLessThan(0.85);
    });
  });
});

describe('concurrency', () => {
  describe('ClassLimiter', () => {
    it('halves on throttling and climbs back one step per limit successes', () => {
      let t = 0;
      const l = new ClassLimiter(8, 1000, () => t);
      l.onThrottle();
      expect(l.limit).toBe(4);
      l.onThrottle(); // within the cooldown: ignored
      expect(l.limit).toBe(4);
      t = 2000;
      l.onThrottle();
      expect(l.limit).toBe(2);
      for (let i = 0; i < 2; i++) l.onSuccess();
      expect(l.limit).toBe(3);
      for (let i = 0; i < 100; i++) l.onSuccess();
      expect(l.limit).toBe(8);
    });

    it('starts nothing for a while after a 429, longer with each further 429, until a success', () => {
      let t = 0;
      const l = new ClassLimiter(8, 1000, () => t);
      expect(l.spare()).toBe(8);
      expect(l.onThrottle()).toBe(50);
      expect(l.spare()).toBe(0);
      t = 50;
      expect(l.spare()).toBe(4);
      expect(l.onThrottle()).toBe(100);
      expect(l.spare()).toBe(0);
      for (let i = 0; i < 10; i++) {
        t += 10_000;
        l.onThrottle();
      }
      expect(l.pausedForMs()).toBe(2000);
      t += 2000;
      l.onSuccess();
      expect(l.onThrottle()).toBe(50);
    });
  });
});
