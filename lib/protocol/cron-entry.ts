/**
 * A sidekiq-cron entry as it lives in Redis (sidekiq-protocol.md §13.2), written and read the way
 * sidekiq-cron 1.8.0 and 2.x do, and its firing rules.
 *
 * Tasks:
 * 1. The hash fields of an entry we declare, in the layout's spelling (`entryFields`).
 * 2. Read any entry's hash, Ruby's included, into what listing and firing need (`readStoredEntry`).
 * 3. Decide whether an entry fires now with sidekiq-cron's rules (`dueFire`): only its latest fire
 *    time, only within the grace period, not if enqueued since; and spell that time as its
 *    `:enqueued` guard does (`fireMember`, `fireScore`).
 * 4. The job an entry enqueues (`pushItemOf`), for the producer: the stored `message` with fresh
 *    args, or the ActiveJob envelope.
 * 5. `last_enqueue_time` written and read (`formatEnqueueTime`, `parseEnqueueTime`).
 *
 * Pure: no Redis, no clock (the caller passes every instant).
 */
import { activeJobGlobalId, activeJobWrapperClass, wrapActiveJob } from './activejob.js';
import type { CronExpression } from './cron.js';
import { previousFire } from './cron.js';
import type { CronLayout } from './keys.js';
import type { JsonValue } from './job.js';
import type { EpochMs, SidekiqVersion } from './time.js';

/** The hash field that marks an entry as written from `sidekiq-lambda.config.ts` (sidekiq-cron ignores it and keeps it on save). */
export const DECLARED_FIELD = 'declared_by';
export const DECLARED_VALUE = 'sidekiq-lambda';
/** sidekiq-cron's `REMEMBER_THRESHOLD`: `:enqueued` members older than this are dropped. */
export const REMEMBER_SECONDS = 24 * 60 * 60;
/** sidekiq-cron's grace period: a fire time older than this is never enqueued (1.8.0: fixed; 2.x: `reschedule_grace_period`). */
export const DEFAULT_GRACE_SECONDS = 60;
/** sidekiq-cron's default `cron_history_size`. */
export const JID_HISTORY_SIZE = 10;

/** What `entryFields` needs of a declared entry (a `CronEntry` of lib/periodic.ts). */
export interface DeclaredEntry {
  readonly name: string;
  readonly class: string;
  readonly queue: string;
  readonly args: readonly JsonValue[];
  readonly description: string;
  readonly activeJob: boolean;
  readonly retry: boolean | number | undefined;
  readonly namespace: string;
  readonly dateAsArgument: boolean;
}

const flag = (v: boolean, layout: CronLayout): string => (layout === 1 ? String(v) : v ? '1' : '0');

/**
 * The fields that define an entry, as sidekiq-cron's `to_hash` spells them in this layout (1.x:
 * `"true"`/`"false"`; 2.x: `"1"`/`"0"`, plus `namespace`, `source`, `retry`). `status` and
 * `last_enqueue_time` are not among them: they belong to whoever runs the entry.
 *
 * @example
 * entryFields({ name: 'cleanup', class: 'CleanupJob', queue: 'low', args: [], … }, '*\/5 * * * * UTC', 1)
 * // [['name','cleanup'], ['klass','CleanupJob'], ['cron','*\/5 * * * * UTC'], ['description',''], ['args','[]'],
 * //  ['date_as_argument','false'], ['message','{"queue":"low","class":"CleanupJob","args":[]}'], …]
 */
export function entryFields(entry: DeclaredEntry, cron: string, layout: CronLayout): [string, string][] {
  const message: Record<string, unknown> = { queue: entry.queue, class: entry.class, args: entry.args };
  if (entry.retry !== undefined) message.retry = entry.retry;
  const fields: [string, string][] = [['name', entry.name]];
  if (layout === 2) fields.push(['namespace', entry.namespace]);
  fields.push(['klass', entry.class], ['cron', cron], ['description', entry.description]);
  if (layout === 2) fields.push(['source', 'dynamic']);
  fields.push(
    ['args', JSON.stringify(entry.args)],
    ['date_as_argument', flag(entry.dateAsArgument, layout)],
    ['message', JSON.stringify(message)],
    ['active_job', flag(entry.activeJob, layout)],
    ['queue_name_prefix', ''],
    ['queue_name_delimiter', ''],
  );
  if (layout === 2) fields.push(['retry', entry.retry === undefined ? '' : String(entry.retry)]);
  fields.push(['symbolize_args', flag(false, layout)], [DECLARED_FIELD, DECLARED_VALUE]);
  return fields;
}

