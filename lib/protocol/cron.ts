/**
 * Cron expressions as sidekiq-cron reads them: parsed and fired exactly as fugit 1.5.2 (Debian's
 * `ruby-fugit`, under sidekiq-cron 1.8.0) does, so that our scheduler and Ruby's poller compute
 * the same fire times for the same entry (sidekiq-protocol.md §13.2).
 *
 * Tasks:
 * 1. Parse an expression (`parseCron`): 5 fields, or 6 with seconds first; `*`, steps, ranges
 *    (wrapping ones too), lists, month and weekday names, `7` as Sunday, `L` and negative days of
 *    month, `mon#2` / `fri#-1` / `fri#L`, `@hourly` … `@yearly`, and a zone at the end or as an
 *    option. What fugit would refuse, and what fugit versions disagree on, is refused with a
 *    `CronError` that names the part.
 * 2. Compute the next and previous fire times (`nextFire`, `previousFire`) with fugit's own walk
 *    (`next_time` / `previous_time`), step for step, DST quirks included.
 * 3. Give the text to store in sidekiq-cron's `cron` field (`cronString`).
 *
 * Pure: no Redis, no timers, no clock (the caller passes every instant).
 */
import { CronError, describeRefusal, describeZoneProblem, semanticProblem } from './cron-errors.js';
import { determine, determineWeekdays, mapSorted, type CronWeekday } from './cron-fields.js';
import { parseGrammar, type FieldKey } from './cron-grammar.js';
import { UTC, fixedZone, ianaZone, wallTime, wallToEpoch, type WallTime, type Zone } from './time-zone.js';

export { CronError } from './cron-errors.js';
export type { CronWeekday } from './cron-fields.js';

/**
 * A parsed cron expression. A `null` field matches every value.
 *
 * @example
 * parseCron('0 9 * * mon#2 Europe/Berlin')
 * // { source: '0 9 * * mon#2 Europe/Berlin', seconds: [0], minutes: [0], hours: [9], monthdays: null,
 * //   months: null, weekdays: [{ day: 1, nth: 2 }], timezone: 'Europe/Berlin', zoneInSource: true }
 */
export interface CronExpression {
  /** The expression as written. */
  readonly source: string;
  /** `[0]` in the 5-field form. */
  readonly seconds: readonly number[] | null;
  readonly minutes: readonly number[] | null;
  readonly hours: readonly number[] | null;
  /** Days of month; -1 is the last day (`L`), -2 the one before, and so on. */
  readonly monthdays: readonly number[] | null;
  readonly months: readonly number[] | null;
  readonly weekdays: readonly CronWeekday[] | null;
  /**
   * The zone the expression runs in: its own (`0 9 * * * Europe/Berlin`), else the `timezone`
   * option, else undefined (UTC here; fugit uses the Ruby process's zone, `ENV['TZ']`).
   */
  readonly timezone: string | undefined;
  /** Whether the zone came from the expression text (true) or the option (false). */
  readonly zoneInSource: boolean;
}

/**
 * Options of `parseCron`.
 *
 * @example
 * parseCron('0 9 * * *', { timezone: 'America/New_York' } satisfies ParseCronOptions)
 */
export interface ParseCronOptions {
  /**
   * Zone for an expression that names none: an IANA name or a fixed offset such as `+05:30`.
   * @defaultValue undefined — UTC.
   */
  readonly timezone?: string;
}

/** fugit's `Cron::SPECIALS`; `@reboot` has no fire time and is refused. */
const SPECIALS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@noon': '0 12 * * *',
  '@hourly': '0 * * * *',
};
const MAXDAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** fugit's `MAX_ITERATION_COUNT`: its walk gives up after this many steps. */
const MAX_STEPS = 2048;
const DAY = 86_400;

/**
 * Parses a cron expression as fugit 1.5.2 does, or throws a `CronError` naming the offending part.
 *
 * @example
 * parseCron('*\/15 9-17 * * mon-fri').minutes          // [0, 15, 30, 45]
 * parseCron('0 9 * * * Europe/Berlin').timezone        // 'Europe/Berlin'
 * parseCron('0 9 * * *', { timezone: 'Asia/Kolkata' }) // runs at 09:00 in Kolkata
 * parseCron('*\/5 * * * 8')                            // throws CronError:
 * // '*\/5 * * * 8': field 5 (day of week) out of range 0-7: 8
 */
