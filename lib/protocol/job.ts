/**
 * The Sidekiq job payload (sidekiq-protocol.md §3).
 *
 * Tasks:
 * 1. Type every standard field, leaving room for unknown ones (Pro, Enterprise, custom options).
 * 2. Read a fetched payload once — `JSON.parse` for the fields, plus the raw text kept for exact
 *    LREM/ZREM/requeue — and report malformed payloads with a reason instead of throwing.
 * 3. Rewrite a payload by changing only the top-level fields asked for (`withFields`), so every
 *    unknown key, big integer and float spelling survives.
 */
import { joinEntries, splitObject, writeValue, type RawEntries } from './json.js';

/** `retry`: `true` = 25 retries, a number = that many, `false` = drop on failure (no morgue). */
export type RetryOption = boolean | number;

/** A JSON value as Ruby's JSON parser accepts it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A Sidekiq job payload. Timestamps are float seconds (≤ 7.x) or integer ms (8.x). */
export interface JobPayload {
  class: string;
  args: JsonValue[];
  jid: string;
  queue: string;
  retry?: RetryOption;
  retry_for?: number;
  retry_queue?: string;
  backtrace?: boolean | number;
  dead?: boolean;
  created_at?: number;
  enqueued_at?: number;
  error_message?: string;
  error_class?: string;
  failed_at?: number;
  retried_at?: number;
  retry_count?: number;
  error_backtrace?: string;
  discarded_at?: number;
  tags?: string[];
  wrapped?: string;
  display_class?: string;
  bid?: string;
  /** Unknown keys are carried as they are. */
  [key: string]: unknown;
}

/** A payload as fetched from Redis: the exact string, and its parsed fields. */
export interface FetchedJob {
  /** The exact bytes Redis holds; use for LREM/ZREM/requeue, never a re-serialization. */
  readonly raw: string;
  readonly job: JobPayload;
}

/** Why a payload cannot be run: goes to the dead set as it is, with this reason logged. */
export interface MalformedJob {
  readonly raw: string;
  readonly reason: string;
}

/**
 * Parses a fetched payload. Never throws: invalid JSON, a missing `class` or a non-array `args`
 * come back as `{ reason }` so the caller can move the raw string to the dead set.
 *
 * @example
 * const r = readJob('{"class":"HardJob","args":[1]}');
 * if ('reason' in r) deadSet(r.raw, r.reason); else run(r.job);
 */
export function readJob(raw: string): FetchedJob | MalformedJob {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return { raw, reason: `invalid JSON: ${(e as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { raw, reason: 'payload is not a JSON object' };
  }
  const job = value as Record<string, unknown>;
  if (typeof job.class !== 'string' || job.class === '') {
    return { raw, reason: 'class: missing or not a non-empty string' };
  }
  if (!Array.isArray(job.args)) return { raw, reason: 'args: missing or not an array' };
  if (job.queue !== undefined && (typeof job.queue !== 'string' || job.queue === '')) {
    return { raw, reason: 'queue: not a non-empty string' };
  }
  return { raw, job: job as JobPayload };
}

export function isMalformed(r: FetchedJob | MalformedJob): r is MalformedJob {
  return 'reason' in r;
}

/**
 * Returns `raw` with the given top-level fields set (or removed, for `undefined`), every other
 * key kept byte for byte and in place; new keys are appended, as Ruby's Hash#[]= does.
 *
 * @example
 * withFields(raw, { retry_count: 0, failed_at: new RawJson('1795334860.0') })
 */
export function withFields(raw: string, fields: Record<string, unknown>): string {
  const entries: RawEntries = splitObject(raw);
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) entries.delete(k);
    else entries.set(k, writeValue(v));
  }
  return joinEntries(entries);
}

/** The class a human means: the ActiveJob `wrapped` class when present, else `class`. */
export function displayClass(job: Pick<JobPayload, 'class' | 'wrapped'>): string {
  return typeof job.wrapped === 'string' && job.wrapped !== '' ? job.wrapped : job.class;
}