/** An entry read from Redis, whoever wrote it. */
export interface StoredEntry {
  /** Its key as the entries set lists it. */
  readonly key: string;
  readonly name: string;
  /** 2.x only. */
  readonly namespace: string | undefined;
  readonly klass: string;
  /** The stored expression (zone included when it names one). */
  readonly cron: string;
  /** `enabled` unless the hash says otherwise (sidekiq-cron's default). */
  readonly status: string;
  readonly lastEnqueueMs: EpochMs | undefined;
  /** The stored `args`, parsed as sidekiq-cron's `parse_args` does. */
  readonly args: unknown[];
  /** The stored `message`, parsed; undefined when absent or not a JSON object. */
  readonly message: Record<string, unknown> | undefined;
  /** sidekiq-cron's `@queue`: the message's `queue`, else `default`. */
  readonly queue: string;
  readonly activeJob: boolean;
  readonly dateAsArgument: boolean;
  readonly queueNamePrefix: string;
  readonly queueNameDelimiter: string;
  readonly description: string;
  /** Written from a declarations file by sidekiq-lambda. */
  readonly declared: boolean;
  /** Why sidekiq-cron's `valid?` would refuse it (then nobody fires it). */
  readonly problem: string | undefined;
}

/** sidekiq-cron's boolean fields: `true`, `t`, `yes`, `y`, `1` in any case. */
const truthy = (v: string | undefined): boolean => v !== undefined && /^(true|t|yes|y|1)$/i.test(v);

function parseArgs(text: string | undefined): unknown[] {
  if (text === undefined || text === '') return [];
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : [v];
  } catch {
    return [text]; // Ruby's `[*args]` of a string that is not JSON
  }
}

/**
 * Reads an entry's hash as sidekiq-cron's `Job.new` does.
 *
 * @example
 * readStoredEntry('cron_job:a', { name: 'a', klass: 'A', cron: '* * * * *', message: '{"queue":"low","class":"A","args":[]}' }).queue // 'low'
 */
export function readStoredEntry(key: string, h: Readonly<Record<string, string>>): StoredEntry {
  let message: Record<string, unknown> | undefined;
  try {
    const m: unknown = h.message ? JSON.parse(h.message) : undefined;
    if (m !== null && typeof m === 'object' && !Array.isArray(m)) message = m as Record<string, unknown>;
  } catch {
    message = undefined;
  }
  const klass = h.klass ?? h.class ?? '';
  const problems = [!h.name && "'name' must be set", !h.cron && "'cron' must be set", !klass && "'klass' (or class) must be set"].filter(Boolean);
  return {
    key,
    name: h.name ?? '',
    namespace: h.namespace || undefined,
    klass,
    cron: h.cron ?? '',
    status: h.status || 'enabled',
    lastEnqueueMs: parseEnqueueTime(h.last_enqueue_time),
    args: parseArgs(h.args),
    message,
    queue: typeof message?.queue === 'string' ? message.queue : 'default',
    activeJob: truthy(h.active_job),
    dateAsArgument: truthy(h.date_as_argument),
    queueNamePrefix: h.queue_name_prefix ?? '',
    queueNameDelimiter: h.queue_name_delimiter ?? '',
    description: h.description ?? '',
    declared: h[DECLARED_FIELD] === DECLARED_VALUE,
    problem: problems.length > 0 ? problems.join('; ') : undefined,
  };
}

/** Whether an entry fires now, and for which fire time. */
export type FireDecision =
  | { readonly kind: 'fire'; readonly at: Date }
  | { readonly kind: 'skip'; readonly reason: 'disabled' | 'late' | 'enqueued'; readonly at: Date | undefined };

/**
 * sidekiq-cron's `should_enqueue?` before its `ZADD`: the fire time is the latest one before now
 * (fugit's `previous_time`, never `next_time`, which can skip a day across DST); the entry must be
 * enabled, that time no more than `graceSeconds` old (whole seconds, as Ruby's `to_i`), and nothing
 * enqueued at or after it (`last_enqueue_time`, whole seconds). Older missed times never fire.
 *
 * @example
 * dueFire(entry, parseCron('*\/5 * * * *'), Date.parse('2024-03-09T10:05:30Z'), 60) // { kind: 'fire', at: 10:05:00 }
 * dueFire(entry, parseCron('*\/5 * * * *'), Date.parse('2024-03-09T10:06:01Z'), 60) // { kind: 'skip', reason: 'late', … }
 */
export function dueFire(entry: Pick<StoredEntry, 'status' | 'lastEnqueueMs'>, expr: CronExpression, nowMs: EpochMs, graceSeconds = DEFAULT_GRACE_SECONDS): FireDecision {
  if (entry.status !== 'enabled') return { kind: 'skip', reason: 'disabled', at: undefined };
  const at = previousFire(expr, new Date(nowMs));
  const fireSec = Math.floor(at.getTime() / 1000);
  if (Math.floor(nowMs / 1000) - fireSec > graceSeconds) return { kind: 'skip', reason: 'late', at };
  if (entry.lastEnqueueMs !== undefined && Math.floor(entry.lastEnqueueMs / 1000) >= fireSec) return { kind: 'skip', reason: 'enqueued', at };
  return { kind: 'fire', at };
}

