/**
 * Why a cron expression is refused, in words that name the part (`field 5 (day of week) out of
 * range 0-7: 8`).
 *
 * Tasks:
 * 1. `CronError`, the one error of cron parsing and firing.
 * 2. Name the part of an expression that fugit 1.5.2's grammar refuses (`describeRefusal`).
 * 3. Refuse what the grammar accepts but fugit then rejects (a step of 0, `L-3`), and what fugit
 *    versions fire differently, so that an entry never fires on other days than Ruby's poller
 *    picks, whichever fugit the Rails app has (`semanticProblem`).
 * 4. Check a zone name as et-orbi reads it (`describeZoneProblem`).
 */
import { looksLikeZone, parseElement, parseField, type FieldKey, type RawCron, type RawElement } from './cron-grammar.js';
import { ianaZone } from './time-zone.js';

/**
 * A refused cron expression, or a fire time fugit cannot compute either. `problem` names the part.
 *
 * @example
 * try { parseCron('61 * * * *') } catch (e) { (e as CronError).problem } // 'field 1 (minute) out of range 0-59: 61'
 */
export class CronError extends Error {
  override name = 'CronError';
  constructor(
    readonly expression: string,
    readonly problem: string,
  ) {
    super(`'${expression}': ${problem}`);
  }
}

const NAMES: Record<FieldKey, string> = {
  sec: 'second',
  min: 'minute',
  hou: 'hour',
  dom: 'day of month',
  mon: 'month',
  dow: 'day of week',
};
const RANGES: Record<FieldKey, [number, number]> = { sec: [0, 59], min: [0, 59], hou: [0, 23], dom: [1, 31], mon: [1, 12], dow: [0, 7] };
const WORDS: Record<FieldKey, readonly string[]> = {
  sec: [],
  min: [],
  hou: [],
  dom: ['l', 'last'],
  mon: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  dow: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'l', 'last'],
};
const SHORTCUTS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@noon', '@hourly'];
const FIVE: FieldKey[] = ['min', 'hou', 'dom', 'mon', 'dow'];
const SIX: FieldKey[] = ['sec', ...FIVE];

const field = (keys: readonly FieldKey[], k: FieldKey): string => `field ${keys.indexOf(k) + 1} (${NAMES[k]})`;

/**
 * Why fugit 1.5.2's grammar refuses an expression.
 *
 * @example
 * describeRefusal('*\/5 * * * 8')        // 'field 5 (day of week) out of range 0-7: 8'
 * describeRefusal('every day at noon')  // 'natural-language schedules …are not supported…'
 */
export function describeRefusal(expr: string): string {
  if (expr.trim() === '') return 'empty expression';
  const odd = /[^\x20-\x7e\t]/.exec(expr);
  if (odd) return `unsupported character ${JSON.stringify(odd[0])}`;
  if (expr !== expr.trim()) return 'leading or trailing whitespace (fugit 1.5.2 refuses it)';
  const tokens = expr.split(/[ \t]+/);
  const head = tokens[0]!;
  if (head === '@reboot') return '@reboot has no fire time (it means "when the process starts")';
  if (head.startsWith('@')) {
    if (!SHORTCUTS.includes(head)) return `unknown shortcut '${head}' (known: ${SHORTCUTS.join(', ')})`;
    return `fugit 1.5.2 reads nothing after a shortcut: spell ${head} out as a cron expression, or give the zone as the timezone option`;
  }
  if (/^[a-z]{2,}$/i.test(head) && !WORDS.dow.includes(head.toLowerCase()) && !WORDS.mon.includes(head.toLowerCase())) {
    return 'natural-language schedules ("every day at 5pm", fugit\'s Fugit::Nat) are not supported: write the cron expression, e.g. "0 17 * * *"';
  }
  let fields = tokens;
  let zone: string | undefined;
  if (tokens.length >= 6 && looksLikeZone(tokens[tokens.length - 1]!)) {
    zone = tokens[tokens.length - 1];
    fields = tokens.slice(0, -1);
  }
  if (fields.length !== 5 && fields.length !== 6) {
    return `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), then an optional time zone; got ${tokens.length} parts`;
  }
  const keys = fields.length === 6 ? SIX : FIVE;
  for (const [i, k] of keys.entries()) {
    const text = fields[i]!;
    if (!parseField(k, text)) return `${field(keys, k)} ${describeField(k, text)}`;
  }
  if (zone !== undefined && /\t[^\t ]+$/.test(expr)) return 'separate the time zone with spaces (fugit 1.5.2 refuses a tab there)';
  return 'fugit 1.5.2 cannot parse it';
}

function describeField(k: FieldKey, text: string): string {
  for (const el of text.split(',')) {
    if (el === '') return `has an empty list element: '${text}'`;
    if (!parseElement(k, el)) return describeElement(k, el);
  }
  return `cannot read '${text}'`;
}

