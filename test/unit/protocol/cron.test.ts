import { describe, expect, it } from 'vitest';
import { CronError, cronString, nextFire, parseCron, previousFire, type CronExpression } from '../../../lib/protocol/cron.js';

/** The next (or previous) `n` fire times as ISO strings, each walk starting from the last result. */
function walk(expr: string, from: string, n: number, dir: 'next' | 'prev' = 'next'): string[] {
  const cron = parseCron(expr);
  const out: string[] = [];
  let at = new Date(from);
  for (let i = 0; i < n; i++) {
    at = dir === 'next' ? nextFire(cron, at) : previousFire(cron, at);
    out.push(at.toISOString().replace('.000Z', 'Z'));
  }
  return out;
}

function refusal(expr: string, options?: { timezone?: string }): string {
  try {
    parseCron(expr, options);
  } catch (e) {
    if (e instanceof CronError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${expr}`);
}

const fields = (c: CronExpression): unknown[] => [c.seconds, c.minutes, c.hours, c.monthdays, c.months, c.weekdays];

// Every expected fire time below was computed by Debian's fugit 1.5.2 (TZ=UTC), quirks included.
describe('cron', () => {
  describe('parseCron', () => {
    it('reads the five classic fields, steps and ranges', () => {
      // Act
      const c = parseCron('*/15 9-17 * * mon-fri');

      // Assess
      expect(fields(c)).toEqual([[0], [0, 15, 30, 45], [9, 10, 11, 12, 13, 14, 15, 16, 17], null, null, [{ day: 1 }, { day: 2 }, { day: 3 }, { day: 4 }, { day: 5 }]]);
      expect(c.timezone).toBeUndefined();
    });

    it('reads a sixth field as seconds, first (fugit tries the seconds form first)', () => {
      // Act
      const c = parseCron('*/20 30 * * * *');

      // Assess
      expect([c.seconds, c.minutes]).toEqual([[0, 20, 40], [30]]);
    });

    it('wraps ranges past the end, and steps through them', () => {
      // Act
      const [wrap, stepped, months] = [parseCron('0 22-2 * * *'), parseCron('0 22-2/2 * * *'), parseCron('0 0 1 nov-feb *')];

      // Assess
      expect(wrap.hours).toEqual([0, 1, 2, 22, 23]);
      expect(stepped.hours).toEqual([0, 2, 22]);
      expect(months.months).toEqual([1, 2, 11, 12]);
    });

    it('reads a start with a step as start to end (`5/15`), and a lone step as from the start (`/20`)', () => {
      // Act
      const c = parseCron('5/15 /8 * * *');

      // Assess
      expect([c.minutes, c.hours]).toEqual([[5, 20, 35, 50], [0, 8, 16]]);
    });

    it('reads month and weekday names in any case, 7 as Sunday and 24 as hour 0', () => {
      // Act
      const c = parseCron('0 24 * JAN,Mar,dec Sun,7,SAT');

      // Assess
      expect([c.hours, c.months, c.weekdays]).toEqual([[0], [1, 3, 12], [{ day: 0 }, { day: 6 }]]);
    });

    it('reads L, L ranges and negative days as counted from the month end', () => {
      // Act
      const [last, tail, neg] = [parseCron('0 0 L * *'), parseCron('0 0 28-L * *'), parseCron('0 0 -3--1 * *')];

      // Assess
      expect(last.monthdays).toEqual([-1]);
      expect(tail.monthdays).toEqual([28, 29, 30, 31]);
      expect(neg.monthdays).toEqual([-3, -2, -1]);
    });

    it('reads the n-th weekday of the month, from the start or the end', () => {
      // Act
      const c = parseCron('0 0 * * mon#2,fri#L,4#-2,sun');

      // Assess
      expect(c.weekdays).toEqual([{ day: 0 }, { day: 1, nth: 2 }, { day: 4, nth: -2 }, { day: 5, nth: -1 }]);
    });

    it('expands the shortcuts fugit knows', () => {
      // Act
      const all = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@noon', '@hourly'].map((s) => fields(parseCron(s)));

      // Assess
      expect(all).toEqual([
        [[0], [0], [0], [1], [1], null],
        [[0], [0], [0], [1], [1], null],
        [[0], [0], [0], [1], null, null],
        [[0], [0], [0], null, null, [{ day: 0 }]],
        [[0], [0], [0], null, null, null],
        [[0], [0], [0], null, null, null],
        [[0], [0], [12], null, null, null],
        [[0], [0], null, null, null, null],
      ]);
    });

    it('drops months in which none of the days can occur, as fugit does', () => {
      // Act
      const c = parseCron('0 0 31 1-4 *');

      // Assess
      expect([c.monthdays, c.months]).toEqual([[31], [1, 3]]);
    });

    it('takes a zone from the end of the expression or from the option', () => {
      // Act
      const [inText, asOption, offset] = [parseCron('0 9 * * * Europe/Berlin'), parseCron('0 9 * * *', { timezone: 'Asia/Kolkata' }), parseCron('0 9 * * * +05:30')];

      // Assess
      expect([inText.timezone, inText.zoneInSource]).toEqual(['Europe/Berlin', true]);
      expect([asOption.timezone, asOption.zoneInSource]).toEqual(['Asia/Kolkata', false]);
      expect(offset.timezone).toBe('+05:30');
    });

    it.each([
      ['*/5 * * * 8', "'*/5 * * * 8': field 5 (day of week) out of range 0-7: 8"],
      ['61 * * * *', "'61 * * * *': field 1 (minute) out of range 0-59: 61"],
      ['0 0 32 * *', "'0 0 32 * *': field 3 (day of month) out of range 1-31: 32"],
      ['0 0 * 13 *', "'0 0 * 13 *': field 4 (month) out of range 1-12: 13"],
      ['0 0 0 * * 60', "'0 0 0 * * 60': field 6 (day of week) out of range 0-7: 60"],
      ['* * * jann *', "'* * * jann *': field 4 (month) unknown name 'jann'"],
      ['mon * * * *', "'mon * * * *': field 1 (minute) takes no names: 'mon'"],
      ['1,,2 * * * *', "'1,,2 * * * *': field 1 (minute) has an empty list element: '1,,2'"],
      ['* * * *', "'* * * *': expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), then an optional time zone; got 4 parts"],
      ['*/0 * * * *', "'*/0 * * * *': field 1 (minute) step 0: */0"],
      ['0 0 L-3 * *', "'0 0 L-3 * *': field 3 (day of month) range mixes days counted from the month's end and from its start: L-3"],
      ['0 0 30 2 *', "'0 0 30 2 *': fields 3 and 4 (day of month, month): no such day: 30 in month 2"],
      ['0 0 * * mon#6', "'0 0 * * mon#6': field 5 (day of week) 'mon#6': the n-th weekday must be 1 to 5, -1 to -5 or L"],
      ['0 0 * * 5L', "'0 0 * * 5L': field 5 (day of week) '5L': 'nL' is not supported by fugit 1.5.2: write '5#L' (last such weekday of the month)"],
      ['0 0 15W * *', "'0 0 15W * *': field 3 (day of month) '15W': 'W' (nearest weekday) is not supported by fugit"],
      ['0 0 ? * mon', "'0 0 ? * mon': field 3 (day of month) '?': '?' (Quartz syntax) is not supported: use '*'"],
      ['0 0 1 * mon&', "'0 0 1 * mon&': field 5 (day of week) 'mon&': the '&' (day of month AND day of week) extension needs fugit 1.7 or later; sidekiq-cron 1.8.0 with fugit 1.5.2 refuses it"],
      ['@reboot', '\'@reboot\': @reboot has no fire time (it means "when the process starts")'],
      ['@fortnightly', "'@fortnightly': unknown shortcut '@fortnightly' (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @noon, @hourly)"],
      ['@daily Europe/Berlin', "'@daily Europe/Berlin': fugit 1.5.2 reads nothing after a shortcut: spell @daily out as a cron expression, or give the zone as the timezone option"],
      ['every day at 5pm', '\'every day at 5pm\': natural-language schedules ("every day at 5pm", fugit\'s Fugit::Nat) are not supported: write the cron expression, e.g. "0 17 * * *"'],
      ['* * * * * ', "'* * * * * ': leading or trailing whitespace (fugit 1.5.2 refuses it)"],
      ['', "'': empty expression"],
      ['0 9 * * *\tUTC', "'0 9 * * *\tUTC': separate the time zone with spaces (fugit 1.5.2 refuses a tab there)"],
    ])('refuses %j naming the part', (expr, message) => {
      expect(refusal(expr)).toBe(message);
    });

    it.each([
      ['0 9 * * * Europe/Berlinx', "'0 9 * * * Europe/Berlinx': unknown time zone 'Europe/Berlinx'"],
      ['0 9 * * * Europe/BERLIN', "'0 9 * * * Europe/BERLIN': unknown time zone 'Europe/BERLIN' (zone names are case-sensitive: 'Europe/Berlin')"],
      ['0 9 * * * +12:00', "'0 9 * * * +12:00': time zone offset '+12:00' is out of the range et-orbi reads (-11:45 to +11:45)"],
      ['0 9 * * * -00:30', "'0 9 * * * -00:30': time zone offset '-00:30': et-orbi reads it as +00:30; use a zone name"],
      ['0 9 * * * UTC-5', "'0 9 * * * UTC-5': time zone 'UTC-5' is not an IANA name (et-orbi maps it by abbreviation or alias); use one such as 'Etc/GMT+5'"],
    ])('refuses the zone of %j', (expr, message) => {
      expect(refusal(expr)).toBe(message);
    });

    it('refuses a zone given both in the text and as a different option, and an option fugit could not read back', () => {
      expect(refusal('0 9 * * * UTC', { timezone: 'Europe/Berlin' })).toBe("'0 9 * * * UTC': time zone given twice: 'UTC' in the expression and 'Europe/Berlin' as an option");
      expect(refusal('0 9 * * *', { timezone: 'europe/berlin' })).toBe(
        "'0 9 * * *': time zone 'europe/berlin' is not written as fugit reads zones (an IANA name such as 'Europe/Berlin', or an offset such as '+05:30')",
      );
    });

    // What fugit versions fire differently: Ruby's poller may run any of them beside ours.
    it.each([
      ['0 0 * * mon#2,mon#4', "'0 0 * * mon#2,mon#4': field 5 (day of week) has several entries for one weekday (mon#2, mon#4): fugit 1.5.2 honours only the first, newer fugit all of them; use one per weekday, or one cron entry each"],
      ['0 0 5/1 * *', "'0 0 5/1 * *': field 3 (day of month) '5/1' means 5 alone in fugit 1.5.2 but 5 to the end in newer fugit: write '5' or a range"],
      ['0 0 * * fri-mon/2', "'0 0 * * fri-mon/2': field 5 (day of week) 'fri-mon/2': a wrapping weekday range with a step matches no day in fugit 1.5.2 (which then fires every day) and wraps in fugit 1.12.3 and later; list the days instead"],
      ['0 0 1-31 * mon', "'0 0 1-31 * mon': field 3 (day of month) '1-31' with a day of week: fugit 1.5.2 fires every day (either field may match), newer fugit only on the weekdays; write '*' or drop the weekdays"],
      ['0 0 * * tue%2', "'0 0 * * tue%2': field 5 (day of week) 'tue%2': the '%' (every n-th week) modifier is not supported: fugit and et-orbi versions number weeks from different days, so Ruby's poller and ours could fire in different weeks"],
    ])('refuses %j, which fugit versions fire differently', (expr, message) => {
      expect(refusal(expr)).toBe(message);
    });
  });

  describe('nextFire', () => {
    it('gives the first fire time strictly after the start', () => {
      expect(walk('*/5 * * * *', '2024-03-09T10:02:30Z', 3)).toEqual(['2024-03-09T10:05:00Z', '2024-03-09T10:10:00Z', '2024-03-09T10:15:00Z']);
      expect(walk('0 * * * *', '2024-03-09T10:00:00Z', 1)).toEqual(['2024-03-09T11:00:00Z']);
      expect(walk('0 9 * * mon-fri', '2024-03-08T09:00:00Z', 2)).toEqual(['2024-03-11T09:00:00Z', '2024-03-12T09:00:00Z']);
    });

    it('drops the fraction of a start, as fugit does', () => {
      expect(walk('* * * * * *', '2024-03-09T10:00:00.500Z', 2)).toEqual(['2024-03-09T10:00:01Z', '2024-03-09T10:00:02Z']);
    });

    it('fires when either the day of month or the day of week matches, when both are given', () => {
      expect(walk('0 0 13 * fri', '2024-09-01T00:00:00Z', 3)).toEqual(['2024-09-06T00:00:00Z', '2024-09-13T00:00:00Z', '2024-09-20T00:00:00Z']);
    });

    it('counts L, negative days and weekdays from the month end, and reads 7 and @weekly as Sunday', () => {
      expect(walk('0 0 -3 * *', '2024-02-01T00:00:00Z', 2)).toEqual(['2024-02-27T00:00:00Z', '2024-03-29T00:00:00Z']);
      expect(walk('0 0 * * fri#-1', '2024-02-01T00:00:00Z', 2)).toEqual(['2024-02-23T00:00:00Z', '2024-03-29T00:00:00Z']);
      expect(walk('0 0 * * 7', '2024-03-01T00:00:00Z', 1)).toEqual(['2024-03-03T00:00:00Z']);
      expect(walk('@weekly', '2024-03-01T00:00:00Z', 1)).toEqual(['2024-03-03T00:00:00Z']);
    });

    it('waits for the next leap day (2100 is not one)', () => {
      expect(walk('0 0 29 2 *', '2096-03-01T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00Z']);
    });

    it('runs in the zone of the expression, named or as an offset', () => {
      expect(walk('0 9 * * * Asia/Kolkata', '2024-03-09T00:00:00Z', 1)).toEqual(['2024-03-09T03:30:00Z']);
      expect(walk('0 9 * * * +05:30', '2024-03-09T00:00:00Z', 1)).toEqual(['2024-03-09T03:30:00Z']);
      expect(nextFire(parseCron('0 9 * * *', { timezone: 'Asia/Kolkata' }), new Date('2024-03-09T00:00:00Z')).toISOString()).toBe('2024-03-09T03:30:00.000Z');
    });

    it('skips a day whose fire time the spring-forward jumps over (fugit does not move it to 03:30)', () => {
      expect(walk('30 2 * * * America/New_York', '2024-03-10T00:00:00Z', 2)).toEqual(['2024-03-11T06:30:00Z', '2024-03-12T06:30:00Z']);
      expect(walk('0 2 * * * Australia/Lord_Howe', '2024-10-05T00:00:00Z', 2)).toEqual(['2024-10-06T15:00:00Z', '2024-10-07T15:00:00Z']);
    });

    it('fires at a half-hour DST shift as fugit does (Lord Howe, 02:00 → 02:30)', () => {
      expect(walk('30 2 * * * Australia/Lord_Howe', '2024-10-05T00:00:00Z', 2)).toEqual(['2024-10-05T15:30:00Z', '2024-10-06T15:30:00Z']);
    });

    it('fires twice in an hour the fall-back repeats, as fugit does from UTC starts', () => {
      expect(walk('30 1 * * * America/New_York', '2024-11-03T00:00:00Z', 3)).toEqual(['2024-11-03T05:30:00Z', '2024-11-03T06:30:00Z', '2024-11-04T06:30:00Z']);
      expect(walk('15,45 */20 * * * * Europe/Berlin', '2024-10-27T00:59:00Z', 2)).toEqual(['2024-10-27T01:00:15Z', '2024-10-27T01:00:45Z']);
    });

    it("keeps fugit's gh-6 guard: a start whose UTC wall clock equals the fire's local one skips it across a transition", () => {
      expect(walk('30 5 * * * America/New_York', '2024-11-03T05:30:00Z', 1)).toEqual(['2024-11-04T10:30:00Z']);
      expect(walk('30 5 * * * America/New_York', '2024-11-03T05:29:59Z', 1)).toEqual(['2024-11-03T10:30:00Z']);
    });

    it("keeps fugit 1.5.2's L on a month whose last day is 23 hours long: the day before", () => {
      // Berlin springs forward on Sunday 2024-03-31; fugit takes "24 h before April 1" as the last day.
      expect(walk('0 12 L * * Europe/Berlin', '2024-03-25T00:00:00Z', 2)).toEqual(['2024-03-30T11:00:00Z', '2024-04-30T10:00:00Z']);
    });

    it("keeps et-orbi 1.2's n-th weekday count across a transition (skips 2026-03-15, the third Sunday)", () => {
      expect(walk('0 12 * * sun#3 America/New_York', '2026-03-01T00:00:00Z', 2)).toEqual(['2026-04-19T16:00:00Z', '2026-05-17T16:00:00Z']);
    });

    it('fails where fugit fails: an ambiguous midnight on a first of the month', () => {
      expect(() => nextFire(parseCron('0 12 L * * America/Havana'), new Date('2026-10-15T00:00:00Z'))).toThrow(
        new CronError('0 12 L * * America/Havana', 'midnight of 2026-11-01 is ambiguous in America/Havana (fugit raises here too)'),
      );
    });

    it('parses a string expression', () => {
      expect(nextFire('@hourly', new Date('2024-03-09T10:02:30Z')).toISOString()).toBe('2024-03-09T11:00:00.000Z');
    });
  });

  describe('previousFire', () => {
    it('gives the last fire time strictly before the end', () => {
      expect(walk('0 * * * *', '2024-03-09T10:00:00Z', 1, 'prev')).toEqual(['2024-03-09T09:00:00Z']);
      expect(walk('0 0 L * *', '2024-03-09T10:00:00Z', 2, 'prev')).toEqual(['2024-02-29T00:00:00Z', '2024-01-31T00:00:00Z']);
      expect(walk('* * * * * *', '2024-03-09T10:00:00.500Z', 2, 'prev')).toEqual(['2024-03-09T09:59:59Z', '2024-03-09T09:59:58Z']);
    });

    it('walks back through both copies of a repeated hour', () => {
      expect(walk('30 1 * * * America/New_York', '2024-11-04T00:00:00Z', 3, 'prev')).toEqual(['2024-11-03T06:30:00Z', '2024-11-03T05:30:00Z', '2024-11-02T05:30:00Z']);
    });
  });

  describe('cronString', () => {
    it("gives the text sidekiq-cron's fugit reads as the same schedule", () => {
      expect(cronString(parseCron('*/5 * * * *'))).toBe('*/5 * * * *');
      expect(cronString(parseCron('0 9 * * * Europe/Berlin'))).toBe('0 9 * * * Europe/Berlin');
      expect(cronString(parseCron('0 9 * * *', { timezone: 'Europe/Berlin' }))).toBe('0 9 * * * Europe/Berlin');
      expect(cronString(parseCron('@daily', { timezone: 'Europe/Berlin' }))).toBe('0 0 * * * Europe/Berlin');
    });
  });
});
