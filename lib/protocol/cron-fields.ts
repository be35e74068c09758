/**
 * The values of each field of a cron expression, expanded as fugit 1.5.2's `init` does.
 *
 * Tasks:
 * 1. Expand elements into sorted value lists (`expand`, `range`, `compact`): steps, wrapping
 *    ranges, negative days of month; `null` where a field matches every value.
 * 2. Expand the day-of-week field into weekdays with their `#n`, and refuse several `#` entries
 *    for one weekday (fugit 1.5.2 honours only the first).
 */
import type { RawElement } from './cron-grammar.js';
import { CronError } from './cron-errors.js';

/**
 * A weekday of a cron expression: 0 (Sunday)–6, and for `mon#2` / `fri#-1` which one in the month.
 *
 * @example
 * const secondMonday: CronWeekday = { day: 1, nth: 2 };
 */
export interface CronWeekday {
  readonly day: number;
  readonly nth?: number;
}

/**
 * Maps a value list and sorts it again, without duplicates (fugit's hour 24 → 0).
 *
 * @example
 * mapSorted([0, 24], (h) => (h === 24 ? 0 : h)) // [0]
 */
export function mapSorted(values: number[] | null, fn: (v: number) => number): number[] | null {
  return values && [...new Set(values.map(fn))].sort((a, b) => a - b);
}

/**
 * fugit's `expand` + `compact`: the values of a field, or null for every value.
 *
 * @example
 * determine(parseField('hou', '22-2/2')!, 0, 23) // [0, 2, 22]
 */
export function determine(elements: readonly RawElement[], min: number, max: number): number[] | null {
  const values: number[] = [];
  for (const e of elements) {
    const v = expand(min, max, e);
    if (v === null) return null;
    values.push(...v);
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

function expand(min: number, max: number, e: RawElement): number[] | null {
  let { from: sta, to: edn, step: sla } = e;
  if (sla === 1) sla = null; // "don't get fooled by /1"
  if (sla !== null && edn === null) edn = max;
  if (sta === null && edn === null && sla === null) return null;
  if (sta !== null && edn === null) return [sta];
  sla ??= 1;
  sta ??= min;
  if (edn === null || (edn < 0 && sta > 0)) edn = max;
  return range(min, max, sta, edn, sla);
}

/** fugit's `range`: wraps past max back to min (`22-2`); negative days count from the month's end. */
function range(min: number, max: number, sta: number, edn: number, sla: number): number[] {
  const all: number[] = [];
  if (sta < 0) [min, max] = [-max, -1];
  for (let cur = sta; ; ) {
    all.push(cur);
    if (cur === edn) break;
    cur += 1;
    if (cur > max) {
      cur = min;
      if (edn > max) edn = edn - max - 1;
    }
  }
  return [...new Set(all.filter((_, i) => i % sla === 0))];
}

/**
 * fugit's `determine_weekdays`, then its matching rule made explicit: a day is matched against the
 * first entry for its weekday in sorted order (a plain entry sorts first and makes the others
 * moot). Several `#` entries for one weekday are refused: fugit 1.5.2 honours the first only.
 *
 * @example
 * determineWeekdays('0 0 * * fri-mon', 5, parseField('dow', 'fri-mon')!) // [{ day: 0 }, { day: 1 }, { day: 5 }, { day: 6 }]
 */
export function determineWeekdays(expr: string, fieldNo: number, elements: readonly RawElement[]): CronWeekday[] | null {
  const days: CronWeekday[] = [];
  for (const { from: a, to, step, nth } of elements) {
    if (nth !== null) days.push({ day: a!, nth });
    else if (step !== null) {
      const z = to ?? a ?? 6;
      for (let i = a ?? 0; i <= z; i += Math.max(step, 1)) days.push({ day: i });
    } else if (to !== null) {
      const z = a! > to ? to + 7 : to;
      for (let i = a!; i <= z; i++) days.push({ day: i > 6 ? i - 7 : i });
    } else if (a !== null) days.push({ day: a });
  }
  const unique = new Map<string, CronWeekday>();
  for (const d of days) {
    const day = d.day === 7 ? 0 : d.day;
    unique.set(`${day}#${d.nth ?? ''}`, d.nth === undefined ? { day } : { day, nth: d.nth });
  }
  const byDay = new Map<number, CronWeekday[]>();
  for (const w of [...unique.values()].sort((x, y) => x.day - y.day || (x.nth ?? -Infinity) - (y.nth ?? -Infinity))) {
    byDay.set(w.day, [...(byDay.get(w.day) ?? []), w]);
  }
  for (const entries of byDay.values()) {
    if (entries.length > 1 && entries[0]!.nth !== undefined) {
      const names = entries.map((w) => `${WEEKDAY_NAMES[w.day]}#${w.nth}`).join(', ');
      throw new CronError(expr, `field ${fieldNo} (day of week) has several entries for one weekday (${names}): fugit 1.5.2 honours only the first, newer fugit all of them; use one per weekday, or one cron entry each`);
    }
  }
  return byDay.size === 0 ? null : [...byDay.values()].map((entries) => entries[0]!);
}
const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
