import { describe, expect, it } from 'vitest';
import { floatSeconds, readScore, readTimestamp, score, utcDay, writeTimestamp } from '../../../lib/protocol/time.js';
import { fixture } from './fixtures.js';

describe('time', () => {
  describe('readTimestamp', () => {
    it('reads float seconds (Sidekiq ≤ 7) as epoch ms', () => {
      expect(readTimestamp(1795334852.1731977)).toBeCloseTo(1795334852173.1977, 3);
    });

    it('reads integer ms (Sidekiq 8) as epoch ms', () => {
      expect(readTimestamp(1795334852173)).toBe(1795334852173);
    });

    it('reads the same job from 7.3.9 and 8.1.7 into the same instant', () => {
      // Prepare
      const v7 = JSON.parse(fixture('7.3.9', 'retry').raw) as { created_at: number; failed_at: number };
      const v8 = JSON.parse(fixture('8.1.7', 'retry').raw) as { created_at: number; failed_at: number };

      // Act
      const [c7, c8] = [readTimestamp(v7.created_at)!, readTimestamp(v8.created_at)!];

      // Assess
      expect(Math.floor(c7)).toBe(c8);
      expect(Math.floor(readTimestamp(v7.failed_at)!)).toBe(readTimestamp(v8.failed_at));
    });

    it('returns undefined for anything but a finite number', () => {
      for (const v of ['1795334852.1', null, undefined, Number.NaN, Infinity]) expect(readTimestamp(v)).toBeUndefined();
    });
  });

  describe('floatSeconds', () => {
    it('forces a decimal point on a whole second', () => {
      expect(floatSeconds(1795334852000)).toBe('1795334852.0');
    });

    it('keeps the fraction of other times', () => {
      expect(floatSeconds(1795334852500)).toBe('1795334852.5');
    });
  });

  describe('writeTimestamp', () => {
    it('writes float seconds with a decimal point by default', () => {
      expect(writeTimestamp(1795334852000).text).toBe('1795334852.0');
    });

    it('writes float seconds for Sidekiq 6 and 7', () => {
      expect([writeTimestamp(1795334852250, 6).text, writeTimestamp(1795334852250, 7).text]).toEqual(['1795334852.25', '1795334852.25']);
    });

    it('writes integer ms for Sidekiq 8', () => {
      expect(writeTimestamp(1795334852173.6, 8).text).toBe('1795334852174');
    });

    it('reads back to the same instant in either format', () => {
      // Prepare
      const ms = 1795334852173;

      // Act
      const [asSeconds, asMs] = [JSON.parse(writeTimestamp(ms, 7).text) as number, JSON.parse(writeTimestamp(ms, 8).text) as number];

      // Assess
      expect(readTimestamp(asSeconds)).toBeCloseTo(ms, 3);
      expect(readTimestamp(asMs)).toBe(ms);
    });
  });

  describe('score', () => {
    it('is float seconds with a decimal point', () => {
      expect(score(1795334884000)).toBe('1795334884.0');
    });
  });

  describe('readScore', () => {
    it('reads a score Ruby wrote into epoch ms', () => {
      expect(readScore(fixture('6.4.1', 'retry').score!)).toBeCloseTo(Number(fixture('6.4.1', 'retry').score) * 1000, 3);
      expect(readScore('1767225600.5')).toBe(1767225600500);
    });
  });

  describe('utcDay', () => {
    it('names the UTC day', () => {
      expect(utcDay(Date.UTC(2026, 0, 1, 23, 59, 59))).toBe('2026-01-01');
    });
  });
});
