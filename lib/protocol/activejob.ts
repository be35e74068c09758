/**
 * Rails ActiveJob on Sidekiq: the wrapper envelope and ActiveJob's argument serialization
 * (sidekiq-protocol.md §8).
 *
 * Tasks:
 * 1. Name both wrapper classes — Rails' `…SidekiqAdapter::JobWrapper` (Sidekiq ≤ 7) and
 *    `Sidekiq::ActiveJob::Wrapper` (Sidekiq 8) — and pick the one a target version writes.
 * 2. Build the serialized job hash Rails puts in `args[0]` (`wrapActiveJob`), encoding JS values
 *    the way `ActiveJob::Arguments.serialize` does (`encodeArguments`), with markers for what JS
 *    lacks: keyword arguments, Symbols and GlobalIDs.
 * 3. Read a wrapper job back (`unwrapActiveJob`) and decode its arguments into plain JS values
 *    (`decodeArguments`); each mapping is documented on {@link decodeArguments}.
 */
import { randomUUID } from 'node:crypto';
import type { JobPayload, JsonValue } from './job.js';
import type { EpochMs, SidekiqVersion } from './time.js';
import { JobValidationError, validateJsonNative } from './validate.js';

/** The class Rails' adapter (and Sidekiq 7.3.3+'s own) writes. Sidekiq 8 still runs it. */
export const AJ_WRAPPER_RAILS = 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper';
/** The class Sidekiq 8's adapter writes. Older Sidekiq cannot load it. */
export const AJ_WRAPPER_SIDEKIQ8 = 'Sidekiq::ActiveJob::Wrapper';

/**
 * True for either ActiveJob wrapper class.
 *
 * @example
 * isActiveJobWrapper('Sidekiq::ActiveJob::Wrapper') // true
 * isActiveJobWrapper('HardJob')                     // false
 */
export function isActiveJobWrapper(cls: string): boolean {
  return cls === AJ_WRAPPER_RAILS || cls === AJ_WRAPPER_SIDEKIQ8;
}

/**
 * The wrapper class to write for the oldest Sidekiq that reads this Redis: Sidekiq 8's own name
 * for 8, Rails' name otherwise (a Sidekiq 6 or 7 process cannot load `Sidekiq::ActiveJob::Wrapper`).
 *
 * @example
 * activeJobWrapperClass(7) // 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper'
 * activeJobWrapperClass(8) // 'Sidekiq::ActiveJob::Wrapper'
 */
export function activeJobWrapperClass(version: SidekiqVersion): string {
  return version >= 8 ? AJ_WRAPPER_SIDEKIQ8 : AJ_WRAPPER_RAILS;
}

/** The hash `ActiveJob::Core#serialize` writes into `args[0]` (§8.2). Unknown keys are kept. */
export interface ActiveJobData {
  job_class: string;
  /** A UUID, not the Sidekiq jid. */
  job_id: string;
  /** null at enqueue; the Sidekiq jid once running. */
  provider_job_id: string | null;
  queue_name: string;
  /** Ignored by Sidekiq. */
  priority: number | null;
  /** Encoded by {@link encodeArguments}; decode with {@link decodeArguments}. */
  arguments: JsonValue[];
  executions: number;
  exception_executions: Record<string, number>;
  locale: string;
  timezone: string | null;
  /** ISO-8601: seconds precision up to Rails 7.0, 9 fractional digits from 7.1. Not Sidekiq's numeric `enqueued_at`. */
  enqueued_at: string;
  /** Rails 7.1+: ISO-8601 with 9 fractional digits, or null. */
  scheduled_at?: string | null;
  [key: string]: unknown;
}

// ---- markers for Ruby values JavaScript has no equivalent of ---------------------------------

/** A Ruby keyword-argument hash; see {@link activeJobKeywords}. */
export class ActiveJobKeywords {
  constructor(readonly hash: Readonly<Record<string, unknown>>) {}
}
/** A Ruby Symbol; see {@link activeJobSymbol}. */
export class ActiveJobSymbol {
  constructor(readonly name: string) {}
}
/** A GlobalID reference (an ActiveRecord model); see {@link activeJobGlobalId}. */
export class ActiveJobGlobalId {
  constructor(readonly gid: string) {}
}

