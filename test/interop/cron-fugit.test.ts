/**
 * Differential test: our cron module against real fugit (Debian's ruby-fugit 1.5.2, what
 * sidekiq-cron 1.8.0 uses). A seeded generator writes thousands of expressions (steps, ranges,
 * lists, names, L, #, seconds, zones) and start times around DST transitions, month ends and
 * leap days; one Ruby process (fugit-oracle.rb) answers them all; every fire time must agree, and
 * so must what each side refuses — except the deliberate differences listed in DELIBERATE.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { CronError, nextFire, parseCron, previousFire, type CronExpression } from '../../lib/protocol/cron.js';
import { describeZoneProblem } from '../../lib/protocol/cron-errors.js';
import { ianaZone } from '../../lib/protocol/time-zone.js';
import { describeRubyGem } from '../support/ruby.js';

const ORACLE = fileURLToPath(new URL('./fugit-oracle.rb', import.meta.url));
const SEED = 20240310;
const EXPRESSIONS = 800;
const MUTANTS = 500;
const FIRES = 3;

/**
 * Where we refuse what fugit 1.5.2 accepts, on purpose. Each entry: our message, and why.
 * (Where fugit refuses, we always refuse too: the test allows no exception to that.)
 */
const DELIBERATE: ReadonlyArray<{ message: RegExp; why: string }> = [
  { message: /newer fugit|fugit 1\.12\.3/, why: 'fugit versions fire it on different days; Ruby beside us may run any of them' },
  { message: /'%' \(every n-th week\)/, why: 'which weeks fire depends on the et-orbi version (week numbering changed in 1.2.9, 1.2.10, 1.4.0)' },
  { message: /unknown time zone|not an IANA name/, why: "et-orbi takes a prefix ('Europe/Berlinx' → Europe/Berlin) or an alias table; we take exact IANA names" },
  { message: /et-orbi reads it as \+00/, why: "et-orbi reads '-00:30' as +00:30" },
];

type Request = { expr: string; from_ms?: number; n?: number; dir?: 'next' | 'prev' } | { zones: true };
type Answer =
  | { accepted: true; zone: string | null; tzname: string | null; times: number[]; error: string | null }
  | { accepted: false; refusal: string; fugit_parse: string };

