import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { decide, defaultDelay, encodeBacktrace, failedPayload, jitter, type Failure } from '../../../lib/sidekiq/retry.js';
import { errorMessage } from '../../../lib/protocol/text.js';
import type { JobPayload } from '../../../lib/protocol/job.js';

const NOW = 1_795_334_860_000;
const error = { class: 'RuntimeError', message: 'boom', backtrace: ['a.rb:1', 'b.rb:2', 'c.rb:3'] };

function makeFailure(job: Partial<JobPayload>, more: Partial<Failure> = {}): Failure {
  return { job: { class: 'HardJob', args: [], jid: 'a'.repeat(24), queue: 'default', retry: true, ...job } as JobPayload, queue: 'default', error, now: NOW, version: 7, random: () => 0, ...more };
}

describe('retry', () => {
  describe('defaultDelay', () => {
    it('is count⁴ + 15 seconds', () => {
      expect([0, 1, 2, 10, 24].map(defaultDelay)).toEqual([15, 16, 31, 10_015, 331_791]);
    });
  });

  describe('jitter', () => {
    it('is rand(10) * (count + 1) up to 7.x', () => {
      // Prepare: rand returns its upper bound − 1
      const max = (n: number) => n - 1;
      // Act / Assess
      expect(jitter(0, 6, max)).toBe(9);
      expect(jitter(3, 7, max)).toBe(36);
    });
    it('is rand(10 * (count + 1)) from 8.0', () => {
      expect(jitter(3, 8, (n) => n - 1)).toBe(39);
      expect(jitter(3, 8, () => 7)).toBe(7);
    });
  });

  describe('decide', () => {
    it('retries a first failure of retry: true after 15 s plus jitter', () => {
      const d = decide(makeFailure({}, { random: () => 4 }));
      expect(d).toEqual({ kind: 'retry', at: NOW + (15 + 4) * 1000, count: 0, delaySeconds: 19 });
    });
    it('counts up from an existing retry_count, including −1 after a manual retry', () => {
      expect(decide(makeFailure({ retry_count: 2 }))).toMatchObject({ kind: 'retry', count: 3, delaySeconds: 3 ** 4 + 15 });
      expect(decide(makeFailure({ retry_count: -1 }))).toMatchObject({ kind: 'retry', count: 0 });
    });
    it('sends retry: true to the dead set after 25 retries', () => {
      expect(decide(makeFailure({ retry_count: 23 }))).toMatchObject({ kind: 'retry', count: 24 });
      expect(decide(makeFailure({ retry_count: 24 }))).toEqual({ kind: 'dead', count: 25, reason: 'exhausted' });
    });
    it('retries retry: N exactly N times', () => {
      expect(decide(makeFailure({ retry: 2, retry_count: 0 }))).toMatchObject({ kind: 'retry', count: 1 });
      expect(decide(makeFailure({ retry: 2, retry_count: 1 }))).toMatchObject({ kind: 'dead', count: 2 });
    });
    it('sends retry: 0 to the dead set on the first failure (0 is truthy in Ruby)', () => {
      expect(decide(makeFailure({ retry: 0 }))).toEqual({ kind: 'dead', count: 0, reason: 'exhausted' });
    });
    it('drops retry: false without the dead set', () => {
      expect(decide(makeFailure({ retry: false }))).toEqual({ kind: 'discard', reason: 'retry: false' });
    });
    it('drops an exhausted job with dead: false', () => {
      expect(decide(makeFailure({ retry: 0, dead: false }))).toEqual({ kind: 'discard', reason: 'dead: false' });
    });
    it('honours the handler: discard, kill, retry in N seconds', () => {
      expect(decide(makeFailure({}, { action: 'discard' }))).toEqual({ kind: 'discard', reason: 'discarded' });
      expect(decide(makeFailure({}, { action: 'kill' }))).toEqual({ kind: 'dead', count: 0, reason: 'killed' });
      expect(decide(makeFailure({}, { retryInSeconds: 300, random: () => 2 }))).toMatchObject({ kind: 'retry', delaySeconds: 302 });
    });
    it('sends an exhausted job to the dead set even when the handler asks to discard it, as Sidekiq does', () => {
      expect(decide(makeFailure({ retry: 2, retry_count: 1 }, { action: 'discard' }))).toEqual({ kind: 'dead', count: 2, reason: 'exhausted' });
      expect(decide(makeFailure({ retry: 0 }, { action: 'discard' }))).toEqual({ kind: 'dead', count: 0, reason: 'exhausted' });
      const failedAt = (NOW - 3600_000) / 1000;
      expect(decide(makeFailure({ retry_for: 60, retry_count: 0, failed_at: failedAt }, { action: 'discard' }))).toMatchObject({ kind: 'dead', reason: 'retry_for' });
      expect(decide(makeFailure({ retry: 2, retry_count: 0 }, { action: 'discard' }))).toEqual({ kind: 'discard', reason: 'discarded' });
    });
    it('ends retries when retry_for has passed since failed_at (7.x: either limit)', () => {
      const failedAt = (NOW - 3600_000) / 1000;
      expect(decide(makeFailure({ retry_for: 3000, retry_count: 0, failed_at: failedAt }))).toMatchObject({ kind: 'dead', reason: 'retry_for' });
      expect(decide(makeFailure({ retry_for: 7200, retry_count: 0, failed_at: failedAt }))).toMatchObject({ kind: 'retry' });
    });
    it('in 8.x lets retry_for replace the retry count', () => {
      const failedAt = NOW - 60_000; // int ms, as 8.x writes it
      const f = makeFailure({ retry: 1, retry_for: 3600, retry_count: 5, failed_at: failedAt }, { version: 8 });
      expect(decide(f)).toMatchObject({ kind: 'retry', count: 6 });
      expect(decide({ ...f, version: 7 })).toMatchObject({ kind: 'dead', reason: 'exhausted' });
    });
  });

  describe('failedPayload', () => {
    it('appends the error fields in Sidekiq order on the first failure, keeping every other byte', () => {
      // Prepare: a payload with a big integer, a Ruby float and an unknown key
      const raw = '{"retry":true,"queue":"default","class":"HardJob","args":[12345678901234567890,1.0],"jid":"6cb5902100bdc6bb63743e09","created_at":1795334852.1731977,"bid":"X"}';
      // Act
      const out = failedPayload(raw, makeFailure(JSON.parse(raw)));
      // Assess
      expect(out).toBe(
        '{"retry":true,"queue":"default","class":"HardJob","args":[12345678901234567890,1.0],"jid":"6cb5902100bdc6bb63743e09","created_at":1795334852.1731977,"bid":"X",' +
          '"error_message":"boom","error_class":"RuntimeError","failed_at":1795334860.0,"retry_count":0}',
      );
    });
    it('sets retried_at and keeps failed_at on a later failure; uses retry_queue', () => {
      const raw = '{"class":"J","args":[],"queue":"a","retry_queue":"slow","failed_at":1.5,"retry_count":0}';
      const out = JSON.parse(failedPayload(raw, makeFailure(JSON.parse(raw), { queue: 'a' })));
      expect(out).toMatchObject({ queue: 'slow', failed_at: 1.5, retried_at: NOW / 1000, retry_count: 1 });
    });
    it('writes the popped queue as queue, and int-ms timestamps for Sidekiq 8', () => {
      const raw = '{"class":"J","args":[],"queue":"x"}';
      const out = failedPayload(raw, makeFailure(JSON.parse(raw), { queue: 'popped', version: 8 }));
      expect(out).toContain('"queue":"popped"');
      expect(out).toContain(`"failed_at":${NOW}`);
    });
    it('stores error_backtrace only when backtrace is set, N lines for backtrace: N', () => {
      const raw = '{"class":"J","args":[],"queue":"q","backtrace":2}';
      const out = JSON.parse(failedPayload(raw, makeFailure(JSON.parse(raw)))) as { error_backtrace: string };
      expect(JSON.parse(inflateSync(Buffer.from(out.error_backtrace, 'base64')).toString())).toEqual(['a.rb:1', 'b.rb:2']);
      expect(failedPayload('{"class":"J","args":[],"queue":"q"}', makeFailure({}))).not.toContain('error_backtrace');
    });
  });

  describe('errorMessage', () => {
    it('cuts to 10,000 characters and scrubs lone surrogates', () => {
      expect(errorMessage('x'.repeat(20_000))).toHaveLength(10_000);
      expect(errorMessage('a\ud800b')).toBe('a\ufffdb');
    });
    it('counts characters as Ruby does, never splitting a surrogate pair at the cut', () => {
      const message = 'x'.repeat(9_999) + '😀' + 'y';
      expect(errorMessage(message)).toBe('x'.repeat(9_999) + '😀');
      expect(errorMessage('😀'.repeat(10_001))).toBe('😀'.repeat(10_000));
    });
  });

  describe('encodeBacktrace', () => {
    it('is strict base64 of zlib-deflated JSON', () => {
      const enc = encodeBacktrace(['x:1'], true)!;
      expect(enc).not.toContain('\n');
      expect(inflateSync(Buffer.from(enc, 'base64')).toString()).toBe('["x:1"]');
      expect(encodeBacktrace(['x:1'], false)).toBeUndefined();
    });
  });
});