function describeElement(k: FieldKey, el: string): string {
  const [min, max] = RANGES[k];
  if (el.includes('&')) return `'${el}': the '&' (day of month AND day of week) extension needs fugit 1.7 or later; sidekiq-cron 1.8.0 with fugit 1.5.2 refuses it`;
  if (el.includes('~')) return `'${el}': random values ('~') need fugit 1.13 or later`;
  if (el.includes('?')) return `'${el}': '?' (Quartz syntax) is not supported: use '*'`;
  if (/\d+W|LW/i.test(el)) return `'${el}': 'W' (nearest weekday) is not supported by fugit`;
  if (k === 'dow' && /^[0-7]L$/i.test(el)) return `'${el}': 'nL' is not supported by fugit 1.5.2: write '${el[0]}#L' (last such weekday of the month)`;
  if ((el.includes('#') || el.includes('%')) && k !== 'dow') return `'${el}': '#' and '%' are only read in the day-of-week field`;
  const hash = /#(.*)$/.exec(el);
  if (hash && !/^(-?[1-5]|last|l)$/i.test(hash[1]!)) return `'${el}': the n-th weekday must be 1 to 5, -1 to -5 or L`;
  const step = /\/(\d*)/.exec(el);
  if (step && !/^\d\d?$/.test(step[1]!)) return `'${el}': a step is one or two digits`;
  for (const word of el.match(/[a-z]+/gi) ?? []) {
    if (!WORDS[k].includes(word.toLowerCase())) return WORDS[k].length ? `unknown name '${word}'` : `takes no names: '${el}'`;
  }
  for (const n of el.replace(/[#/%].*$/, '').match(/\d+/g) ?? []) {
    const v = Number.parseInt(n, 10);
    if (v < min || v > (k === 'hou' ? 24 : max)) return `out of range ${min}-${max}: ${n}`;
  }
  return `cannot read '${el}'`;
}

/**
 * What fugit rejects after its grammar accepted, or what fugit versions fire differently: refused
 * so that no entry fires on other days than the Ruby poller beside it would pick.
 *
 * @example
 * semanticProblem(parseGrammar('*\/0 * * * *')!) // 'field 1 (minute) step 0: *\/0'
 */
export function semanticProblem(raw: RawCron): string | undefined {
  const keys = raw.fields.sec ? SIX : FIVE;
  for (const k of keys) {
    for (const e of raw.fields[k] ?? []) {
      const problem = elementProblem(k, e);
      if (problem) return `${field(keys, k)} ${problem}`;
    }
  }
  const dow = raw.fields.dow ?? [];
  const restrictedDow = dow.some((e) => e.from !== null || e.step !== null);
  const fullDom = (raw.fields.dom ?? []).find((e) => e.from === 1 && (e.to === 31 || e.to === -1) && (e.step === null || e.step === 1));
  if (fullDom && restrictedDow) {
    return `${field(keys, 'dom')} '${fullDom.text}' with a day of week: fugit 1.5.2 fires every day (either field may match), newer fugit only on the weekdays; write '*' or drop the weekdays`;
  }
  return undefined;
}

function elementProblem(k: FieldKey, e: RawElement): string | undefined {
  if (e.modulo) {
    return `'${e.text}': the '%' (every n-th week) modifier is not supported: fugit and et-orbi versions number weeks from different days, so Ruby's poller and ours could fire in different weeks`;
  }
  if (e.step === 0 && k !== 'dow') return `step 0: ${e.text}`;
  if (e.step === 1 && e.from !== null && e.to === null && k !== 'dow') {
    return `'${e.text}' means ${e.from} alone in fugit 1.5.2 but ${e.from} to the end in newer fugit: write '${e.from}' or a range`;
  }
  if (k === 'dow' && e.step !== null && e.from !== null && e.to !== null && e.from > e.to) {
    return `'${e.text}': a wrapping weekday range with a step matches no day in fugit 1.5.2 (which then fires every day) and wraps in fugit 1.12.3 and later; list the days instead`;
  }
  if (k === 'dom' && e.from !== null) {
    const to = e.to ?? (e.step !== null ? 31 : e.from);
    const end = to < 0 && e.from > 0 ? 31 : to;
    if (e.from < 0 && end > 0) return `range mixes days counted from the month's end and from its start: ${e.text}`;
  }
  return undefined;
}

/** et-orbi's names that its alias table maps to another zone (`UTC-11` → `Etc/GMT+11`). */
const ETORBI_ALIASES = new Set(['UTC-11', 'UTC+12', 'UTC-02', 'CST5CDT']);

/**
 * Why a zone name is refused, or undefined when fugit and `Intl` both read it as the same zone.
 *
 * @example
 * describeZoneProblem('Europe/Berlin')  // undefined
 * describeZoneProblem('+05:30')         // undefined
 * describeZoneProblem('Europe/Berlinx') // "unknown time zone 'Europe/Berlinx'"
 */
export function describeZoneProblem(name: string): string | undefined {
  if (!looksLikeZone(name)) return `time zone '${name}' is not written as fugit reads zones (an IANA name such as 'Europe/Berlin', or an offset such as '+05:30')`;
  const offset = /^([+-])(\d\d):?(\d\d)$/.exec(name);
  if (offset) {
    if (Number(offset[2]) > 11) return `time zone offset '${name}' is out of the range et-orbi reads (-11:45 to +11:45)`;
    if (offset[1] === '-' && offset[2] === '00' && offset[3] !== '00') return `time zone offset '${name}': et-orbi reads it as +00:${offset[3]}; use a zone name`;
    return undefined;
  }
  // et-orbi's `unzz` maps `EST-5`-like names to the first zone with that abbreviation and offset
  // this year; only `GMT+0` / `GMT-0` are safe (they land on a zone that is always UTC+0).
  const unzz = /^[A-Z]{3,4}[+-]\d{1,2}(:?\d\d)?$/.test(name) && name !== 'GMT+0' && name !== 'GMT-0';
  if (ETORBI_ALIASES.has(name) || unzz) return `time zone '${name}' is not an IANA name (et-orbi maps it by abbreviation or alias); use one such as 'Etc/GMT+5'`;
  const zone = ianaZone(name);
  if (!zone) return `unknown time zone '${name}'`;
  const canonical = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  if (canonical !== name && canonical.toLowerCase() === name.toLowerCase()) return `unknown time zone '${name}' (zone names are case-sensitive: '${canonical}')`;
  return undefined;
}