/** Sends every request to one fugit process and returns its answers in order. */
function askFugit(requests: Request[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    // YJIT (where this Ruby has it) makes fugit's walks about a third faster; others ignore the variable.
    const ruby = spawn('ruby', [ORACLE], { env: { ...process.env, TZ: 'UTC', RUBY_YJIT_ENABLE: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    ruby.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    ruby.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    ruby.on('error', reject);
    ruby.on('close', (code) => {
      if (code !== 0) return reject(new Error(`fugit oracle exited ${code}: ${err}`));
      const lines = out.trim().split('\n');
      if (lines.length !== requests.length) return reject(new Error(`fugit answered ${lines.length} of ${requests.length}: ${err}`));
      resolve(lines.map((l) => JSON.parse(l) as Answer));
    });
    ruby.stdin.end(requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
}

// ---- the generator ----------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number): boolean => rand() < p;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const cased = (name: string): string => pick([name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1)]);

interface FieldSpec {
  min: number;
  max: number;
  value?: (v: number) => string;
}
const SPEC = {
  sec: { min: 0, max: 59 },
  min: { min: 0, max: 59 },
  hou: { min: 0, max: 23 },
  dom: { min: 1, max: 31 },
  mon: { min: 1, max: 12, value: (v: number) => (chance(0.3) ? cased(MONTHS[v - 1]!) : String(v)) },
  dow: { min: 0, max: 6, value: (v: number) => (chance(0.3) ? cased(DAYS[v]!) : chance(0.15) && v === 0 ? '7' : String(v)) },
} satisfies Record<string, FieldSpec>;

function element(spec: FieldSpec): string {
  const v = (n: number): string => (spec.value ? spec.value(n) : chance(0.1) && n < 10 ? `0${n}` : String(n));
  const a = int(spec.min, spec.max);
  const b = int(spec.min, spec.max);
  const step = pick([2, 2, 3, 5, 7, 10, 15, 20, int(2, spec.max + 3)]);
  switch (pick(['value', 'value', 'range', 'range', 'star-step', 'range-step', 'value-step'])) {
    case 'value':
      return v(a);
    case 'range':
      return `${v(a)}-${v(b)}`;
    case 'star-step':
      return `*/${step}`;
    case 'range-step':
      return `${v(Math.min(a, b))}-${v(Math.max(a, b))}/${step}`;
    default:
      return `${v(a)}/${step}`;
  }
}

function field(spec: FieldSpec, pStar: number): string {
  if (chance(pStar)) return '*';
  const n = pick([1, 1, 1, 2, 3]);
  return Array.from({ length: n }, () => element(spec)).join(',');
}

function domField(): string {
  if (chance(0.55)) return '*';
  if (chance(0.25)) return pick(['L', 'l', 'last', '-1', '-2', '-7', `${int(20, 28)}-L`, '-5--1', 'L,15', '1,L', '28-31', '29', '30,31', '31']);
  return field(SPEC.dom, 0);
}

function dowField(): string {
  if (chance(0.55)) return '*';
  if (chance(0.3)) {
    const d = pick(DAYS);
    const nth = pick(['1', '2', '3', '4', '5', '-1', '-2', 'L', 'l', 'last', '-5']);
    return pick([`${cased(d)}#${nth}`, `${int(0, 7)}#${nth}`, `${cased(d)}#${nth},${pick(DAYS.filter((x) => x !== d))}`]);
  }
  return field(SPEC.dow, 0);
}

function hourField(): string {
  if (chance(0.1)) return pick(['24', '22-2', '20-24', '23-1/2', '0-24/6']);
  return field(SPEC.hou, 0.35);
}

const ZONES = [
  undefined, undefined, undefined, 'UTC', 'America/New_York', 'America/New_York', 'Europe/Berlin', 'Europe/Berlin',
  'Australia/Lord_Howe', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Australia/Sydney', 'America/Santiago', 'Asia/Beirut',
  'America/Havana', 'Pacific/Chatham', 'Europe/London', 'US/Eastern', '+05:30', '-03:00', '+0945',
];

function expression(): string {
  const parts = [
    chance(0.8) ? pick(['0', '30', '0,30', '*/15', '5', '59', '10-20/5']) : field(SPEC.min, 0.1),
    hourField(),
    domField(),
    field(SPEC.mon, 0.7),
    dowField(),
  ];
  if (parts[0] !== undefined && chance(0.2)) parts.unshift(pick(['0', '30', '*/20', '15,45', '59', '0-10/5', '*']));
  const zone = pick(ZONES);
  return zone ? `${parts.join(' ')} ${zone}` : parts.join(' ');
}

const JUNK_FIELDS = ['60', '24-25', '32', '0', '13', 'foo', 'L', '#2', 'mon#6', 'mon#0', '*/0', '1-', '-', '1,,2', ',1', '1,', '**', '?', '15W', '5L', 'LW', '1&', '~', '1/100', '0/1', '5/1', '*/1', 'L-3', 'L/2', '-3-5', 'mon%2', 'tue%3+1', '5-1/2', 'sat-mon/2', '1-31', '*,mon', '/5', 'Mon-Fri', 'jan-mar', 'SUN,sat', '0-7', '7'];
const JUNK_ZONES = ['Europe/Berlinx', 'europe/berlin', 'Europe/BERLIN', 'UTC+12', 'UTC-11', 'EST-5', 'UTC-5', '+12:00', '-11:45', '+11:45', '-00:30', '+24:00', 'Mars/Base', 'Etc/GMT+5', 'GMT', 'GMT+0', 'Zulu', 'EST', 'EST5EDT', 'CST5CDT', 'Factory', 'Asia/Calcutta', 'America/Argentina/Buenos_Aires', 'X'];
const WHOLE = ['@daily', '@Daily', '@reboot', '@noon', '@hourly', '@yearly', '@annually', '@monthly', '@weekly', '@midnight', '@hourly UTC', '@daily Europe/Berlin', 'every 5 minutes', 'every day at noon', 'at 5pm', 'every monday at 9', '', ' ', '* * * * *', ' * * * * *', '* * * * * ', '*  *  * * *', '*\t*\t*\t*\t*', '* * * * *\tUTC', '* * * * * * *', '* * * *', '0 0 30 2 *', '0 0 31 4,6 *', '0 0 29 2 *', '0 0 30 2 mon', '0 0 31 2,3 fri'];

function mutant(): string {
  if (chance(0.15)) return pick(WHOLE);
  const tokens = expression().split(' ');
  const i = int(0, tokens.length - 1);
  switch (pick(['field', 'field', 'field', 'zone', 'drop', 'add'])) {
    case 'field':
      tokens[i] = pick(JUNK_FIELDS);
      break;
    case 'zone':
      return `${tokens.slice(0, 5).join(' ')} ${pick(JUNK_ZONES)}`;
    case 'drop':
      tokens.splice(i, 1);
      break;
    default:
      tokens.splice(i, 0, pick(JUNK_FIELDS));
  }
  return tokens.join(' ');
}

// ---- start times ------------------------------------------------------------------------

/** Instants where a zone changes offset in 2024–2026, found by scanning hours and bisecting. */
function transitions(zoneName: string | undefined): number[] {
  const zone = zoneName && !/^[+-]/.test(zoneName) ? ianaZone(zoneName) : undefined;
  if (!zone) return [];
  const found: number[] = [];
  for (let t = Date.UTC(2024, 0, 1) / 1000; t < Date.UTC(2027, 0, 1) / 1000; t += 3600) {
    if (zone.offsetAt(t) !== zone.offsetAt(t + 3600)) {
      let [lo, hi] = [t, t + 3600];
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zone.offsetAt(mid) === zone.offsetAt(lo)) lo = mid;
        else hi = mid;
      }
      found.push(hi);
    }
  }
  return found;
}

const CALENDAR_EDGES = [
  '2024-02-28T23:59:59Z', '2024-02-29T00:00:00Z', '2024-02-29T12:00:00Z', '2024-03-01T00:00:00Z', '2025-02-28T23:30:00Z',
  '2024-04-30T22:00:00Z', '2024-12-31T23:59:59Z', '2025-01-01T00:00:00Z', '2025-06-30T23:00:00Z', '2028-02-28T12:00:00Z',
  '2024-01-31T10:00:00Z', '2024-09-30T23:59:30Z', '2100-02-27T00:00:00Z',
].map((s) => Date.parse(s));
const NUDGES = [-86_400 * 3, -86_400, -7200, -3600, -1800, -1, 0, 1, 1800, 3600, 7200, 86_400, 86_400 * 2];
const transitionCache = new Map<string, number[]>();

type Walk = { from: number; dir: 'next' | 'prev' };

/** Walks from a start near a DST transition (or a month end) both ways, and from a random start one way. */
function walks(expr: string): Walk[] {
  const last = expr.split(' ').at(-1)!;
  const zone = ZONES.includes(last) ? last : undefined;
  const key = zone ?? 'UTC';
  if (!transitionCache.has(key)) transitionCache.set(key, transitions(zone));
  const edges = transitionCache.get(key)!;
  const near = edges.length && chance(0.7) ? pick(edges) * 1000 + pick(NUDGES) * 1000 : pick(CALENDAR_EDGES) + pick(NUDGES) * 1000;
  const random = Date.UTC(2023, 0, 1) + Math.floor(rand() * 4 * 365 * 86_400) * 1000 + (chance(0.2) ? 500 : 0);
  return [{ from: near, dir: 'next' }, { from: near, dir: 'prev' }, { from: random, dir: pick(['next', 'prev'] as const) }];
}

/**
 * fugit's next_time skips a candidate whose wall clock (in the cron's zone) equals the start's
 * wall clock in UTC when the zone's offset changed in between (its gh-6 guard, meant for starts
 * given in the cron's zone). Probes: starts just before a transition of a zone west of UTC, and a
 * cron that fires at the start's UTC wall clock.
 */
function gh6Probes(): Array<{ expr: string; walks: Walk[] }> {
  const probes: Array<{ expr: string; walks: Walk[] }> = [];
  for (const zone of ['America/New_York', 'America/Santiago', 'America/Havana', 'US/Eastern']) {
    for (const t of transitions(zone)) {
      for (const before of [7200, 3600, 1800, 1]) {
        const start = new Date((t - before) * 1000);
        const [h, m, sec] = [start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds()];
        const from = start.getTime();
        probes.push({ expr: `${m} ${h} * * * ${zone}`, walks: [{ from, dir: 'next' }] });
        probes.push({ expr: `${sec} ${m} ${h} * * * ${zone}`, walks: [{ from, dir: 'next' }, { from: from + 3600_000, dir: 'prev' }] });
      }
    }
  }
  return probes;
}

/**
 * Walks on which fugit raises: Havana leaves DST at midnight on 2026-11-01, so that midnight is
 * ambiguous and fugit's month step (TZInfo's local_to_utc) raises AmbiguousTime; we must fail too.
 */
const ERROR_PROBES: Array<{ expr: string; walks: Walk[] }> = [
  { expr: '5 * 18,21,5-27/15 */3 * America/Havana', walks: [{ from: Date.parse('2026-10-31T04:59:59Z'), dir: 'prev' }] },
  { expr: '0,30 3-7 * 11-DEC/20 3#3 America/Havana', walks: [{ from: Date.parse('2026-03-05T05:00:00Z'), dir: 'next' }] },
  { expr: '0 12 L * * America/Havana', walks: [{ from: Date.parse('2026-10-15T00:00:00Z'), dir: 'next' }] },
];

// ---- comparing ---------------------------------------------------------------------------

function ours(expr: string): CronExpression | CronError {
  try {
    return parseCron(expr);
  } catch (e) {
    if (e instanceof CronError) return e;
    throw e;
  }
}

/** Our fire times, with the error (if any) that stopped the walk, as the oracle reports them. */
function fires(cron: CronExpression, fromMs: number, dir: 'next' | 'prev'): { times: number[]; error: string | null } {
  const times: number[] = [];
  let at = new Date(fromMs);
  try {
    for (let i = 0; i < FIRES; i++) {
      at = dir === 'next' ? nextFire(cron, at) : previousFire(cron, at);
      times.push(at.getTime() / 1000);
    }
    return { times, error: null };
  } catch (e) {
    if (e instanceof CronError) return { times, error: e.message };
    throw e;
  }
}

describeRubyGem('cron expressions against real fugit', 'fugit', 'ruby-fugit', () => {
  it('parses and fires exactly as fugit 1.5.2 does, over a large generated set', async () => {
    // Prepare
    const generated = [...new Set([...Array.from({ length: EXPRESSIONS }, expression), ...Array.from({ length: MUTANTS }, mutant)])];
    const cases = [...generated.map((expr) => ({ expr, walks: walks(expr) })), ...gh6Probes(), ...ERROR_PROBES];
    const exprs = [...new Set(cases.map((c) => c.expr))];
    const parsed = new Map(exprs.map((e) => [e, ours(e)]));
    const requests: Request[] = [];
    for (const c of cases) {
      if (parsed.get(c.expr) instanceof CronError) requests.push({ expr: c.expr });
      else for (const { from, dir } of c.walks) requests.push({ expr: c.expr, from_ms: from, n: FIRES, dir });
    }

    // Act
    const answers = await askFugit(requests);

    // Assess
    const mismatches: string[] = [];
    const deliberate = new Map<string, string[]>();
    let compared = 0;
    let fireTimes = 0;
    let fugitErrors = 0;
    for (const [i, req] of requests.entries()) {
      if (!('expr' in req)) continue;
      const answer = answers[i]!;
      const mine = parsed.get(req.expr)!;
      if (mine instanceof CronError) {
        if (!answer.accepted) continue;
        const why = DELIBERATE.find((d) => d.message.test(mine.message));
        if (why) deliberate.set(why.why, [...(deliberate.get(why.why) ?? []), req.expr]);
        else mismatches.push(`fugit accepts, we refuse: ${mine.message}`);
        continue;
      }
      if (!answer.accepted) {
        mismatches.push(`we accept, fugit refuses (${answer.refusal}): '${req.expr}'`);
        continue;
      }
      if (req.from_ms === undefined) continue;
      const got = fires(mine, req.from_ms, req.dir!);
      compared += 1;
      fireTimes += answer.times.length;
      if (answer.error) fugitErrors += 1;
      const same = JSON.stringify(got.times) === JSON.stringify(answer.times) && (got.error === null) === (answer.error === null);
      if (!same) {
        const iso = (ts: number[]): string => ts.map((t) => new Date(t * 1000).toISOString()).join(', ');
        mismatches.push(`'${req.expr}' ${req.dir} from ${new Date(req.from_ms).toISOString()}:\n  fugit ${iso(answer.times)}${answer.error ? ` then ${answer.error}` : ''}\n  ours  ${iso(got.times)}${got.error ? ` then ${got.error}` : ''}`);
      }
    }
    const refusedByBoth = requests.filter((r, i) => 'expr' in r && r.from_ms === undefined && !answers[i]!.accepted).length;
    console.info(
      `cron vs fugit: ${exprs.length} expressions; ${compared} walks (${fireTimes} fire times, ${fugitErrors} ending in an error on both sides) compared; ` +
        `${refusedByBoth} refused by both; deliberate differences: ${[...deliberate].map(([why, xs]) => `${xs.length} × ${why}`).join('; ') || 'none'}`,
    );
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(compared).toBeGreaterThan(2000);
    expect(refusedByBoth).toBeGreaterThan(200);
    expect(fugitErrors).toBeGreaterThanOrEqual(ERROR_PROBES.length);
  });

  it("accepts every zone name fugit's TZInfo knows, except Factory", async () => {
    // Prepare
    const [answer] = (await askFugit([{ zones: true }])) as unknown as Array<{ zones: string[] }>;

    // Act
    const refused = answer!.zones.filter((z) => describeZoneProblem(z) !== undefined);

    // Assess: 'Factory' is tzdata's placeholder zone, which Intl does not know.
    expect(answer!.zones.length).toBeGreaterThan(400);
    expect(refused).toEqual(['Factory']);
  });
});
