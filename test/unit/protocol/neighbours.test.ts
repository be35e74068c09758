import { describe, expect, it } from 'vitest';
import type { JobPayload } from '../../../lib/protocol/job.js';
import { expiresAt, isExpired, pinToRuby, rubyQueue, unhonourable } from '../../../lib/protocol/neighbours.js';
import { conflictError, customLockType, readUniqueLock, rescheduledPayload, serverConflict } from '../../../lib/protocol/unique.js';
import { decideJob, placement, type Declaration, type RouteEntry, type RoutingView } from '../../../lib/protocol/routing.js';
import { uniqueKeys, keys } from '../../../lib/protocol/keys.js';

const job = (extra: Record<string, unknown> = {}): JobPayload => ({ class: 'A', args: [1], jid: 'b1946ac92492d2347c6235b4', queue: 'q', ...extra });
const entry = (percent: number, paused = false): RouteEntry => ({ percent, paused, by: 'test', at: 0 });
const decl = (shared: boolean): Declaration => ({ queue: 'default', shared, lambdaQueue: shared ? 'lambda.A' : 'default', by: 'p', at: 0 });
const view = (routes: Record<string, RouteEntry>, declared: Record<string, Declaration> = {}): RoutingView => ({ routes: new Map(Object.entries(routes)), declared: new Map(Object.entries(declared)) });

describe('neighbours', () => {
  describe('expiring jobs', () => {
    it('read expires_at in float seconds (Pro, Sidekiq ≤ 7) and integer ms (Sidekiq 8)', () => {
      expect(expiresAt(job({ expires_at: 1795334852.5 }))).toBe(1795334852500);
      expect(expiresAt(job({ expires_at: 1795334852500 }))).toBe(1795334852500);
      expect(expiresAt(job({ expires_at: '1795334852.5' }))).toBeUndefined();
      expect(expiresAt(job())).toBeUndefined();
    });
    it('run up to and at the expiry, and are skipped after it', () => {
      const j = job({ expires_at: 1795334852.5 });
      expect([isExpired(j, 1795334852499), isExpired(j, 1795334852500), isExpired(j, 1795334852501)]).toEqual([false, false, true]);
      expect(isExpired(job(), Number.MAX_SAFE_INTEGER)).toBe(false);
    });
  });

  describe('unhonourable', () => {
    it('names a Pro batch, an Enterprise unique or encrypted job and a custom unique lock', () => {
      expect(unhonourable(job({ bid: 'b-1' }))).toEqual({ field: 'bid', why: "it is part of a Sidekiq Pro batch (bid b-1), whose counts and callbacks only Sidekiq Pro's Ruby middleware keeps" });
      expect(unhonourable(job({ unique_for: 600 }))?.field).toBe('unique_for');
      expect(unhonourable(job({ encrypt: true }))?.field).toBe('encrypt');
      expect(unhonourable(job({ lock: 'my_lock', lock_digest: 'uniquejobs:ab' }))).toEqual({ field: 'lock', why: "its sidekiq-unique-jobs lock type my_lock is the app's own, whose server side only Ruby has" });
    });
    it('leaves plain jobs and the gem’s own lock types alone, and ignores empty fields', () => {
      for (const extra of [{}, { bid: null }, { bid: '' }, { encrypt: false }, { lock: 'until_executed', lock_digest: 'uniquejobs:ab' }, { lock: 'my_lock' }]) expect(unhonourable(job(extra))).toBeUndefined();
    });
  });

  describe('rubyQueue', () => {
    const drained = new Set(['lambda.A', 'q']);
    it('is the original queue when Ruby runs part of the class, or drains its queue', () => {
      expect(rubyQueue(view({ A: entry(50) }), job({ queue: 'lambda.A', routed_from: 'low' }), drained)).toBe('low');
      expect(rubyQueue(view({ A: entry(100) }, { A: decl(true) }), job({ queue: 'lambda.A' }), drained)).toBe('default');
      expect(rubyQueue(view({}, { A: decl(true) }), job({ queue: 'lambda.A' }), drained)).toBe('default');
      expect(rubyQueue(view({}), job({ queue: 'lambda.A', routed_from: 'default' }), drained)).toBe('default');
    });
    it('is undefined when Ruby cannot take it: no share, not shared, unmarked — or its queue is the poller’s', () => {
      expect(rubyQueue(view({}), job(), drained)).toBeUndefined();
      expect(rubyQueue(view({ A: entry(100) }), job(), drained)).toBeUndefined();
      expect(rubyQueue(view({ A: entry(50) }), job(), drained)).toBeUndefined();
      expect(rubyQueue(view({ A: entry(0) }, { A: decl(false) }), job({ queue: 'default' }), new Set(['default']))).toBeUndefined();
    });
  });

  describe('the pin', () => {
    it('sends the job to Ruby unmarked and pinned, every other byte kept', () => {
      expect(pinToRuby('{"queue":"lambda.A","class":"A","bid":"b","routed_from":"low","x":1.50}', 'bid', 'low')).toBe('{"queue":"low","class":"A","bid":"b","x":1.50,"ruby_only":"bid"}');
    });
    it('keeps a pinned job on Ruby’s side at any share, and moves it back there from the Lambda queue', () => {
      const pinned = job({ queue: 'default', ruby_only: 'bid' });
      expect(decideJob(view({ A: entry(100) }).routes, pinned)).toBe('ruby');
      expect(decideJob(view({ A: entry(100, true) }).routes, pinned)).toBe('hold');
      expect(decideJob(view({}).routes, pinned)).toBe('unrouted');
      const v = view({ A: entry(100) }, { A: decl(true) });
      expect(placement(v, { raw: JSON.stringify(pinned), job: pinned }, 'default')).toEqual({ kind: 'stay' });
      const onLambda = job({ queue: 'lambda.A', routed_from: 'default', ruby_only: 'bid' });
      expect(placement(v, { raw: JSON.stringify(onLambda), job: onLambda }, 'lambda.A')).toEqual({ kind: 'move', queue: 'default', side: 'ruby', payload: JSON.stringify(job({ queue: 'default', ruby_only: 'bid' })) });
    });
  });
});

