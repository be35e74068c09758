import { describe, expect, it } from 'vitest';
import { UTC, fixedZone, ianaZone, wallTime, wallToEpoch } from '../../../lib/protocol/time-zone.js';

const at = (iso: string): number => Date.parse(iso) / 1000;

describe('time-zone', () => {
  describe('ianaZone', () => {
    it('gives the offset in force at an instant, DST included', () => {
      // Prepare
      const berlin = ianaZone('Europe/Berlin')!;
      const lordHowe = ianaZone('Australia/Lord_Howe')!;

      // Act / Assess
      expect([berlin.offsetAt(at('2024-01-15T12:00:00Z')), berlin.offsetAt(at('2024-07-01T12:00:00Z'))]).toEqual([3600, 7200]);
      expect([lordHowe.offsetAt(at('2024-07-01T00:00:00Z')), lordHowe.offsetAt(at('2024-12-01T00:00:00Z'))]).toEqual([37_800, 39_600]);
      expect(ianaZone('Asia/Kolkata')!.offsetAt(at('2024-07-01T00:00:00Z'))).toBe(19_800);
    });

    it('changes offset at the exact second of a transition', () => {
      // Prepare: New York springs forward at 2024-03-10 07:00:00 UTC.
      const ny = ianaZone('America/New_York')!;

      // Act / Assess
      expect([ny.offsetAt(at('2024-03-10T06:59:59Z')), ny.offsetAt(at('2024-03-10T07:00:00Z'))]).toEqual([-18_000, -14_400]);
    });

    it('knows no zone Intl does not know', () => {
      expect(ianaZone('Mars/Olympus_Mons')).toBeUndefined();
    });
  });

  describe('wallTime', () => {
    it('gives the wall clock and weekday of an instant', () => {
      expect(wallTime(UTC, at('2024-03-09T03:00:00Z'))).toEqual({ year: 2024, month: 3, day: 9, hour: 3, minute: 0, second: 0, weekday: 6 });
      expect(wallTime(fixedZone('+05:30', 19_800), at('2024-12-31T20:00:00Z'))).toEqual({ year: 2025, month: 1, day: 1, hour: 1, minute: 30, second: 0, weekday: 3 });
    });
  });

  describe('wallToEpoch', () => {
    it('finds the one instant of an ordinary wall clock', () => {
      expect(wallToEpoch(ianaZone('America/New_York')!, 2024, 1, 1, 0, 0, 0)).toEqual({ kind: 'ok', epochSec: at('2024-01-01T05:00:00Z') });
    });

    it('reports a wall clock the spring-forward skips, and one the fall-back repeats', () => {
      // Prepare
      const ny = ianaZone('America/New_York')!;

      // Act / Assess
      expect(wallToEpoch(ny, 2024, 3, 10, 2, 30, 0)).toEqual({ kind: 'nonexistent' });
      expect(wallToEpoch(ny, 2024, 11, 3, 1, 30, 0)).toEqual({ kind: 'ambiguous' });
      expect(wallToEpoch(ianaZone('America/Havana')!, 2026, 11, 1, 0, 0, 0)).toEqual({ kind: 'ambiguous' });
    });
  });
});
