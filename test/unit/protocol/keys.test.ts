import { describe, expect, it } from 'vitest';
import { INFLIGHT_MARK, keys } from '../../../lib/protocol/keys.js';

describe('keys', () => {
  describe('keys', () => {
    it("names Sidekiq's keys without a namespace", () => {
      // Act
      const k = keys();

      // Assess
      expect([k.queues, k.queue('default'), k.schedule, k.retry, k.dead, k.processes]).toEqual([
        'queues',
        'queue:default',
        'schedule',
        'retry',
        'dead',
        'processes',
      ]);
      expect([k.process('host:1:abc'), k.work('host:1:abc'), k.workers('host:1:abc'), k.signals('host:1:abc')]).toEqual([
        'host:1:abc',
        'host:1:abc:work',
        'host:1:abc:workers',
        'host:1:abc-signals',
      ]);
    });

    it('prefixes every key with the namespace', () => {
      // Act
      const k = keys('myapp');

      // Assess
      expect([k.prefix, k.queues, k.queue('low'), k.schedule, k.retry, k.dead, k.processes, k.process('h:1:x'), k.work('h:1:x')]).toEqual([
        'myapp:',
        'myapp:queues',
        'myapp:queue:low',
        'myapp:schedule',
        'myapp:retry',
        'myapp:dead',
        'myapp:processes',
        'myapp:h:1:x',
        'myapp:h:1:x:work',
      ]);
    });

    it('prefixes keys but not the values stored in them (queue and process names)', () => {
      // Prepare
      const k = keys('myapp');

      // Act: the queue name and identity are arguments, and come back inside the key unprefixed.
      const q = k.queue('low');

      // Assess
      expect(q.slice(k.prefix.length)).toBe('queue:low');
      expect(k.process('h:1:x').slice(k.prefix.length)).toBe('h:1:x');
    });

    it('names daily stat keys by UTC day', () => {
      // Act
      const k = keys();

      // Assess
      expect(k.statProcessedDay(Date.UTC(2026, 10, 22, 23, 30))).toBe('stat:processed:2026-11-22');
      expect(k.statFailedDay(Date.UTC(2026, 10, 22))).toBe('stat:failed:2026-11-22');
    });

    it("names this project's keys under the namespace", () => {
      // Act
      const k = keys('ns');

      // Assess
      expect(k.inflight('poller-1', 'track')).toBe(`ns:${INFLIGHT_MARK}poller-1|track`);
      expect([k.pollers, k.schedulerLock]).toEqual(['ns:sidekiq-lambda:pollers', 'ns:sidekiq-lambda:scheduler-lock']);
    });
  });
});