/**
 * Marks the last argument as Ruby keyword arguments (`perform(a, k: 1)`); its keys arrive as
 * Symbols. Only allowed as the last top-level argument, as in Ruby.
 *
 * @example
 * encodeArguments([1, activeJobKeywords({ notify: true })])
 * // [1, { notify: true, _aj_ruby2_keywords: ['notify'] }]
 */
export function activeJobKeywords(hash: Readonly<Record<string, unknown>>): ActiveJobKeywords {
  return new ActiveJobKeywords(hash);
}

/**
 * A Ruby Symbol argument (`:pending`).
 *
 * @example
 * encodeArguments([activeJobSymbol('pending')])
 * // [{ _aj_serialized: 'ActiveJob::Serializers::SymbolSerializer', value: 'pending' }]
 */
export function activeJobSymbol(name: string): ActiveJobSymbol {
  return new ActiveJobSymbol(name);
}

/**
 * A GlobalID argument: Ruby locates the record (`User.find(1)`) before `perform` runs.
 *
 * @example
 * encodeArguments([activeJobGlobalId('gid://app/User/1')]) // [{ _aj_globalid: 'gid://app/User/1' }]
 */
export function activeJobGlobalId(gid: string): ActiveJobGlobalId {
  return new ActiveJobGlobalId(gid);
}

// ---- encoding: JS → ActiveJob ---------------------------------------------------------------

const SERIALIZER = 'ActiveJob::Serializers::';
const GLOBALID_KEY = '_aj_globalid';
const SYMBOL_KEYS_KEY = '_aj_symbol_keys';
const RUBY2_KEYWORDS_KEY = '_aj_ruby2_keywords';
const INDIFFERENT_KEY = '_aj_hash_with_indifferent_access';
const SERIALIZED_KEY = '_aj_serialized';

/** A JS Date as Ruby `Time#iso8601(9)` in UTC: `2024-01-02T03:04:05.123000000Z`. */
function isoNanos(d: Date): string {
  return d.toISOString().replace(/Z$/, '000000Z');
}

function encodeHash(hash: Readonly<Record<string, unknown>>, path: string, seen: Set<object>): Record<string, JsonValue> {
  const out: [string, JsonValue][] = [];
  for (const [k, v] of Object.entries(hash)) {
    // Rails reserves five `_aj_` keys; we reserve the prefix, so a later Rails marker cannot collide.
    if (k.startsWith('_aj_')) throw new JobValidationError(`${path}.${k}`, 'keys starting with _aj_ are reserved by ActiveJob');
    if (!(k as string & { isWellFormed(): boolean }).isWellFormed()) throw new JobValidationError(`${path}.${k}`, 'key contains a lone UTF-16 surrogate');
    out.push([k, encodeValue(v, `${path}.${k}`, seen)]);
  }
  return Object.fromEntries(out);
}

function encodeValue(value: unknown, path: string, seen: Set<object>): JsonValue {
  if (value === null || typeof value !== 'object') {
    validateJsonNative(value, path);
    return value as JsonValue;
  }
  if (value instanceof ActiveJobSymbol) {
    validateJsonNative(value.name, `${path}.name`);
    return { [SERIALIZED_KEY]: `${SERIALIZER}SymbolSerializer`, value: value.name };
  }
  if (value instanceof ActiveJobGlobalId) {
    if (typeof value.gid !== 'string' || !value.gid.startsWith('gid://')) {
      throw new JobValidationError(path, `a GlobalID must be a "gid://app/Model/id" string, got ${JSON.stringify(value.gid)}`);
    }
    return { [GLOBALID_KEY]: value.gid };
  }
  if (value instanceof ActiveJobKeywords) {
    throw new JobValidationError(path, 'keyword arguments (activeJobKeywords) may only be the last argument of the job');
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new JobValidationError(path, 'is an invalid Date');
    return { [SERIALIZED_KEY]: `${SERIALIZER}TimeSerializer`, value: isoNanos(value) };
  }
  if (seen.has(value)) throw new JobValidationError(path, 'is a circular reference');
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => encodeValue(v, `${path}[${i}]`, seen));
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      validateJsonNative(value, path); // throws its message for Map, Set and class instances
      throw new JobValidationError(path, 'is not a plain object');
    }
    return { ...encodeHash(value as Record<string, unknown>, path, seen), [SYMBOL_KEYS_KEY]: [] };
  } finally {
    seen.delete(value);
  }
}