/**
 * The `:enqueued` member for a fire time: Ruby's `Time#iso8601` in UTC. Ruby's poller and ours
 * claim a fire time by adding exactly this member; whoever adds it enqueues.
 *
 * @example
 * fireMember(new Date('2024-03-09T10:05:00Z')) // '2024-03-09T10:05:00Z'
 */
export function fireMember(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The member's score: the fire time in seconds as Ruby's `Float#to_s` writes a whole number.
 *
 * @example
 * fireScore(new Date('2024-03-09T10:05:00Z')) // '1709978700.0'
 */
export function fireScore(at: Date): string {
  const ms = at.getTime();
  return ms % 1000 === 0 ? `${ms / 1000}.0` : String(ms / 1000);
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * `last_enqueue_time` as sidekiq-cron writes it (`%Y-%m-%d %H:%M:%S %z`, UTC).
 *
 * @example
 * formatEnqueueTime(Date.parse('2024-03-09T10:05:03.400Z')) // '2024-03-09 10:05:03 +0000'
 */
export function formatEnqueueTime(ms: EpochMs): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/**
 * Reads `last_enqueue_time` in the spellings Ruby leaves there: `%Y-%m-%d %H:%M:%S %z`, `… UTC`
 * (1.8.0's `disable!` saves `Time#to_s`), ISO-8601. Undefined when empty or unreadable.
 *
 * @example
 * parseEnqueueTime('2024-03-09 11:05:03 +0100') // Date.parse('2024-03-09T10:05:03Z')
 */
export function parseEnqueueTime(text: string | undefined): EpochMs | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(\.\d+)?\s*(Z|UTC|GMT|[+-]\d\d:?\d\d)?$/.exec((text ?? '').trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + Math.floor(Number(frac ?? 0) * 1000);
  const off = zone && /^[+-]/.test(zone) ? /^([+-])(\d\d):?(\d\d)$/.exec(zone) : null;
  if (off) ms -= (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3])) * 60_000;
  return Number.isNaN(ms) ? undefined : ms;
}

/** A job for the producer (`Client.render`): class, queue, args and the message's other options. */
export interface CronPush {
  class: string;
  queue: string;
  args: unknown[];
  [option: string]: unknown;
}

/** Keys of a stored message that the producer writes afresh for every job. */
const FRESH = new Set(['args', 'jid', 'created_at', 'enqueued_at', 'at']);

/**
 * What an entry enqueues, as sidekiq-cron's `enqueue!` pushes it: the stored `message` with the
 * entry's args (plus the time, with `date_as_argument`); for an ActiveJob entry, the envelope
 * Rails' `perform_later` writes (what Ruby does when it can load the class), its queue carrying
 * `queue_name_prefix`, and 2.x's `{"_sc_globalid": gid}` arguments passed on as GlobalIDs.
 *
 * @example
 * pushItemOf(readStoredEntry(k, { …, message: '{"queue":"low","class":"A","args":[],"retry":3}', args: '[1]' }), now, 7)
 * // { queue: 'low', class: 'A', retry: 3, args: [1] }
 */
export function pushItemOf(entry: StoredEntry, nowMs: EpochMs, version: SidekiqVersion): CronPush {
  const args = entry.dateAsArgument ? [...entry.args, nowMs / 1000] : [...entry.args];
  if (entry.activeJob) {
    const queue = entry.queueNamePrefix !== '' ? `${entry.queueNamePrefix}${entry.queueNameDelimiter || '_'}${entry.queue}` : entry.queue;
    const data = wrapActiveJob(entry.klass, args.map(globalIds), { queue, enqueuedAt: nowMs });
    return { class: activeJobWrapperClass(version), wrapped: entry.klass, queue, args: [data] };
  }
  const out: CronPush = { class: entry.klass, queue: entry.queue, args };
  for (const [k, v] of Object.entries(entry.message ?? {})) if (!FRESH.has(k)) out[k] = v;
  if (typeof out.class !== 'string') out.class = entry.klass;
  out.args = args;
  return out;
}

/** sidekiq-cron 2.x stores a model argument as `{"_sc_globalid": "gid://…"}`; ActiveJob writes it as `_aj_globalid`. */
function globalIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(globalIds);
  if (v === null || typeof v !== 'object') return v;
  const rec = v as Record<string, unknown>;
  const keys = Object.keys(rec);
  if (keys.length === 1 && keys[0] === '_sc_globalid' && typeof rec._sc_globalid === 'string') return activeJobGlobalId(rec._sc_globalid);
  return Object.fromEntries(keys.map((k) => [k, globalIds(rec[k])]));
}