export function parseCron(expr: string, options: ParseCronOptions = {}): CronExpression {
  const text = SPECIALS[expr] ?? expr;
  const raw = parseGrammar(text);
  if (!raw) throw new CronError(expr, describeRefusal(expr));
  const problem = semanticProblem(raw);
  if (problem) throw new CronError(expr, problem);
  const f = raw.fields;
  let monthdays = determine(f.dom!, 1, 31);
  let months = determine(f.mon!, 1, 12);
  if (months && monthdays) {
    // fugit's compact_month_days: keep the (month, day) pairs that can occur.
    const pairs = months.flatMap((m) => monthdays!.filter((d) => d <= MAXDAYS[m]!).map((d) => [m, d] as const));
    if (pairs.length === 0) throw new CronError(expr, `fields ${fieldNo(raw, 'dom')} and ${fieldNo(raw, 'mon')} (day of month, month): no such day: ${f.dom!.map((e) => e.text).join(',')} in month ${f.mon!.map((e) => e.text).join(',')}`);
    months = [...new Set(pairs.map(([m]) => m))];
    monthdays = [...new Set(pairs.map(([, d]) => d))];
  }
  const timezone = raw.zone ?? options.timezone;
  if (raw.zone !== undefined && options.timezone !== undefined && raw.zone !== options.timezone) {
    throw new CronError(expr, `time zone given twice: '${raw.zone}' in the expression and '${options.timezone}' as an option`);
  }
  if (timezone !== undefined) {
    const zoneProblem = describeZoneProblem(timezone);
    if (zoneProblem) throw new CronError(expr, zoneProblem);
  }
  return {
    source: expr,
    seconds: f.sec ? determine(f.sec, 0, 59) : [0],
    minutes: determine(f.min!, 0, 59),
    hours: mapSorted(determine(f.hou!, 0, 23), (h) => (h === 24 ? 0 : h)),
    monthdays,
    months,
    weekdays: determineWeekdays(expr, fieldNo(raw, 'dow'), f.dow!),
    timezone,
    zoneInSource: raw.zone !== undefined,
  };
}

function fieldNo(raw: { fields: Partial<Record<FieldKey, unknown>> }, k: FieldKey): number {
  const order: FieldKey[] = raw.fields.sec ? ['sec', 'min', 'hou', 'dom', 'mon', 'dow'] : ['min', 'hou', 'dom', 'mon', 'dow'];
  return order.indexOf(k) + 1;
}


/**
 * Resolves the zone of an expression (parseCron has checked it).
 *
 * @example
 * zoneOf(parseCron('0 9 * * * +05:30')).offsetAt(0) // 19800
 */
export function zoneOf(expr: CronExpression): Zone {
  const name = expr.timezone;
  if (name === undefined) return UTC;
  const m = /^([+-])(\d\d):?(\d\d)$/.exec(name);
  if (m) return fixedZone(name, (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60));
  const zone = ianaZone(name);
  if (!zone) throw new CronError(expr.source, `unknown time zone '${name}'`);
  return zone;
}

/** fugit's `TimeCursor`: an instant in whole seconds, moved the way fugit moves it. */
class Cursor {
  #wall: WallTime | undefined;
  constructor(
    readonly cron: CronExpression,
    readonly zone: Zone,
    public t: number,
  ) {}

