/**
 * Time zones for cron schedules, computed the way fugit's et-orbi and TZInfo compute them.
 *
 * Tasks:
 * 1. Resolve a zone written in a cron expression: an IANA name (`Europe/Berlin`, through `Intl`) or
 *    a fixed offset (`+09:00`, `-0530`, as et-orbi's `get_offset_tzone`).
 * 2. Give the wall clock (year … second, weekday) of an instant in a zone.
 * 3. Turn a wall clock back into an instant strictly, as TZInfo's `local_to_utc` without a DST
 *    hint does: a time skipped by a spring-forward is `nonexistent`, a time repeated by a
 *    fall-back is `ambiguous` (fugit lets both errors escape, or rescues the first, and so do we).
 *
 * Instants are whole epoch seconds; `Intl` is the only source of zone data (no dependency).
 */

/**
 * A time zone: its name as written and the UTC offset, in seconds east of UTC, at an instant.
 *
 * @example
 * ianaZone('Asia/Kolkata')!.offsetAt(0) // 19800
 */
export interface Zone {
  readonly name: string;
  offsetAt(epochSec: number): number;
}

/**
 * Wall-clock fields of an instant in a zone. `month` is 1–12, `weekday` 0 (Sunday)–6.
 *
 * @example
 * wallTime(UTC, 0) // { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, weekday: 4 }
 */
export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly weekday: number;
}

/**
 * What a wall clock is in a zone: one instant, none (skipped by DST), or two (repeated by DST).
 *
 * @example
 * wallToEpoch(UTC, 1970, 1, 1, 0, 0, 1) // { kind: 'ok', epochSec: 1 }
 */
export type WallToEpoch = { kind: 'ok'; epochSec: number } | { kind: 'nonexistent' } | { kind: 'ambiguous' };

/**
 * UTC, the zone of an expression that names none.
 *
 * @example
 * UTC.offsetAt(1709953200) // 0
 */
export const UTC: Zone = { name: 'UTC', offsetAt: () => 0 };

/**
 * A fixed-offset zone (no DST), as et-orbi's custom offset zones.
 *
 * @example
 * fixedZone('+05:30', 19_800).offsetAt(1709953200) // 19800
 */
export function fixedZone(name: string, offsetSec: number): Zone {
  return { name, offsetAt: () => offsetSec };
}

/**
 * An IANA zone backed by `Intl`, or undefined when `Intl` does not know the name.
 *
 * @example
 * ianaZone('Europe/Berlin')!.offsetAt(1719835200) // 7200 (2024-07-01, CEST)
 * ianaZone('Mars/Olympus')                        // undefined
 */
export function ianaZone(name: string): Zone | undefined {
  const cached = ZONES.get(name);
  if (cached) return cached;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return undefined;
  }
  const offsets = new Map<number, number>();
  const zone: Zone = {
    name,
    offsetAt(epochSec) {
      const hit = offsets.get(epochSec);
      if (hit !== undefined) return hit;
      const offset = intlOffset(format, epochSec);
      if (offsets.size > 50_000) offsets.clear();
      offsets.set(epochSec, offset);
      return offset;
    },
  };
  ZONES.set(name, zone);
  return zone;
}

const ZONES = new Map<string, Zone>();
// "7/1/2024, 14:00:00" — en-US, h23; years before 1000 have fewer digits, which the pattern allows.
const EN_US = /^(\d+)\/(\d+)\/(\d+), (\d+):(\d+):(\d+)$/;

function intlOffset(format: Intl.DateTimeFormat, epochSec: number): number {
  const m = EN_US.exec(format.format(epochSec * 1000));
  if (!m) throw new Error(`unexpected Intl output for ${epochSec}`);
  const [, mo, d, y, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return (Date.UTC(y, mo - 1, d, h, mi, s) - epochSec * 1000) / 1000;
}

/**
 * The wall clock of an instant in a zone.
 *
 * @example
 * wallTime(UTC, 1709953200) // { year: 2024, month: 3, day: 9, hour: 3, minute: 0, second: 0, weekday: 6 }
 */
export function wallTime(zone: Zone, epochSec: number): WallTime {
  const d = new Date((epochSec + zone.offsetAt(epochSec)) * 1000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

/**
 * The instant of a wall clock in a zone, strictly (TZInfo's `local_to_utc` with no DST hint).
 *
 * @example
 * const ny = ianaZone('America/New_York')!;
 * wallToEpoch(ny, 2024, 3, 10, 2, 30, 0)  // { kind: 'nonexistent' } (clocks jump 02:00 → 03:00)
 * wallToEpoch(ny, 2024, 11, 3, 1, 30, 0)  // { kind: 'ambiguous' }   (01:00–02:00 happens twice)
 * wallToEpoch(ny, 2024, 1, 1, 0, 0, 0)    // { kind: 'ok', epochSec: 1704085200 }
 */
export function wallToEpoch(zone: Zone, year: number, month: number, day: number, hour: number, minute: number, second: number): WallToEpoch {
  const wall = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  // Any offset in force near this wall clock is in force a day before or after it (zones change
  // offset at most once within two days), so these are the only candidates.
  const candidates = new Set([zone.offsetAt(wall - 86_400), zone.offsetAt(wall), zone.offsetAt(wall + 86_400)]);
  const instants = new Set<number>();
  for (const offset of candidates) {
    const epochSec = wall - offset;
    if (zone.offsetAt(epochSec) === offset) instants.add(epochSec);
  }
  if (instants.size === 0) return { kind: 'nonexistent' };
  if (instants.size > 1) return { kind: 'ambiguous' };
  return { kind: 'ok', epochSec: [...instants][0]! };
}