/**
 * Encodes job arguments as `ActiveJob::Arguments.serialize` writes them, so Rails'
 * `perform(*args)` receives the matching Ruby values:
 *
 * - `null`, booleans, finite numbers and well-formed strings pass unchanged; arrays element-wise.
 *   (A whole JS number such as `1.0` arrives as an Integer: JavaScript cannot tell them apart.)
 * - A plain object → a Hash with string keys, plus `"_aj_symbol_keys": []` as Rails writes for one.
 * - `Date` → a Ruby `Time` (`TimeSerializer`, ISO-8601 UTC with 9 fractional digits).
 * - {@link activeJobKeywords} as the last argument → keyword arguments (`_aj_ruby2_keywords`).
 * - {@link activeJobSymbol} → a Symbol; {@link activeJobGlobalId} → `{"_aj_globalid": gid}`.
 *
 * Throws a {@link JobValidationError} naming the path for anything else (undefined, BigInt, NaN,
 * functions, Map/Set, class instances, lone surrogates, circular references) and for hash keys
 * starting with `_aj_`, which ActiveJob reserves.
 *
 * @example
 * encodeArguments(['a', { n: 1 }, new Date(0), activeJobKeywords({ mode: activeJobSymbol('fast') })])
 * // ['a', { n: 1, _aj_symbol_keys: [] },
 * //  { _aj_serialized: 'ActiveJob::Serializers::TimeSerializer', value: '1970-01-01T00:00:00.000000000Z' },
 * //  { mode: { _aj_serialized: 'ActiveJob::Serializers::SymbolSerializer', value: 'fast' }, _aj_ruby2_keywords: ['mode'] }]
 */
export function encodeArguments(args: unknown[], path = 'args'): JsonValue[] {
  const seen = new Set<object>();
  return args.map((arg, i) => {
    const at = `${path}[${i}]`;
    if (arg instanceof ActiveJobKeywords && i === args.length - 1) {
      const hash = encodeHash(arg.hash, at, seen);
      return { ...hash, [RUBY2_KEYWORDS_KEY]: Object.keys(hash) };
    }
    return encodeValue(arg, at, seen);
  });
}

/** Options of {@link wrapActiveJob}; the rest of the envelope is the client's business. */
export interface WrapActiveJobOptions {
  /** The ActiveJob queue (`queue_name`); the Sidekiq queue must match it. */
  queue: string;
  /** When the job is enqueued: written as `enqueued_at`, ISO-8601 to the second as Rails 6.1 does. */
  enqueuedAt: EpochMs;
  /** When the job should run; written as Rails 7.1+'s `scheduled_at` (Rails 6.1 ignores it). @defaultValue not written */
  scheduledAt?: EpochMs;
  /** @defaultValue a fresh `crypto.randomUUID()` */
  jobId?: string;
  /** @defaultValue null */
  priority?: number | null;
  /** @defaultValue 'en' */
  locale?: string;
  /** @defaultValue 'UTC' — Rails' default `config.time_zone`. */
  timezone?: string;
}

/**
 * The `args[0]` hash for an ActiveJob class, in the key order of Rails 6.1's
 * `ActiveJob::Core#serialize` (readable by Rails 6.1 through 8.x).
 *
 * @example
 * const data = wrapActiveJob('WelcomeMailerJob', [42], { queue: 'mailers', enqueuedAt: Date.now() });
 * // { job_class: 'WelcomeMailerJob', job_id: '…uuid…', provider_job_id: null, queue_name: 'mailers',
 * //   priority: null, arguments: [42], executions: 0, exception_executions: {}, locale: 'en',
 * //   timezone: 'UTC', enqueued_at: '2026-01-01T00:00:00Z' }
 */