  get wall(): WallTime {
    return (this.#wall ??= wallTime(this.zone, this.t));
  }
  inc(seconds: number): void {
    this.t += seconds;
    this.#wall = undefined;
  }
  moveTo(t: number): void {
    this.t = t;
    this.#wall = undefined;
  }
  incMonth(): void {
    const { year, month } = this.wall;
    this.moveTo(midnight(this, month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1, true));
  }
  incDay(): void {
    const w = this.wall;
    this.inc((24 - w.hour) * 3600 - w.minute * 60 - w.second);
    const h = this.wall.hour;
    if (h === 0) return;
    if (h < 12) {
      const { year, month, day } = this.wall;
      const m = midnight(this, year, month, day, false);
      if (Number.isNaN(m)) this.inc((24 - h) * 3600);
      else this.moveTo(m);
    } else this.inc((24 - h) * 3600);
  }
  incHour(): void {
    this.inc((60 - this.wall.minute) * 60 - this.wall.second);
  }
  incMin(): void {
    this.inc(60 - this.wall.second);
  }
  incSec(): void {
    const sec = this.wall.second;
    const seconds = this.cron.seconds!;
    const next = seconds.find((s) => s > sec);
    this.inc(next !== undefined ? next - sec : 60 - sec + seconds[0]!);
  }
  decMonth(): void {
    const w = this.wall;
    this.inc(-((w.day - 1) * DAY + w.hour * 3600 + w.minute * 60 + w.second + 1));
  }
  decDay(): void {
    const w = this.wall;
    this.inc(-(w.hour * 3600 + w.minute * 60 + w.second + 1));
  }
  decHour(): void {
    this.inc(-(this.wall.minute * 60 + this.wall.second + 1));
  }
  decMin(): void {
    this.inc(-(this.wall.second + 1));
  }
  decSec(): void {
    const sec = this.wall.second;
    const seconds = this.cron.seconds!;
    const target = [...seconds].reverse().find((s) => s < sec) ?? seconds[seconds.length - 1]!;
    this.inc(target - sec - (sec > target ? 0 : 60));
  }
}

/**
 * Midnight of a day in the cursor's zone, as `EtOrbi.make(y, m, d, zone)`: TZInfo raises for a
 * midnight that DST skips or repeats. fugit's inc_day rescues the skipped case (NaN here); its
 * inc_month rescues neither, and neither do we (`strict`).
 */
function midnight(c: Cursor, year: number, month: number, day: number, strict: boolean): number {
  const r = wallToEpoch(c.zone, year, month, day, 0, 0, 0);
  if (r.kind === 'ok') return r.epochSec;
  if (r.kind === 'nonexistent' && !strict) return Number.NaN;
  const date = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  throw new CronError(c.cron.source, `midnight of ${date} is ${r.kind} in ${c.zone.name} (fugit raises here too)`);
}

function weekdayMatch(c: Cursor): boolean {
  const weekdays = c.cron.weekdays;
  if (!weekdays) return true;
  const w = c.wall;
  const entry = weekdays.find((d) => d.day === w.weekday);
  if (!entry) return false;
  if (entry.nth === undefined) return true;
  // et-orbi 1.2's wday_in_month: count whole weeks (7 × 24 h, not calendar weeks) to the month's edges.
  const countWeeks = (dir: number): number => {
    let n = 0;
    for (let t = c.t; wallTime(c.zone, t).month === w.month; t += dir * 7 * DAY) n += 1;
    return n;
  };
  return entry.nth > 0 ? entry.nth === countWeeks(-1) : entry.nth === -countWeeks(1);
}

function monthdayMatch(c: Cursor): boolean {
  const monthdays = c.cron.monthdays;
  if (!monthdays) return true;
  const probe = new Cursor(c.cron, c.zone, c.t);
  probe.incMonth();
  // fugit: the day 24 hours before next month's first midnight, plus one (off by one on a month whose last day is 23 h long).
  const last = wallTime(c.zone, probe.t - DAY).day + 1;
  const day = c.wall.day;
  return monthdays.some((d) => (d < 1 ? last + d : d) === day);
}

function dayMatch(c: Cursor): boolean {
  // Both restricted: standard cron's OR (`man 5 crontab`), as fugit.
  if (c.cron.weekdays && c.cron.monthdays) return weekdayMatch(c) || monthdayMatch(c);
  return weekdayMatch(c) && monthdayMatch(c);
}

const has = (values: readonly number[] | null, v: number): boolean => values === null || values.includes(v);

function tooManySteps(expr: CronExpression, what: string): CronError {
  return new CronError(expr.source, `no ${what} fire time within ${MAX_STEPS} steps (fugit gives up there too)`);
}

function asExpression(expr: CronExpression | string): CronExpression {
  return typeof expr === 'string' ? parseCron(expr) : expr;
}

/** `YYYY-MM-DD HH:MM:SS` as a comparable number. */
const wallKey = (w: WallTime): number => ((((w.year * 100 + w.month) * 100 + w.day) * 100 + w.hour) * 100 + w.minute) * 100 + w.second;

/**
 * The first fire time strictly after `after`, as fugit's `Cron#next_time(after)` computes it.
 *
 * @example
 * nextFire(parseCron('*\/5 * * * *'), new Date('2024-03-09T10:02:30Z'))            // 2024-03-09T10:05:00Z
 * nextFire(parseCron('30 2 * * * America/New_York'), new Date('2024-03-10T00:00Z')) // 2024-03-11T06:30:00Z
 * // (02:30 does not exist on the 10th, and fugit skips that day rather than firing at 03:30)
 */
export function nextFire(expr: CronExpression | string, after: Date): Date {
  const cron = asExpression(expr);
  const zone = zoneOf(cron);
  const fromSec = after.getTime() / 1000;
  let ifrom = Math.trunc(fromSec);
  // fugit compares wall clocks to skip a time repeated by a fall-back (gh-6): the start's in UTC
  // (sidekiq-cron passes UTC times), candidates' in the cron's zone.
  let sfrom = wallKey(wallTime(UTC, Math.floor(fromSec)));
  const c = new Cursor(cron, zone, ifrom);
  let zfrom = zone.offsetAt(c.t);
  for (let i = 1; ; i++) {
    if (i > MAX_STEPS) throw tooManySteps(cron, 'next');
    if (ifrom === c.t) c.inc(1);
    else if (!has(cron.months, c.wall.month)) c.incMonth();
    else if (!dayMatch(c)) c.incDay();
    else if (!has(cron.hours, c.wall.hour)) c.incHour();
    else if (!has(cron.minutes, c.wall.minute)) c.incMin();
    else if (!has(cron.seconds, c.wall.second)) c.incSec();
    else {
      const st = wallKey(c.wall);
      const zt = zone.offsetAt(c.t);
      if (st === sfrom && zt !== zfrom) {
        [sfrom, zfrom, ifrom] = [st, zt, c.t];
        continue;
      }
      return new Date(c.t * 1000);
    }
  }
}

/**
 * The last fire time strictly before `before`, as fugit's `Cron#previous_time(before)` computes it
 * (sidekiq-cron's `last_time`).
 *
 * @example
 * previousFire(parseCron('0 0 L * *'), new Date('2024-03-09T10:00:00Z')) // 2024-02-29T00:00:00Z
 */
export function previousFire(expr: CronExpression | string, before: Date): Date {
  const cron = asExpression(expr);
  const c = new Cursor(cron, zoneOf(cron), Math.trunc(before.getTime() / 1000 - 1));
  for (let i = 1; ; i++) {
    if (i > MAX_STEPS) throw tooManySteps(cron, 'previous');
    if (!has(cron.months, c.wall.month)) c.decMonth();
    else if (!dayMatch(c)) c.decDay();
    else if (!has(cron.hours, c.wall.hour)) c.decHour();
    else if (!has(cron.minutes, c.wall.minute)) c.decMin();
    else if (!has(cron.seconds, c.wall.second)) c.decSec();
    else return new Date(c.t * 1000);
  }
}

/**
 * The text to store in sidekiq-cron's `cron` field so fugit reads the same schedule: the source,
 * with a shortcut spelled out and the option's zone appended when there is one (fugit reads a
 * zone only from the text).
 *
 * @example
 * cronString(parseCron('@daily', { timezone: 'Europe/Berlin' })) // '0 0 * * * Europe/Berlin'
 * cronString(parseCron('*\/5 * * * *'))                           // '*\/5 * * * *'
 */
export function cronString(expr: CronExpression): string {
  if (expr.zoneInSource || expr.timezone === undefined) return expr.source;
  return `${SPECIALS[expr.source] ?? expr.source} ${expr.timezone}`;
}
