/**
 * Sidekiq timestamps (sidekiq-protocol.md §3.3, Pitfall 1).
 *
 * Tasks:
 * 1. Read `created_at`, `enqueued_at`, `failed_at`, `retried_at` whether written as float epoch
 *    seconds (Sidekiq ≤ 7) or integer epoch milliseconds (Sidekiq 8) into one type: epoch ms.
 * 2. Write them in the format of the configured target: float seconds with a forced fraction by
 *    default (every version reads it), integer ms for an all-8.x cluster.
 * 3. Write sorted-set scores, `beat` and `started_at`: always float seconds.
 */
import { RawJson } from './json.js';

/** Which Sidekiq reads this Redis: decides timestamp format, retry jitter and `retry_for` rules. */
export type SidekiqVersion = 6 | 7 | 8;

/** @defaultValue 7 — float-seconds timestamps, readable by Sidekiq 6, 7 and 8 alike. */
export const DEFAULT_SIDEKIQ_VERSION: SidekiqVersion = 7;

/** Epoch milliseconds (may carry a fraction). The one time type of this library. */
export type EpochMs = number;

/** Values above this are milliseconds; below, seconds (1e11 s is the year 5138). */
const MS_THRESHOLD = 1e11;

/**
 * Reads a Sidekiq timestamp into epoch ms. Returns undefined for anything that is not a finite number.
 *
 * @example
 * readTimestamp(1795334852.1731977) // 1795334852173.1977
 * readTimestamp(1795334852173)      // 1795334852173
 */
export function readTimestamp(value: unknown): EpochMs | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  return value > MS_THRESHOLD ? value : value * 1000;
}

/**
 * How long a job waited in its queue before it started at `startMs`: from its `enqueued_at` (set
 * each time it is pushed to a queue, by a retry or the scheduler too), in whole ms; never negative
 * (the clocks of the host that pushed it and of the one running it differ). Undefined without one.
 *
 * @example queueWaitMs({ enqueued_at: 1795334852.5 }, 1795334853000) // 500
 */
export function queueWaitMs(job: { readonly enqueued_at?: unknown }, startMs: EpochMs): number | undefined {
  const enqueued = readTimestamp(job.enqueued_at);
  return enqueued === undefined ? undefined : Math.max(0, Math.round(startMs - enqueued));
}

/**
 * Float seconds as JSON text that always has a decimal point, so Sidekiq 8 never reads it as ms.
 *
 * @example
 * floatSeconds(1795334852000) // "1795334852.0"
 */
export function floatSeconds(ms: EpochMs): string {
  // Redis refuses a score like "Infinity.0", and Ruby's JSON a timestamp like it: never write one.
  if (!Number.isFinite(ms)) throw new RangeError(`a time must be a finite number of ms, got ${ms}`);
  const text = String(ms / 1000);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/** A payload timestamp in the target's format, ready for `writeObject`. */
export function writeTimestamp(ms: EpochMs, version: SidekiqVersion = DEFAULT_SIDEKIQ_VERSION): RawJson {
  return new RawJson(version >= 8 ? String(Math.round(ms)) : floatSeconds(ms));
}

/** A sorted-set score (`schedule`, `retry`, `dead`): float seconds in every version. */
export function score(ms: EpochMs): string {
  return floatSeconds(ms);
}

/** Reads a sorted-set score (float seconds) into epoch ms. */
export function readScore(text: string | number): EpochMs {
  return Number(text) * 1000;
}

/** The UTC date Sidekiq uses for daily stat keys: `YYYY-MM-DD`. */
export function utcDay(ms: EpochMs): string {
  return new Date(ms).toISOString().slice(0, 10);
}