export function wrapActiveJob(jobClass: string, args: unknown[], opts: WrapActiveJobOptions): ActiveJobData {
  const data: ActiveJobData = {
    job_class: jobClass,
    job_id: opts.jobId ?? randomUUID(),
    provider_job_id: null,
    queue_name: opts.queue,
    priority: opts.priority ?? null,
    arguments: encodeArguments(args),
    executions: 0,
    exception_executions: {},
    locale: opts.locale ?? 'en',
    timezone: opts.timezone ?? 'UTC',
    enqueued_at: new Date(opts.enqueuedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  if (opts.scheduledAt !== undefined) data.scheduled_at = isoNanos(new Date(opts.scheduledAt));
  return data;
}

// ---- decoding: ActiveJob → JS ---------------------------------------------------------------

/** An ActiveJob payload this library cannot read; `path` names the offending field. */
export class ActiveJobPayloadError extends Error {
  override name = 'ActiveJobPayloadError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** A decoded Ruby Range (`RangeSerializer`, Rails 7.0+). */
export interface ActiveJobRange {
  begin: unknown;
  end: unknown;
  excludeEnd: boolean;
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function serializedValue(hash: Record<string, unknown>, path: string, type: string): unknown {
  if (!('value' in hash)) throw new ActiveJobPayloadError(path, `${type} has no "value"`);
  return hash.value;
}

function decodeTime(hash: Record<string, unknown>, path: string, type: string): Date {
  const value = serializedValue(hash, path, type);
  const d = typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new ActiveJobPayloadError(path, `${type} value ${JSON.stringify(value)} is not an ISO-8601 time`);
  return d;
}

function decodeSerialized(hash: Record<string, unknown>, path: string): unknown {
  const name = hash[SERIALIZED_KEY];
  const type = typeof name === 'string' && name.startsWith(SERIALIZER) ? name.slice(SERIALIZER.length) : String(name);
  switch (type) {
    case 'SymbolSerializer':
    case 'ModuleSerializer':
    case 'BigDecimalSerializer':
    case 'DateSerializer': {
      const value = serializedValue(hash, path, type);
      if (typeof value !== 'string') throw new ActiveJobPayloadError(path, `${type} value must be a string, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'TimeSerializer':
    case 'DateTimeSerializer':
    case 'TimeWithZoneSerializer':
      return decodeTime(hash, path, type);
    case 'DurationSerializer': {
      const value = serializedValue(hash, path, type);
      if (typeof value !== 'number') throw new ActiveJobPayloadError(path, `${type} value must be a number of seconds, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'RangeSerializer':
      return {
        begin: decodeValue(hash.begin ?? null, `${path}.begin`),
        end: decodeValue(hash.end ?? null, `${path}.end`),
        excludeEnd: hash.exclude_end === true,
      } satisfies ActiveJobRange;
    default:
      throw new ActiveJobPayloadError(
        path,
        `unknown ActiveJob serializer ${JSON.stringify(name)} (_aj_serialized); decode args[0].arguments yourself for custom serializers`,
      );
  }
}

function decodeValue(value: unknown, path: string): unknown {
  if (Array.isArray(value)) return value.map((v, i) => decodeValue(v, `${path}[${i}]`));
  if (!isPlainRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === GLOBALID_KEY) return value[GLOBALID_KEY];
  if (SERIALIZED_KEY in value) return decodeSerialized(value, path);
  const out: [string, unknown][] = [];
  for (const k of keys) {
    if (k === SYMBOL_KEYS_KEY || k === RUBY2_KEYWORDS_KEY || k === INDIFFERENT_KEY) continue;
    out.push([k, decodeValue(value[k], `${path}.${k}`)]);
  }
  return Object.fromEntries(out); // fromEntries, so a "__proto__" key stays a key
}

/**
 * Decodes ActiveJob-serialized arguments (`args[0].arguments`) into plain JS values. Each Ruby type
 * maps to what a TypeScript handler can use without a Ruby runtime:
 *
 * | ActiveJob encoding | JS value |
 * |---|---|
 * | null, booleans, numbers, strings; `bigint` from a lossless parse | unchanged |
 * | Hash (`_aj_symbol_keys`, `_aj_hash_with_indifferent_access`) | a plain object; the marker is dropped, Symbol and String keys look alike |
 * | keyword hash (`_aj_ruby2_keywords`) | a plain object, the last positional argument |
 * | `{"_aj_globalid": "gid://app/User/1"}` | the GlobalID string `'gid://app/User/1'` (no database to locate it in) |
 * | Symbol | its name as a string |
 * | Time, DateTime, TimeWithZone | a `Date` at the same instant (to the millisecond; the zone is dropped) |
 * | Date | the `'YYYY-MM-DD'` string (a calendar day, not an instant) |
 * | Duration | its length in seconds, a number (`5.minutes` → 300) |
 * | BigDecimal | its exact decimal string (`'1.5'`); Rails ≤ 7.0 already wrote a bare string |
 * | Module (a class) | the class name string |
 * | Range | `{ begin, end, excludeEnd }` |
 *
 * Any other `_aj_serialized` (an app's custom serializer) throws an {@link ActiveJobPayloadError}
 * naming the path and the serializer.
 *
 * @example
 * decodeArguments([{ _aj_serialized: 'ActiveJob::Serializers::SymbolSerializer', value: 'fast' },
 *                  { n: 1, _aj_ruby2_keywords: ['n'] }]) // ['fast', { n: 1 }]
 */
export function decodeArguments(serialized: unknown[], path = 'arguments'): unknown[] {
  return serialized.map((v, i) => decodeValue(v, `${path}[${i}]`));
}

/** An ActiveJob read from its Sidekiq envelope. */
export interface UnwrappedActiveJob {
  /** `args[0].job_class`: what ActiveJob runs (also in `wrapped`). */
  jobClass: string;
  /** The serialized hash as stored, arguments still encoded. */
  data: ActiveJobData;
  /** The decoded arguments, as {@link decodeArguments} maps them. */
  arguments: unknown[];
}

/**
 * Reads an ActiveJob out of a Sidekiq job: for either wrapper class, or any job whose `wrapped`
 * is set and whose `args[0]` is a hash with a `job_class`. Returns undefined for a plain Sidekiq
 * job; throws an {@link ActiveJobPayloadError} naming the field when the envelope is malformed.
 *
 * @example
 * const aj = unwrapActiveJob(job);
 * if (aj) await handlers[aj.jobClass](...aj.arguments);
 */
export function unwrapActiveJob(job: JobPayload): UnwrappedActiveJob | undefined {
  const first: unknown = Array.isArray(job.args) ? job.args[0] : undefined;
  const looksWrapped = typeof job.wrapped === 'string' && isPlainRecord(first) && 'job_class' in first;
  if (!isActiveJobWrapper(job.class) && !looksWrapped) return undefined;
  if (!Array.isArray(job.args) || job.args.length !== 1) {
    throw new ActiveJobPayloadError('args', `an ActiveJob envelope holds exactly one argument, the serialized job; got ${Array.isArray(job.args) ? job.args.length : typeof job.args}`);
  }
  if (!isPlainRecord(first)) throw new ActiveJobPayloadError('args[0]', 'must be the ActiveJob serialized hash');
  if (typeof first.job_class !== 'string' || first.job_class === '') {
    throw new ActiveJobPayloadError('args[0].job_class', 'must be a non-empty string naming the ActiveJob class');
  }
  if (!Array.isArray(first.arguments)) throw new ActiveJobPayloadError('args[0].arguments', 'must be an array');
  const data = first as ActiveJobData;
  return { jobClass: data.job_class, data, arguments: decodeArguments(data.arguments, 'args[0].arguments') };
}