describe('sidekiq-unique-jobs fields', () => {
  const digest = 'uniquejobs:390418ff6490ff0b4120164c582fde06';
  describe('readUniqueLock', () => {
    it('reads the payload the gem’s client writes (8.1.0, until_executed)', () => {
      // As captured from the gem: `UJob.perform_async(1)` with on_conflict: { client: :log, server: :raise }
      const raw = `{"retry":true,"queue":"unique","lock":"until_executed","on_conflict":{"client":"log","server":"raise"},"args":[1],"class":"UJob","jid":"f4de2f2537ddd97ce270f48d","created_at":1796144737.3202145,"lock_timeout":0,"lock_ttl":null,"lock_prefix":"uniquejobs","lock_args":[1],"lock_digest":"${digest}","enqueued_at":1796144737.323339}`;
      expect(readUniqueLock(JSON.parse(raw))).toEqual({ jid: 'f4de2f2537ddd97ce270f48d', type: 'until_executed', kind: 'until_executed', digest, runDigest: `${digest}:RUN`, limit: 1, pttl: 0, onConflict: 'raise', scheduleInSeconds: 5 });
    });
    it('maps every name the gem accepts to what a worker does', () => {
      const kinds = Object.fromEntries(
        ['until_completed', 'until_performed', 'until_processed', 'until_successfully_completed', 'while_enqueued', 'around_perform', 'while_busy', 'while_working', 'while_executing_reject', 'until_and_while_executing', 'until_expired'].map((t) => [t, readUniqueLock(job({ lock: t, lock_digest: digest }))?.kind]),
      );
      expect(kinds).toEqual({
        until_completed: 'until_executed', until_performed: 'until_executed', until_processed: 'until_executed', until_successfully_completed: 'until_executed',
        while_enqueued: 'until_executing', around_perform: 'while_executing', while_busy: 'while_executing', while_working: 'while_executing', while_executing_reject: 'while_executing',
        until_and_while_executing: 'until_and_while_executing', until_expired: 'until_expired',
      });
    });
    it('appends :RUN once (the client already appended it for while_executing), and reads limit, ttl and schedule_in', () => {
      const l = readUniqueLock(job({ lock: 'while_executing', lock_digest: `${digest}:RUN`, lock_limit: 3, lock_ttl: 60, schedule_in: 30 }))!;
      expect([l.digest, l.runDigest, l.limit, l.pttl, l.scheduleInSeconds]).toEqual([`${digest}:RUN`, `${digest}:RUN`, 3, 60_000, 30]);
      expect(readUniqueLock(job({ lock: 'until_and_while_executing', lock_digest: digest }))!.runDigest).toBe(`${digest}:RUN`);
    });
    it('leaves alone a job without a lock type or digest, of a custom type, or rescheduled by the gem', () => {
      for (const extra of [{ lock_digest: digest }, { lock: 'until_executed' }, { lock: 'my_lock', lock_digest: digest }, { lock: 'until_executed', lock_digest: digest, rescheduled: true }]) expect(readUniqueLock(job(extra))).toBeUndefined();
      expect(customLockType(job({ lock: 'my_lock', lock_digest: digest }))).toBe('my_lock');
      expect(customLockType(job({ lock: 'until_expired', lock_digest: digest }))).toBeUndefined();
    });
  });

  describe('conflicts', () => {
    it('follow the server strategy: on_server_conflict, on_conflict.server, on_conflict, forced reject', () => {
      const strategy = (extra: Record<string, unknown>) => serverConflict(readUniqueLock(job({ lock: 'while_executing', lock_digest: digest, ...extra }))!);
      expect(strategy({})).toBe('skip');
      expect(strategy({ on_conflict: 'raise' })).toBe('raise');
      expect(strategy({ on_conflict: { client: 'reject', server: 'reschedule' } })).toBe('reschedule');
      expect(strategy({ on_conflict: 'log', on_server_conflict: 'reject' })).toBe('reject');
      expect(strategy({ on_conflict: 'replace' })).toBe('skip');
      expect(strategy({ on_conflict: 'log' })).toBe('skip');
      expect(serverConflict(readUniqueLock(job({ lock: 'while_executing_reject', lock_digest: digest, on_conflict: 'raise' }))!)).toBe('reject');
    });
    it('raise the gem’s error, and reschedule a fresh copy', () => {
      expect(conflictError(`${digest}:RUN`)).toEqual({ class: 'SidekiqUniqueJobs::Conflict', message: `Item with the key: ${digest}:RUN is already scheduled or processing`, backtrace: [] });
      const raw = `{"retry":true,"queue":"q","class":"A","args":[1],"jid":"f4de2f2537ddd97ce270f48d","created_at":1.5,"enqueued_at":2.5,"lock":"while_executing","lock_digest":"${digest}:RUN","error_message":"x","retry_count":2,"failed_at":1.75}`;
      expect(rescheduledPayload(raw, 'b1946ac92492d2347c6235b4', 1795334852000, 7)).toBe(
        `{"retry":true,"queue":"q","class":"A","args":[1],"jid":"b1946ac92492d2347c6235b4","created_at":1795334852.0,"lock":"while_executing","lock_digest":"${digest}:RUN"}`,
      );
    });
  });

  it('name the gem’s keys of a digest', () => {
    expect(uniqueKeys(keys(), digest)).toEqual({
      digest, queued: `${digest}:QUEUED`, primed: `${digest}:PRIMED`, locked: `${digest}:LOCKED`, info: `${digest}:INFO`,
      changelog: 'uniquejobs:changelog', digests: 'uniquejobs:digests', expiringDigests: 'uniquejobs:expiring_digests',
    });
  });
});
